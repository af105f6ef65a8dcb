// SPDX-License-Identifier: GPL-2.0
//! Per-device state: the attached queues, the device's flags and owner, the
//! counters, and the transmit path. Safe Rust on top of abstractions/netdev/
//! and skb.rs.
//!
//! Concurrency (no lock on the data path disables hard IRQs; nothing sleeps
//! under a spinlock, and skbs are freed after the locks are released):
//! - What xmit and `ndo_select_queue` read (the active queues, the filters,
//!   the offloads) is published with RCU (rcu.rs): the transmit path takes no
//!   device-wide lock (nor an `rcu_read_lock`: BHs are off there,
//!   `rcu::BhSection`). Drop counters are per CPU (percpu.rs). Writers are
//!   ioctls, attach and detach, in process context under RTNL; a queue
//!   leaving the table is purged and released only after a grace period.
//! - `DevState::owners` (`Mutex`): the queues' owning references; process
//!   context only (RTNL held).
//! - `TunFile::ring` (skb_ring.rs): a producer lock (`RawSpinLock`), taken by
//!   xmit with BHs off (or IRQs off, under netpoll) and by others only with
//!   BHs off; a consumer lock (`RawSpinLock`), taken by read, poll, purge and
//!   resize in process context.
//! - `TunFile::binding` (`RawSpinLock`, tunfile/mod.rs): process context
//!   only, never from softirq.
//! - `Napi::backlog` (`SpinLockBh`, napi.rs): `write()` (process context) and
//!   the NAPI poll (softirq).
//! - `DevState::debugfs` (`Mutex`): process context.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use kernel::{
    alloc::{flags::GFP_KERNEL, KBox, KVec},
    error::code::*,
    new_mutex,
    prelude::*,
    sync::{aref::ARef, rcu, Arc, Mutex},
};

use crate::{
    abstractions::bpf::{ClassicFilter, EbpfFilter},
    abstractions::cred::{self, LsmBlob, INVALID_ID},
    abstractions::netdev::{
        self, DebugfsEntry, DevBuilder, Driver, Link, LinkInfoMsg, NetDev, Rtnl,
    },
    abstractions::percpu::PerCpuCounters,
    abstractions::rcu::{BhSection, RcuBox, RcuTable, Retired},
    abstractions::skb::SkBuff,
    abstractions::skb_ring::NewSlots,
    driver::frames,
    driver::personality,
    driver::tunfile::TunFile,
    logic::ioctl::{self, Mode},
    logic::offload::{Features, Offloads},
    logic::txfilter::TxFilter,
    logic::vnet,
    skb_reason::{Dir, Reason, Site},
};

/// The per-CPU counters of a device: one per drop reason, then this one.
const FRAME_ERRORS: usize = Reason::COUNT;
const COUNTERS: usize = Reason::COUNT + 1;

/// Most queues one device can have (tun's MAX_TAP_QUEUES).
pub(crate) const MAX_QUEUES: usize = 256;

/// tun's `TUN_READQ_SIZE`: a new device's qdisc length (TAP's Ethernet setup
/// then makes it Ethernet's default, as on tun).
pub(crate) const TUN_READQ_SIZE: u32 = 500;
/// tun's MTU bounds (`MIN_MTU`, `MAX_MTU`; TAP's maximum less its header).
const MIN_MTU: u32 = 68;
const MAX_MTU: u32 = 65535;
/// A TUN device's MTU (`ETH_DATA_LEN`).
const TUN_MTU: u32 = 1500;
/// `ARPHRD_NONE`: a TUN device has no link-layer header.
const ARPHRD_NONE: u16 = 0xfffe;

// The logic layer's IFNAMSIZ is the kernel's.
const _: () = assert!(ioctl::IFNAMSIZ == netdev::IFNAMSIZ);

/// The netdev kind of a mode: TUN is L3, TAP Ethernet.
pub(crate) fn link_of(mode: Mode) -> Link {
    match mode {
        Mode::Tun => Link::L3,
        Mode::Tap => Link::Ether,
    }
}

/// The mode of an rtun device (`None` for another driver's).
pub(crate) trait ModeOf {
    fn mode(&self) -> Option<Mode>;
}

impl ModeOf for NetDev {
    #[inline(always)]
    fn mode(&self) -> Option<Mode> {
        self.link().map(|link| match link {
            Link::L3 => Mode::Tun,
            Link::Ether => Mode::Tap,
        })
    }
}

/// tun's `tun_net_initialize` for a new device: TUN is a point-to-point L3
/// device without ARP; TAP an Ethernet device with a random address.
pub(crate) fn setup_link(b: &mut DevBuilder, mode: Mode) {
    match mode {
        Mode::Tun => {
            b.l3_setup(ARPHRD_NONE);
            b.set_flags(netdev::IFF_POINTOPOINT | netdev::IFF_NOARP | netdev::IFF_MULTICAST);
            b.set_tx_queue_len(TUN_READQ_SIZE);
            b.set_lltx();
            b.set_mtu(TUN_MTU);
            b.set_mtu_bounds(MIN_MTU, MAX_MTU);
        }
        Mode::Tap => {
            b.ether_setup();
            b.set_lltx();
            let max = MAX_MTU.saturating_sub(b.hard_header_len());
            b.set_mtu_bounds(MIN_MTU, max);
        }
    }
}

const fn bit(b: u32) -> u64 {
    1u64 << b
}

