// SPDX-License-Identifier: GPL-2.0
//! Per-device state: the attached queues, the device's flags and owner, the
//! counters, and the transmit path. Safe Rust on top of netdev.rs and skb.rs.
//!
//! Locking: `queues` is taken in `ndo_start_xmit` (BH) and by attach/detach
//! (process context, under RTNL), so it is a `SpinLockIrq`. Xmit nests a
//! queue's ring lock inside it; nothing takes them in the other order. No skb
//! is freed, and no `Arc<Queue>` is dropped, while either lock is held.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use kernel::{
    alloc::{flags::GFP_KERNEL, KVec},
    error::code::*,
    new_spinlock_irq,
    prelude::*,
    sync::{Arc, SpinLockIrq},
};

use crate::{
    ioctl::{self, Mode},
    netdev::{NetDev, Rtnl},
    queue::Queue,
    skb::SkBuff,
    skb_reason::{Dir, Reason, Site},
};

/// Most queues one device can have (tun's MAX_TAP_QUEUES).
pub(crate) const MAX_QUEUES: usize = 256;
/// `INVALID_UID`/`INVALID_GID` as raw kernel ids.
pub(crate) const INVALID_ID: u32 = u32::MAX;

/// Packet and byte counters of one queue.
#[derive(Default)]
pub(crate) struct Stats {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
}

impl Stats {
    pub(crate) fn rx(&self, bytes: usize) {
        self.rx_packets.fetch_add(1, Relaxed);
        self.rx_bytes.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn tx(&self, bytes: usize) {
        self.tx_packets.fetch_add(1, Relaxed);
        self.tx_bytes.fetch_add(bytes as u64, Relaxed);
    }

    fn add_to(&self, s: &mut Snapshot) {
        s.rx_packets = s.rx_packets.wrapping_add(self.rx_packets.load(Relaxed));
        s.rx_bytes = s.rx_bytes.wrapping_add(self.rx_bytes.load(Relaxed));
        s.tx_packets = s.tx_packets.wrapping_add(self.tx_packets.load(Relaxed));
        s.tx_bytes = s.tx_bytes.wrapping_add(self.tx_bytes.load(Relaxed));
    }

    fn fold_into(&self, other: &Stats) {
        other.rx_packets.fetch_add(self.rx_packets.load(Relaxed), Relaxed);
        other.rx_bytes.fetch_add(self.rx_bytes.load(Relaxed), Relaxed);
        other.tx_packets.fetch_add(self.tx_packets.load(Relaxed), Relaxed);
        other.tx_bytes.fetch_add(self.tx_bytes.load(Relaxed), Relaxed);
    }
}

/// What `ndo_get_stats64` reports.
#[derive(Default)]
pub(crate) struct Snapshot {
    pub(crate) rx_packets: u64,
    pub(crate) rx_bytes: u64,
    pub(crate) tx_packets: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) rx_dropped: u64,
    pub(crate) tx_dropped: u64,
}

/// The queues bound to a device: `active` ones receive frames (index =
/// `skb->queue_mapping`), `disabled` ones were detached with TUNSETQUEUE.
pub(crate) struct Queues {
    active: KVec<Arc<Queue>>,
    disabled: KVec<Arc<Queue>>,
}

#[pin_data]
pub(crate) struct DevState {
    mode: Mode,
    /// tun's `flags`: the FEATURES bits plus IFF_PERSIST.
    flags: AtomicU32,
    owner: AtomicU32,
    group: AtomicU32,
    vnet_hdr_sz: AtomicU32,
    #[pin]
    queues: SpinLockIrq<Queues>,
    /// Counters of queues that have gone away.
    retired: Stats,
    rx_dropped: AtomicU64,
    tx_dropped: AtomicU64,
    drops: [AtomicU64; Reason::COUNT],
}

impl DevState {
    /// State for a new device created with TUNSETIFF `flags`.
    pub(crate) fn new(mode: Mode, flags: u16) -> Result<impl PinInit<Self, Error>> {
        let cap = if flags & ioctl::IFF_MULTI_QUEUE != 0 { MAX_QUEUES } else { 1 };
        let active = KVec::with_capacity(cap, GFP_KERNEL)?;
        let disabled = KVec::with_capacity(cap, GFP_KERNEL)?;
        Ok(try_pin_init!(DevState {
            mode,
            flags: AtomicU32::new(u32::from(flags & ioctl::FEATURES)),
            owner: AtomicU32::new(INVALID_ID),
            group: AtomicU32::new(INVALID_ID),
            vnet_hdr_sz: AtomicU32::new(ioctl::VNET_HDR_LEN as u32),
            queues <- new_spinlock_irq!(Queues { active, disabled }, "rtun_queues"),
            retired: Stats::default(),
            rx_dropped: AtomicU64::new(0),
            tx_dropped: AtomicU64::new(0),
            drops: [const { AtomicU64::new(0) }; Reason::COUNT],
        }))
    }

