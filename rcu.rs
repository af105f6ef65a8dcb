// SPDX-License-Identifier: GPL-2.0
//! RCU publication for what the transmit path reads, which the 7.3 kernel crate
//! lacks (it has only the read-side guard): readers in `ndo_start_xmit` take no
//! lock; writers (process context, serialised by the caller, here RTNL) publish
//! a new value and free the old one only after a grace period.
//!
//! - [`RcuBox`]: one optional owned value (a filter, the tx filter table).
//! - [`RcuTable`]: a fixed table of borrowed pointers (the active queues).
//! - [`ReadSide`]: what proves a read-side critical section to them: the
//!   crate's [`Guard`] (`rcu_read_lock`), or [`BhSection`], which the transmit
//!   path already is in because bottom halves are off there.
//! - [`Retired`]: what a writer unpublished; dropping it waits for a grace
//!   period (`synchronize_rcu`) first, so no reader can still see it, and
//!   [`Retired::defer`] drops it after one without waiting: from rtun's
//!   workqueue (`queue_rcu_work`), in process context.

use core::{
    marker::PhantomData,
    ptr::{null_mut, NonNull},
    sync::atomic::{AtomicPtr, AtomicUsize, Ordering},
};
use kernel::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings,
    sync::rcu::Guard,
    sync::Arc,
    types::Opaque,
};

use crate::shim;

/// A read-side critical section in progress, for as long as the borrow of
/// the value that proves it lasts.
pub(crate) trait ReadSide {}

impl ReadSide for Guard {}

/// Bottom halves (or hard interrupts) are off on this CPU: the code is in a
/// read-side critical section of every grace period rtun waits for
/// (`synchronize_rcu` and `call_rcu` wait for such regions since RCU's
/// flavours became one, in 4.20), without a `rcu_read_lock` of its own.
pub(crate) struct BhSection(PhantomData<*mut ()>);

impl BhSection {
    /// # Safety
    /// Bottom halves or hard interrupts must stay off on this CPU while the
    /// value lives; it cannot leave this thread (`!Send`).
    #[inline(always)]
    pub(crate) unsafe fn assume() -> Self {
        // The debug kernel checks the claim (a lockdep splat if it is false).
        #[cfg(CONFIG_PROVE_RCU)]
        // SAFETY: Only reads this CPU's state.
        unsafe {
            shim::rtun_assert_rcu_reader()
        };
        BhSection(PhantomData)
    }
}

impl ReadSide for BhSection {}

/// An optional boxed `T` that RCU readers may look at.
pub(crate) struct RcuBox<T> {
    p: AtomicPtr<T>,
}

// SAFETY: Readers on any thread get `&T`; writers move `KBox<T>` between threads.
unsafe impl<T: Send + Sync> Send for RcuBox<T> {}
// SAFETY: As above.
unsafe impl<T: Send + Sync> Sync for RcuBox<T> {}

impl<T> RcuBox<T> {
    pub(crate) const fn empty() -> Self {
        RcuBox { p: AtomicPtr::new(null_mut()) }
    }

    /// The current value, valid while the read-side critical section lasts.
    #[inline(always)]
    pub(crate) fn get<'g>(&self, _guard: &'g impl ReadSide) -> Option<&'g T> {
        let p = self.p.load(Ordering::Acquire);
        // SAFETY: A published pointer is a live `KBox<T>`; it is freed only by
        // `Retired`, after a grace period that `_guard` holds back.
        unsafe { p.as_ref() }
    }

    /// Publishes `new`; the old value comes back retired. Writers must be
    /// serialised by the caller.
    pub(crate) fn replace(&self, new: Option<KBox<T>>) -> Retired<KBox<T>> {
        let newp = new.map_or(null_mut(), KBox::into_raw);
        let old = self.p.swap(newp, Ordering::AcqRel);
        // SAFETY: `old` came from `KBox::into_raw` in an earlier `replace`, and
        // it is no longer published.
        Retired(NonNull::new(old).map(|p| unsafe { KBox::from_raw(p.as_ptr()) }))
    }
}

impl<T> Drop for RcuBox<T> {
    fn drop(&mut self) {
        let p = *self.p.get_mut();
        if !p.is_null() {
            // SAFETY: Dropping the owner means no reader can reach it any more
            // (the device it belongs to is unregistered and freed); the pointer
            // came from `KBox::into_raw`.
            drop(unsafe { KBox::from_raw(p) });
        }
    }
}

/// A table of up to `N` entries, each borrowed from an `Arc<T>` that the
/// writer keeps: readers see `table[i]` for `i < len`.
///
/// The writer must keep every `Arc` it published alive until a grace period
/// after it leaves the table: [`RcuTable::publish`] returns the leavers'
/// `Arc`s as a [`Retired`].
pub(crate) struct RcuTable<T, const N: usize> {
    slots: [AtomicPtr<T>; N],
    len: AtomicUsize,
}

// SAFETY: Readers get `&T` on any thread; the `Arc`s are owned by the writer.
unsafe impl<T: Send + Sync, const N: usize> Send for RcuTable<T, N> {}
// SAFETY: As above.
unsafe impl<T: Send + Sync, const N: usize> Sync for RcuTable<T, N> {}

