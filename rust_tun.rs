// SPDX-License-Identifier: GPL-2.0
//! rust_tun: a tun/tap-style virtual network driver that names the reason of
//! every packet it drops.
//!
//! `/dev/net/rtun` speaks tun's ioctl ABI. TUNSETIFF creates (or attaches to) a
//! `net_device` in TUN (L3) or TAP (L2) mode. A `write()` injects a frame into
//! the stack; `ndo_start_xmit` queues outgoing frames on the file's ring and
//! `read()` drains it. Every drop goes through `kfree_skb_reason()` semantics
//! with a reason from skb_reason.rs.
//!
//! Layout: the abstraction layer (all `unsafe`) is netdev.rs, skb.rs,
//! sock.rs, chardev.rs, cred.rs, percpu.rs and shim.rs, over rust_tun_shim.c. The device logic is
//! device.rs and queue.rs; ioctl.rs, frame.rs, ring.rs and skb_reason.rs are
//! pure and also unit-tested on the host.

use kernel::prelude::*;

mod abstractions;
mod driver;
mod logic;
mod skb_reason;

// The ops tables' callbacks, for the one driver type.
abstractions::netdev::export_callbacks!(driver::device::DevState);

module! {
    type: RustTun,
    name: "rtun",
    authors: ["rust_tun developers"],
    description: "tun/tap-style virtual network driver with a drop reason for every drop",
    license: "GPL",
}

struct RustTun {
    _registration: abstractions::chardev::Registration,
}

impl kernel::Module for RustTun {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let registration = abstractions::chardev::Registration::new()?;
        pr_info!("/dev/net/rtun ready\n");
        Ok(RustTun {
            _registration: registration,
        })
    }
}