    pub(crate) fn mode(&self) -> Mode {
        self.mode
    }

    /// FEATURES | IFF_PERSIST bits.
    pub(crate) fn flags(&self) -> u16 {
        self.flags.load(Relaxed) as u16
    }

    pub(crate) fn has(&self, flag: u16) -> bool {
        self.flags() & flag != 0
    }

    /// What TUNGETIFF reports.
    pub(crate) fn ifr_flags(&self) -> u16 {
        self.flags() | self.mode.flag()
    }

    pub(crate) fn set_features(&self, flags: u16) {
        let keep = self.flags() & !ioctl::FEATURES;
        self.flags.store(u32::from(keep | (flags & ioctl::FEATURES)), Relaxed);
    }

    pub(crate) fn set_persist(&self, on: bool) {
        let p = u32::from(ioctl::IFF_PERSIST);
        if on {
            self.flags.fetch_or(p, Relaxed);
        } else {
            self.flags.fetch_and(!p, Relaxed);
        }
    }

    pub(crate) fn set_owner(&self, kuid: u32) {
        self.owner.store(kuid, Relaxed);
    }

    pub(crate) fn set_group(&self, kgid: u32) {
        self.group.store(kgid, Relaxed);
    }

    pub(crate) fn vnet_hdr_sz(&self) -> usize {
        self.vnet_hdr_sz.load(Relaxed) as usize
    }

    pub(crate) fn set_vnet_hdr_sz(&self, sz: u32) {
        self.vnet_hdr_sz.store(sz, Relaxed);
    }

    /// tun's `tun_permitted`: the owner, a member of the group, or CAP_NET_ADMIN
    /// over the device's namespace.
    pub(crate) fn permitted(&self, dev: &NetDev) -> bool {
        let owner = self.owner.load(Relaxed);
        let group = self.group.load(Relaxed);
        (owner != INVALID_ID && crate::cred::euid_is(owner))
            || (group != INVALID_ID && crate::cred::in_egroup(group))
            || dev.net_admin()
    }

    /// Counts one drop at `site`: its reason counter and rx/tx_dropped.
    pub(crate) fn count_drop(&self, site: Site) {
        let info = site.info();
        if let Some(c) = self.drops.get(info.reason.index()) {
            c.fetch_add(1, Relaxed);
        }
        match info.dir {
            Dir::Rx => self.rx_dropped.fetch_add(1, Relaxed),
            Dir::Tx => self.tx_dropped.fetch_add(1, Relaxed),
        };
    }

    /// Counts a received frame lost before an skb existed (allocation failure).
    pub(crate) fn count_rx_lost(&self) {
        self.rx_dropped.fetch_add(1, Relaxed);
    }

    pub(crate) fn drop_counts(&self) -> [u64; Reason::COUNT] {
        let mut out = [0u64; Reason::COUNT];
        for (o, c) in out.iter_mut().zip(self.drops.iter()) {
            *o = c.load(Relaxed);
        }
        out
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot {
            rx_dropped: self.rx_dropped.load(Relaxed),
            tx_dropped: self.tx_dropped.load(Relaxed),
            ..Snapshot::default()
        };
        self.retired.add_to(&mut s);
        let qs = self.queues.lock();
        for q in Iterator::chain(qs.active.iter(), qs.disabled.iter()) {
            q.stats().add_to(&mut s);
        }
        s
    }

    // ---- transmit -----------------------------------------------------------

    /// `ndo_start_xmit`: queue the frame for the reader of its queue, or drop it
    /// with the reason. BH context: nothing here sleeps.
    pub(crate) fn start_xmit(&self, skb: SkBuff) {
        if let Err((skb, site)) = self.enqueue(skb) {
            self.count_drop(site);
            skb.drop_tx(site.reason());
        }
    }

