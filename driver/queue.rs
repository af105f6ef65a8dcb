// SPDX-License-Identifier: GPL-2.0
//! One open file of /dev/net/rtun: a queue of a device once TUNSETIFF binds it.
//! read/write/poll/ioctl logic, in safe Rust over the abstraction files. The
//! behaviour, errnos included, is tun's (drivers/net/tun.c); where rtun differs
//! on purpose, the README's ABI table says so.

use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicUsize,
    Ordering::{AcqRel, Relaxed},
};
use kernel::{
    error::code::*,
    iov::{IovIterDest, IovIterSource},
    page::PAGE_SIZE,
    prelude::*,
    seq_file::SeqFile,
    sync::{aref::ARef, Arc, ArcBorrow},
    uaccess::{UserPtr, UserSlice},
};

use crate::{
    abstractions::bpf::{ClassicFilter, EbpfFilter},
    abstractions::chardev::{Fasync, FileOps},
    abstractions::cred::{self, LsmBlob},
    abstractions::napi::Napi,
    abstractions::netdev::{self, DevBuilder, NetDev, NetNs, Rtnl},
    abstractions::skb::{SkBuff, SkbList},
    abstractions::skb_ring::{Full, NewSlots, SkbRing},
    abstractions::sock::Sock,
    abstractions::sync::{new_raw_spinlock, PollCtx, RawSpinLock, WaitQueue},
    driver::device::{self, DevState, ModeOf, MAX_QUEUES},
    driver::frames,
    logic::frame,
    logic::ioctl::{self, IfReq, Mode},
    logic::offload::Offloads,
    logic::txfilter::{self, ETH_ALEN, TUN_FILTER_HDR_LEN},
    logic::vnet,
    skb_reason::{Errno, Site},
};

use crate::abstractions::sync::poll::{EPOLLERR, EPOLLIN, EPOLLOUT, EPOLLRDNORM, EPOLLWRNORM};

/// Linear bytes of a written frame; the rest goes into page fragments, so large
/// frames need no high-order allocation (tun's SKB_MAX_HEAD, rounded down).
const LINEAR_MAX: usize = 3584;

/// Which device a queue belongs to.
struct Binding {
    dev: Option<ARef<NetDev>>,
    /// Detached with TUNSETQUEUE: bound, but not receiving.
    disabled: bool,
}

#[pin_data]
pub(crate) struct Queue {
    #[pin]
    ring: SkbRing,
    #[pin]
    binding: RawSpinLock<Binding>,
    /// IFF_NAPI: written frames go to GRO through this instance.
    #[pin]
    napi: Napi,
    /// The device went away under the reader: a blocked read fails.
    shutdown: AtomicBool,
    /// tun's per-queue socket: written frames are charged to it against its
    /// `sk_sndbuf` (TUNSETSNDBUF); writers wait for room, and pollers for
    /// EPOLLOUT, on its wait queue (sock.rs).
    sock: Sock,
    /// TUNSETIFINDEX: the index a device created by this file gets.
    ifindex: AtomicI32,
    /// The transmit queue this queue serves while active, or -1 (device.rs
    /// keeps it up to date under its lock).
    txq: AtomicI32,
    /// IFF_BACKPRESSURE: frames read since the transmit queue was stopped
    /// (tun's `cons_cnt`). Counted by the reader after the consumer lock
    /// (a count off by a few wakes the queue a little early or late; an
    /// empty ring always wakes it), reset under both ring locks.
    consumed: AtomicUsize,
    /// O_ASYNC readers get SIGIO when a frame arrives.
    fasync: Fasync,
    /// The opener's network namespace, where TUNSETIFF looks names up.
    net: NetNs,
}

/// Open rtun files: from a successful `Queue::new` to its `Queue::release`.
static OPEN_FILES: AtomicUsize = AtomicUsize::new(0);

/// Maps a drop site's errno to the kernel's.
fn errno(site: Site) -> Error {
    match site.info().errno {
        Some(Errno::Inval) | None => EINVAL,
        Some(Errno::Fault) => EFAULT,
        Some(Errno::Io) => EIO,
        Some(Errno::NoMem) => ENOMEM,
        Some(Errno::Busy) => EBUSY,
    }
}

impl Queue {
    /// A new file's queue; [`Queue::release`] ends it.
    pub(crate) fn new() -> Result<Arc<Queue>> {
        let net = NetNs::current()?;
        let sock = Sock::new()?;
        let fasync = Fasync::new(sock.new_ref());
        let q = Arc::pin_init(
            try_pin_init!(Queue {
                ring <- SkbRing::new(),
                binding <- new_raw_spinlock!(Binding { dev: None, disabled: false }, "rtun_binding"),
                napi <- Napi::new(),
                shutdown: AtomicBool::new(false),
                sock,
                ifindex: AtomicI32::new(0),
                txq: AtomicI32::new(-1),
                consumed: AtomicUsize::new(0),
                fasync,
                net,
            }),
            GFP_KERNEL,
        )?;
        OPEN_FILES.fetch_add(1, Relaxed);
        Ok(q)
    }

    /// Where readers, writers waiting for room and pollers wait: the
    /// socket's queue, as in tun.
    fn wait(&self) -> &WaitQueue {
        self.sock.wait()
    }

    pub(crate) fn fasync(&self) -> &Fasync {
        &self.fasync
    }

    /// TUNSETSNDBUF (tun_set_sndbuf): this queue's send buffer.
    pub(crate) fn set_sndbuf(&self, v: i32) {
        self.sock.set_sndbuf(v);
    }

    /// The device this queue is bound to, receiving or not (EBADFD when
    /// unbound): tun keeps a detached queue's file working.
    #[inline(always)]
    fn device(&self) -> Result<ARef<NetDev>> {
        self.binding.lock().dev.clone().ok_or(EBADFD)
    }

    fn bound(&self) -> Option<(ARef<NetDev>, bool)> {
        let b = self.binding.lock();
        b.dev.clone().map(|d| (d, b.disabled))
    }

    // ---- ring (called by device.rs) --------------------------------------------

