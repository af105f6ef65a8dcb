// SPDX-License-Identifier: GPL-2.0
//! Compiles the kernel module's pure-logic files for the host, so their
//! `#[cfg(test)]` unit tests run under `cargo test`. No copies: the files are
//! the module's own.
#![allow(dead_code)]

#[cfg(test)]
#[path = "../../../logic/mod.rs"]
mod logic;
#[cfg(test)]
#[path = "../../../abstractions/ptr_ring.rs"]
mod ptr_ring;
#[cfg(test)]
#[path = "../../../skb_reason.rs"]
mod skb_reason;