    /// Puts `skb` on its queue's ring. On failure the skb comes back, with the
    /// site, after every lock is released.
    fn enqueue(&self, mut skb: SkBuff) -> Result<(), (SkBuff, Site)> {
        let queues = self.queues.lock();
        let Some(q) = queues.active.get(skb.queue_mapping()) else {
            return Err((skb, Site::XmitNoQueue));
        };
        if skb.orphan_frags_rx().is_err() {
            return Err((skb, Site::XmitOrphanFrags));
        }
        skb.tx_timestamp();
        // The frame may wait on the ring indefinitely: release its socket.
        skb.orphan();
        q.push(skb).map_err(|skb| (skb, Site::XmitRingFull))
    }

    // ---- attach and detach (RTNL held) ----------------------------------------

    fn total(qs: &Queues) -> usize {
        qs.active.len() + qs.disabled.len()
    }

    /// Makes `q` an active queue of `dev`. `q` must not be bound elsewhere.
    pub(crate) fn attach(&self, dev: &NetDev, q: &Arc<Queue>, rtnl: &Rtnl) -> Result {
        let n = {
            let mut qs = self.queues.lock();
            if !self.has(ioctl::IFF_MULTI_QUEUE) && Self::total(&qs) >= 1 {
                return Err(EBUSY);
            }
            if Self::total(&qs) >= MAX_QUEUES {
                return Err(E2BIG);
            }
            qs.active.push_within_capacity(q.clone()).map_err(|_| E2BIG)?;
            qs.active.len()
        };
        dev.set_real_num_queues(n, rtnl);
        Ok(())
    }

    /// TUNSETQUEUE with IFF_DETACH_QUEUE: `q` stops receiving but stays bound.
    pub(crate) fn disable(&self, dev: &NetDev, q: &Queue, rtnl: &Rtnl) -> Result {
        let n = {
            let mut qs = self.queues.lock();
            let pos = position(&qs.active, q).ok_or(EINVAL)?;
            let moved = qs.active.remove(pos).map_err(|_| EINVAL)?;
            // `disabled` has room for every queue, so this cannot fail; if it did,
            // the Arc comes back and is dropped after the lock, below.
            if let Err(e) = qs.disabled.push_within_capacity(moved) {
                drop(qs);
                drop(e);
                return Err(EINVAL);
            }
            qs.active.len()
        };
        dev.set_real_num_queues(n, rtnl);
        Ok(())
    }

    /// TUNSETQUEUE with IFF_ATTACH_QUEUE: a disabled `q` receives again.
    pub(crate) fn enable(&self, dev: &NetDev, q: &Queue, rtnl: &Rtnl) -> Result {
        let n = {
            let mut qs = self.queues.lock();
            let pos = position(&qs.disabled, q).ok_or(EINVAL)?;
            let moved = qs.disabled.remove(pos).map_err(|_| EINVAL)?;
            if let Err(e) = qs.active.push_within_capacity(moved) {
                drop(qs);
                drop(e);
                return Err(E2BIG);
            }
            qs.active.len()
        };
        dev.set_real_num_queues(n, rtnl);
        Ok(())
    }

    /// `q` is closing: unbind it, and take the device away with the last queue
    /// unless it is persistent.
    pub(crate) fn detach(&self, dev: &NetDev, q: &Queue, rtnl: &Rtnl) {
        let (removed, active, total) = {
            let mut qs = self.queues.lock();
            let removed = match position(&qs.active, q) {
                Some(pos) => qs.active.remove(pos).ok(),
                None => position(&qs.disabled, q).and_then(|pos| qs.disabled.remove(pos).ok()),
            };
            (removed, qs.active.len(), Self::total(&qs))
        };
        // No xmit can reach `q` any more: purge what it did not read.
        q.stats().fold_into(&self.retired);
        q.purge(self);
        drop(removed);
        if active > 0 {
            dev.set_real_num_queues(active, rtnl);
        }
        if total == 0 {
            dev.set_carrier(false);
            if !self.has(ioctl::IFF_PERSIST) && dev.is_registered() {
                dev.unregister(rtnl);
            }
        }
        dev.state_changed(rtnl);
    }

    /// `ndo_uninit`: the device is going away; every queue loses it.
    pub(crate) fn detach_all(&self, _rtnl: &Rtnl) {
        let (active, disabled) = {
            let mut qs = self.queues.lock();
            let active = core::mem::take(&mut qs.active);
            let disabled = core::mem::take(&mut qs.disabled);
            (active, disabled)
        };
        for q in Iterator::chain(active.iter(), disabled.iter()) {
            q.shut_down();
            q.stats().fold_into(&self.retired);
            q.purge(self);
        }
    }
}

fn position(v: &KVec<Arc<Queue>>, q: &Queue) -> Option<usize> {
    v.iter().position(|x| core::ptr::eq(&**x, q))
}
