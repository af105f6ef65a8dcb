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
//! Layout: `abstractions/` is the abstraction layer, every `unsafe` of the
//! module, as safe types over the kernel's C objects (`netdev/`, skb.rs,
//! sock.rs, chardev.rs, ...), which reach C through ffi.rs and
//! rust_tun_shim.c. `driver/` is tun's semantics in safe Rust: the device
//! (device.rs, frames.rs) and the file (`tunfile/`). `logic/` (ioctl.rs,
//! frame.rs, vnet.rs, ...) and skb_reason.rs are pure, and also unit-tested
//! on the host.

use abstractions::{chardev, netdev, rcu};
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
    params: {
        as_tun: bool {
            default: false,
            description: "Stand in for tun.ko: /dev/net/tun (tun's minor), link kind tun, devices tun%d/tap%d",
        },
    },
}

/// The module: one guard per registration. Fields drop in declaration
/// order, the reverse of `init`'s, and a failed `init` drops the guards it
/// made in reverse as well.
///
/// # Invariants
/// Each field is the module's only guard of its kind, made in `init`. The
/// declaration order is the teardown order: no new file once the misc device
/// is gone; the link kind's unregistration deletes the devices left (and
/// with them their debugfs files) before the debugfs directory goes; the
/// workqueue, which those deletions may still queue on, goes last.
struct RustTun {
    _misc: chardev::Registration<driver::tunfile::TunFile>,
    _notifier: netdev::Notifier,
    _link: netdev::LinkKind,
    _debugfs: netdev::DebugfsDir,
    _wq: rcu::Workqueue,
}

/// A static name, for messages.
fn text(s: &'static core::ffi::CStr) -> &'static str {
    s.to_str().unwrap_or("?")
}

impl kernel::Module for RustTun {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // A kernel whose skb layout moved is refused, with a message.
        if let Err(e) = abstractions::skb::check_layout() {
            pr_err!("struct sk_buff's ip_summed is not where rtun reads it\n");
            return Err(e);
        }
        let wq = rcu::Workqueue::new()?;
        let debugfs = netdev::DebugfsDir::create();
        let who = driver::personality::current();
        let (node, kind) = (text(who.nodename), text(who.link_kind));
        // tun.ko (loaded or built in) holds the same names with as_tun=1:
        // the load fails with EBUSY and says why.
        let link = netdev::LinkKind::register(who.link_kind).map_err(|e| {
            if e == EEXIST {
                pr_err!("link kind {kind} is taken: is tun.ko loaded? (rmmod tun, or load rtun without as_tun=1)\n");
                EBUSY
            } else {
                e
            }
        })?;
        let notifier = netdev::Notifier::register()?;
        let misc = chardev::Registration::new(who.misc_name, who.nodename, who.mode, who.minor)
            .inspect_err(|&e| {
                if e == EBUSY {
                    pr_err!(
                        "the misc minor of /dev/{node} is taken: is tun.ko loaded, or built in?\n"
                    );
                }
            })?;
        pr_info!("/dev/{node} ready, link kind {kind}\n");
        // INVARIANT: Every guard was made once, just now, in the reverse of
        // the fields' order.
        Ok(RustTun {
            _misc: misc,
            _notifier: notifier,
            _link: link,
            _debugfs: debugfs,
            _wq: wq,
        })
    }
}