    pub(crate) fn set_txq(&self, i: Option<usize>) {
        self.txq.store(i.map_or(-1, |i| i as i32), Relaxed);
    }

    /// The transmit queue this queue serves, while active.
    #[inline(always)]
    pub(crate) fn txq(&self) -> Option<usize> {
        usize::try_from(self.txq.load(Relaxed)).ok()
    }

    /// Xmit side: appends a frame and wakes the reader, or gives the frame back.
    /// With IFF_BACKPRESSURE (`bp`, the device), a full ring stops its
    /// transmit queue, so the qdisc holds the next frames instead of the ring
    /// dropping them, as in tun. Any context `ndo_start_xmit` runs in,
    /// netpoll's (IRQs off) included: nothing here touches the BH state.
    #[inline(always)]
    pub(crate) fn push(&self, skb: SkBuff, bp: Option<&NetDev>) -> Result<(), SkBuff> {
        self.ring.produce(skb, |ring| self.stop_full(bp, ring))?;
        self.notify();
        Ok(())
    }

    /// Under the producer lock of a full ring: with IFF_BACKPRESSURE (`bp`),
    /// stops the transmit queue this queue serves, unless the device is going
    /// down or has no qdisc to hold frames (tun's `tun_net_xmit`).
    #[inline(always)]
    fn stop_full(&self, bp: Option<&NetDev>, ring: &Full<'_>) {
        if let (Some(dev), Some(i)) = (bp, self.txq()) {
            if dev.is_running() && !dev.txq_has_no_qdisc(i) {
                dev.stop_txq(i);
                // A reader may have made room meanwhile: it then saw the
                // queue running and did not wake it (tun's re-check).
                if !ring.still_full() {
                    dev.wake_txq(i);
                }
            }
        }
    }

    /// Reader side: a stopped transmit queue restarts once half the ring was
    /// read, or all of it (tun's `__tun_wake_queue`).
    fn consumed_one(&self, capacity: usize, now_empty: bool, dev: &NetDev) {
        let Some(i) = self.txq() else { return };
        if !dev.is_running() || !dev.txq_stopped(i) {
            return;
        }
        let n = self.consumed.fetch_add(1, Relaxed) + 1;
        if n >= capacity / 2 || now_empty {
            self.consumed.store(0, Relaxed);
            dev.wake_txq(i);
        }
    }

    /// A queue (re)joins its device: its transmit queue must not stay
    /// stopped. Under both ring locks, as tun's `tun_force_wake_queue`, so
    /// that a transmitter cannot stop it between the check and the wake.
    pub(crate) fn force_wake(&self, dev: &NetDev) {
        self.ring.quiesced(|_| {
            self.consumed.store(0, Relaxed);
            if let Some(i) = self.txq() {
                if dev.is_running() {
                    dev.wake_txq(i);
                }
            }
        });
    }

    /// This queue took transmit queue `index` from one that left: if nothing
    /// is left to read, nobody's reading will wake it, so it is woken now
    /// (tun's `__tun_detach`). Nothing happens if it has moved on since.
    pub(crate) fn wake_if_empty(&self, dev: &NetDev, index: usize) {
        self.ring.quiesced(|empty| {
            if self.txq() != Some(index) {
                return;
            }
            self.consumed.store(0, Relaxed);
            if empty && dev.is_running() {
                dev.wake_txq(index);
            }
        });
    }

    /// Xmit side: appends GSO segments, resolving checksums the reader cannot
    /// take. A segment whose checksum fails is dropped alone; what no longer
    /// fits the ring comes back as one list, with its drop site.
    // Functions that free skbs carry readable symbol names, for the
    // tracepoint's `location=` and dropwatch.
    #[inline(never)]
    #[export_name = "rtun_queue_push_segments"]
    pub(crate) fn push_list(
        &self,
        mut segs: SkbList,
        offloads: Offloads,
        state: &DevState,
        bp: Option<&NetDev>,
    ) -> Result<(), (SkbList, Site)> {
        let mut result = Ok(());
        let mut failed = SkbList::empty();
        while let Some(mut seg) = segs.pop() {
            if seg.is_csum_partial() && !offloads.takes_partial_csum() {
                seg = match seg.checksum_help() {
                    Ok(seg) => seg,
                    Err(seg) => {
                        failed.push_front(seg);
                        continue;
                    }
                };
            }
            if let Err(seg) = self.ring.produce(seg, |ring| self.stop_full(bp, ring)) {
                segs.push_front(seg);
                result = Err(Site::XmitSegmentsRingFull);
                break;
            }
        }
        self.notify();
        // Checksum failures are freed one by one, after the ring lock.
        while let Some(seg) = failed.pop() {
            state.count_drop(Site::XmitCsum);
            seg.drop_tx(Site::XmitCsum.reason());
        }
        result.map_err(|site| (segs, site))
    }

    #[inline(always)]
    fn notify(&self) {
        self.wait().wake(EPOLLIN | EPOLLRDNORM);
        self.fasync.notify(false);
    }

    /// The device came up: a writer that poll found blocked may write again
    /// (tun calls `sk_write_space` for every queue on NETDEV_UP).
    pub(crate) fn write_space(&self) {
        self.sock.write_space();
    }

    /// TUNSETQUEUE detach: NAPI stops, and written frames it had not taken
    /// yet are dropped, as tun purges them.
    pub(crate) fn napi_disable(&self, state: &DevState) {
        self.napi.disable();
        Self::drop_backlog(self.napi.take_backlog(), state);
    }

    pub(crate) fn napi_enable(&self) {
        self.napi.enable();
    }

    /// The queue leaves its device: NAPI goes, with what it had not taken.
    pub(crate) fn napi_stop(&self, state: &DevState) {
        Self::drop_backlog(self.napi.del(), state);
    }

    #[inline(never)]
    #[export_name = "rtun_queue_drop_napi_backlog"]
    fn drop_backlog(backlog: crate::abstractions::skb::SkbQueue, state: &DevState) {
        let list = backlog.into_list();
        for _ in 0..list.count() {
            state.count_drop(Site::NapiPurge);
        }
        list.drop_reason(Site::NapiPurge.reason());
    }

