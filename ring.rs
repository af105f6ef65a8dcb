// SPDX-License-Identifier: GPL-2.0
//! A bounded FIFO between `ndo_start_xmit` (producer, BH context) and `read()`
//! (consumer, process context). The caller supplies the locking; the ring itself
//! never allocates after construction, so pushing is safe in atomic context.

#[cfg(not(test))]
use kernel::{alloc::flags::GFP_KERNEL, alloc::KVec, error::code::ENOMEM, error::Error};

#[cfg(test)]
type KVec<T> = Vec<T>;
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct Error;

pub(crate) struct Ring<T> {
    slots: KVec<Option<T>>,
    head: usize,
    len: usize,
}

impl<T> Ring<T> {
    /// A ring with no room: every push fails until it is replaced.
    pub(crate) const fn empty() -> Self {
        Ring { slots: KVec::new(), head: 0, len: 0 }
    }

    /// A ring for `cap` entries. Sleeps for memory (process context only).
    pub(crate) fn with_capacity(cap: usize) -> Result<Self, Error> {
        Ok(Ring { slots: alloc_slots(cap)?, head: 0, len: 0 })
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.slots.len()
    }

    /// Appends `v`, or gives it back when the ring is full.
    pub(crate) fn push(&mut self, v: T) -> Result<(), T> {
        let cap = self.slots.len();
        if self.len >= cap {
            return Err(v);
        }
        // head < cap and len < cap: one subtraction wraps the sum.
        let mut tail = self.head + self.len;
        if tail >= cap {
            tail -= cap;
        }
        match self.slots.get_mut(tail) {
            Some(slot) => {
                *slot = Some(v);
                self.len += 1;
                Ok(())
            }
            None => Err(v),
        }
    }

    /// Removes the oldest entry.
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let cap = self.slots.len();
        let v = self.slots.get_mut(self.head).and_then(Option::take);
        self.head = if self.head + 1 >= cap { 0 } else { self.head + 1 };
        self.len -= 1;
        v
    }

}

/// `cap` empty slots, allocated once.
#[cfg(not(test))]
fn alloc_slots<T>(cap: usize) -> Result<KVec<Option<T>>, Error> {
    let mut slots = KVec::with_capacity(cap, GFP_KERNEL).map_err(|_| ENOMEM)?;
    while slots.len() < cap {
        // Capacity was reserved above, so this never allocates.
        slots.push_within_capacity(None).map_err(|_| ENOMEM)?;
    }
    Ok(slots)
}

#[cfg(test)]
fn alloc_slots<T>(cap: usize) -> Result<KVec<Option<T>>, Error> {
    Ok((0..cap).map(|_| None).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_ring_refuses_everything() {
        let mut r: Ring<u32> = Ring::empty();
        assert_eq!(r.push(1), Err(1));
        assert_eq!(r.pop(), None);
    }

    #[test]
    fn fifo_order_across_wraparound() -> Result<(), Error> {
        let mut r = Ring::with_capacity(3)?;
        for round in 0..10u32 {
            assert_eq!(r.push(round * 2), Ok(()));
            assert_eq!(r.push(round * 2 + 1), Ok(()));
            assert_eq!(r.pop(), Some(round * 2));
            assert_eq!(r.pop(), Some(round * 2 + 1));
            assert!(r.is_empty());
        }
        Ok(())
    }

    #[test]
    fn full_ring_gives_the_value_back() -> Result<(), Error> {
        let mut r = Ring::with_capacity(2)?;
        assert!(r.push(1).is_ok());
        assert!(r.push(2).is_ok());
        assert_eq!(r.push(3), Err(3));
        assert_eq!(r.len(), 2);
        assert_eq!(r.pop(), Some(1));
        assert!(r.push(3).is_ok());
        assert_eq!(r.pop(), Some(2));
        assert_eq!(r.pop(), Some(3));
        assert_eq!(r.pop(), None);
        Ok(())
    }
}
