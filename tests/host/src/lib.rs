//! Compiles the kernel module's pure-logic files for the host, so their
//! `#[cfg(test)]` unit tests run under `cargo test`. No copies: the files are
//! the module's own.
#![allow(dead_code)]

#[cfg(test)]
#[path = "../../../frame.rs"]
mod frame;
#[cfg(test)]
#[path = "../../../ioctl.rs"]
mod ioctl;
#[cfg(test)]
#[path = "../../../ring.rs"]
mod ring;
#[cfg(test)]
#[path = "../../../skb_reason.rs"]
mod skb_reason;
#[cfg(test)]
#[path = "../../../txfilter.rs"]
mod txfilter;
#[cfg(test)]
#[path = "../../../offload.rs"]
mod offload;
#[cfg(test)]
#[path = "../../../vnet.rs"]
mod vnet;
