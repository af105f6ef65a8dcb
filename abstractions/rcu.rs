// SPDX-License-Identifier: GPL-2.0
//! RCU publication for what the transmit path reads, which the 7.3 kernel crate
//! lacks (it has only the read-side guard): readers in `ndo_start_xmit` take no
//! lock; writers (process context) publish a new value and free the old one
//! only after a grace period.
//!
//! - [`RcuBox`]: one optional owned value (a filter, the tx filter table).
//! - [`RcuTable`]: a fixed table of shared values (the active queues), each
//!   counted by the table while it is in it.
//! - [`ReadSide`]: what proves a read-side critical section to them: the
//!   crate's [`Guard`] (`rcu_read_lock`), or [`BhSection`], which the transmit
//!   path already is in because bottom halves are off there. Sealed: only
//!   these two are proofs.
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
    alloc::{flags::GFP_KERNEL, KBox, KVec},
    bindings,
    sync::rcu::Guard,
    sync::Arc,
    types::Opaque,
};

use crate::{abstractions::ffi, abstractions::netdev::Rtnl};

/// Keeps [`ReadSide`] to the types of this file: implementing it is a claim
/// that a read-side critical section is in progress, which only they can
/// back.
mod sealed {
    pub(crate) trait Sealed {}
}

/// A read-side critical section in progress, for as long as the borrow of
/// the value that proves it lasts. Sealed: [`Guard`] and [`BhSection`] are
/// the only implementations.
pub(crate) trait ReadSide: sealed::Sealed {}

impl sealed::Sealed for Guard {}
impl ReadSide for Guard {}

/// Bottom halves (or hard interrupts) are off on this CPU: the code is in a
/// read-side critical section of every grace period rtun waits for
/// (`synchronize_rcu` and `call_rcu` wait for such regions since RCU's
/// flavours became one, in 4.20), without a `rcu_read_lock` of its own.
///
/// # Invariants
/// Bottom halves or hard interrupts are off on this CPU for as long as the
/// value lives; it is not `Send`, so it stays on the thread, which cannot
/// leave the CPU meanwhile.
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
            ffi::rtun_assert_rcu_reader()
        };
        // INVARIANT: The caller keeps bottom halves or hard interrupts off
        // while the value lives (the function's requirements).
        BhSection(PhantomData)
    }
}

impl sealed::Sealed for BhSection {}
impl ReadSide for BhSection {}

/// An optional boxed `T` that RCU readers may look at.
///
/// # Invariants
/// `p` is null or comes from `KBox::into_raw`, and the box is owned by the
/// `RcuBox`; one that left `p` is freed only after a grace period
/// ([`Retired`]) or when the `RcuBox` is dropped.
pub(crate) struct RcuBox<T> {
    p: AtomicPtr<T>,
}

// SAFETY: The `RcuBox` owns a `KBox<T>`, which a writer on another thread may
// take back (`replace`): `T: Send`; readers on any thread get `&T`: `T: Sync`.
unsafe impl<T: Send + Sync> Send for RcuBox<T> {}
// SAFETY: Through `&RcuBox<T>`, threads get `&T` (`get`), which needs
// `T: Sync`, and swap whole boxes atomically (`replace`), so a box published
// on one thread may come back, and be freed, on another, which needs `T: Send`.
unsafe impl<T: Send + Sync> Sync for RcuBox<T> {}

impl<T> RcuBox<T> {
    pub(crate) const fn empty() -> Self {
        // INVARIANT: Null: no box.
        RcuBox {
            p: AtomicPtr::new(null_mut()),
        }
    }

    /// The current value, valid while both the read-side critical section
    /// and the borrow of the `RcuBox` last (dropping the `RcuBox` frees it).
    #[inline(always)]
    pub(crate) fn get<'a>(&'a self, _guard: &'a impl ReadSide) -> Option<&'a T> {
        let p = self.p.load(Ordering::Acquire);
        // SAFETY: A published pointer is a live `KBox<T>` (type invariant); it
        // is freed only by `Retired`, after a grace period that `_guard` holds
        // back, or by dropping the `RcuBox`, which the borrow of `self` holds
        // back.
        unsafe { p.as_ref() }
    }

