// SPDX-License-Identifier: GPL-2.0
//! A NAPI instance of one queue (IFF_NAPI): written frames wait on a backlog
//! and the instance's poll hands them to GRO, in softirq context, as tun does.
//!
//! Lifecycle (all in process context, under RTNL): [`Napi::add`] registers the
//! instance with the device and enables it; [`Napi::disable`] and
//! [`Napi::enable`] follow TUNSETQUEUE; [`Napi::del`] unregisters it, before
//! the queue or the device can go away. Frames still on the backlog then come
//! back to the caller, to be dropped with a reason.
//!
//! IFF_NAPI_FRAGS frames take no backlog: the writer builds each in an skb
//! from the instance's GRO allocator ([`Napi::frags_skb`]) and hands it to GRO
//! itself ([`Napi::gro_frags`]), as tun's `tun_napi_alloc_frags` and
//! `napi_gro_frags` do.

use core::{
    ffi::{c_int, c_void},
    ptr::null_mut,
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering},
};
use kernel::{bindings, new_mutex, prelude::*, sync::Mutex};

use crate::{
    abstractions::ffi,
    abstractions::netdev::NetDev,
    abstractions::skb::{SkBuff, SkbQueue},
    abstractions::sync::{new_lock, SpinLockBh},
};

const OFF: u8 = 0;
const ENABLED: u8 = 1;
const DISABLED: u8 = 2;

/// A NAPI instance (allocated by the C file: `struct napi_struct` is opaque to
/// the bindings) plus the frames waiting for its poll.
///
/// # Invariants
/// While `state` is not OFF, `inner` is an instance registered with a device
/// (`add` publishes it before it leaves OFF), and its poll reaches this
/// `Napi`, which is pinned (it lives in its queue's `Arc`) and outlives the
/// registration (`del` ends it). `state` becomes OFF only under the backlog
/// lock, and the instance is freed only after that, and after `frags` was
/// taken once more: a non-null `inner` read under `frags` is registered until
/// `frags` is released. The instance's frame slot (`napi_struct::skb`) is used
/// only under `frags`, and is empty whenever `frags` is free but for a spare
/// skb that `napi_gro_frags` left for reuse.
#[pin_data]
pub(crate) struct Napi {
    inner: AtomicPtr<bindings::napi_struct>,
    /// Written by `write()` (process context), drained by the poll (softirq).
    #[pin]
    backlog: SpinLockBh<SkbQueue>,
    state: AtomicU8,
    /// Written frames take the IFF_NAPI_FRAGS path: a choice of the queue's
    /// own (its TUNSETIFF flags), as tun's `napi_frags_enabled`. Set by `add`.
    frags_mode: AtomicBool,
    /// Serialises the IFF_NAPI_FRAGS writers' use of the instance, and makes
    /// `del` wait for them.
    #[pin]
    frags: Mutex<()>,
}

// SAFETY: The raw `inner` pointer is only a handle to a C object that is not
// tied to a thread, used only as the type invariant allows; the backlog's
// skbs are owned, and `SkbQueue` is `Send`.
unsafe impl Send for Napi {}
// SAFETY: Shared use is safe: `state` and `inner` are atomics, the backlog is
// behind its lock, and the NAPI core serialises the polls of one instance.
unsafe impl Sync for Napi {}

impl Napi {
    pub(crate) fn new() -> impl PinInit<Self> {
        // INVARIANT: OFF, with no instance: nothing is registered.
        pin_init!(Napi {
            inner: AtomicPtr::new(null_mut()),
            backlog <- new_lock!(SpinLockBh, SkbQueue::new(), "rtun_napi_backlog"),
            state: AtomicU8::new(OFF),
            frags_mode: AtomicBool::new(false),
            frags <- new_mutex!((), "rtun_napi_frags"),
        })
    }

    pub(crate) fn is_on(&self) -> bool {
        self.state.load(Ordering::Acquire) == ENABLED
    }

    /// Registers an instance with `dev` and enables it; with `frags`, written
    /// frames take the IFF_NAPI_FRAGS path ([`Napi::frags_skb`]). Process
    /// context.
    pub(crate) fn add(&self, dev: &NetDev, frags: bool) -> Result {
        if self.state.load(Ordering::Acquire) != OFF {
            return Ok(());
        }
        self.frags_mode.store(frags, Ordering::Relaxed);
        let owner = core::ptr::from_ref(self).cast::<c_void>();
        // SAFETY: `self` is pinned and stays registered only until `del`, which
        // its owner calls before it goes away (type invariant).
        let napi = unsafe { ffi::rtun_napi_new(dev.as_ptr(), owner) };
        if napi.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: Published before `state` leaves OFF.
        self.inner.store(napi, Ordering::Release);
        // SAFETY: Just registered.
        unsafe { ffi::napi_enable(napi) };
        self.state.store(ENABLED, Ordering::Release);
        Ok(())
    }

