// SPDX-License-Identifier: GPL-2.0
//! Synchronisation for the data path that the 7.3 kernel crate lacks: a
//! spinlock that also disables bottom halves (`spin_lock_bh`), a spinlock
//! taken inline (`spin_lock`, for xmit), sections with bottom halves off, and
//! wait queues with the `poll()` registration on them. The kernel crate's
//! `sync::poll::PollTable` registers only on its own `PollCondVar`; rtun's
//! readers, writers and pollers wait on the socket's wait queue (`sk_sleep`),
//! as tun's do, which the socket's `sk_write_space` and the transmit path
//! wake, so [`PollCtx`] registers on a [`WaitQueue`] instead.
//!
//! The data path shares its locks between `ndo_start_xmit` (softirq) and
//! process context: keeping softirqs off on this CPU while the lock is held
//! is all it needs, hard IRQs stay on.

use kernel::{bindings, sync::lock::Backend};

use crate::abstractions::ffi;

/// `Lock<T, SpinLockBhBackend>`: `spin_lock_bh`/`spin_unlock_bh`.
pub(crate) type SpinLockBh<T> = kernel::sync::lock::Lock<T, SpinLockBhBackend>;

/// Creates a lock of this module, `new_lock!(SpinLockBh, inner, "name")` or
/// `new_lock!(RawSpinLock, inner, "name")`, with a lockdep class of its own
/// per call site (as the kernel crate's `new_spinlock!` does).
macro_rules! new_lock {
    ($lock:ident, $inner:expr, $name:literal $(,)?) => {
        $crate::abstractions::sync::$lock::new(
            $inner,
            kernel::c_str!($name),
            kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_lock;

pub(crate) struct SpinLockBhBackend;

// SAFETY: `spin_lock_bh` and `spin_unlock_bh` give mutual exclusion on an
// initialised `spinlock_t`, and the guard state carries nothing.
unsafe impl Backend for SpinLockBhBackend {
    type State = bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const kernel::ffi::c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: The caller gives a writable lock and a name and key that live forever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: The caller initialised the lock.
        unsafe { ffi::rtun_spin_lock_bh(ptr) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        // SAFETY: The caller initialised the lock.
        (unsafe { ffi::rtun_spin_trylock_bh(ptr) } != 0).then_some(())
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: The caller owns the lock.
        unsafe { ffi::rtun_spin_unlock_bh(ptr) }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: The caller initialised the lock.
        unsafe { bindings::spin_assert_is_held(ptr) }
    }
}

/// `Lock<T, RawSpinLockBackend>`: a `spinlock_t` taken with `spin_lock()`,
/// like the kernel crate's `SpinLock`, but calling `_raw_spin_lock` and
/// `_raw_spin_unlock` (what `spin_lock`/`spin_unlock` are) directly instead of
/// through the crate's out-of-line helpers, and asserting the lock in the
/// guard only under lockdep. For the data path's locks.
///
/// Where the kernel inlines one of those three (CONFIG_INLINE_SPIN_LOCK,
/// CONFIG_INLINE_SPIN_TRYLOCK, or no CONFIG_UNINLINE_SPIN_UNLOCK) it is a
/// macro, with no function to call: that one goes through the crate's helper
/// (`spin_lock`, `spin_trylock`, `spin_unlock`) instead, which is the same
/// operation out of line.
pub(crate) type RawSpinLock<T> = kernel::sync::lock::Lock<T, RawSpinLockBackend>;

// Under PREEMPT_RT a `spinlock_t` is an rt_mutex, with no `rlock` to pass to
// `_raw_spin_lock`, and may sleep, which xmit must not.
#[cfg(CONFIG_PREEMPT_RT)]
compile_error!("rtun does not support PREEMPT_RT: spinlock_t is an rt_mutex there, and sync.rs's RawSpinLock takes a spinlock_t's rlock as a raw_spinlock_t (_raw_spin_lock) and holds its locks in xmit, where they must not sleep");

pub(crate) struct RawSpinLockBackend;

/// The `raw_spinlock_t` inside a (non-PREEMPT_RT) `spinlock_t`, which is
/// what `spin_lock()` passes to `_raw_spin_lock()`: its first member (the C
/// file checks the offset; `spinlock_t` is opaque to bindgen).
#[cfg_attr(
    all(
        CONFIG_INLINE_SPIN_LOCK,
        CONFIG_INLINE_SPIN_TRYLOCK,
        not(CONFIG_UNINLINE_SPIN_UNLOCK)
    ),
    allow(dead_code)
)]
#[inline(always)]
fn rlock(ptr: *mut bindings::spinlock_t) -> *mut bindings::raw_spinlock_t {
    ptr.cast()
}

/// `spin_lock()`: `_raw_spin_lock()` on the lock's `rlock`.
///
/// # Safety
/// `ptr` is an initialised `spinlock_t`.
#[cfg(not(CONFIG_INLINE_SPIN_LOCK))]
#[inline(always)]
unsafe fn raw_spin_lock(ptr: *mut bindings::spinlock_t) {
    // SAFETY: Per the function's requirements; `rlock` is the lock's
    // `raw_spinlock_t`, which is what `spin_lock()` passes.
    unsafe { bindings::_raw_spin_lock(rlock(ptr)) }
}

/// `spin_lock()`, out of line: `_raw_spin_lock` is an inline macro here.
///
/// # Safety
/// `ptr` is an initialised `spinlock_t`.
#[cfg(CONFIG_INLINE_SPIN_LOCK)]
#[inline(always)]
unsafe fn raw_spin_lock(ptr: *mut bindings::spinlock_t) {
    // SAFETY: Per the function's requirements.
    unsafe { bindings::spin_lock(ptr) }
}

/// `spin_trylock()`: `_raw_spin_trylock()` on the lock's `rlock`.
///
/// # Safety
/// `ptr` is an initialised `spinlock_t`.
#[cfg(not(CONFIG_INLINE_SPIN_TRYLOCK))]
#[inline(always)]
unsafe fn raw_spin_trylock(ptr: *mut bindings::spinlock_t) -> kernel::ffi::c_int {
    // SAFETY: Per the function's requirements; `rlock` is the lock's
    // `raw_spinlock_t`, which is what `spin_trylock()` passes.
    unsafe { bindings::_raw_spin_trylock(rlock(ptr)) }
}

/// `spin_trylock()`, out of line: `_raw_spin_trylock` is an inline macro here.
///
/// # Safety
/// `ptr` is an initialised `spinlock_t`.
#[cfg(CONFIG_INLINE_SPIN_TRYLOCK)]
#[inline(always)]
unsafe fn raw_spin_trylock(ptr: *mut bindings::spinlock_t) -> kernel::ffi::c_int {
    // SAFETY: Per the function's requirements.
    unsafe { bindings::spin_trylock(ptr) }
}

/// `spin_unlock()`: `_raw_spin_unlock()` on the lock's `rlock`.
///
/// # Safety
/// `ptr` is a `spinlock_t` the caller holds.
#[cfg(CONFIG_UNINLINE_SPIN_UNLOCK)]
#[inline(always)]
unsafe fn raw_spin_unlock(ptr: *mut bindings::spinlock_t) {
    // SAFETY: Per the function's requirements; `rlock` is the lock's
    // `raw_spinlock_t`, which is what `spin_unlock()` passes.
    unsafe { bindings::_raw_spin_unlock(rlock(ptr)) }
}

/// `spin_unlock()`, out of line: `_raw_spin_unlock` is an inline macro here.
///
/// # Safety
/// `ptr` is a `spinlock_t` the caller holds.
#[cfg(not(CONFIG_UNINLINE_SPIN_UNLOCK))]
#[inline(always)]
unsafe fn raw_spin_unlock(ptr: *mut bindings::spinlock_t) {
    // SAFETY: Per the function's requirements.
    unsafe { bindings::spin_unlock(ptr) }
}

// SAFETY: `raw_spin_lock`, `raw_spin_trylock` and `raw_spin_unlock` are
// `spin_lock`, `spin_trylock` and `spin_unlock` (`_raw_spin_*` on the lock's
// `rlock`, what the C inlines expand to, or the kernel crate's helpers where
// those are inline macros), which give mutual exclusion on an initialised
// `spinlock_t`; the guard state carries nothing.
unsafe impl Backend for RawSpinLockBackend {
    type State = bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const kernel::ffi::c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: The caller gives a writable lock and a name and key that live forever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    #[inline(always)]
    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: The caller initialised the lock.
        unsafe { raw_spin_lock(ptr) }
    }

    #[inline(always)]
    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        // SAFETY: The caller initialised the lock.
        (unsafe { raw_spin_trylock(ptr) } != 0).then_some(())
    }

    #[inline(always)]
    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: The caller owns the lock.
        unsafe { raw_spin_unlock(ptr) }
    }

    #[inline(always)]
    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // Without lockdep, `lockdep_assert_held` is empty: skip the call.
        if cfg!(CONFIG_LOCKDEP) {
            // SAFETY: The caller initialised the lock.
            unsafe { bindings::spin_assert_is_held(ptr) }
        }
    }
}

