// SPDX-License-Identifier: GPL-2.0
//! The file's ring, seen from transmit (device.rs): pushing frames, and
//! IFF_BACKPRESSURE's stop and wake of the transmit queue; NAPI's backlog,
//! purges and resizes.

use super::*;

impl TunFile {
    pub(crate) fn set_txq(&self, i: Option<usize>) {
        self.txq.store(i.map_or(-1, |i| i as i32), Relaxed);
    }

    /// The transmit queue this queue serves, while active.
    #[inline(always)]
    pub(crate) fn txq(&self) -> Option<usize> {
        usize::try_from(self.txq.load(Relaxed)).ok()
    }

    /// Xmit side: appends a frame and wakes the reader, or gives the frame back.
    /// With IFF_BACKPRESSURE (`bp`: the device, and the transmit queue the
    /// frame came on, whose slot of the queue table this queue is), a full
    /// ring stops that transmit queue, so the qdisc holds the next frames
    /// instead of the ring dropping them, as in tun. Any context `ndo_start_xmit` runs in,
    /// netpoll's (IRQs off) included: nothing here touches the BH state.
    #[inline(always)]
    pub(crate) fn push(&self, skb: SkBuff, bp: Option<(&NetDev, usize)>) -> Result<(), SkBuff> {
        self.ring.produce(skb, |ring| self.stop_full(bp, ring))?;
        self.notify();
        Ok(())
    }

    /// Under the producer lock of a full ring: with IFF_BACKPRESSURE (`bp`),
    /// stops the transmit queue the frame came on, unless the device is going
    /// down or has no qdisc to hold frames (tun's `tun_net_xmit`). That is
    /// the frame's queue mapping, as in tun, not [`TunFile::txq`]: while the
    /// queue table is republished after a detach, the two may differ for a
    /// moment, and the queue the transmitter found this one at is the one
    /// the qdisc feeds it from.
    #[inline(always)]
    pub(super) fn stop_full(&self, bp: Option<(&NetDev, usize)>, ring: &Full<'_>) {
        if let Some((dev, i)) = bp {
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
    pub(super) fn consumed_one(&self, capacity: usize, now_empty: bool, dev: &NetDev) {
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
        bp: Option<(&NetDev, usize)>,
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
    pub(super) fn notify(&self) {
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

    /// Returns whether NAPI was disabled (and is enabled now).
    pub(crate) fn napi_enable(&self) -> bool {
        self.napi.enable()
    }

    /// The queue leaves its device: NAPI goes, with what it had not taken.
    pub(crate) fn napi_stop(&self, state: &DevState) {
        Self::drop_backlog(self.napi.del(), state);
    }

    #[inline(never)]
    #[export_name = "rtun_queue_drop_napi_backlog"]
    pub(super) fn drop_backlog(backlog: crate::abstractions::skb::SkbQueue, state: &DevState) {
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

    /// Slots for [`TunFile::resize_ring_to`]: none needed if the ring already
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
}