    /// Drops every frame left on the ring (the queue no longer receives).
    #[inline(never)]
    #[export_name = "rtun_queue_purge"]
    pub(crate) fn purge(&self, state: &DevState) {
        while let Some(c) = self.ring.consume() {
            state.count_drop(Site::DetachPurge);
            c.skb.drop_reason(Site::DetachPurge.reason());
        }
    }

    /// The device went away: unbind, and wake readers so they return.
    pub(crate) fn shut_down(&self) {
        let old = {
            let mut b = self.binding.lock();
            b.disabled = false;
            b.dev.take()
        };
        drop(old);
        self.shutdown.store(true, Relaxed);
        self.wait().wake(EPOLLIN | EPOLLERR);
    }

    /// Gives the ring room for `cap` frames (tun resizes on attach and when
    /// txqueuelen changes). Frames that no longer fit are dropped and counted
    /// on `state`, if any.
    pub(crate) fn resize_ring(&self, cap: usize, state: Option<&DevState>) -> Result {
        let cap = cap.max(1);
        if self.ring.capacity() == cap {
            return Ok(());
        }
        self.resize_ring_to(NewSlots::new(cap)?, state);
        Ok(())
    }

    /// Slots for [`Queue::resize_ring_to`]: none needed if the ring already
    /// has room for `cap` frames.
    pub(crate) fn slots_for(&self, cap: usize) -> Result<Option<NewSlots>> {
        let cap = cap.max(1);
        if self.ring.capacity() == cap {
            Ok(None)
        } else {
            NewSlots::new(cap).map(Some)
        }
    }

    /// Moves the ring to `slots`; frames that no longer fit are dropped
    /// (RING_SHRINK) and counted on `state`, if any. Cannot fail. Never
    /// inlined: its drops are located in a readable function name (the
    /// tracepoint's `location=`, dropwatch), not in its caller's mangled one.
    #[inline(never)]
    #[export_name = "rtun_queue_resize_ring"]
    pub(crate) fn resize_ring_to(&self, slots: NewSlots, state: Option<&DevState>) {
        let overflow = self.ring.resize_to(slots);
        if let Some(state) = state {
            for _ in 0..overflow.count() {
                state.count_drop(Site::RingShrink);
            }
        }
        overflow.drop_reason(Site::RingShrink.reason());
    }

    // ---- read -------------------------------------------------------------------

    pub(crate) fn read(&self, to: &mut IovIterDest<'_>, nonblock: bool) -> Result<usize> {
        let dev = self.device()?;
        let state = DevState::of(&dev).ok_or(EBADFD)?;
        let room = to.len();
        // tun leaves the ring alone for an empty read.
        if room == 0 {
            return Ok(0);
        }
        let bp = state.has(ioctl::IFF_BACKPRESSURE).then_some(&*dev);
        let skb = self.dequeue(nonblock, bp)?;
        let pi_len = if state.has(ioctl::IFF_NO_PI) {
            0
        } else {
            ioctl::PI_LEN
        };
        let vnet_sz = if state.has(ioctl::IFF_VNET_HDR) {
            state.vnet_hdr_sz()
        } else {
            0
        };
        let len = skb.len();
        let total = len
            .checked_add(pi_len)
            .and_then(|t| t.checked_add(vnet_sz))
            .ok_or(EINVAL)?;
        match Self::put_user(&skb, &dev, state, to, pi_len, vnet_sz, room < total) {
            Ok(()) => {
                dev.count_tx(len);
                skb.consume();
                Ok(total.min(room))
            }
            Err(site) => {
                state.count_drop(site);
                skb.drop_reason(site.reason());
                Err(errno(site))
            }
        }
    }

    /// Waits for a frame. A reader blocked when the device goes away gets
    /// EFAULT, as in tun.
    fn dequeue(&self, nonblock: bool, bp: Option<&NetDev>) -> Result<SkBuff> {
        if let Some(skb) = self.pop(bp) {
            return Ok(skb);
        }
        if nonblock {
            return Err(EAGAIN);
        }
        let got = self.wait().wait_interruptible(|| {
            if let Some(skb) = self.pop(bp) {
                return Some(Ok(skb));
            }
            self.shutdown.load(Relaxed).then_some(Err(EFAULT))
        });
        got.unwrap_or(Err(ERESTARTSYS))
    }

    #[inline(always)]
    fn pop(&self, bp: Option<&NetDev>) -> Option<SkBuff> {
        let c = self.ring.consume()?;
        if let Some(dev) = bp {
            // Pairs with the barrier after `push` stops the transmit queue:
            // either it sees the room made here, or this sees it stopped
            // (tun's `__tun_wake_queue`, which has it under BACKPRESSURE only).
            core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
            self.consumed_one(c.capacity, c.now_empty, dev);
        }
        Some(c.skb)
    }

    /// tun's `tun_put_user`: the PI header, the virtio-net header (its unused
    /// tail zeroed), then as much of the frame as fits.
    fn put_user(
        skb: &SkBuff,
        dev: &NetDev,
        state: &DevState,
        to: &mut IovIterDest<'_>,
        pi_len: usize,
        vnet_sz: usize,
        strip: bool,
    ) -> Result<(), Site> {
        if pi_len > 0 {
            if to.len() < pi_len {
                return Err(Site::ReadShortBuffer);
            }
            let flags = if strip { ioctl::TUN_PKT_STRIP } else { 0 };
            let pi = frame::pi_encode(flags, skb.protocol_be());
            if to.copy_to_iter(&pi) != pi.len() {
                return Err(Site::ReadCopy);
            }
        }
        if vnet_sz > 0 {
            let tnl = device::has_udp_tunnel(dev.features());
            let hdr = frames::vnet_hdr(&skb, tnl, state.vnet_little_endian())
                .map_err(|_| Site::ReadVnetHdr)?;
            if to.len() < vnet_sz {
                return Err(Site::ReadShortBuffer);
            }
            let parsed = vnet::parsed_len(tnl);
            let fields = hdr.get(..parsed).ok_or(Site::ReadVnetHdr)?;
            if to.copy_to_iter(fields) != parsed {
                return Err(Site::ReadCopy);
            }
            // A header smaller than the offloads need cannot be written whole.
            // (Nothing to zero for a header of just the fields: no call.)
            let rest = vnet_sz.checked_sub(parsed).ok_or(Site::ReadCopy)?;
            if rest > 0 && crate::abstractions::skb::zero_iter(to, rest) != rest {
                return Err(Site::ReadCopy);
            }
        }
        let n = skb.len().min(to.len());
        skb.copy_to_iter(to, n).map_err(|_| Site::ReadCopy)
    }