/// Bottom halves stay disabled on this CPU while it lives (`local_bh_disable`).
///
/// # Invariants
/// This value disabled bottom halves once, and enables them again on drop;
/// it is not `Send`, so the drop runs on the same thread, which cannot leave
/// the CPU meanwhile.
pub(crate) struct BhOff(core::marker::PhantomData<*mut ()>);

impl BhOff {
    pub(crate) fn new() -> Self {
        // SAFETY: Paired with the enable in `drop`, on this thread (not `Send`).
        unsafe { ffi::rtun_local_bh_disable() };
        // INVARIANT: Disabled just now, once.
        BhOff(core::marker::PhantomData)
    }
}

impl Drop for BhOff {
    fn drop(&mut self) {
        // SAFETY: Disabled in `new`.
        unsafe { ffi::rtun_local_bh_enable() };
    }
}

/// Poll event bits (`__poll_t`, uapi/linux/eventpoll.h), which bindgen
/// cannot see through their `__force` casts. User-space ABI: fixed.
pub(crate) mod poll {
    pub(crate) const EPOLLIN: u32 = 0x001;
    pub(crate) const EPOLLOUT: u32 = 0x004;
    pub(crate) const EPOLLERR: u32 = 0x008;
    pub(crate) const EPOLLRDNORM: u32 = 0x040;
    pub(crate) const EPOLLWRNORM: u32 = 0x100;
    pub(crate) const EPOLLWRBAND: u32 = 0x200;
}

