// SPDX-License-Identifier: GPL-2.0
//! A queue's ring of frames waiting for `read()`: ptr_ring.rs's slot protocol
//! over a `kvmalloc`'d slot array, with one lock per side, as `ptr_ring` has
//! them.
//!
//! - The producer lock (`RawSpinLock`, sync.rs: `spin_lock`) is taken by
//!   `ndo_start_xmit`, with BHs off (softirq) or IRQs off (netpoll), as it
//!   is; anyone else takes it with BHs off ([`BhOff`]), as `ptr_ring`'s
//!   `_bh` variants do.
//! - The consumer lock (`RawSpinLock`) is taken by read, poll, purge and resize,
//!   in process context only: never from softirq.
//! - Resizing takes both (consumer, then producer), in process context.
//!
//! A ring dropped with frames on it frees them with QUEUE_PURGE.

use core::{
    cell::UnsafeCell,
    ptr::null_mut,
    sync::atomic::{fence, AtomicPtr, Ordering},
};
use kernel::{alloc::KVVec, bindings, prelude::*, sync::lock::Guard};

use crate::{
    abstractions::ptr_ring::{Consumer, Producer},
    abstractions::skb::{SkBuff, SkbList},
    abstractions::sync::{new_lock, BhOff, RawSpinLock, RawSpinLockBackend},
};

type Slots = KVVec<AtomicPtr<bindings::sk_buff>>;

/// A ring that a frame just filled, seen from under the producer lock.
///
/// # Invariants
/// `p` is the producer state of a ring whose producer lock is held for `'a`,
/// and `slots` is that ring's slot array.
pub(crate) struct Full<'a> {
    p: &'a Producer,
    slots: &'a [AtomicPtr<bindings::sk_buff>],
}

impl Full<'_> {
    /// Whether the ring is still full, after a full barrier: a producer that
    /// just stopped its transmit queue either sees a reader's progress here,
    /// or the reader sees the queue stopped (and wakes it).
    #[inline(always)]
    pub(crate) fn still_full(&self) -> bool {
        fence(Ordering::SeqCst);
        self.p.is_full(self.slots)
    }
}

/// A held guard of one of a ring's two locks: what [`SkbRing::slots`] takes
/// as proof. Only the two guard types implement it.
trait Side {
    /// Whether this is a guard of `ring`'s own lock.
    fn holds(&self, ring: &SkbRing) -> bool;
}

impl Side for Guard<'_, Producer, RawSpinLockBackend> {
    #[inline(always)]
    fn holds(&self, ring: &SkbRing) -> bool {
        core::ptr::eq(self.lock_ref(), &ring.prod)
    }
}

impl Side for Guard<'_, Consumer, RawSpinLockBackend> {
    #[inline(always)]
    fn holds(&self, ring: &SkbRing) -> bool {
        core::ptr::eq(self.lock_ref(), &ring.cons)
    }
}

/// What `consume` saw, for IFF_BACKPRESSURE's wake-up rule.
pub(crate) struct Consumed {
    pub(crate) skb: SkBuff,
    pub(crate) capacity: usize,
    pub(crate) now_empty: bool,
}

/// A bounded FIFO of skbs: transmit produces, `read()` consumes.
///
/// # Invariants
/// `slots` is read only with `prod` or `cons` held, and replaced only with
/// both held. Every non-null slot holds an skb that the ring owns: it came in
/// through `produce` (`SkBuff::into_raw`) and goes out once, through the
/// consumer side, which empties the slot.
#[pin_data(PinnedDrop)]
pub(crate) struct SkbRing {
    #[pin]
    prod: RawSpinLock<Producer>,
    #[pin]
    cons: RawSpinLock<Consumer>,
    /// Read with either lock held; replaced only with both held.
    slots: UnsafeCell<Slots>,
}

// SAFETY: The slots are atomics, read under a lock and replaced under both;
// the skbs they point at are owned by the ring and may move between threads.
unsafe impl Send for SkbRing {}
// SAFETY: Shared use is safe: the slot array is read only under one of the
// two locks and replaced only under both (type invariant), its slots are
// atomics, the producer and consumer indices are behind their locks, and an
// skb leaves a slot once, to whichever thread consumes it (`SkBuff` is `Send`).
unsafe impl Sync for SkbRing {}

fn empty_slots(cap: usize) -> Result<Slots> {
    let mut v = KVVec::with_capacity(cap, GFP_KERNEL)?;
    for _ in 0..cap {
        v.push_within_capacity(AtomicPtr::new(null_mut()))
            .map_err(|_| ENOMEM)?;
    }
    Ok(v)
}

impl SkbRing {
    /// A ring without room, until the first `resize`.
    pub(crate) fn new() -> impl PinInit<Self> {
        // INVARIANT: No slot yet, so nothing is owned.
        pin_init!(SkbRing {
            prod <- new_lock!(RawSpinLock, Producer::default(), "rtun_ring_producer"),
            cons <- new_lock!(RawSpinLock, Consumer::default(), "rtun_ring_consumer"),
            slots: UnsafeCell::new(KVVec::new()),
        })
    }

    /// The slots; `side`, a held guard of this ring's producer or consumer
    /// lock, proves that the array cannot be replaced meanwhile. A guard of
    /// another ring's lock gets no slots. The slice must not be used after
    /// `side` is dropped (its lifetime is `self`'s, so that the guard stays
    /// usable mutably alongside it: this module's callers keep to that).
    #[inline(always)]
    fn slots<G: Side>(&self, side: &G) -> &[AtomicPtr<bindings::sk_buff>] {
        if !side.holds(self) {
            return &[];
        }
        // SAFETY: The slot array is replaced only with both locks held
        // (`resize`), and `side` holds one of them, for as long as the caller
        // uses the slice.
        unsafe { &*self.slots.get() }
    }

