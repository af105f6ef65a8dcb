# SPDX-License-Identifier: GPL-2.0
# Builds rtun.ko. KDIR defaults to the cached test kernel (scripts/kernel.sh
# builds it once); point KDIR at any Rust-enabled Linux 7.3 tree instead.
KDIR ?= $(shell scripts/kernel.sh)
RUSTC ?= /usr/bin/rustc
LIBCLANG_PATH ?= /usr/lib/llvm-19/lib

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) RUSTC=$(RUSTC) LIBCLANG_PATH=$(LIBCLANG_PATH) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean

.PHONY: all modules clean