/// A wait queue (`wait_queue_head_t`) whose wake-ups cost nothing when nobody
/// waits (`wq_has_sleeper`), and which wakes pollers with the event that
/// happened (a keyed wake-up), as a socket's `sk_data_ready` does. A queue's
/// is its socket's (sock.rs), as in tun: readers, writers waiting for room
/// and pollers all wait on it.
///
/// # Invariants
/// `head` is an initialised wait queue head that stays at its address while
/// a `&WaitQueue` to it lives: a `WaitQueue` is only ever reached by
/// reference, through [`WaitQueue::from_raw`].
#[repr(transparent)]
pub(crate) struct WaitQueue {
    head: kernel::types::Opaque<bindings::wait_queue_head>,
}

// SAFETY: A wait queue is made for use from any thread; its lock is inside.
unsafe impl Send for WaitQueue {}
// SAFETY: `&WaitQueue` gives only wake-ups, waits and `poll_wait`
// registration, which the kernel's wait-queue functions do under the head's
// own spinlock, so any number of threads may use one queue at once.
unsafe impl Sync for WaitQueue {}

impl WaitQueue {
    /// # Safety
    /// `head` is an initialised wait queue head, valid and not moved for `'a`.
    pub(crate) unsafe fn from_raw<'a>(head: *mut bindings::wait_queue_head) -> &'a WaitQueue {
        // INVARIANT: The caller guarantees an initialised head that does not
        // move for `'a`, the reference's lifetime.
        // SAFETY: `WaitQueue` is a transparent wrapper of the head; valid per
        // the function's requirements.
        unsafe { &*head.cast::<WaitQueue>() }
    }

    /// The `wait_queue_head`: `Opaque<T>` is a transparent wrapper of `T`
    /// (a cast, where `Opaque::get` is an out-of-line call).
    #[inline(always)]
    fn head_ptr(&self) -> *mut bindings::wait_queue_head {
        core::ptr::from_ref(&self.head).cast_mut().cast()
    }