    // ---- write ------------------------------------------------------------------

    /// A `write()`; `nonblock` (O_NONBLOCK, IOCB_NOWAIT): fail with EAGAIN
    /// instead of waiting for room in the send buffer.
    pub(crate) fn write(&self, from: &mut IovIterSource<'_>, nonblock: bool) -> Result<usize> {
        let dev = self.device()?;
        let state = DevState::of(&dev).ok_or(EBADFD)?;
        let total = from.len();
        let mut len = total;

        // Headers first, as tun does: errors here have no frame to trace yet.
        let mut pi_proto = frame::ETH_P_IP.to_be();
        if !state.has(ioctl::IFF_NO_PI) {
            len = len.checked_sub(ioctl::PI_LEN).ok_or(EINVAL)?;
            let mut pi = [0u8; ioctl::PI_LEN];
            if from.copy_from_iter(&mut pi) != pi.len() {
                return Err(EFAULT);
            }
            pi_proto = frame::pi_decode(pi).1;
        }
        let mut vnet_hdr = None;
        let mut hdr_len = 0;
        let le = state.vnet_little_endian();
        if state.has(ioctl::IFF_VNET_HDR) {
            let sz = state.vnet_hdr_sz();
            if from.len() < sz {
                return Err(EINVAL);
            }
            let tnl = vnet::writer_knows_tunnel(sz);
            let parsed = vnet::parsed_len(tnl);
            let mut hdr: vnet::Raw = [0u8; vnet::TNL_HDR_LEN];
            let fields = hdr.get_mut(..parsed).ok_or(EINVAL)?;
            if from.copy_from_iter(fields) != parsed {
                return Err(EFAULT);
            }
            hdr_len = vnet::fix_hdr_len(&mut hdr, le);
            if hdr_len > from.len() {
                return Err(EINVAL);
            }
            from.advance(sz - parsed);
            len = len.checked_sub(sz).ok_or(EINVAL)?;
            vnet_hdr = Some((hdr, tnl));
        }
        if state.mode() == Mode::Tap && hdr_len != 0 && hdr_len < frame::ETH_HLEN {
            return Err(EINVAL);
        }

        // tun's choice of allocation: IFF_NAPI_FRAGS frames are not charged;
        // a TAP frame that fits a page, written without waiting while the send
        // buffer is unlimited, is built in the task's page fragment
        // (tun_can_build_skb); every other frame is charged to the queue's
        // socket, waiting for room unless `nonblock` (tun_alloc_skb).
        let frags_mode = state.has(ioctl::IFF_NAPI_FRAGS) && self.napi.is_added();
        let cheap =
            !frags_mode && state.mode() == Mode::Tap && self.sock.sndbuf() == i32::MAX && nonblock;
        let built = if cheap {
            SkBuff::build(&dev, &self.sock, len)
        } else {
            Ok(None)
        };
        let (mut skb, linear) = match built {
            Ok(Some(skb)) => (skb, len),
            Ok(None) => {
                let mut linear = len.min(LINEAR_MAX);
                if (len - linear).div_ceil(PAGE_SIZE) > kernel::bindings::MAX_SKB_FRAGS as usize {
                    // More pages than an skb holds: all of it linear, as tun
                    // lays out a frame without a header length (it succeeds,
                    // or fails for memory like any other write).
                    linear = len;
                }
                let skb = if frags_mode {
                    SkBuff::alloc(&dev, linear).ok_or(ENOMEM)
                } else {
                    SkBuff::alloc_send(&dev, &self.sock, linear, nonblock)
                };
                match skb {
                    Ok(mut skb) => {
                        skb.put(linear);
                        (skb, linear)
                    }
                    // tun counts every failed write but EAGAIN in rx_dropped.
                    Err(e) => {
                        if e != EAGAIN {
                            state.count_rx_lost();
                        }
                        return Err(e);
                    }
                }
            }
            Err(_) => {
                state.count_rx_lost();
                return Err(ENOMEM);
            }
        };
        match self.fill(
            &mut skb,
            &dev,
            state,
            from,
            len,
            linear,
            pi_proto,
            vnet_hdr.as_ref(),
            le,
        ) {
            Ok(()) => {
                // tun_get_user: the receive queue is the writer's queue (a
                // detached queue has none: tun records its stale index).
                if let Some(i) = self.txq() {
                    skb.record_rx_queue(i);
                }
                let flow = state.steers_flows().then(|| skb.hash_symmetric());
                if self.napi.is_added() {
                    if let Err(skb) = self.napi.receive(skb) {
                        let site = Site::WriteNapiDetached;
                        state.count_drop(site);
                        skb.drop_reason(site.reason());
                        return Err(errno(site));
                    }
                } else {
                    skb.receive();
                }
                dev.count_rx(len);
                if let Some(hash) = flow {
                    state.flow_update(hash, self);
                }
                Ok(total)
            }
            Err(site) => {
                state.count_drop(site);
                skb.drop_reason(site.reason());
                Err(errno(site))
            }
        }
    }