    /// Stops polling (TUNSETQUEUE detach). Sleeps until a running poll ends.
    pub(crate) fn disable(&self) {
        if self
            .state
            .compare_exchange(ENABLED, DISABLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // SAFETY: Registered and enabled, per the state.
            unsafe { ffi::napi_disable(self.inner.load(Ordering::Acquire)) };
        }
    }

    /// Polls again (TUNSETQUEUE attach). The instance is enabled before
    /// writers may queue on it: a frame queued while it was still disabled
    /// would find it scheduled (a disabled instance looks so) and wait for
    /// the next write. Under RTNL, as every state change but `receive`'s.
    /// Returns whether it was disabled (and is enabled now).
    pub(crate) fn enable(&self) -> bool {
        if self.state.load(Ordering::Acquire) != DISABLED {
            return false;
        }
        // SAFETY: Registered (the state is not OFF) and disabled: `disable`
        // disabled it, and nothing else enables it (RTNL serialises both).
        unsafe { ffi::napi_enable(self.inner.load(Ordering::Acquire)) };
        let _backlog = self.backlog.lock();
        self.state.store(ENABLED, Ordering::Release);
        true
    }

    /// Unregisters and frees the instance; returns the frames no poll took.
    ///
    /// Writers schedule the instance only under the backlog lock, after
    /// checking that it is enabled (`receive`). The instance is unpublished
    /// under that lock too, so once it is released no writer is still about
    /// to schedule it, and none will: only then is it freed. (tun schedules
    /// after its queue's lock, but its `napi_struct` lives in the file.)
    pub(crate) fn del(&self) -> SkbQueue {
        self.disable();
        let napi = {
            let _backlog = self.backlog.lock();
            if self.state.swap(OFF, Ordering::AcqRel) != OFF {
                self.inner.swap(null_mut(), Ordering::AcqRel)
            } else {
                null_mut()
            }
        };
        if !napi.is_null() {
            // An IFF_NAPI_FRAGS writer that read `inner` before it was
            // cleared uses the instance until it releases `frags`; those
            // that take it from now on find no instance. The writers hold
            // it around two steps that do not sleep, and no user copy: an
            // allocation, and one frame's way through GRO and the receive
            // path (with GRO's flush), so this wait under RTNL is short.
            drop(self.frags.lock());
            // SAFETY: `napi` was registered by `add` and is now unpublished:
            // `state` is OFF, set under the backlog lock, so no `receive` can
            // schedule it any more (it checks `state` and schedules under
            // that lock). It is disabled, so no poll runs: by `disable`
            // above, or by the TUNSETQUEUE detach that made it DISABLED
            // (`napi_disable` waits for a running poll). No IFF_NAPI_FRAGS
            // writer uses it: they use it only under `frags`, taken above
            // after `inner` was cleared.
            unsafe { ffi::rtun_napi_delete(napi) };
        }
        self.take_backlog()
    }
    /// Whether the queue was attached with IFF_NAPI (enabled or not).
    pub(crate) fn is_added(&self) -> bool {
        self.state.load(Ordering::Acquire) != OFF
    }

    /// Whether the queue was attached with IFF_NAPI and IFF_NAPI_FRAGS
    /// (enabled or not).
    pub(crate) fn is_frags(&self) -> bool {
        self.is_added() && self.frags_mode.load(Ordering::Relaxed)
    }

    /// The frames waiting for a poll, taken off the backlog.
    pub(crate) fn take_backlog(&self) -> SkbQueue {
        core::mem::replace(&mut *self.backlog.lock(), SkbQueue::new())
    }

    /// Queues a written frame and schedules the poll. Gives the frame back if
    /// the instance is not enabled (a detached queue): tun fails such a write.
    ///
    /// The poll is scheduled before the backlog lock is released: `del` turns
    /// the instance off under that lock before it frees it, so the instance
    /// scheduled here is still registered. (Scheduling under the lock is
    /// allowed: BHs are off, and the poll runs once they are back on, on
    /// unlock.)
    pub(crate) fn receive(&self, skb: SkBuff) -> Result<(), SkBuff> {
        let mut backlog = self.backlog.lock();
        if !self.is_on() {
            return Err(skb);
        }
        backlog.push_back(skb);
        let napi = self.inner.load(Ordering::Acquire);
        // SAFETY: `state` is ENABLED, read under the backlog lock, which we
        // still hold: `add` published `napi` before it set ENABLED, and `del`
        // clears `state` under this lock before it frees `napi`, so `napi` is
        // a registered instance until we unlock. Scheduling needs BHs off,
        // which the lock (and the wrapper) provide.
        unsafe { ffi::rtun_napi_schedule_bh(napi) };
        drop(backlog);
        Ok(())
    }