    /// Wakes waiters and pollers for `events` (EPOLL* bits), if there are any,
    /// as a socket's `sk_data_ready`/`sk_write_space` do (tun's wake-ups): a
    /// synchronous wake-up (`WF_SYNC`: a hint that the waker will soon sleep,
    /// so the scheduler need not preempt it for the wakee). Any context.
    #[inline(always)]
    pub(crate) fn wake(&self, events: u32) {
        let head = self.head_ptr();
        // `wq_has_sleeper()`, inline: a full barrier, so that the caller's
        // update is visible to a waiter that queued itself before checking
        // it (the waiter's barrier is in `prepare_to_wait`), then
        // `waitqueue_active()`: the list is not empty.
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        // SAFETY: The head is initialised; `head.next` is read once, as
        // `list_empty` does with READ_ONCE.
        let active = unsafe {
            let list: *mut bindings::list_head = &raw mut (*head).head;
            let next: *mut bindings::list_head = core::ptr::read_volatile(&raw const (*list).next);
            next != list
        };
        if active {
            // SAFETY: The head is initialised.
            unsafe { ffi::rtun_wake_up_interruptible_sync_poll(head, events) };
        }
    }

    /// Sleeps until `cond` returns a value, or a signal arrives (`None`).
    /// `cond` runs with the task already queued, so a wake-up between its
    /// check and the sleep is not lost. Process context.
    pub(crate) fn wait_interruptible<R>(&self, mut cond: impl FnMut() -> Option<R>) -> Option<R> {
        let entry = kernel::types::Opaque::<bindings::wait_queue_entry>::uninit();
        // SAFETY: `entry` lives on this stack frame, is not moved, and leaves the
        // queue (`finish_wait`) before the frame ends.
        unsafe { bindings::init_wait_entry(entry.get(), 0) };
        let r = loop {
            // SAFETY: `entry`, initialised by `init_wait_entry` before the
            // loop, stays unmoved on this stack frame until `finish_wait`
            // takes it off the queue after the loop; the head is initialised
            // (type invariant).
            let pending = unsafe {
                bindings::prepare_to_wait_event(
                    self.head.get(),
                    entry.get(),
                    bindings::TASK_INTERRUPTIBLE as core::ffi::c_int,
                )
            };
            if let Some(r) = cond() {
                break Some(r);
            }
            if pending != 0 {
                break None;
            }
            // SAFETY: Process context, queued as interruptible.
            unsafe { bindings::schedule() };
        };
        // SAFETY: `entry` was prepared on this head.
        unsafe { bindings::finish_wait(self.head.get(), entry.get()) };
        r
    }
}

/// The arguments of a `poll()` call, to register wait queues with.
///
/// # Invariants
/// `file` is the file whose `f_op->poll` made this value, and `table` is
/// null or the poll table that call got; both stay valid while the value
/// lives, which is within that call.
pub(crate) struct PollCtx<'a> {
    file: *mut bindings::file,
    table: *mut bindings::poll_table,
    _call: core::marker::PhantomData<&'a ()>,
}

impl PollCtx<'_> {
    /// # Safety
    /// `file` and `table` (which may be null) are the ones `f_op->poll` got,
    /// valid for the call, which the returned value must not outlive.
    pub(crate) unsafe fn from_raw(
        file: *mut bindings::file,
        table: *mut bindings::poll_table,
    ) -> Self {
        // INVARIANT: The caller passes the poll call's file and table, and
        // keeps the value within that call (the function's requirements).
        PollCtx {
            file,
            table,
            _call: core::marker::PhantomData,
        }
    }

    /// `poll_wait()`: the caller is woken through `wq`.
    #[inline(always)]
    pub(crate) fn wait_on(&self, wq: &WaitQueue) {
        // `poll_wait()`, inline: only a table with a queueing function
        // registers, followed by a full barrier (paired with the waker's in
        // `WaitQueue::wake`).
        if self.table.is_null() {
            return;
        }
        // SAFETY: A non-null table is valid for the call, per `from_raw`.
        let Some(qproc) = (unsafe { (*self.table)._qproc }) else {
            return;
        };
        // SAFETY: `file` and the non-null `table` are valid for the call
        // (type invariant); the queue outlives the file (it is in the socket
        // that the file's private data holds), and the poll core removes its
        // entries before the file goes.
        unsafe { qproc(self.file, wq.head_ptr(), self.table) };
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    }
}
