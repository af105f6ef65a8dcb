// SPDX-License-Identifier: GPL-2.0
//! Per-device state: the attached queues, the device's flags and owner, the
//! counters, and the transmit path. Safe Rust on top of netdev.rs and skb.rs.
//!
//! Locking: `shared` (the queues, filters and offloads) is taken in
//! `ndo_start_xmit` (BH) and by ioctls and attach/detach (process context,
//! under RTNL), so it is a `SpinLockIrq`. Xmit nests a queue's ring lock inside
//! it; nothing takes them in the other order. No skb is freed, and no
//! `Arc<Queue>` or filter is dropped, while either lock is held.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use kernel::{
    alloc::{flags::GFP_KERNEL, KVec},
    error::code::*,
    new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{Arc, Mutex, SpinLockIrq},
};

use crate::{
    bpf::{ClassicFilter, EbpfFilter},
    ioctl::{self, Mode},
    netdev::{DebugfsEntry, NetDev, Rtnl},
    offload::Offloads,
    queue::Queue,
    skb::{self, SkBuff, SkbList},
    skb_reason::{Dir, Reason, Site},
    txfilter::TxFilter,
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

/// What xmit reads under one lock: the queues bound to the device (`active`
/// ones receive frames, index = `skb->queue_mapping`; `disabled` ones were
/// detached with TUNSETQUEUE), the filters, and the readers' offloads.
pub(crate) struct Shared {
    active: KVec<Arc<Queue>>,
    disabled: KVec<Arc<Queue>>,
    txfilter: TxFilter,
    classic: Option<ClassicFilter>,
    ebpf: Option<EbpfFilter>,
    offloads: Offloads,
}

/// A dropped frame, or the rest of a segment list, with its drop site.
enum Dropped {
    One(SkBuff, Site),
    Many(SkbList, Site),
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
    shared: SpinLockIrq<Shared>,
    /// Counters of queues that have gone away.
    retired: Stats,
    rx_dropped: AtomicU64,
    tx_dropped: AtomicU64,
    drops: [AtomicU64; Reason::COUNT],
    /// /sys/kernel/debug/rtun/<dev>, from registration to `ndo_uninit`.
    #[pin]
    debugfs: Mutex<Option<DebugfsEntry>>,
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
            shared <- new_spinlock_irq!(
                Shared {
                    active,
                    disabled,
                    txfilter: TxFilter::default(),
                    classic: None,
                    ebpf: None,
                    offloads: Offloads::default(),
                },
                "rtun_shared"
            ),
            retired: Stats::default(),
            rx_dropped: AtomicU64::new(0),
            tx_dropped: AtomicU64::new(0),
            drops: [const { AtomicU64::new(0) }; Reason::COUNT],
            debugfs <- new_mutex!(None, "rtun_debugfs"),
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
        let qs = self.shared.lock();
        for q in Iterator::chain(qs.active.iter(), qs.disabled.iter()) {
            q.stats().add_to(&mut s);
        }
        s
    }

    // ---- transmit -----------------------------------------------------------

    /// `ndo_start_xmit`: queue the frame for the reader of its queue, or drop it
    /// with the reason. BH context: nothing here sleeps.
    pub(crate) fn start_xmit(&self, skb: SkBuff) {
        match self.transmit(skb) {
            Ok(()) => {}
            Err(Dropped::One(skb, site)) => {
                self.count_drop(site);
                skb.drop_tx(site.reason());
            }
            Err(Dropped::Many(list, site)) => {
                for _ in 0..list.count() {
                    self.count_drop(site);
                }
                list.drop_reason(site.reason());
            }
        }
    }

    /// tun's transmit order: a queue to receive, the TAP tx filter, the classic
    /// and eBPF filters (and the trim they ask for), zerocopy fragments, then
    /// the offloads the reader cannot take, then the ring. Whatever is dropped
    /// comes back to `start_xmit`, which frees it once the locks are released.
    fn transmit(&self, mut skb: SkBuff) -> Result<(), Dropped> {
        let sh = self.shared.lock();
        let Some(q) = sh.active.get(skb.queue_mapping()) else {
            return Err(Dropped::One(skb, Site::XmitNoQueue));
        };
        if self.mode == Mode::Tap && sh.txfilter.is_on() && !sh.txfilter.accepts(skb.head()) {
            return Err(Dropped::One(skb, Site::XmitTxFilter));
        }
        if let Some(filter) = &sh.classic {
            let reason = filter.run(&mut skb);
            if reason != 0 {
                return Err(Dropped::One(skb, skb::socket_filter_site(reason)));
            }
        }
        if let Some(filter) = &sh.ebpf {
            let len = filter.run(&mut skb);
            if len == 0 {
                return Err(Dropped::One(skb, Site::XmitEbpfFilter));
            }
            if skb.trim(len).is_err() {
                return Err(Dropped::One(skb, Site::XmitTrim));
            }
        }
        if skb.orphan_frags_rx().is_err() {
            return Err(Dropped::One(skb, Site::XmitOrphanFrags));
        }
        skb.tx_timestamp();
        // The frame may wait on the ring indefinitely: release its socket.
        skb.orphan();

        // Offloads go to the reader only through a virtio-net header.
        let offloads = if self.has(ioctl::IFF_VNET_HDR) { sh.offloads } else { Offloads::default() };
        if skb.is_gso() && !offloads.takes_gso(skb.gso_type()) {
            let segs = skb.gso_segment().map_err(|skb| Dropped::One(skb, Site::XmitGsoSeg))?;
            return q.push_list(segs, &offloads).map_err(|(rest, site)| Dropped::Many(rest, site));
        }
        if skb.is_csum_partial() && !offloads.takes_partial_csum() && skb.checksum_help().is_err() {
            return Err(Dropped::One(skb, Site::XmitCsum));
        }
        q.push(skb).map_err(|skb| Dropped::One(skb, Site::XmitRingFull))
    }

    // ---- filters and offloads (ioctls, process context) ---------------------------

    /// TUNSETTXFILTER.
    pub(crate) fn set_txfilter(&self, f: TxFilter) {
        self.shared.lock().txfilter = f;
    }

    /// TUNATTACHFILTER / TUNDETACHFILTER. The old filter is released after the
    /// lock, since releasing its socket may sleep.
    pub(crate) fn set_classic_filter(&self, f: Option<ClassicFilter>) -> Option<ClassicFilter> {
        core::mem::replace(&mut self.shared.lock().classic, f)
    }

    /// The classic filter's `struct sock_fprog`, for TUNGETFILTER.
    pub(crate) fn classic_fprog(&self) -> (u16, usize) {
        self.shared.lock().classic.as_ref().map_or((0, 0), ClassicFilter::fprog)
    }

    /// TUNSETFILTEREBPF. The old program is put after the lock.
    pub(crate) fn set_ebpf_filter(&self, f: Option<EbpfFilter>) -> Option<EbpfFilter> {
        core::mem::replace(&mut self.shared.lock().ebpf, f)
    }

    /// TUNSETOFFLOAD.
    pub(crate) fn set_offloads(&self, o: Offloads) {
        self.shared.lock().offloads = o;
    }

    // ---- attach and detach (RTNL held) ----------------------------------------

    fn total(qs: &Shared) -> usize {
        qs.active.len() + qs.disabled.len()
    }

    /// Makes `q` an active queue of `dev`. `q` must not be bound elsewhere.
    pub(crate) fn attach(&self, dev: &NetDev, q: &Arc<Queue>, rtnl: &Rtnl) -> Result {
        let n = {
            let mut qs = self.shared.lock();
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
        self.move_queue(dev, q, false, rtnl)
    }

    /// TUNSETQUEUE with IFF_ATTACH_QUEUE: a disabled `q` receives again.
    pub(crate) fn enable(&self, dev: &NetDev, q: &Queue, rtnl: &Rtnl) -> Result {
        self.move_queue(dev, q, true, rtnl)
    }

    /// Moves `q` between the disabled and the active set.
    fn move_queue(&self, dev: &NetDev, q: &Queue, to_active: bool, rtnl: &Rtnl) -> Result {
        let n = {
            let mut guard = self.shared.lock();
            let qs = &mut *guard;
            let (from, to) = if to_active {
                (&mut qs.disabled, &mut qs.active)
            } else {
                (&mut qs.active, &mut qs.disabled)
            };
            let pos = position(from, q).ok_or(EINVAL)?;
            let moved = from.remove(pos).map_err(|_| EINVAL)?;
            // Both sets have room for every queue, so this cannot fail; if it
            // did, the Arc would come back and be dropped after the lock.
            if let Err(e) = to.push_within_capacity(moved) {
                drop(guard);
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
            let mut qs = self.shared.lock();
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

    /// Publishes the drop counters in debugfs, once the device has its name.
    pub(crate) fn add_debugfs(&self, dev: &NetDev) {
        *self.debugfs.lock() = DebugfsEntry::new(dev);
    }

    /// `ndo_uninit`: the device is going away; every queue loses it.
    pub(crate) fn detach_all(&self, _rtnl: &Rtnl) {
        drop(self.debugfs.lock().take());
        let (active, disabled) = {
            let mut qs = self.shared.lock();
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
