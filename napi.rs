// SPDX-License-Identifier: GPL-2.0
//! A NAPI instance of one queue (IFF_NAPI): written frames wait on a backlog
//! and the instance's poll hands them to GRO, in softirq context, as tun does.
//!
//! Lifecycle (all in process context, under RTNL): [`Napi::add`] registers the
//! instance with the device and enables it; [`Napi::disable`] and
//! [`Napi::enable`] follow TUNSETQUEUE; [`Napi::del`] unregisters it, before
//! the queue or the device can go away. Frames still on the backlog then come
//! back to the caller, to be dropped with a reason.

use core::{
    ffi::c_int,
    sync::atomic::{AtomicU8, Ordering},
};
use kernel::{bindings, prelude::*, types::Opaque};

use crate::{
    sync::SpinLockBh,
    netdev::NetDev,
    shim,
    skb::{SkBuff, SkbQueue},
};

const OFF: u8 = 0;
const ENABLED: u8 = 1;
const DISABLED: u8 = 2;

/// `struct napi_struct` plus the frames waiting for its poll.
///
/// # Invariants
/// While `state` is not OFF, `inner` is registered with a device (and the
/// containing queue is pinned in memory, which `#[pin]` guarantees).
#[repr(C)]
#[pin_data]
pub(crate) struct Napi {
    /// First, so that the poll callback's pointer is this struct's.
    #[pin]
    inner: Opaque<bindings::napi_struct>,
    /// Written by `write()` (process context), drained by the poll (softirq).
    #[pin]
    backlog: SpinLockBh<SkbQueue>,
    state: AtomicU8,
}

// SAFETY: The NAPI core serialises polls; the backlog has its own lock.
unsafe impl Send for Napi {}
// SAFETY: As above.
unsafe impl Sync for Napi {}

impl Napi {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Napi {
            inner <- Opaque::zeroed(),
            backlog <- crate::sync::new_spinlock_bh!(SkbQueue::new(), "rtun_napi_backlog"),
            state: AtomicU8::new(OFF),
        })
    }

    pub(crate) fn is_on(&self) -> bool {
        self.state.load(Ordering::Acquire) == ENABLED
    }

    /// Registers the instance with `dev` and enables it.
    pub(crate) fn add(&self, dev: &NetDev) {
        if self.state.load(Ordering::Acquire) != OFF {
            return;
        }
        // SAFETY: `inner` is pinned, zeroed and not registered (state OFF); the
        // instance is deleted in `del` before the queue or `dev` goes away.
        unsafe {
            shim::rtun_napi_add(dev.as_ptr(), self.inner.get());
            shim::napi_enable(self.inner.get());
        }
        self.state.store(ENABLED, Ordering::Release);
    }

    /// Stops polling (TUNSETQUEUE detach). Sleeps until a running poll ends.
    pub(crate) fn disable(&self) {
        if self.state.compare_exchange(ENABLED, DISABLED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            // SAFETY: Registered and enabled, per the state.
            unsafe { shim::napi_disable(self.inner.get()) };
        }
    }

    pub(crate) fn enable(&self) {
        if self.state.compare_exchange(DISABLED, ENABLED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            // SAFETY: Registered and disabled, per the state.
            unsafe { shim::napi_enable(self.inner.get()) };
        }
    }

    /// Unregisters the instance; returns the frames no poll took.
    pub(crate) fn del(&self) -> SkbQueue {
        self.disable();
        if self.state.swap(OFF, Ordering::AcqRel) != OFF {
            // SAFETY: Registered and disabled: no poll runs or will run.
            unsafe { shim::rtun_napi_del(self.inner.get()) };
        }
        self.take_backlog()
    }

    /// Whether the queue was attached with IFF_NAPI (enabled or not).
    pub(crate) fn is_added(&self) -> bool {
        self.state.load(Ordering::Acquire) != OFF
    }

    /// The frames waiting for a poll, taken off the backlog.
    pub(crate) fn take_backlog(&self) -> SkbQueue {
        core::mem::replace(&mut *self.backlog.lock(), SkbQueue::new())
    }

    /// Queues a written frame and schedules the poll. Gives the frame back if
    /// the instance is not enabled (a detached queue): tun fails such a write.
    pub(crate) fn receive(&self, skb: SkBuff) -> Result<(), SkBuff> {
        {
            let mut backlog = self.backlog.lock();
            if !self.is_on() {
                return Err(skb);
            }
            backlog.push_back(skb);
        }
        // SAFETY: Enabled, hence registered; scheduling is allowed from process
        // context with BHs off, which the wrapper arranges.
        unsafe { shim::rtun_napi_schedule_bh(self.inner.get()) };
        Ok(())
    }

    /// The poll: up to `budget` frames to GRO.
    fn poll(&self, budget: c_int) -> c_int {
        let mut done: c_int = 0;
        while done < budget {
            let Some(skb) = self.backlog.lock().pop_front() else { break };
            // SAFETY: We are the instance's poll; GRO takes the skb.
            unsafe { shim::rtun_napi_gro_receive(self.inner.get(), skb.into_raw()) };
            done += 1;
        }
        if done < budget {
            // SAFETY: Our poll, finishing under budget.
            unsafe { shim::napi_complete_done(self.inner.get(), done) };
        }
        done
    }
}

#[no_mangle]
unsafe extern "C" fn rtun_napi_poll(napi: *mut bindings::napi_struct, budget: c_int) -> c_int {
    // SAFETY: Only instances added by `Napi::add` have this poll, and `inner`
    // is the first field of the `repr(C)` `Napi`, which outlives its registration.
    let this = unsafe { &*napi.cast::<Napi>() };
    this.poll(budget)
}