/// `NETIF_F_*` bits of the offloads a reader negotiates (tun's TUN_USER_FEATURES).
fn feature_bits(f: Features) -> u64 {
    use kernel::bindings::*;
    let mut bits = 0;
    for (on, b) in [
        (f.hw_csum, NETIF_F_HW_CSUM_BIT),
        (f.tso, NETIF_F_TSO_BIT),
        (f.tso6, NETIF_F_TSO6_BIT),
        (f.tso_ecn, NETIF_F_TSO_ECN_BIT),
        (f.gso_udp_l4, NETIF_F_GSO_UDP_L4_BIT),
        (f.gso_udp_tunnel, NETIF_F_GSO_UDP_TUNNEL_BIT),
        (f.gso_udp_tunnel_csum, NETIF_F_GSO_UDP_TUNNEL_CSUM_BIT),
    ] {
        if on {
            bits |= bit(b);
        }
    }
    bits
}

/// What a new device can offer: scatter-gather and frag lists always, the
/// user offloads once a reader negotiates them (`fix_features`).
pub(crate) fn device_features() -> u64 {
    use kernel::bindings::*;
    bit(NETIF_F_SG_BIT) | bit(NETIF_F_FRAGLIST_BIT) | feature_bits(Features::ALL)
}

/// Whether the device currently offers UDP-tunnel GSO (tun reads `dev->features`).
pub(crate) fn has_udp_tunnel(features: u64) -> bool {
    features & bit(kernel::bindings::NETIF_F_GSO_UDP_TUNNEL_BIT) != 0
}

/// The queues bound to the device, as their owners see them (process
/// context, RTNL held): `active` ones receive frames, index =
/// `skb->queue_mapping`, and are published to xmit in `DevState::queues`;
/// `disabled` ones were detached with TUNSETQUEUE.
struct Owners {
    active: KVec<Arc<TunFile>>,
    disabled: KVec<Arc<TunFile>>,
}

impl Owners {
    fn total(&self) -> usize {
        self.active.len() + self.disabled.len()
    }
}

/// Buckets of the flow table (tun's TUN_NUM_FLOW_ENTRIES).
const FLOWS: usize = 1024;
/// Marks a used flow-table entry (hash in the high half, queue in the low 16 bits).
const FLOW_VALID: u64 = 1 << 31;

#[pin_data]
pub(crate) struct DevState {
    mode: Mode,
    /// tun's `flags`: the FEATURES bits plus IFF_PERSIST.
    flags: AtomicU32,
    owner: AtomicU32,
    group: AtomicU32,
    vnet_hdr_sz: AtomicU32,
    /// TUNSETVNETLE / TUNSETVNETBE.
    vnet_le: AtomicBool,
    vnet_be: AtomicBool,
    /// The `NETIF_F_*` offloads the readers negotiated (tun's `set_features`).
    user_features: AtomicU64,
    /// The LSM's blob for this device.
    security: LsmBlob,
    #[pin]
    owners: Mutex<Owners>,
    /// What xmit reads, published with RCU (rcu.rs): no lock on the data path.
    queues: RcuTable<TunFile, MAX_QUEUES>,
    txfilter: RcuBox<TxFilter>,
    classic: RcuBox<ClassicFilter>,
    ebpf: RcuBox<EbpfFilter>,
    /// TUNSETSTEERINGEBPF: picks the queue of each frame.
    steering: RcuBox<EbpfFilter>,
    /// What TUNSETOFFLOAD negotiated, parsed (`Offloads::bits`).
    offloads: AtomicU32,
    /// Per CPU: the drops of each reason, then writers' invalid virtio-net
    /// headers at `FRAME_ERRORS` (packets, bytes and rx/tx_dropped are the
    /// core's per-CPU counters).
    counters: PerCpuCounters<COUNTERS>,
    /// tun's automatic steering: the queue that last wrote each flow receives
    /// its replies. Direct-mapped by flow hash; see `select_queue`.
    flows: [AtomicU64; FLOWS],
    /// /sys/kernel/debug/rtun/<dev>, from registration to `ndo_uninit`.
    #[pin]
    debugfs: Mutex<Option<DebugfsEntry>>,
    /// A closed queue's device still counts it among its real queues; a
    /// `Recount` is on its way (see `DevState::detach`).
    recount_pending: AtomicBool,
    /// How many queues are active and disabled: `Owners`' counts, mirrored
    /// at each change for readers without the lock (`fill_link_info`).
    n_active: AtomicU32,
    n_disabled: AtomicU32,
}