    /// Builds the frame in `skb` and checks it, in tun's order: copy, the
    /// protocol and network header, the virtio-net header, the Ethernet
    /// header, the link state. On failure, the drop site.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        skb: &mut SkBuff,
        dev: &NetDev,
        state: &DevState,
        from: &mut IovIterSource<'_>,
        len: usize,
        linear: usize,
        pi_proto: u16,
        vnet_hdr: Option<&(vnet::Raw, bool)>,
        le: bool,
    ) -> Result<(), Site> {
        let mut rest = len - linear;
        if rest > 0 {
            // The charge follows the frame's size: given back before the
            // fragments grow it, taken again for the whole frame after.
            let charged = skb.is_owned();
            skb.orphan();
            let mut frag = 0;
            while rest > 0 {
                let chunk = rest.min(PAGE_SIZE);
                skb.add_page_frag(frag, chunk)
                    .map_err(|_| Site::WriteFragAlloc)?;
                rest -= chunk;
                frag += 1;
            }
            if charged {
                skb.set_owner_w(&self.sock);
            }
        }
        skb.copy_from_iter(from, len).map_err(|_| Site::WriteCopy)?;
        match state.mode() {
            Mode::Tun => {
                let proto = if state.has(ioctl::IFF_NO_PI) {
                    frame::tun_protocol(skb.head())?.to_be()
                } else {
                    pi_proto
                };
                skb.set_protocol_be(proto);
            }
            Mode::Tap => frame::check_tap(len)?,
        }
        if let Some((hdr, tnl)) = vnet_hdr {
            // The virtio-net header's offsets are checked against the
            // network header: at the data (TUN) or after the Ethernet header
            // (TAP). Without one, nothing reads it before it is reset below.
            match state.mode() {
                Mode::Tun => skb.reset_network_header(),
                Mode::Tap => skb.set_network_header(frame::ETH_HLEN),
            }
            skb.apply_vnet_hdr(hdr, *tnl, *tnl, le)
                .map_err(|_| Site::WriteVnetHdr)?;
        }
        // A TAP frame's Ethernet header is linear (check_tap, LINEAR_MAX).
        skb.finish_rx_headers(dev, state.mode() == Mode::Tap)
            .map_err(|_| Site::WriteShortEth)?;
        if !dev.is_up() {
            return Err(Site::WriteDown);
        }
        Ok(())
    }

    // ---- poll -------------------------------------------------------------------

    pub(crate) fn poll(&self, poll: &PollCtx<'_>) -> u32 {
        poll.wait_on(self.wait());
        // The device's state, read under the binding lock: no reference to
        // take and give back.
        let state = {
            let b = self.binding.lock();
            b.dev.as_ref().map(|dev| (dev.is_registered(), dev.is_up()))
        };
        let Some((true, up)) = state else {
            return EPOLLERR;
        };
        let mut mask = 0;
        if !self.ring.is_empty() {
            mask |= EPOLLIN | EPOLLRDNORM;
        }
        // tun: writable while the device is up and less than half the send
        // buffer is charged; else SOCKWQ_ASYNC_NOSPACE, so that
        // `sk_write_space` tells the poller once it is, and a second look.
        let writable = || up && self.sock.writeable();
        if writable() || (!self.sock.test_and_set_nospace() && writable()) {
            mask |= EPOLLOUT | EPOLLWRNORM;
        }
        mask
    }

    // ---- ioctl ------------------------------------------------------------------

    /// tun's `__tun_chr_ioctl`; `ifreq_len` is 32 for 32-bit callers.
    pub(crate) fn ioctl(
        this: ArcBorrow<'_, Queue>,
        cmd: u32,
        arg: usize,
        ifreq_len: usize,
    ) -> Result<isize> {
        let user = |len| UserSlice::new(UserPtr::from_addr(arg), len);
        // tun reads the `struct ifreq` of these first, whatever comes next.
        let takes_ifreq = cmd == ioctl::TUNSETIFF
            || cmd == ioctl::TUNSETQUEUE
            || (ioctl::ioc_type(cmd) == ioctl::SOCK_IOC_TYPE && cmd != ioctl::SIOCGSKNS);
        let mut req = if takes_ifreq {
            read_ifreq(arg, ifreq_len)?
        } else {
            IfReq::new([0; ioctl::IFREQ_LEN])
        };
        match cmd {
            ioctl::TUNGETFEATURES => {
                user(4)
                    .writer()
                    .write_slice(&ioctl::supported_features().to_ne_bytes())?;
                return Ok(0);
            }
            ioctl::TUNSETQUEUE => {
                let rtnl = Rtnl::lock();
                this.set_queue(req.flags(), &rtnl)?;
                return Ok(0);
            }
            ioctl::SIOCGSKNS => {
                if !this.net.net_admin() {
                    return Err(EPERM);
                }
                return this.net.open_fd().map(|fd| fd as isize);
            }
            _ => {}
        }

        let rtnl = Rtnl::lock();
        let bound = this.bound();
        match cmd {
            ioctl::TUNSETIFF => {
                if bound.is_some() {
                    return Err(EEXIST);
                }
                Self::set_iff(&Arc::from(this), &mut req, &rtnl)?;
                user(ifreq_len)
                    .writer()
                    .write_slice(req.raw.get(..ifreq_len).ok_or(EINVAL)?)?;
                return Ok(0);
            }
            ioctl::TUNSETIFINDEX => {
                if bound.is_some() {
                    return Err(EPERM);
                }
                let ifindex = read_i32(arg)?;
                if ifindex < 0 {
                    return Err(EINVAL);
                }
                this.ifindex.store(ifindex, Relaxed);
                return Ok(0);
            }
            _ => {}
        }
        let (dev, disabled) = bound.ok_or(EBADFD)?;
        let state = DevState::of(&dev).ok_or(EBADFD)?;
        match cmd {
            ioctl::TUNGETIFF => {
                let mut flags = state.ifr_flags();
                if disabled {
                    flags |= ioctl::IFF_DETACH_QUEUE;
                }
                if !state.has_classic_filter() {
                    flags |= ioctl::IFF_NOFILTER;
                }
                req.set_name(&dev.name());
                req.set_flags(flags);
                user(ifreq_len)
                    .writer()
                    .write_slice(req.raw.get(..ifreq_len).ok_or(EINVAL)?)?;
                Ok(0)
            }
            ioctl::SIOCGIFHWADDR => {
                // Only the family and the address are written, as in tun.
                let mut sa = [0u8; 16];
                ioctl::copy_bytes(&mut sa, &req.raw[ioctl::IFNAMSIZ..]);
                dev.get_hwaddr(&mut sa, &rtnl)?;
                ioctl::copy_bytes(&mut req.raw[ioctl::IFNAMSIZ..], &sa);
                user(ifreq_len)
                    .writer()
                    .write_slice(req.raw.get(..ifreq_len).ok_or(EINVAL)?)?;
                Ok(0)
            }
            ioctl::SIOCSIFHWADDR => {
                // tun: the address must fit in `ifr_hwaddr`.
                if dev.addr_len() > 16 {
                    return Err(EINVAL);
                }
                let mut sa = [0u8; 16];
                ioctl::copy_bytes(&mut sa, &req.raw[ioctl::IFNAMSIZ..]);
                dev.set_hwaddr(&sa, &rtnl)?;
                Ok(0)
            }
            ioctl::TUNGETSNDBUF => {
                user(4)
                    .writer()
                    .write_slice(&this.sock.sndbuf().to_ne_bytes())?;
                Ok(0)
            }
            ioctl::TUNSETSNDBUF => {
                let v = read_i32(arg)?;
                if v <= 0 {
                    return Err(EINVAL);
                }
                state.for_each_active(|q| q.set_sndbuf(v));
                Ok(0)
            }
            _ => Self::device_ioctl(&dev, state, cmd, arg, &rtnl),
        }
    }

    /// Commands on the bound device, under RTNL.
    fn device_ioctl(
        dev: &NetDev,
        state: &DevState,
        cmd: u32,
        arg: usize,
        rtnl: &Rtnl,
    ) -> Result<isize> {
        let int_out = |v: i32| -> Result<isize> {
            UserSlice::new(UserPtr::from_addr(arg), 4)
                .writer()
                .write_slice(&v.to_ne_bytes())?;
            Ok(0)
        };
        match cmd {
            // tun accepts these and ignores them.
            ioctl::TUNSETNOCSUM | ioctl::TUNSETDEBUG => Ok(0),
            ioctl::TUNSETPERSIST => {
                if state.has(ioctl::IFF_PERSIST) != (arg != 0) {
                    state.set_persist(arg != 0);
                    dev.state_changed(rtnl);
                }
                Ok(0)
            }
            ioctl::TUNSETOWNER => {
                let kuid = cred::make_kuid(arg as u32).ok_or(EINVAL)?;
                state.set_owner(kuid);
                dev.state_changed(rtnl);
                Ok(0)
            }
            ioctl::TUNSETGROUP => {
                let kgid = cred::make_kgid(arg as u32).ok_or(EINVAL)?;
                state.set_group(kgid);
                dev.state_changed(rtnl);
                Ok(0)
            }
            ioctl::TUNSETLINK => {
                if dev.is_up() {
                    return Err(EBUSY);
                }
                let ty = arg as u16;
                dev.set_link_type(ty, ioctl::link_addr_len(ty), rtnl)?;
                Ok(0)
            }
            ioctl::TUNSETCARRIER => {
                state.change_carrier(dev, read_i32(arg)? != 0)?;
                Ok(0)
            }
            ioctl::TUNGETDEVNETNS => {
                if !dev.net_admin() {
                    return Err(EPERM);
                }
                dev.net_open_fd().map(|fd| fd as isize)
            }
            ioctl::TUNGETVNETHDRSZ => int_out(state.vnet_hdr_sz() as i32),
            ioctl::TUNSETVNETHDRSZ => {
                let sz = read_i32(arg)?;
                if sz < vnet::HDR_LEN as i32 {
                    return Err(EINVAL);
                }
                state.set_vnet_hdr_sz(sz as u32);
                Ok(0)
            }
            ioctl::TUNGETVNETLE => int_out(i32::from(state.vnet_le())),
            ioctl::TUNSETVNETLE => {
                state.set_vnet_le(read_i32(arg)? != 0);
                Ok(0)
            }
            // Big-endian headers only with CONFIG_TUN_VNET_CROSS_LE, as in tun.
            ioctl::TUNGETVNETBE if cfg!(CONFIG_TUN_VNET_CROSS_LE) => {
                int_out(i32::from(state.vnet_be()))
            }
            ioctl::TUNSETVNETBE if cfg!(CONFIG_TUN_VNET_CROSS_LE) => {
                state.set_vnet_be(read_i32(arg)? != 0);
                Ok(0)
            }
            ioctl::TUNSETOFFLOAD => {
                // tun's set_offload takes the whole unsigned long: a bit above
                // 31 is unknown, so EINVAL, not cut off.
                let arg = u32::try_from(arg).map_err(|_| EINVAL)?;
                state.set_offloads(dev, arg, rtnl)?;
                Ok(0)
            }
            ioctl::TUNSETFILTEREBPF => {
                state.set_ebpf_filter(read_bpf_fd(arg)?)?;
                Ok(0)
            }
            ioctl::TUNSETSTEERINGEBPF => {
                state.set_steering(read_bpf_fd(arg)?)?;
                Ok(0)
            }
            // The MAC and socket filters apply to TAP devices only, as in tun.
            ioctl::TUNSETTXFILTER if state.mode() == Mode::Tap => {
                let mut hdr = [0u8; TUN_FILTER_HDR_LEN];
                UserSlice::new(UserPtr::from_addr(arg), TUN_FILTER_HDR_LEN)
                    .reader()
                    .read_slice(&mut hdr)?;
                let flags = u16::from_ne_bytes([hdr[0], hdr[1]]);
                let count = u16::from_ne_bytes([hdr[2], hdr[3]]);
                let addrs = arg.checked_add(TUN_FILTER_HDR_LEN).ok_or(EFAULT)?;
                let addrs_len = usize::from(count).checked_mul(ETH_ALEN).ok_or(EINVAL)?;
                let mut reader = UserSlice::new(UserPtr::from_addr(addrs), addrs_len).reader();
                let mut b = txfilter::Builder::new(flags);
                for _ in 0..count {
                    let mut a = [0u8; ETH_ALEN];
                    reader.read_slice(&mut a)?;
                    b.add(a);
                }
                let (filter, nexact) = b.finish();
                state.set_txfilter(filter)?;
                Ok(nexact as isize)
            }
            ioctl::TUNATTACHFILTER if state.mode() == Mode::Tap => {
                let (len, insns) = read_fprog(arg)?;
                let filter = ClassicFilter::new(len, insns)?;
                state.set_classic_filter(Some(filter))?;
                Ok(0)
            }
            ioctl::TUNDETACHFILTER if state.mode() == Mode::Tap => {
                state.set_classic_filter(None)?;
                Ok(0)
            }
            ioctl::TUNGETFILTER if state.mode() == Mode::Tap => {
                let (len, insns) = state.classic_fprog();
                let mut raw = [0u8; FPROG_LEN];
                ioctl::copy_bytes(&mut raw[..2], &len.to_ne_bytes());
                ioctl::copy_bytes(&mut raw[8..], &insns.to_ne_bytes());
                UserSlice::new(UserPtr::from_addr(arg), FPROG_LEN)
                    .writer()
                    .write_slice(&raw)?;
                Ok(0)
            }
            _ => Err(EINVAL),
        }
    }

    /// TUNSETIFF on an unbound file: create a device, or attach to an existing
    /// one by name.
    fn set_iff(this: &Arc<Queue>, req: &mut IfReq, rtnl: &Rtnl) -> Result {
        let flags = req.flags();
        if flags & ioctl::IFF_NAPI_FRAGS != 0 {
            if !cred::capable_net_admin() {
                return Err(EPERM);
            }
            if flags & ioctl::IFF_NAPI == 0 || flags & ioctl::TUN_TYPE_MASK != ioctl::IFF_TAP {
                return Err(EINVAL);
            }
        }
        let multi = flags & ioctl::IFF_MULTI_QUEUE != 0;
        let (name, empty) = req.name();
        let existing = if empty {
            None
        } else {
            netdev::find(&this.net, &name, rtnl)
        };

        let dev = match existing {
            Some(dev) => {
                if flags & ioctl::IFF_TUN_EXCL != 0 {
                    return Err(EBUSY);
                }
                let state = match (dev.mode(), DevState::of(&dev)) {
                    (Some(mode), Some(state)) if mode.accepts(flags) => state,
                    _ => return Err(EINVAL),
                };
                if multi != state.has(ioctl::IFF_MULTI_QUEUE) {
                    return Err(EINVAL);
                }
                if !state.permitted(&dev) {
                    return Err(EPERM);
                }
                state.security().may_open()?;
                state.security().attach(&this.sock)?;
                this.resize_ring(dev.tx_queue_len(), None)?;
                let total = state.attach(&dev, this, rtnl)?;
                this.bind(&dev, state, flags, rtnl)?;
                if multi && total > 1 {
                    // Not the first queue: the device keeps its flags and carrier.
                    dev.state_changed(rtnl);
                    return Ok(());
                }
                state.set_features(flags);
                dev.state_changed(rtnl);
                dev
            }
            None => {
                if !this.net.net_admin() {
                    return Err(EPERM);
                }
                cred::may_create()?;
                let mode = Mode::from_flags(flags).ok_or(EINVAL)?;
                let template = if empty {
                    mode.default_template()
                } else {
                    &name[..]
                };
                let mut tname = [0u8; ioctl::IFNAMSIZ];
                let template = template.split(|&b| b == 0).next().unwrap_or(&[]);
                ioctl::copy_bytes(&mut tname[..ioctl::IFNAMSIZ - 1], template);
                let queues = if multi { MAX_QUEUES } else { 1 };
                let mut builder =
                    DevBuilder::new::<DevState>(&tname, queues, device::TUN_READQ_SIZE)?;
                builder.set_net(&this.net);
                builder.set_ifindex(this.ifindex.load(Relaxed));
                builder.start_with_one_queue();
                device::setup_link(&mut builder, mode);
                builder.set_features(device::device_features());
                this.resize_ring(builder.tx_queue_len(), None)?;
                // The LSM decides before the device exists, as tun asks it
                // inside `ndo_init`: a denial never shows a device.
                let security = LsmBlob::new()?;
                security.attach(&this.sock)?;
                let init = DevState::new(mode, flags, security)?;
                let dev = builder.register(device::link_of(mode), init, rtnl)?;
                let state = DevState::of(&dev).ok_or(EINVAL)?;
                if let Err(e) = state.attach(&dev, this, rtnl) {
                    dev.unregister(rtnl);
                    return Err(e);
                }
                this.bind(&dev, state, flags, rtnl)?;
                dev
            }
        };
        dev.set_carrier(flags & ioctl::IFF_NO_CARRIER == 0);
        req.set_name(&dev.name());
        Ok(())
    }

    fn unbind(&self) -> Option<ARef<NetDev>> {
        let mut b = self.binding.lock();
        b.disabled = false;
        b.dev.take()
    }

    /// The queue, just attached to `dev`, becomes its file's; with IFF_NAPI
    /// it gets its NAPI instance, or leaves the device again.
    fn bind(&self, dev: &ARef<NetDev>, state: &DevState, flags: u16, rtnl: &Rtnl) -> Result {
        self.shutdown.store(false, Relaxed);
        *self.binding.lock() = Binding {
            dev: Some(dev.clone()),
            disabled: false,
        };
        if flags & ioctl::IFF_NAPI != 0 {
            if let Err(e) = self.napi.add(dev) {
                drop(self.unbind());
                // The file stays open and may bind again: wait until no
                // transmitter can reach this queue.
                drop(state.detach(dev, self, rtnl));
                return Err(e);
            }
        }
        Ok(())
    }

    /// TUNSETQUEUE: disable or re-enable this queue of a multi-queue device.
    /// Re-enabling needs only the LSM's consent, as in tun: whoever holds the
    /// file was given it.
    fn set_queue(&self, flags: u16, rtnl: &Rtnl) -> Result {
        let (dev, disabled) = self.bound().ok_or(EINVAL)?;
        let state = DevState::of(&dev).ok_or(EINVAL)?;
        if flags & ioctl::IFF_ATTACH_QUEUE != 0 {
            if !disabled {
                return Err(EINVAL);
            }
            state.security().may_attach_queue()?;
            state.security().attach(&self.sock)?;
            state.enable(&dev, self, rtnl)?;
            self.binding.lock().disabled = false;
        } else if flags & ioctl::IFF_DETACH_QUEUE != 0 {
            if !state.has(ioctl::IFF_MULTI_QUEUE) || disabled {
                return Err(EINVAL);
            }
            state.disable(&dev, self, rtnl)?;
            self.binding.lock().disabled = true;
        } else {
            return Err(EINVAL);
        }
        dev.state_changed(rtnl);
        Ok(())
    }

    /// The file is closing. The last open rtun file to close waits for what
    /// closes deferred (`rcu::drain_deferred`), so that nothing pins the
    /// module once no file is open.
    pub(crate) fn release(this: Arc<Queue>) {
        Self::detach_on_release(this);
        // Release: what this close deferred (`rcu`'s pending count) is
        // seen by whichever close ends up last; acquire: the last one sees
        // what every other close deferred.
        if OPEN_FILES.fetch_sub(1, AcqRel) == 1 {
            crate::abstractions::rcu::drain_deferred();
        }
    }

    fn detach_on_release(this: Arc<Queue>) {
        let rtnl = Rtnl::lock();
        let dev = {
            let mut b = this.binding.lock();
            b.disabled = false;
            b.dev.take()
        };
        if let Some(dev) = dev {
            if let Some(state) = DevState::of(&dev) {
                state.detach(&dev, &this, &rtnl).defer();
            }
            // Give the device reference back before RTNL: unlocking runs the
            // unregistration, which waits for it.
            drop(dev);
        }
        drop(rtnl);
    }

    /// The name of the bound device, for `/proc/<pid>/fdinfo` (empty if none).
    pub(crate) fn iff_name(&self) -> [u8; ioctl::IFNAMSIZ] {
        let _rtnl = Rtnl::lock();
        self.device().map_or([0; ioctl::IFNAMSIZ], |d| d.name())
    }
}

