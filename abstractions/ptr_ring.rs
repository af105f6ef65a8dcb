// SPDX-License-Identifier: GPL-2.0
//! The slot protocol of a bounded FIFO between one producer side and one
//! consumer side, as the kernel's `ptr_ring` does it: a slot holds a pointer
//! or null, the producer fills the slot at its index if it is null, the
//! consumer empties the slot at its index if it is not. Producers and consumers
//! each serialise among themselves (skb_ring.rs holds one lock per side), but
//! the two sides never share a lock or an index. Pure logic over core atomics
//! (the kernel's primitive, rewritten: `ptr_ring.h` is all inline), with no
//! kernel calls, so tests/host also builds it and runs its unit tests.

use core::sync::atomic::{AtomicPtr, Ordering};

/// The producer's index (guarded by the producer lock).
#[derive(Default)]
pub(crate) struct Producer {
    next: usize,
}

/// The consumer's index (guarded by the consumer lock).
#[derive(Default)]
pub(crate) struct Consumer {
    next: usize,
}

#[inline(always)]
fn advance(i: usize, cap: usize) -> usize {
    // `i < cap`, so `i + 1` cannot wrap.
    let next = i.wrapping_add(1);
    if next >= cap {
        0
    } else {
        next
    }
}

impl Producer {
    /// Stores `item` (not null), or returns false when the ring is full.
    #[inline(always)]
    pub(crate) fn produce<T>(&mut self, slots: &[AtomicPtr<T>], item: *mut T) -> bool {
        let Some(slot) = slots.get(self.next) else {
            return false;
        };
        // The consumer's release store of null hands the slot back.
        if !slot.load(Ordering::Acquire).is_null() {
            return false;
        }
        // Publishes the item's contents along with the pointer.
        slot.store(item, Ordering::Release);
        self.next = advance(self.next, slots.len());
        true
    }

    /// The next produce would fail.
    #[inline(always)]
    pub(crate) fn is_full<T>(&self, slots: &[AtomicPtr<T>]) -> bool {
        slots
            .get(self.next)
            .is_none_or(|s| !s.load(Ordering::Acquire).is_null())
    }
}

impl Consumer {
    /// Takes the oldest item, or null when the ring is empty.
    #[inline(always)]
    pub(crate) fn consume<T>(&mut self, slots: &[AtomicPtr<T>]) -> *mut T {
        let Some(slot) = slots.get(self.next) else {
            return core::ptr::null_mut();
        };
        let item = slot.load(Ordering::Acquire);
        if !item.is_null() {
            slot.store(core::ptr::null_mut(), Ordering::Release);
            self.next = advance(self.next, slots.len());
        }
        item
    }

    #[inline(always)]
    pub(crate) fn is_empty<T>(&self, slots: &[AtomicPtr<T>]) -> bool {
        slots
            .get(self.next)
            .is_none_or(|s| s.load(Ordering::Acquire).is_null())
    }

    pub(crate) fn reset(&mut self) {
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(n: usize) -> Vec<AtomicPtr<u32>> {
        (0..n)
            .map(|_| AtomicPtr::new(core::ptr::null_mut()))
            .collect()
    }

    fn item(v: u32) -> *mut u32 {
        Box::into_raw(Box::new(v))
    }

    fn take(p: *mut u32) -> Option<u32> {
        // SAFETY: Test pointers come from `item`, each consumed once.
        (!p.is_null()).then(|| *unsafe { Box::from_raw(p) })
    }

    #[test]
    fn empty_ring_refuses_everything() {
        let s = slots(0);
        let (mut p, mut c) = (Producer::default(), Consumer::default());
        let x = item(1);
        assert!(!p.produce(&s, x));
        assert!(p.is_full(&s) && c.is_empty(&s));
        assert_eq!(take(c.consume(&s)), None);
        assert_eq!(take(x), Some(1));
    }

    #[test]
    fn fifo_order_across_wraparound() {
        let s = slots(3);
        let (mut p, mut c) = (Producer::default(), Consumer::default());
        for round in 0..10u32 {
            assert!(p.produce(&s, item(round * 2)));
            assert!(p.produce(&s, item(round * 2 + 1)));
            assert_eq!(take(c.consume(&s)), Some(round * 2));
            assert_eq!(take(c.consume(&s)), Some(round * 2 + 1));
            assert!(c.is_empty(&s));
        }
    }

    #[test]
    fn full_ring_gives_the_item_back() {
        let s = slots(2);
        let (mut p, mut c) = (Producer::default(), Consumer::default());
        assert!(p.produce(&s, item(1)));
        assert!(!p.is_full(&s));
        assert!(p.produce(&s, item(2)));
        assert!(p.is_full(&s));
        let x = item(3);
        assert!(!p.produce(&s, x));
        assert_eq!(take(c.consume(&s)), Some(1));
        assert!(p.produce(&s, x));
        assert_eq!(take(c.consume(&s)), Some(2));
        assert_eq!(take(c.consume(&s)), Some(3));
        assert_eq!(take(c.consume(&s)), None);
    }

    #[test]
    fn the_two_sides_run_concurrently() {
        let s: &'static [AtomicPtr<u32>] = Box::leak(slots(8).into_boxed_slice());
        let n = 20_000u32;
        let prod = std::thread::spawn(move || {
            let mut p = Producer::default();
            for v in 0..n {
                let x = item(v);
                while !p.produce(s, x) {
                    std::hint::spin_loop();
                }
            }
        });
        let mut c = Consumer::default();
        let mut want = 0;
        while want < n {
            if let Some(v) = take(c.consume(s)) {
                assert_eq!(v, want);
                want += 1;
            }
        }
        assert!(prod.join().is_ok());
    }
}
