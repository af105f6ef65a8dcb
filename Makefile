# SPDX-License-Identifier: GPL-2.0
# Builds rtun.ko. KDIR defaults to the cached test kernel (scripts/kernel.sh
# builds it once); point KDIR at any Rust-enabled Linux 7.3 tree instead.
KDIR ?= $(shell scripts/kernel.sh)
ifeq ($(KDIR),)
$(error no kernel tree: scripts/kernel.sh failed (its message is above); or set KDIR to a built Linux 7.3 tree)
endif
RUSTC ?= /usr/bin/rustc
LIBCLANG_PATH ?= /usr/lib/llvm-19/lib
# A module is built with the compiler that built its kernel: the test kernel is
# clang-built (KASAN with Rust needs it), the benchmark kernel gcc-built.
KCC = $(if $(shell grep -s '^CONFIG_CC_IS_CLANG=y' $(KDIR)/.config),clang-19,gcc)

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) CC=$(KCC) HOSTCC=gcc RUSTC=$(RUSTC) LIBCLANG_PATH=$(LIBCLANG_PATH) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) CC=$(KCC) HOSTCC=gcc clean

.PHONY: all modules clean