    /// IFF_NAPI_FRAGS: a new frame from the instance's GRO allocator
    /// (`napi_get_frags`), with head room only (see
    /// [`SkBuff::frags_layout`]), not charged to any socket. EBUSY when the
    /// instance is gone (its queue is being torn down), ENOMEM when memory ran
    /// out. Process context.
    pub(crate) fn frags_skb(&self) -> Result<SkBuff> {
        let _frags = self.frags.lock();
        let napi = self.inner.load(Ordering::Acquire);
        if napi.is_null() {
            return Err(EBUSY);
        }
        // SAFETY: `napi` is registered until `_frags` is released: it was
        // read non-null under `frags`, which `del` takes after clearing
        // `inner` and before freeing (type invariant). `frags` also makes us
        // the only user of the instance's frame slot, which the helper
        // leaves empty.
        let skb = unsafe { ffi::rtun_napi_get_frags(napi) };
        if skb.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: A new skb (on no list) that left the instance's slot: ours.
        Ok(unsafe { SkBuff::from_raw(skb) })
    }

    /// IFF_NAPI_FRAGS: hands `skb`, an Ethernet frame of this instance's
    /// device whose header `eth_type_trans` pulled (it is pushed back here),
    /// to GRO in the caller's context (`napi_gro_frags`), once
    /// `napi_schedule_prep` lets us own the instance, as tun does. Gives the
    /// frame back, with the errno: EIO when the device is down (checked in
    /// the same RCU section as the delivery, as tun does); EBUSY when the
    /// instance is disabled (a detached queue), busy (a poll, busy-poll or
    /// netpoll owns it) or gone, or the frame belongs to another device;
    /// EINVAL when the frame is not one GRO may take (its Ethernet header
    /// not just pulled; charged to a socket; cloned). Process context.
    pub(crate) fn gro_frags(&self, skb: SkBuff) -> Result<(), (SkBuff, Error)> {
        let _frags = self.frags.lock();
        let napi = self.inner.load(Ordering::Acquire);
        if napi.is_null() {
            return Err((skb, EBUSY));
        }
        let raw = skb.into_raw();
        // SAFETY: `napi` is registered until `_frags` is released (as in
        // `frags_skb`), and its frame slot is ours to fill. `raw` is a valid
        // skb that we own; the helper takes it only when it returns 0, after
        // checking what GRO relies on: the 14 bytes before the data are the
        // frame's Ethernet header (the MAC header is right there), the skb is
        // neither charged to a socket nor cloned, it belongs to the
        // instance's device, and the instance is now scheduled by us.
        let ret = unsafe { ffi::rtun_napi_gro_frags(napi, raw) };
        if ret == 0 {
            Ok(())
        } else {
            // SAFETY: Not taken: still the valid skb, on no list, that we
            // owned.
            Err((unsafe { SkBuff::from_raw(raw) }, Error::from_errno(ret)))
        }
    }

    /// The poll: up to `budget` frames to GRO.
    fn poll(&self, napi: *mut bindings::napi_struct, budget: c_int) -> c_int {
        let mut done: c_int = 0;
        while done < budget {
            let Some(skb) = self.backlog.lock().pop_front() else {
                break;
            };
            // SAFETY: We are the instance's poll; GRO takes the skb.
            unsafe { ffi::rtun_napi_gro_receive(napi, skb.into_raw()) };
            done += 1;
        }
        if done < budget {
            // SAFETY: Our poll, finishing under budget.
            unsafe { ffi::napi_complete_done(napi, done) };
        }
        done
    }
}

/// The NAPI poll callback of every rtun NAPI instance.
///
/// # Safety
/// Called by the NAPI core with the instance `rtun_napi_new` made for `owner`,
/// a live [`Napi`].
#[no_mangle]
unsafe extern "C" fn rtun_napi_poll(
    owner: *const c_void,
    napi: *mut bindings::napi_struct,
    budget: c_int,
) -> c_int {
    // SAFETY: `owner` is the `Napi` that registered this instance, alive while
    // it is registered (type invariant).
    let this = unsafe { &*owner.cast::<Napi>() };
    this.poll(napi, budget)
}