/// Reads the caller's `struct ifreq` (`len` bytes: 40, or 32 from 32-bit code).
fn read_ifreq(arg: usize, len: usize) -> Result<IfReq> {
    let mut raw = [0u8; ioctl::IFREQ_LEN];
    let part = raw.get_mut(..len).ok_or(EINVAL)?;
    UserSlice::new(UserPtr::from_addr(arg), len)
        .reader()
        .read_slice(part)?;
    Ok(IfReq::new(raw))
}

/// `sizeof(struct sock_fprog)` on 64-bit: a u16 length, padding, a pointer.
const FPROG_LEN: usize = 16;

/// Reads a user `struct sock_fprog`: (instruction count, user pointer).
fn read_fprog(arg: usize) -> Result<(u16, usize)> {
    let mut raw = [0u8; FPROG_LEN];
    UserSlice::new(UserPtr::from_addr(arg), FPROG_LEN)
        .reader()
        .read_slice(&mut raw)?;
    let len = u16::from_ne_bytes([raw[0], raw[1]]);
    let mut p = [0u8; 8];
    ioctl::copy_bytes(&mut p, &raw[8..]);
    Ok((len, usize::from_ne_bytes(p)))
}

fn read_i32(arg: usize) -> Result<i32> {
    let mut raw = [0u8; 4];
    UserSlice::new(UserPtr::from_addr(arg), 4)
        .reader()
        .read_slice(&mut raw)?;
    Ok(i32::from_ne_bytes(raw))
}

