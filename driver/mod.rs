// SPDX-License-Identifier: GPL-2.0
//! The driver layer: tun's semantics in safe Rust, over the abstractions and
//! the pure logic. No `unsafe` here.

pub(crate) mod device;
pub(crate) mod frames;
pub(crate) mod personality;
pub(crate) mod tunfile;
