// SPDX-License-Identifier: GPL-2.0
//! /dev/net/rtun: registration, and the `file_operations` callbacks from
//! rust_tun_shim.c, which forward to queue.rs. The kernel crate's `MiscDevice`
//! has no `poll`, so the table is C and the callbacks are here.

use core::ffi::{c_int, c_long, c_uint, c_ulong, c_void};
use kernel::{
    bindings,
    error::to_result,
    fs::File,
    iov::{IovIterDest, IovIterSource},
    prelude::*,
    sync::{poll::PollTable, Arc},
    types::ForeignOwnable,
};

use crate::{queue::Queue, shim};

/// Registers the rtnl link kind (so rmmod deletes every rtun device) and the
/// misc device; unregisters both on drop.
pub(crate) struct Registration;

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: Module init; the tables are static. debugfs failures are
        // ignored, as everywhere in the kernel.
        unsafe {
            shim::rtun_debugfs_init();
            if let Err(e) = to_result(shim::rtun_link_register()) {
                shim::rtun_debugfs_exit();
                return Err(e);
            }
            if let Err(e) = to_result(shim::rtun_misc_register()) {
                shim::rtun_link_unregister();
                shim::rtun_debugfs_exit();
                return Err(e);
            }
        }
        Ok(Registration)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: Both were registered in `new`. No file is open (the module
        // holds no references then), and unregistering the link kind deletes
        // the remaining, persistent, devices.
        unsafe {
            shim::rtun_misc_deregister();
            shim::rtun_link_unregister();
            shim::rtun_debugfs_exit();
        }
    }
}

/// # Safety
/// `file` is an open rtun file whose `private_data` came from `rtun_fop_open`.
unsafe fn queue<'a>(file: *mut bindings::file) -> kernel::sync::ArcBorrow<'a, Queue> {
    // SAFETY: Per the function's requirements; the file holds the Arc until release.
    unsafe { <Arc<Queue> as ForeignOwnable>::borrow((*file).private_data) }
}

fn ret_size(r: Result<usize>) -> isize {
    match r {
        Ok(n) => isize::try_from(n).unwrap_or(isize::MAX),
        Err(e) => e.to_errno() as isize,
    }
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_open(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    match Queue::new() {
        Ok(q) => {
            // SAFETY: `file` is valid and its private_data is ours to set.
            unsafe { (*file).private_data = q.into_foreign().cast::<c_void>() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: The last user of the file; takes back the Arc stored by open.
    let q = unsafe { <Arc<Queue> as ForeignOwnable>::from_foreign((*file).private_data) };
    Queue::release(q);
    0
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_read_iter(iocb: *mut bindings::kiocb, to: *mut bindings::iov_iter) -> isize {
    // SAFETY: The VFS passes a valid kiocb for an open rtun file and a valid iterator.
    let (q, nonblock, to) = unsafe {
        let file = (*iocb).ki_filp;
        (queue(file), (*file).f_flags & bindings::O_NONBLOCK != 0, IovIterDest::from_raw(to))
    };
    ret_size(q.read(to, nonblock))
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_write_iter(iocb: *mut bindings::kiocb, from: *mut bindings::iov_iter) -> isize {
    // SAFETY: As for read.
    let (q, from) = unsafe { (queue((*iocb).ki_filp), IovIterSource::from_raw(from)) };
    ret_size(q.write(from))
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_poll(file: *mut bindings::file, wait: *mut bindings::poll_table) -> c_uint {
    // SAFETY: The VFS passes an open rtun file and a poll table (or null) valid
    // for this call.
    let (q, f, table) = unsafe { (queue(file), File::from_raw_file(file), PollTable::from_raw(wait)) };
    q.poll(f, table)
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: The VFS passes an open rtun file.
    let q = unsafe { queue(file) };
    match Queue::ioctl(q, cmd, arg as usize) {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}
