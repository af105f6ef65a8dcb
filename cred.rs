// SPDX-License-Identifier: GPL-2.0
//! The calling task's credentials, as TUNSETOWNER/TUNSETGROUP and the attach
//! permission check need them. Ids are raw kernel ids (`kuid_t.val`).

use crate::{device::INVALID_ID, shim};

/// The kernel id of user `uid` in the caller's user namespace, if it maps.
pub(crate) fn make_kuid(uid: u32) -> Option<u32> {
    // SAFETY: Process context; a pure lookup.
    let k = unsafe { shim::rtun_make_kuid(uid) };
    (k != INVALID_ID).then_some(k)
}

/// The kernel id of group `gid` in the caller's user namespace, if it maps.
pub(crate) fn make_kgid(gid: u32) -> Option<u32> {
    // SAFETY: Process context; a pure lookup.
    let k = unsafe { shim::rtun_make_kgid(gid) };
    (k != INVALID_ID).then_some(k)
}

pub(crate) fn euid_is(kuid: u32) -> bool {
    // SAFETY: Process context; reads the current credentials.
    unsafe { shim::rtun_current_euid_is(kuid) }
}

pub(crate) fn in_egroup(kgid: u32) -> bool {
    // SAFETY: Process context; reads the current credentials.
    unsafe { shim::rtun_current_in_egroup(kgid) }
}