impl<T, const N: usize> RcuTable<T, N> {
    pub(crate) const fn new() -> Self {
        RcuTable { slots: [const { AtomicPtr::new(null_mut()) }; N], len: AtomicUsize::new(0) }
    }

    #[inline(always)]
    pub(crate) fn len(&self, _guard: &impl ReadSide) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Entry `i`, valid while the read-side critical section lasts.
    #[inline(always)]
    pub(crate) fn get<'g>(&self, i: usize, _guard: &'g impl ReadSide) -> Option<&'g T> {
        if i >= self.len.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `len` never exceeds `N` (`publish` stores at most `N`), so
        // `i < N`.
        let p = unsafe { self.slots.get_unchecked(i) }.load(Ordering::Acquire);
        // SAFETY: A published pointer borrows from an `Arc` that the writer
        // keeps until a grace period after unpublishing it, which `_guard`
        // holds back.
        unsafe { p.as_ref() }
    }

    /// Publishes `items` (at most `N`) as the new table. `gone` holds what
    /// just left it (the callers' `Arc`s, or proof they keep them), and comes
    /// back retired. Writers must be serialised by the caller.
    pub(crate) fn publish<G>(&self, items: &[Arc<T>], gone: Retired<G>) -> Retired<G> {
        let n = items.len().min(N);
        for (slot, item) in self.slots.iter().zip(items.iter().take(n)) {
            slot.store(Arc::as_ptr(item).cast_mut(), Ordering::Release);
        }
        let old = self.len.swap(n, Ordering::AcqRel);
        for slot in self.slots.iter().take(old).skip(n) {
            slot.store(null_mut(), Ordering::Release);
        }
        gone
    }
}

/// A value RCU readers may still see: dropping it first waits for them (a
/// grace period), so it may only be dropped in process context.
#[must_use = "dropping it waits for a grace period"]
pub(crate) struct Retired<T>(Option<T>);

impl<T> Retired<T> {
    /// `value`, to be dropped only after a grace period.
    pub(crate) fn new(value: T) -> Self {
        Retired(Some(value))
    }

    /// Nothing was unpublished: dropping this does not wait.
    pub(crate) fn none() -> Self {
        Retired(None)
    }
}

impl<T: Send + 'static> Retired<T> {
    /// Drops the value after a grace period, in process context, without
    /// waiting for it here. If no memory is left for the work item, waits
    /// instead (as dropping does).
    pub(crate) fn defer(mut self) {
        if let Some(value) = self.0.take() {
            if let Err(value) = after_grace_period(value) {
                drop(Retired(Some(value)));
            }
        }
    }
}

/// Drops `value` once a grace period has passed, from rtun's workqueue
/// (process context, no lock held), and returns at once. Gives `value` back
/// if there is no memory for the work item.
pub(crate) fn after_grace_period<T: Send + 'static>(value: T) -> Result<(), T> {
    let Ok(slot) = KBox::<Deferred<T>>::new_uninit(GFP_KERNEL) else {
        return Err(value);
    };
    PENDING.fetch_add(1, Ordering::Relaxed);
    let item = KBox::into_raw(KBox::write(slot, Deferred { rwork: Opaque::uninit(), value }));
    // SAFETY: `item` is a live allocation that the work function takes back
    // (`run_deferred`), once, after the grace period `queue_rcu_work` waits
    // for; the module's exit waits for every such item (chardev.rs).
    unsafe {
        let rwork = Opaque::cast_into(core::ptr::addr_of!((*item).rwork));
        shim::rtun_init_rcu_work(rwork, Some(run_deferred::<T>));
        shim::rtun_queue_rcu_work(rwork);
    }
    Ok(())
}

/// A value on its way to [`run_deferred`]. `rwork` comes first, so that the
/// work item's address is the item's.
#[repr(C)]
struct Deferred<T> {
    rwork: Opaque<bindings::rcu_work>,
    value: T,
}

/// The work function of [`Retired::defer`]: a grace period has passed since
/// the value was unpublished; drop it.
///
/// # Safety
/// `work` is the `rcu_work.work` of a `Deferred<T>` leaked by `defer`.
unsafe extern "C" fn run_deferred<T>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the first field of `rcu_work`, the first field of a
    // `#[repr(C)]` `Deferred<T>` that `defer` leaked with `KBox::into_raw`.
    drop(unsafe { KBox::from_raw(work.cast::<Deferred<T>>()) });
    PENDING.fetch_sub(1, Ordering::Release);
}

/// Items [`after_grace_period`] queued whose value has not been dropped yet.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Waits until every value queued by [`after_grace_period`] so far has been
/// dropped, if any is pending. Process context, and not from rtun's
/// workqueue (it waits for that). A queue's deferred value holds its socket,
/// and the socket the module (its protocol's owner): the last file to close
/// waits, so that the module can be removed right after, as tun.ko can.
pub(crate) fn drain_deferred() {
    if PENDING.load(Ordering::Acquire) != 0 {
        // SAFETY: Process context; the callers are file operations, never
        // items of rtun's workqueue, so the flush cannot wait for itself.
        unsafe { shim::rtun_wq_drain() };
    }
}

impl<T> Drop for Retired<T> {
    fn drop(&mut self) {
        if self.0.is_some() {
            // SAFETY: Process context (where writers run); waits for every
            // read-side critical section that may still use the value.
            unsafe { bindings::synchronize_rcu() };
        }
    }
}
