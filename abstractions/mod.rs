// SPDX-License-Identifier: GPL-2.0
//! The abstraction layer: every `unsafe` of the module, as safe types over the
//! kernel's C objects (net_device, sk_buff, sock, the misc device, NAPI, BPF,
//! RCU, locks, per-CPU counters). Generic over the driver: callbacks reach the
//! driver only through traits it implements (`netdev::Driver`,
//! `chardev::FileOps`), as in `rust/kernel/net/phy.rs`. Nothing here imports
//! the driver, the pure logic or the drop-reason table (scripts/lint.sh
//! checks it).

pub(crate) mod bpf;
pub(crate) mod chardev;
pub(crate) mod cred;
pub(crate) mod ffi;
pub(crate) mod napi;
pub(crate) mod netdev;
pub(crate) mod percpu;
pub(crate) mod ptr_ring;
pub(crate) mod rcu;
pub(crate) mod skb;
pub(crate) mod skb_ring;
pub(crate) mod sock;
pub(crate) mod sync;