impl DevState {
    /// State for a new device created with TUNSETIFF `flags`.
    pub(crate) fn new(
        mode: Mode,
        flags: u16,
        security: LsmBlob,
    ) -> Result<impl PinInit<Self, Error>> {
        let cap = if flags & ioctl::IFF_MULTI_QUEUE != 0 {
            MAX_QUEUES
        } else {
            1
        };
        let active = KVec::with_capacity(cap, GFP_KERNEL)?;
        let disabled = KVec::with_capacity(cap, GFP_KERNEL)?;
        let counters = PerCpuCounters::new()?;
        Ok(try_pin_init!(DevState {
            mode,
            flags: AtomicU32::new(u32::from(flags & ioctl::FEATURES)),
            owner: AtomicU32::new(INVALID_ID),
            group: AtomicU32::new(INVALID_ID),
            vnet_hdr_sz: AtomicU32::new(vnet::HDR_LEN as u32),
            vnet_le: AtomicBool::new(false),
            vnet_be: AtomicBool::new(false),
            user_features: AtomicU64::new(0),
            security,
            owners <- new_mutex!(Owners { active, disabled }, "rtun_owners"),
            queues: RcuTable::new(),
            txfilter: RcuBox::empty(),
            classic: RcuBox::empty(),
            ebpf: RcuBox::empty(),
            steering: RcuBox::empty(),
            offloads: AtomicU32::new(0),
            counters,
            flows: [const { AtomicU64::new(0) }; FLOWS],
            debugfs <- new_mutex!(None, "rtun_debugfs"),
            recount_pending: AtomicBool::new(false),
            n_active: AtomicU32::new(0),
            n_disabled: AtomicU32::new(0),
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
        self.flags
            .store(u32::from(keep | (flags & ioctl::FEATURES)), Relaxed);
    }

    pub(crate) fn set_persist(&self, on: bool) {
        let p = u32::from(ioctl::IFF_PERSIST);
        if on {
            self.flags.fetch_or(p, Relaxed);
        } else {
            self.flags.fetch_and(!p, Relaxed);
        }
    }

    pub(crate) fn owner(&self) -> u32 {
        self.owner.load(Relaxed)
    }

    pub(crate) fn group(&self) -> u32 {
        self.group.load(Relaxed)
    }

    pub(crate) fn security(&self) -> &LsmBlob {
        &self.security
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

    pub(crate) fn vnet_le(&self) -> bool {
        self.vnet_le.load(Relaxed)
    }

    pub(crate) fn set_vnet_le(&self, on: bool) {
        self.vnet_le.store(on, Relaxed);
    }

    pub(crate) fn vnet_be(&self) -> bool {
        self.vnet_be.load(Relaxed)
    }

    pub(crate) fn set_vnet_be(&self, on: bool) {
        self.vnet_be.store(on, Relaxed);
    }

    /// The byte order of the virtio-net header's legacy fields.
    pub(crate) fn vnet_little_endian(&self) -> bool {
        vnet::little_endian(self.vnet_le(), self.vnet_be())
    }

    /// tun's `tun_permitted`: if an owner or a group is set, a caller matching
    /// every one that is set; otherwise, or failing that, CAP_NET_ADMIN over the
    /// device's namespace.
    pub(crate) fn permitted(&self, dev: &NetDev) -> bool {
        let owner = self.owner.load(Relaxed);
        let group = self.group.load(Relaxed);
        let ids_set = owner != INVALID_ID || group != INVALID_ID;
        (ids_set
            && (owner == INVALID_ID || cred::euid_is(owner))
            && (group == INVALID_ID || cred::in_egroup(group)))
            || dev.net_admin()
    }

    /// Active (receiving) queues.
    pub(crate) fn num_active(&self) -> usize {
        self.owners.lock().active.len()
    }

    /// `ndo_change_carrier` and TUNSETCARRIER: carrier needs a queue, as in tun.
    pub(crate) fn change_carrier(&self, dev: &NetDev, on: bool) -> Result {
        if on && self.num_active() == 0 {
            return Err(EPERM);
        }
        dev.set_carrier(on);
        Ok(())
    }

    /// `ndo_fix_features`: the user offloads only as far as readers negotiated them.
    pub(crate) fn fix_features(&self, features: u64) -> u64 {
        let user = feature_bits(Features::ALL);
        (features & self.user_features.load(Relaxed)) | (features & !user)
    }

    /// Counts one drop at `site`: its reason counter and rx/tx_dropped.
    pub(crate) fn count_drop(&self, site: Site) {
        self.count_drop_on(NetDev::of_driver(self), site);
    }

    /// [`DevState::count_drop`] for a caller that has the device at hand.
    #[inline(always)]
    fn count_drop_on(&self, dev: &NetDev, site: Site) {
        let info = site.info();
        self.counters.inc(info.reason.index());
        // Transmit sites first: the hot ones.
        if info.dir == Dir::Tx {
            dev.count_tx_dropped();
        } else if info.dir == Dir::Rx {
            dev.count_rx_dropped();
        } else if info.dir == Dir::RxFrame {
            self.counters.inc(FRAME_ERRORS);
        }
    }

    /// Counts a received frame lost before an skb existed (allocation failure).
    pub(crate) fn count_rx_lost(&self) {
        NetDev::of_driver(self).count_rx_dropped();
    }

    pub(crate) fn rx_frame_errors(&self) -> u64 {
        self.counters.get(FRAME_ERRORS)
    }

    // ---- transmit -----------------------------------------------------------

    /// `ndo_start_xmit`: queue the frame for the reader of its queue, or drop it
    /// with the reason. BH context: nothing here sleeps. False when (part of)
    /// the frame was dropped, which tun reports as NET_XMIT_DROP.
    ///
    /// tun's transmit order: a queue to receive, the TAP tx filter, the classic
    /// and eBPF filters (and the trim they ask for), zerocopy fragments, then
    /// the offloads the reader cannot take, then the ring. A frame is dropped
    /// where its site is known (inside the RCU read-side section, as in tun,
    /// and never under the ring lock), so that each site's counter and reason
    /// are constants. One function with `rtun_ndo_start_xmit`, as tun's is.
    #[inline(always)]
    pub(crate) fn start_xmit(&self, dev: &NetDev, mut skb: SkBuff, rcu: &BhSection) -> bool {
        let txq = skb.queue_mapping();
        let Some(q) = self.queues.get(txq, rcu) else {
            return self.xmit_drop(dev, skb, Site::XmitNoQueue);
        };
        if self.txfilter.get(rcu).is_some()
            || self.classic.get(rcu).is_some()
            || self.ebpf.get(rcu).is_some()
        {
            let verdict;
            (skb, verdict) = self.xmit_filters(skb, rcu);
            if let Some(site) = verdict {
                return self.xmit_drop(dev, skb, site);
            }
        }
        // Zerocopy fragments copied, timestamped, and (the frame may wait on
        // the ring indefinitely) its socket and conntrack entry released.
        if skb.detach_for_ring().is_err() {
            return self.xmit_drop(dev, skb, Site::XmitOrphanFrags);
        }

        // Offloads go to the reader only through a virtio-net header; they
        // are read only for a frame that has one to resolve.
        let (gso, partial) = (skb.is_gso(), skb.is_csum_partial());
        if gso || partial {
            let offloads = if self.has(ioctl::IFF_VNET_HDR) {
                self.offloads()
            } else {
                Offloads::default()
            };
            if gso && !offloads.takes_gso(skb.gso_type()) {
                let segs = match skb.gso_segment() {
                    Ok(segs) => segs,
                    Err(skb) => return self.xmit_drop(dev, skb, Site::XmitGsoSeg),
                };
                let bp = self.has(ioctl::IFF_BACKPRESSURE).then_some((dev, txq));
                return match q.push_list(segs, offloads, self, bp) {
                    Ok(()) => true,
                    Err((rest, site)) => {
                        for _ in 0..rest.count() {
                            self.count_drop_on(dev, site);
                        }
                        rest.drop_reason(site.reason());
                        false
                    }
                };
            }
            if partial && !offloads.takes_partial_csum() {
                skb = match skb.checksum_help() {
                    Ok(skb) => skb,
                    Err(skb) => return self.xmit_drop(dev, skb, Site::XmitCsum),
                };
            }
        }
        let bp = self.has(ioctl::IFF_BACKPRESSURE).then_some((dev, txq));
        if let Err(skb) = q.push(skb, bp) {
            return self.xmit_drop(dev, skb, Site::XmitRingFull);
        }
        dev.txq_trans_update(txq);
        true
    }

    /// The filters of `start_xmit`, in tun's order: the TAP tx filter, the
    /// classic and eBPF filters (and the trim they ask for). The frame comes
    /// back with the site where it is to be dropped, if any. Out of line: the
    /// frame then stays in a register on the path without filters.
    #[inline(never)]
    fn xmit_filters(&self, mut skb: SkBuff, rcu: &BhSection) -> (SkBuff, Option<Site>) {
        if let Some(f) = self.txfilter.get(rcu) {
            if self.mode == Mode::Tap && f.is_on() && !f.accepts(skb.head()) {
                return (skb, Some(Site::XmitTxFilter));
            }
        }
        if let Some(filter) = self.classic.get(rcu) {
            let reason = filter.run(&mut skb);
            if reason != 0 {
                return (skb, Some(frames::socket_filter_site(reason)));
            }
        }
        if let Some(filter) = self.ebpf.get(rcu) {
            let len = filter.run(&mut skb);
            if len == 0 {
                return (skb, Some(Site::XmitEbpfFilter));
            }
            if skb.trim(len).is_err() {
                return (skb, Some(Site::XmitTrim));
            }
        }
        (skb, None)
    }

    /// Drops a frame at transmit drop site `site` (a constant where inlined),
    /// counted; false, for `start_xmit` to return.
    #[inline(always)]
    fn xmit_drop(&self, dev: &NetDev, skb: SkBuff, site: Site) -> bool {
        self.count_drop_on(dev, site);
        skb.drop_tx(site.reason());
        false
    }

    // ---- filters and offloads (ioctls, process context) ---------------------------

    /// TUNSETTXFILTER. Waits for transmitters still using the old table.
    pub(crate) fn set_txfilter(&self, f: TxFilter) -> Result {
        drop(self.txfilter.replace(Some(KBox::new(f, GFP_KERNEL)?)));
        Ok(())
    }

    /// TUNATTACHFILTER / TUNDETACHFILTER. The old filter is released once no
    /// transmitter can use it (its socket's release may sleep).
    pub(crate) fn set_classic_filter(&self, f: Option<ClassicFilter>) -> Result {
        let new = f.map(|f| KBox::new(f, GFP_KERNEL)).transpose()?;
        drop(self.classic.replace(new));
        Ok(())
    }

    /// The classic filter's `struct sock_fprog`, for TUNGETFILTER.
    pub(crate) fn classic_fprog(&self) -> (u16, usize) {
        let rcu = rcu::read_lock();
        self.classic.get(&rcu).map_or((0, 0), |f| f.fprog())
    }

    /// TUNSETFILTEREBPF.
    pub(crate) fn set_ebpf_filter(&self, f: Option<EbpfFilter>) -> Result {
        let new = f.map(|f| KBox::new(f, GFP_KERNEL)).transpose()?;
        drop(self.ebpf.replace(new));
        Ok(())
    }

    #[inline(always)]
    fn offloads(&self) -> Offloads {
        Offloads::from_bits(self.offloads.load(Relaxed))
    }

    /// TUNSETOFFLOAD: what readers take, and so what the device advertises.
    pub(crate) fn set_offloads(&self, dev: &NetDev, arg: u32, rtnl: &Rtnl) -> Result {
        let o = Offloads::parse(arg).ok_or(EINVAL)?;
        self.offloads.store(o.bits(), Relaxed);
        let bits = feature_bits(o.features());
        self.user_features.store(bits, Relaxed);
        dev.set_wanted_features(feature_bits(Features::ALL), bits, rtnl);
        dev.update_features(rtnl);
        Ok(())
    }

    /// TUNSETSTEERINGEBPF. The old program is put after the lock.
    pub(crate) fn set_steering(&self, f: Option<EbpfFilter>) -> Result {
        let new = f.map(|f| KBox::new(f, GFP_KERNEL)).transpose()?;
        drop(self.steering.replace(new));
        Ok(())
    }

    /// `ndo_select_queue`, as tun: the steering program's choice modulo the
    /// active queues; without one, the queue that last wrote the frame's flow,
    /// else the flow hash scaled to the queues.
    #[inline(always)]
    pub(crate) fn select_queue(&self, skb: &mut SkBuff) -> u16 {
        let n = {
            let rcu = rcu::read_lock();
            let n = self.queues.len(&rcu);
            if n == 0 {
                return 0;
            }
            if let Some(prog) = self.steering.get(&rcu) {
                // tun keeps the program's result in a u16 before the modulo.
                return (usize::from(prog.run(skb) as u16) % n) as u16;
            }
            n
        };
        let hash = skb.hash_symmetric();
        let e = self
            .flows
            .get(hash as usize % FLOWS)
            .map_or(0, |e| e.load(Relaxed));
        if e & FLOW_VALID != 0 && (e >> 32) as u32 == hash {
            // A flow whose queue has gone keeps its index on tun, which the
            // core then caps to queue 0 (`netdev_cap_txqueue`).
            let q = (e & 0xffff) as usize;
            return if q < n { q as u16 } else { 0 };
        }
        ((u64::from(hash) * n as u64) >> 32) as u16
    }

    /// Whether writes should record their flow for `select_queue`.
    pub(crate) fn steers_flows(&self) -> bool {
        let rcu = rcu::read_lock();
        self.steering.get(&rcu).is_none() && self.queues.len(&rcu) > 1
    }

    /// A frame of flow `hash` was written on `q`: send the flow's replies there.
    pub(crate) fn flow_update(&self, hash: u32, q: &TunFile) {
        // A disabled queue has no index and receives nothing.
        let Some(index) = q.txq() else { return };
        if let Some(e) = self.flows.get(hash as usize % FLOWS) {
            e.store((u64::from(hash) << 32) | FLOW_VALID | index as u64, Relaxed);
        }
    }

    /// The device came up: tell blocked writers of every active queue.
    pub(crate) fn write_space(&self) {
        self.for_each_active(TunFile::write_space);
    }

    /// Runs `f` on every active queue (TUNSETSNDBUF). `f` must not sleep.
    pub(crate) fn for_each_active(&self, f: impl Fn(&TunFile)) {
        for q in self.owners.lock().active.iter() {
            f(q);
        }
    }

    /// txqueuelen changed: every queue's ring follows, as tun's do, all or
    /// none: every new slot array is allocated before any ring changes (tun's
    /// `ptr_ring_resize_multiple_bh`). RTNL held, so the set of queues cannot
    /// change meanwhile.
    pub(crate) fn resize_rings(&self, dev: &NetDev, cap: usize, _rtnl: &Rtnl) -> Result {
        let mut qs: KVec<(Arc<TunFile>, Option<NewSlots>)> = KVec::new();
        {
            let owners = self.owners.lock();
            qs.reserve(owners.total(), GFP_KERNEL)?;
            for q in Iterator::chain(owners.active.iter(), owners.disabled.iter()) {
                qs.push_within_capacity((q.clone(), None))
                    .map_err(|_| ENOMEM)?;
            }
        }
        for (q, slots) in qs.iter_mut() {
            *slots = q.slots_for(cap)?;
        }
        for (q, slots) in qs.iter_mut() {
            if let Some(slots) = slots.take() {
                q.resize_ring_to(slots, Some(self));
            }
        }
        // A ring left full by the new size has nobody to restart its
        // transmit queue, as tun's `tun_queue_resize` knows.
        for q in self.owners.lock().active.iter() {
            q.force_wake(dev);
        }
        Ok(())
    }

    /// The device's socket-filter state as TUNGETIFF reports it.
    pub(crate) fn has_classic_filter(&self) -> bool {
        self.classic.get(&rcu::read_lock()).is_some()
    }

    // ---- attach and detach (RTNL held) ----------------------------------------

    /// Whether [`DevState::attach`] would take one more queue: `EBUSY` for a
    /// second queue of a single-queue device, `E2BIG` past the maximum, as
    /// tun checks before it resizes the new queue's ring. The sets change
    /// only under RTNL, which the caller holds until it attaches, so the
    /// answer still holds then.
    pub(crate) fn may_attach(&self, _rtnl: &Rtnl) -> Result {
        self.room_for_one(&self.owners.lock())
    }

    fn room_for_one(&self, owners: &Owners) -> Result {
        if !self.has(ioctl::IFF_MULTI_QUEUE) && !owners.active.is_empty() {
            return Err(EBUSY);
        }
        if owners.total() >= MAX_QUEUES {
            return Err(E2BIG);
        }
        Ok(())
    }

    /// Makes `q` an active queue of `dev`. `q` must not be bound elsewhere.
    /// Returns how many queues (active and disabled) the device has now.
    pub(crate) fn attach(&self, dev: &NetDev, q: &Arc<TunFile>, rtnl: &Rtnl) -> Result<usize> {
        let (n, total) = {
            let mut owners = self.owners.lock();
            self.room_for_one(&owners)?;
            owners
                .active
                .push_within_capacity(q.clone())
                .map_err(|_| E2BIG)?;
            self.publish(&owners, rtnl);
            (owners.active.len(), owners.total())
        };
        dev.set_real_num_queues(n, rtnl);
        q.force_wake(dev);
        Ok(total)
    }

    /// Shows xmit the active queues, and tells every queue its index.
    fn publish(&self, owners: &Owners, rtnl: &Rtnl) {
        // The counts `ip -d link` reads without the lock (`fill_link_info`).
        self.n_active.store(owners.active.len() as u32, Relaxed);
        self.n_disabled.store(owners.disabled.len() as u32, Relaxed);
        // The table's references to queues that left it go a grace period
        // later, from rtun's workqueue: nothing waits here.
        self.queues.publish(&owners.active, rtnl).defer();
        for (i, q) in owners.active.iter().enumerate() {
            q.set_txq(Some(i));
        }
        for q in owners.disabled.iter() {
            q.set_txq(None);
        }
    }

    /// TUNSETQUEUE with IFF_DETACH_QUEUE: `q` stops receiving but stays bound;
    /// once no transmitter can reach it, what it had not read is dropped, as
    /// in tun.
    pub(crate) fn disable(&self, dev: &NetDev, q: &TunFile, rtnl: &Rtnl) -> Result {
        self.move_queue(dev, q, false, rtnl)?;
        q.napi_disable(self);
        q.purge(self);
        Ok(())
    }

    /// TUNSETQUEUE with IFF_ATTACH_QUEUE: a disabled `q` receives again.
    /// NAPI is enabled before the queue is published as active: a write
    /// that finds the queue active finds it polling too (tun's writes check
    /// only that the queue is attached).
    pub(crate) fn enable(&self, dev: &NetDev, q: &TunFile, rtnl: &Rtnl) -> Result {
        let enabled = q.napi_enable();
        if let Err(e) = self.move_queue(dev, q, true, rtnl) {
            if enabled {
                // Still disabled: it polls no more than before.
                q.napi_disable(self);
            }
            return Err(e);
        }
        q.force_wake(dev);
        Ok(())
    }

    /// Moves `q` between the disabled and the active set. Leaving the active
    /// set waits for transmitters that may still see `q`; the last active
    /// queue takes its index, as in tun (`__tun_detach`).
    fn move_queue(&self, dev: &NetDev, q: &TunFile, to_active: bool, rtnl: &Rtnl) -> Result {
        let (n, left) = {
            let mut guard = self.owners.lock();
            let owners = &mut *guard;
            // Both sets have room for every queue; checked before anything
            // changes all the same.
            let to = if to_active {
                &owners.active
            } else {
                &owners.disabled
            };
            if to.len() >= to.capacity() {
                return Err(E2BIG);
            }
            let (taken, left) = if to_active {
                let pos = position(&owners.disabled, q).ok_or(EINVAL)?;
                (owners.disabled.remove(pos).map_err(|_| EINVAL)?, None)
            } else {
                let (taken, index) = take_active(&mut owners.active, q).ok_or(EINVAL)?;
                // No transmitter that still sees `q` may stop the transmit
                // queue it had: it is another queue's now.
                taken.set_txq(None);
                (taken, Some(index))
            };
            let to = if to_active {
                &mut owners.active
            } else {
                &mut owners.disabled
            };
            if let Err(e) = to.push_within_capacity(taken) {
                // Cannot happen (room was checked above, under the lock).
                drop(guard);
                drop(e);
                return Err(E2BIG);
            }
            self.publish(owners, rtnl);
            (owners.active.len(), left)
        };
        if let Some(index) = left {
            rcu_barrier_readers();
            self.wake_index(dev, index);
        }
        dev.set_real_num_queues(n, rtnl);
        Ok(())
    }

    /// `q` is closing: unbind it, and take the device away with the last queue
    /// unless it is persistent. What `q` had not read is dropped now; a
    /// transmitter that picked `q` before it left may still queue a frame on
    /// it, so the result keeps `q` until a grace period has passed, and drops
    /// what came late then. Dropping the result waits for that grace period;
    /// a closing file defers it instead (`Retired::defer`), so that closing
    /// many queues does not cost a grace period each.
    pub(crate) fn detach(&self, dev: &NetDev, q: &TunFile, rtnl: &Rtnl) -> Retired<LateQueue> {
        let (removed, active, total) = {
            let mut owners = self.owners.lock();
            let removed = match take_active(&mut owners.active, q) {
                Some((q, index)) => Some((q, Some(index))),
                None => position(&owners.disabled, q)
                    .and_then(|pos| owners.disabled.remove(pos).ok())
                    .map(|q| (q, None)),
            };
            // A transmitter that still sees `q` must not stop the transmit
            // queue it had: it is another queue's now, or gone.
            q.set_txq(None);
            self.publish(&owners, rtnl);
            (removed, owners.active.len(), owners.total())
        };
        q.napi_stop(self);
        q.purge(self);
        let late = match removed {
            Some((q, left)) => Retired::new(LateQueue {
                dev: ARef::from(dev),
                q,
                left,
            }),
            None => Retired::none(),
        };
        if active > 0 {
            self.recount_later(dev, rtnl);
        }
        if total == 0 {
            dev.set_carrier(false);
            if !self.has(ioctl::IFF_PERSIST) && dev.is_registered() {
                dev.unregister(rtnl);
            }
        }
        dev.state_changed(rtnl);
        late
    }

    /// Publishes the drop counters in debugfs under the device's current name
    /// (and namespace), replacing the entry it had.
    fn name_debugfs(&self, dev: &NetDev) {
        let mut entry = self.debugfs.lock();
        // The old entry goes first: the new one may have the same name.
        drop(entry.take());
        // `rtun/<name>` for a device in the initial network namespace, and
        // `rtun/<name>@<netns inode>` for one elsewhere.
        let Some((inum, init)) = dev.net().map(|net| net.inum()) else {
            return;
        };
        let name = ioctl::debugfs_name(&dev.name(), (!init).then_some(inum));
        if let Ok(name) = core::ffi::CStr::from_bytes_until_nul(&name) {
            *entry = DebugfsEntry::new(dev, name);
        }
    }

    /// `ndo_uninit`: the device is going away; every queue loses it.
    pub(crate) fn detach_all(&self, rtnl: &Rtnl) {
        drop(self.debugfs.lock().take());
        let (active, disabled) = {
            let mut owners = self.owners.lock();
            let active = core::mem::take(&mut owners.active);
            let disabled = core::mem::take(&mut owners.disabled);
            self.publish(&owners, rtnl);
            (active, disabled)
        };
        rcu_barrier_readers();
        for q in Iterator::chain(active.iter(), disabled.iter()) {
            q.set_txq(None);
            q.napi_stop(self);
            q.shut_down();
            q.purge(self);
        }
    }
}

/// Waits until every transmitter that may have seen the old queue table
/// (an RCU read-side critical section) is done. Process context.
fn rcu_barrier_readers() {
    drop(Retired::new(()));
}

impl DevState {
    /// Brings the device's real queue count down to its active queues soon,
    /// not now: the core waits for a grace period whenever the count shrinks
    /// (`netif_set_real_num_tx_queues`), and a file closing must not wait for
    /// one. Closes in a row share one update. Until it runs, frames the core
    /// still maps to a gone queue are dropped as with no reader (DEV_READY).
    fn recount_later(&self, dev: &NetDev, rtnl: &Rtnl) {
        if self.recount_pending.swap(true, Relaxed) {
            return;
        }
        if let Err(mut r) = crate::abstractions::rcu::after_grace_period(Recount {
            dev: Some(ARef::from(dev)),
        }) {
            // No memory for the work item: do it now (RTNL is held).
            self.recount(dev, rtnl);
            drop(r.dev.take());
        }
    }

    fn recount(&self, dev: &NetDev, rtnl: &Rtnl) {
        self.recount_pending.store(false, Relaxed);
        if dev.is_registered() {
            let n = self.owners.lock().active.len();
            dev.set_real_num_queues(n, rtnl);
        }
    }
}

/// A pending [`DevState::recount_later`]: runs when dropped, from rtun's
/// workqueue.
struct Recount {
    dev: Option<ARef<NetDev>>,
}

impl Drop for Recount {
    fn drop(&mut self) {
        let Some(dev) = self.dev.take() else {
            return;
        };
        let rtnl = Rtnl::lock();
        if let Some(state) = DevState::of(&dev) {
            state.recount(&dev, &rtnl);
        }
        // The reference goes back before RTNL does: unlocking may finish an
        // unregistration, which waits for it.
        drop(dev);
        drop(rtnl);
    }
}

/// A queue that just left its device, kept a grace period longer: see
/// [`DevState::detach`]. If it was active, `left` is the index it had.
pub(crate) struct LateQueue {
    dev: ARef<NetDev>,
    q: Arc<TunFile>,
    left: Option<usize>,
}

impl Drop for LateQueue {
    fn drop(&mut self) {
        if let Some(state) = DevState::of(&self.dev) {
            self.q.purge(state);
            if let Some(index) = self.left.take() {
                state.wake_index(&self.dev, index);
            }
        }
    }
}

/// Takes `q` out of the active queues as tun does: the last one moves into
/// its place, so that only that one changes index (steering programs and the
/// flow table keep mapping to the same queues as on tun). Returns `q` and the
/// index it had.
fn take_active(active: &mut KVec<Arc<TunFile>>, q: &TunFile) -> Option<(Arc<TunFile>, usize)> {
    let index = position(active, q)?;
    let last = active.len().checked_sub(1)?;
    active.swap(index, last);
    Some((active.pop()?, index))
}

impl DevState {
    /// A grace period after transmit queue `index` lost its queue, no
    /// transmitter can stop it on that queue's behalf any more. Whichever
    /// queue holds the index now (looked up under the owners' lock, which
    /// attach, detach and TUNSETQUEUE hold while they change indexes) is
    /// woken if its ring is empty: nobody's reading would wake it, and
    /// with IFF_BACKPRESSURE it could stay stopped for ever with the qdisc
    /// holding its frames (tun's `__tun_detach`). A queue with frames is left
    /// to its reader, which wakes it. With no queue at the index, it is
    /// woken, as tun does: its frames drain (dropped as with no reader) until
    /// the queue count comes down. Process context.
    fn wake_index(&self, dev: &NetDev, index: usize) {
        let owners = self.owners.lock();
        match owners.active.get(index) {
            Some(q) => q.wake_if_empty(dev, index),
            // `index` was a queue's, so the device has that transmit queue.
            None if dev.is_running() => dev.wake_txq(index),
            None => (),
        }
    }
}

fn position(v: &KVec<Arc<TunFile>>, q: &TunFile) -> Option<usize> {
    v.iter().position(|x| core::ptr::eq(&**x, q))
}

impl DevState {
    /// The state of `dev`, if it is a live rtun device.
    pub(crate) fn of(dev: &NetDev) -> Option<&DevState> {
        dev.driver::<DevState>()
    }
}

impl Driver for DevState {
    const VERSION: &'static str = "1.0";
    // tun's `get_size`: every attribute `fill_link_info` may add.
    const LINK_INFO_SIZE: usize = 4 * netdev::nla_total_size(4) + 5 * netdev::nla_total_size(1);

    fn name() -> &'static str {
        personality::current().driver
    }
    const STAT_NAMES: &'static [&'static str] = &Reason::NAMES;

    fn bus_info(link: Option<Link>) -> &'static str {
        // As tun: the bus is the kind of device.
        match link {
            Some(Link::Ether) => "tap",
            _ => "tun",
        }
    }

    // Inlined into `rtun_ndo_start_xmit`, so that drops there are located
    // in a function with a readable name.
    #[inline(always)]
    fn start_xmit(&self, dev: &NetDev, skb: SkBuff, rcu: &BhSection) -> bool {
        DevState::start_xmit(self, dev, skb, rcu)
    }

    #[inline(always)]
    fn select_queue(&self, skb: &mut SkBuff) -> u16 {
        DevState::select_queue(self, skb)
    }

    fn fix_features(&self, features: u64) -> u64 {
        DevState::fix_features(self, features)
    }

    fn change_carrier(&self, dev: &NetDev, on: bool) -> Result {
        DevState::change_carrier(self, dev, on)
    }

    fn uninit(&self, rtnl: &Rtnl) {
        self.detach_all(rtnl);
    }

    fn txqlen_changed(&self, dev: &NetDev, rtnl: &Rtnl) -> Result {
        self.resize_rings(dev, dev.tx_queue_len(), rtnl)
    }

    fn up(&self) {
        self.write_space();
    }

    fn named(&self, dev: &NetDev, _rtnl: &Rtnl) {
        self.name_debugfs(dev);
    }

    fn rx_frame_errors(&self) -> u64 {
        DevState::rx_frame_errors(self)
    }

    fn stat(&self, i: usize) -> u64 {
        if i < Reason::COUNT {
            self.counters.get(i)
        } else {
            0
        }
    }

    fn tun_flags(&self) -> u32 {
        u32::from(self.ifr_flags())
    }

    fn owner(&self) -> Option<u32> {
        Some(DevState::owner(self)).filter(|&id| id != INVALID_ID)
    }

    fn group(&self) -> Option<u32> {
        Some(DevState::group(self)).filter(|&id| id != INVALID_ID)
    }

    /// tun's `IFLA_TUN_*` attributes, from lockless reads as tun's
    /// `tun_fill_info` makes them: ids as the caller's user namespace sees
    /// them, and the queue counts only for a multi-queue device.
    fn fill_link_info(&self, msg: &mut LinkInfoMsg<'_>) -> Result {
        let flags = self.ifr_flags();
        let bit = |f: u16| u8::from(flags & f != 0);
        msg.put_u8(
            ioctl::IFLA_TUN_TYPE,
            (flags & (ioctl::IFF_TUN | ioctl::IFF_TAP)) as u8,
        )?;
        if let Some(uid) = Driver::owner(self).and_then(cred::uid_seen) {
            msg.put_u32(ioctl::IFLA_TUN_OWNER, uid)?;
        }
        if let Some(gid) = Driver::group(self).and_then(cred::gid_seen) {
            msg.put_u32(ioctl::IFLA_TUN_GROUP, gid)?;
        }
        msg.put_u8(ioctl::IFLA_TUN_PI, 1 - bit(ioctl::IFF_NO_PI))?;
        msg.put_u8(ioctl::IFLA_TUN_VNET_HDR, bit(ioctl::IFF_VNET_HDR))?;
        msg.put_u8(ioctl::IFLA_TUN_PERSIST, bit(ioctl::IFF_PERSIST))?;
        msg.put_u8(ioctl::IFLA_TUN_MULTI_QUEUE, bit(ioctl::IFF_MULTI_QUEUE))?;
        if flags & ioctl::IFF_MULTI_QUEUE != 0 {
            msg.put_u32(ioctl::IFLA_TUN_NUM_QUEUES, self.n_active.load(Relaxed))?;
            msg.put_u32(
                ioctl::IFLA_TUN_NUM_DISABLED_QUEUES,
                self.n_disabled.load(Relaxed),
            )?;
        }
        Ok(())
    }
}
