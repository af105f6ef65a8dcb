// SPDX-License-Identifier: GPL-2.0
//! A spinlock that also disables bottom halves (`spin_lock_bh`), which the
//! 7.3 kernel crate lacks. The data path shares its locks between
//! `ndo_start_xmit` (softirq) and process context: keeping softirqs off on
//! this CPU while the lock is held is all it needs, hard IRQs stay on.

use kernel::{bindings, sync::lock::Backend};

use crate::shim;

/// `Lock<T, SpinLockBhBackend>`: `spin_lock_bh`/`spin_unlock_bh`.
pub(crate) type SpinLockBh<T> = kernel::sync::lock::Lock<T, SpinLockBhBackend>;

/// Creates a [`SpinLockBh`] with a lockdep class of its own per call site.
macro_rules! new_spinlock_bh {
    ($inner:expr, $name:literal $(,)?) => {
        $crate::sync::SpinLockBh::new($inner, kernel::c_str!($name), kernel::static_lock_class!())
    };
}
pub(crate) use new_spinlock_bh;

pub(crate) struct SpinLockBhBackend;

// SAFETY: `spin_lock_bh` and `spin_unlock_bh` give mutual exclusion on an
// initialised `spinlock_t`, and the guard state carries nothing.
unsafe impl Backend for SpinLockBhBackend {
    type State = bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(ptr: *mut Self::State, name: *const kernel::ffi::c_char, key: *mut bindings::lock_class_key) {
        // SAFETY: The caller gives a writable lock and a name and key that live forever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: The caller initialised the lock.
        unsafe { shim::rtun_spin_lock_bh(ptr) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        // SAFETY: The caller initialised the lock.
        (unsafe { shim::rtun_spin_trylock_bh(ptr) } != 0).then_some(())
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: The caller owns the lock.
        unsafe { shim::rtun_spin_unlock_bh(ptr) }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: The caller initialised the lock.
        unsafe { bindings::spin_assert_is_held(ptr) }
    }
}
