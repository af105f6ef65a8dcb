// SPDX-License-Identifier: GPL-2.0
//! The calling task's credentials and the LSM hooks tun calls, as device
//! creation, attach, TUNSETOWNER/TUNSETGROUP and the permission checks need
//! them. Ids are raw kernel ids (`kuid_t.val`), not the kernel crate's
//! `task::Kuid`: a device keeps its owner and group in atomics, which sysfs
//! and the permission checks read without a lock, and `Kuid` cannot live in
//! one; the kernel crate also has no `kgid_t` type nor `in_egroup_p`.

use core::ffi::c_void;
use kernel::{error::to_result, prelude::*};

use crate::abstractions::{ffi, netdev::Rtnl, sock::Sock};

/// `INVALID_UID`/`INVALID_GID` as raw kernel ids.
pub(crate) const INVALID_ID: u32 = u32::MAX;

/// The kernel id of user `uid` in the caller's user namespace, if it maps.
pub(crate) fn make_kuid(uid: u32) -> Option<u32> {
    // SAFETY: Process context; a pure lookup.
    let k = unsafe { ffi::rtun_make_kuid(uid) };
    (k != INVALID_ID).then_some(k)
}

/// The kernel id of group `gid` in the caller's user namespace, if it maps.
pub(crate) fn make_kgid(gid: u32) -> Option<u32> {
    // SAFETY: Process context; a pure lookup.
    let k = unsafe { ffi::rtun_make_kgid(gid) };
    (k != INVALID_ID).then_some(k)
}

/// A kernel uid as the caller's user namespace sees it (`from_kuid_munged`),
/// or `None` when it is unset.
pub(crate) fn uid_seen(kuid: u32) -> Option<u32> {
    // SAFETY: Process context; a pure lookup.
    (kuid != INVALID_ID).then(|| unsafe { ffi::rtun_from_kuid_munged(kuid) })
}

/// As [`uid_seen`], for a kernel gid.
pub(crate) fn gid_seen(kgid: u32) -> Option<u32> {
    // SAFETY: Process context; a pure lookup.
    (kgid != INVALID_ID).then(|| unsafe { ffi::rtun_from_kgid_munged(kgid) })
}

pub(crate) fn euid_is(kuid: u32) -> bool {
    // SAFETY: Process context; reads the current credentials.
    unsafe { ffi::rtun_current_euid_is(kuid) }
}

pub(crate) fn in_egroup(kgid: u32) -> bool {
    // SAFETY: Process context; reads the current credentials.
    unsafe { ffi::rtun_current_in_egroup(kgid) }
}

/// CAP_NET_ADMIN in the initial user namespace (`capable()`).
pub(crate) fn capable_net_admin() -> bool {
    // SAFETY: Process context; reads the current credentials.
    unsafe { ffi::rtun_capable_net_admin() }
}

/// `security_tun_dev_create()`: may the caller create a device?
pub(crate) fn may_create() -> Result {
    // SAFETY: Process context.
    to_result(unsafe { ffi::rtun_security_create() })
}

/// A device's LSM blob (`security_tun_dev_alloc_security`), freed on drop.
///
/// # Invariants
/// The pointer is the blob `security_tun_dev_alloc_security` gave, owned by
/// this value and freed only in `drop`: null when no LSM asked for a tun blob
/// (no hook then reads it, and `kfree(NULL)` does nothing).
pub(crate) struct LsmBlob(*mut c_void);

// SAFETY: The blob is the LSM's; its hooks may be called from any process context.
unsafe impl Send for LsmBlob {}
// SAFETY: `&LsmBlob` only passes the blob to the LSM's tun hooks, and each
// method that does takes an `&Rtnl`: RTNL serialises them all, so the one
// that writes the blob (SELinux's `tun_dev_open` stores the opener's sid)
// never runs beside another, as in tun.
unsafe impl Sync for LsmBlob {}

impl LsmBlob {
    pub(crate) fn new() -> Result<Self> {
        let mut p = core::ptr::null_mut();
        // SAFETY: Process context; `p` receives the blob (or stays null).
        to_result(unsafe { ffi::rtun_security_alloc(&mut p) })?;
        // INVARIANT: The allocation succeeded: `p` is its blob (or null), and
        // nothing else frees it.
        Ok(LsmBlob(p))
    }

    /// `security_tun_dev_open()`: may the caller attach to the existing device?
    pub(crate) fn may_open(&self, _rtnl: &Rtnl) -> Result {
        // SAFETY: The blob is live while `self` is.
        to_result(unsafe { ffi::rtun_security_open(self.0) })
    }

    /// `security_tun_dev_attach()`: a queue joins the device; the LSM labels
    /// the queue's socket (tun_attach).
    pub(crate) fn attach(&self, sock: &Sock, _rtnl: &Rtnl) -> Result {
        // SAFETY: The blob is live while `self` is, the sock while `sock` is.
        to_result(unsafe { ffi::rtun_security_attach(sock.as_ptr(), self.0) })
    }

    /// `security_tun_dev_attach_queue()`: may the caller re-enable a queue?
    pub(crate) fn may_attach_queue(&self, _rtnl: &Rtnl) -> Result {
        // SAFETY: The blob is live while `self` is.
        to_result(unsafe { ffi::rtun_security_attach_queue(self.0) })
    }
}

impl Drop for LsmBlob {
    fn drop(&mut self) {
        // SAFETY: Allocated in `new`, freed once.
        unsafe { ffi::rtun_security_free(self.0) }
    }
}