    /// Xmit side: stores the frame, or gives it back when the ring is full.
    /// Whenever the ring is full after the attempt (the frame filled it, or
    /// did not fit), `when_full` runs under the producer lock: IFF_BACKPRESSURE
    /// stops the transmit queue there, and re-checks with
    /// [`Full::still_full`], as tun does after every produce.
    ///
    /// Runs as `ndo_start_xmit` does: with BHs off, or with IRQs off under
    /// netpoll, so nothing here touches the BH state: the producer lock is
    /// taken as it is. (Like tun's ring lock, it is not IRQ-safe: a netpoll
    /// transmit from a hard IRQ that interrupted a holder on the same CPU
    /// would spin; netpoll's own checks are what keep that from happening.)
    #[inline(always)]
    pub(crate) fn produce(
        &self,
        skb: SkBuff,
        when_full: impl FnOnce(&Full<'_>),
    ) -> Result<(), SkBuff> {
        let mut p = self.prod.lock();
        let slots = self.slots(&p);
        let raw = skb.into_raw();
        // INVARIANT: A stored `raw` is the ring's from here; one that did not
        // fit goes back to the caller.
        let stored = p.produce(slots, raw);
        if p.is_full(slots) {
            // INVARIANT: `p` is this ring's held producer guard, and `slots`
            // were read through it.
            when_full(&Full { p: &p, slots });
        }
        if stored {
            Ok(())
        } else {
            // SAFETY: The ring did not take `raw`, which is still ours.
            Err(unsafe { SkBuff::from_raw(raw) })
        }
    }

    /// Runs `f` with both locks held (process context), so that neither a
    /// transmitter nor a reader can change the ring, nor stop or wake its
    /// transmit queue meanwhile. `f` learns whether the ring is empty.
    pub(crate) fn quiesced<R>(&self, f: impl FnOnce(bool) -> R) -> R {
        let c = self.cons.lock();
        let _bh = BhOff::new();
        let _p = self.prod.lock();
        f(c.is_empty(self.slots(&c)))
    }

    /// Reader side: the oldest frame.
    #[inline(always)]
    pub(crate) fn consume(&self) -> Option<Consumed> {
        let mut c = self.cons.lock();
        let slots = self.slots(&c);
        let raw = c.consume(slots);
        if raw.is_null() {
            return None;
        }
        let (capacity, now_empty) = (slots.len(), c.is_empty(slots));
        drop(c);
        // SAFETY: The producer stored an skb it owned; consuming the slot
        // hands that ownership over, once.
        let skb = unsafe { SkBuff::from_raw(raw) };
        Some(Consumed {
            skb,
            capacity,
            now_empty,
        })
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        let c = self.cons.lock();
        c.is_empty(self.slots(&c))
    }

    pub(crate) fn capacity(&self) -> usize {
        let c = self.cons.lock();
        self.slots(&c).len()
    }

    /// Gives the ring room for as many frames as `new` has slots, keeping
    /// the oldest ones; those that no longer fit come back. The slots are
    /// allocated beforehand, so that resizing
    /// several rings can fail before any of them changes (tun's
    /// `ptr_ring_resize_multiple_bh`). Cannot fail. Process context.
    pub(crate) fn resize_to(&self, new: NewSlots) -> SkbList {
        let mut new = new.0;
        let mut overflow = SkbList::empty();
        {
            let mut c = self.cons.lock();
            let _bh = BhOff::new();
            let mut p = self.prod.lock();
            let mut np = Producer::default();
            loop {
                let old = self.slots(&c);
                let raw = c.consume(old);
                if raw.is_null() {
                    break;
                }
                if !np.produce(&new, raw) {
                    // SAFETY: Consumed from the ring, so ours.
                    overflow.push_front(unsafe { SkBuff::from_raw(raw) });
                }
            }
            // INVARIANT: Replaced with both locks held; the new array holds
            // exactly the frames moved into it (the rest are in `overflow`),
            // and the indices are set to match it.
            // SAFETY: Both locks are held: nobody else uses the slots.
            core::mem::swap(unsafe { &mut *self.slots.get() }, &mut new);
            c.reset();
            *p = np;
        }
        // `new` is now the old, empty, array.
        drop(new);
        overflow
    }
}

/// An empty slot array for [`SkbRing::resize_to`].
///
/// # Invariants
/// Every slot is null.
pub(crate) struct NewSlots(Slots);

impl NewSlots {
    /// Room for `cap` frames. Process context (it may sleep).
    pub(crate) fn new(cap: usize) -> Result<Self> {
        // INVARIANT: `empty_slots` makes every slot null.
        empty_slots(cap).map(NewSlots)
    }
}

#[pinned_drop]
impl PinnedDrop for SkbRing {
    fn drop(self: Pin<&mut Self>) {
        self.free_rest();
    }
}

impl SkbRing {
    /// The ring is going away with nobody else using it: frees what is left.
    #[inline(never)]
    #[export_name = "rtun_ring_free_rest"]
    fn free_rest(&self) {
        let mut list = SkbList::empty();
        let mut c = self.cons.lock();
        loop {
            let slots = self.slots(&c);
            let raw = c.consume(slots);
            if raw.is_null() {
                break;
            }
            // SAFETY: Consumed from the ring, so ours.
            list.push_front(unsafe { SkBuff::from_raw(raw) });
        }
        drop(c);
        list.drop_reason(bindings::skb_drop_reason_SKB_DROP_REASON_QUEUE_PURGE);
    }
}