/// A BPF program fd from user memory: -1 clears, anything else must be a
/// socket-filter program.
fn read_bpf_fd(arg: usize) -> Result<Option<EbpfFilter>> {
    let fd = read_i32(arg)?;
    if fd == -1 {
        return Ok(None);
    }
    Ok(Some(EbpfFilter::from_fd(
        u32::try_from(fd).map_err(|_| EBADF)?,
    )?))
}

impl FileOps for Queue {
    type OwnerModule = crate::RustTun;

    fn open() -> Result<Arc<Self>> {
        Queue::new()
    }

    #[inline(never)]
    #[export_name = "rtun_file_release"]
    fn release(this: Arc<Self>) {
        Queue::release(this)
    }

    // The read and write paths drop frames: readable names for the trace's
    // `location=`, as the other drop sites have.
    #[inline(never)]
    #[export_name = "rtun_file_read"]
    fn read(&self, to: &mut IovIterDest<'_>, nonblock: bool) -> Result<usize> {
        Queue::read(self, to, nonblock)
    }

    #[inline(never)]
    #[export_name = "rtun_file_write"]
    fn write(&self, from: &mut IovIterSource<'_>, nonblock: bool) -> Result<usize> {
        Queue::write(self, from, nonblock)
    }

    fn poll(&self, poll: &PollCtx<'_>) -> u32 {
        Queue::poll(self, poll)
    }

    #[inline(never)]
    #[export_name = "rtun_file_ioctl"]
    fn ioctl(this: ArcBorrow<'_, Self>, cmd: u32, arg: usize, compat: bool) -> Result<isize> {
        // tun reads a 32-bit caller's `struct compat_ifreq`, whose fields it
        // uses are laid out the same.
        let ifreq_len = if compat {
            ioctl::COMPAT_IFREQ_LEN
        } else {
            ioctl::IFREQ_LEN
        };
        Queue::ioctl(this, cmd, arg, ifreq_len)
    }

    fn fasync(&self) -> &Fasync {
        Queue::fasync(self)
    }

    /// The `iff:` line tun prints, which `ip tuntap` reads to tell which
    /// process holds which device.
    fn show_fdinfo(&self, seq: &SeqFile) {
        let name = self.iff_name();
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        let name = core::str::from_utf8(name.get(..len).unwrap_or(&[])).unwrap_or("");
        kernel::seq_print!(seq, "iff:\t{}\n", name);
    }
}