    /// Publishes `new`; the old value comes back retired. Writers need no
    /// serialisation: the swap is atomic, so each old box goes to exactly one
    /// of them, and a reader sees either box, both kept a grace period.
    pub(crate) fn replace(&self, new: Option<KBox<T>>) -> Retired<KBox<T>> {
        let newp = new.map_or(null_mut(), KBox::into_raw);
        // INVARIANT: `newp` is null or from `KBox::into_raw`, and the `RcuBox`
        // owns it from here; the box that leaves `p` is retired.
        let old = self.p.swap(newp, Ordering::AcqRel);
        // INVARIANT: Wrapped as soon as it is unpublished, so any reader that
        // can still see it started before the grace period `Retired` waits for.
        // SAFETY: `old` is null or came from `KBox::into_raw` (type
        // invariant); the swap took it out of `p`, so it is unpublished and
        // this caller is its only owner.
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

/// A table of up to `N` shared values that RCU readers may look at: readers
/// see `table[i]` for `i < len`.
///
/// # Invariants
/// Every non-null slot holds a pointer from `Arc::into_raw` and owns that
/// reference: the table keeps its entries alive itself. A reference that
/// leaves a slot is dropped only after a grace period (or when the table is
/// dropped). `len <= N`.
pub(crate) struct RcuTable<T, const N: usize> {
    slots: [AtomicPtr<T>; N],
    len: AtomicUsize,
}

// SAFETY: The table owns `Arc<T>` references (dropped on whichever thread
// drops or republishes it), and readers get `&T` on any thread: both need
// `T: Send + Sync`, as `Arc<T>: Send` does.
unsafe impl<T: Send + Sync, const N: usize> Send for RcuTable<T, N> {}
// SAFETY: Through `&RcuTable`, threads get `&T` (`get`), which needs
// `T: Sync`, and move `Arc<T>` references in and out (`publish`), so one
// taken on a thread may be dropped on another: `Arc<T>: Send`, which needs
// `T: Send + Sync`.
unsafe impl<T: Send + Sync, const N: usize> Sync for RcuTable<T, N> {}

impl<T, const N: usize> RcuTable<T, N> {
    pub(crate) const fn new() -> Self {
        // INVARIANT: Every slot is null, and `len` is 0.
        RcuTable {
            slots: [const { AtomicPtr::new(null_mut()) }; N],
            len: AtomicUsize::new(0),
        }
    }

    #[inline(always)]
    pub(crate) fn len(&self, _guard: &impl ReadSide) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Entry `i`, valid while both the read-side critical section and the
    /// borrow of the table last.
    #[inline(always)]
    pub(crate) fn get<'a>(&'a self, i: usize, _guard: &'a impl ReadSide) -> Option<&'a T> {
        if i >= self.len.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `len` never exceeds `N` (type invariant), so `i < N`.
        let p = unsafe { self.slots.get_unchecked(i) }.load(Ordering::Acquire);
        // SAFETY: A non-null slot owns a reference to a live `T` (type
        // invariant), which is dropped only a grace period after it leaves the
        // slot, which `_guard` holds back, or with the table, which the borrow
        // of `self` holds back.
        unsafe { p.as_ref() }
    }

    /// Publishes `items` (the first `N` of them) as the new table, taking a
    /// reference to each. The references of the entries it had come back
    /// retired, except where a slot keeps its entry. Writers are serialised
    /// by RTNL (`_rtnl`), which keeps `len` and the slots consistent;
    /// soundness does not depend on it (every slot is swapped atomically and
    /// owns what it holds). Process context: if there is no memory to keep an
    /// old reference in, this waits for a grace period before dropping it.
    pub(crate) fn publish(&self, items: &[Arc<T>], _rtnl: &Rtnl) -> Retired<KVec<Arc<T>>> {
        let n = items.len().min(N);
        let mut gone = KVec::new();
        for (slot, item) in self.slots.iter().zip(items.iter().take(n)) {
            let new = Arc::into_raw(item.clone()).cast_mut();
            // INVARIANT: The slot owns the reference just taken.
            let old = slot.swap(new, Ordering::AcqRel);
            Self::unpublished(old, new, &mut gone);
        }
        // INVARIANT: `n <= N`.
        let old_len = self.len.swap(n, Ordering::AcqRel);
        for slot in self.slots.iter().take(old_len).skip(n) {
            let old = slot.swap(null_mut(), Ordering::AcqRel);
            Self::unpublished(old, null_mut(), &mut gone);
        }
        if gone.is_empty() {
            Retired::none()
        } else {
            Retired::new(gone)
        }
    }

    /// `old` just left a slot that now holds `new`: its reference goes to
    /// `gone`, or is dropped at once if the slot still holds the same entry
    /// (through the reference just taken).
    fn unpublished(old: *mut T, new: *mut T, gone: &mut KVec<Arc<T>>) {
        if old.is_null() {
            return;
        }
        // SAFETY: A non-null slot value comes from `Arc::into_raw` and owns
        // that reference (type invariant); the swap took it out of the slot,
        // so this caller is its only owner now.
        let old = unsafe { Arc::from_raw(old) };
        if core::ptr::eq(Arc::as_ptr(&old), new) {
            // The slot's new reference keeps the entry alive for readers.
            return;
        }
        if gone.reserve(1, GFP_KERNEL).is_ok() {
            if let Err(e) = gone.push_within_capacity(old) {
                Self::drop_after_readers(e.0);
            }
        } else {
            Self::drop_after_readers(old);
        }
    }

    /// Drops `old` once no reader can see it: a grace period, waited for here.
    fn drop_after_readers(old: Arc<T>) {
        drop(Retired::new(old));
    }
}

impl<T, const N: usize> Drop for RcuTable<T, N> {
    fn drop(&mut self) {
        for slot in self.slots.iter_mut() {
            let p = *slot.get_mut();
            if !p.is_null() {
                // SAFETY: Dropping the table means no reader can reach it any
                // more (`get`'s results borrow the table); a non-null slot
                // owns a reference from `Arc::into_raw` (type invariant).
                drop(unsafe { Arc::from_raw(p) });
            }
        }
    }
}

/// A value RCU readers may still see: dropping it first waits for them (a
/// grace period), so it may only be dropped in process context.
///
/// # Invariants
/// The value, if any, is dropped only after a grace period that began after
/// it was wrapped: nothing takes it out but `Drop`, which waits for one
/// first (`synchronize_rcu`), and [`Retired::defer`], which hands it to
/// [`after_grace_period`] (or waits, if that fails).
#[must_use = "dropping it waits for a grace period"]
pub(crate) struct Retired<T>(Option<T>);

impl<T> Retired<T> {
    /// `value`, to be dropped only after a grace period.
    pub(crate) fn new(value: T) -> Self {
        // INVARIANT: Wrapped now; only `Drop` or `defer` take it out.
        Retired(Some(value))
    }

    /// Nothing was unpublished: dropping this does not wait.
    pub(crate) fn none() -> Self {
        // INVARIANT: No value.
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
                // INVARIANT: Wrapped again, and dropped at once, which waits
                // for a grace period first.
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
    // INVARIANT: Not queued yet: the item is still the box's; it is queued
    // only after `rwork` is initialised.
    let item = KBox::into_raw(KBox::write(
        slot,
        Deferred {
            rwork: Opaque::uninit(),
            value,
        },
    ));
    // SAFETY: `item` is a live allocation that the work function takes back
    // (`run_deferred`), once, after the grace period `queue_rcu_work` waits
    // for; the module's exit waits for every such item (`Workqueue`'s drop:
    // `rcu_barrier`, then `destroy_workqueue`, which drains the queue).
    unsafe {
        let rwork = Opaque::cast_into(core::ptr::addr_of!((*item).rwork));
        ffi::rtun_init_rcu_work(rwork, Some(run_deferred::<T>));
        ffi::rtun_queue_rcu_work(rwork);
    }
    Ok(())
}

/// A value on its way to [`run_deferred`]. `rwork` comes first, so that the
/// work item's address is the item's.
///
/// # Invariants
/// `rwork` is at offset 0 (`#[repr(C)]`, first field). Once queued, the item
/// is a leaked `KBox<Deferred<T>>` whose `rwork` is initialised, and only
/// [`run_deferred`] takes it back, once.
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
        unsafe { ffi::rtun_wq_drain() };
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

/// The module's workqueue for deferred, RCU-delayed work ([`Retired`] and
/// the like); destroyed on drop, after a barrier that lets every item queued
/// so far run.
///
/// # Invariants
/// `rtun_wq` exists while this lives: only [`Workqueue::new`] makes one, at
/// module init, once the workqueue is allocated.
pub(crate) struct Workqueue(());

impl Workqueue {
    /// Module init.
    pub(crate) fn new() -> kernel::error::Result<Self> {
        // SAFETY: Module init, once; `drop` undoes it.
        kernel::error::to_result(unsafe { ffi::rtun_wq_init() })?;
        // INVARIANT: `rtun_wq_init` succeeded: the workqueue is allocated.
        Ok(Workqueue(()))
    }
}

impl Drop for Workqueue {
    fn drop(&mut self) {
        // SAFETY: Created in `new`; module exit (or init's unwind), when no
        // file or device is left to queue more.
        unsafe { ffi::rtun_wq_exit() }
    }
}
