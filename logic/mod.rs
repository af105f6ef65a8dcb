// SPDX-License-Identifier: GPL-2.0
//! The pure layer: tun's ABI and data formats as plain Rust, with no kernel
//! calls and no `unsafe`. Every file here also builds on the host, where
//! `tests/host` runs its unit tests. It may use `crate::skb_reason` (the table
//! of drop sites, also pure) and nothing else of the crate.

pub(crate) mod frame;
pub(crate) mod ioctl;
pub(crate) mod offload;
pub(crate) mod txfilter;
pub(crate) mod vnet;
