// SPDX-License-Identifier: GPL-2.0
//! /dev/net/rtun: registration, and the `file_operations` callbacks from
//! rust_tun_shim.c, which forward to queue.rs. The kernel crate's `MiscDevice`
//! has no `poll`, so the table is C and the callbacks are here.

use core::{
    ffi::{c_int, c_long, c_uint, c_ulong, c_void},
    sync::atomic::{AtomicBool, Ordering},
};
use kernel::{
    bindings,
    error::to_result,
    iov::{IovIterDest, IovIterSource},
    prelude::*,
    sync::Arc,
    types::ForeignOwnable,
};

use crate::{abstractions::ffi, abstractions::sock::Sock, driver::queue::Queue, logic::ioctl};

/// Registers the rtnl link kind (so rmmod deletes every rtun device) and the
/// misc device; unregisters both on drop.
pub(crate) struct Registration;

impl Registration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: Module init; the tables are static. debugfs failures are
        // ignored, as everywhere in the kernel.
        unsafe {
            to_result(ffi::rtun_wq_init())?;
            ffi::rtun_debugfs_init();
            if let Err(e) = to_result(ffi::rtun_link_register()) {
                ffi::rtun_debugfs_exit();
                ffi::rtun_wq_exit();
                return Err(e);
            }
            if let Err(e) = to_result(ffi::rtun_netdev_notifier_register()) {
                ffi::rtun_link_unregister();
                ffi::rtun_debugfs_exit();
                ffi::rtun_wq_exit();
                return Err(e);
            }
            if let Err(e) = to_result(ffi::rtun_misc_register()) {
                ffi::rtun_netdev_notifier_unregister();
                ffi::rtun_link_unregister();
                ffi::rtun_debugfs_exit();
                ffi::rtun_wq_exit();
                return Err(e);
            }
        }
        Ok(Registration)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Unregistering the link kind deletes the remaining, persistent,
        // devices; what closed files deferred (rcu.rs) runs before the
        // workqueue goes.
        // SAFETY: All were registered in `new`, and no file is open (the
        // module holds no references then).
        unsafe {
            ffi::rtun_misc_deregister();
            ffi::rtun_netdev_notifier_unregister();
            ffi::rtun_link_unregister();
            ffi::rtun_debugfs_exit();
            ffi::rtun_wq_exit();
        }
    }
}

/// A file's SIGIO subscribers (`struct fasync_struct *`), as `fasync_helper`
/// and `kill_fasync` keep them. The list head is in the queue's socket
/// (`socket.wq.fasync_list`), so that the socket's `sk_write_space` can
/// reach it from any context, as tun's reaches `tfile->fasync`.
pub(crate) struct Fasync {
    /// Holds the socket, and with it the list head.
    sock: Sock,
    /// O_ASYNC is on (tun's TUN_FASYNC).
    on: AtomicBool,
}

impl Fasync {
    pub(crate) fn new(sock: Sock) -> Self {
        Fasync {
            sock,
            on: AtomicBool::new(false),
        }
    }

    /// Sends SIGIO to the subscribers, if O_ASYNC is on: POLL_OUT when
    /// `writable`, else POLL_IN. Any context.
    #[inline(always)]
    pub(crate) fn notify(&self, writable: bool) {
        if self.on.load(Ordering::Relaxed) {
            // SAFETY: `kill_fasync` reads the list under RCU; it may be null.
            // The socket, which holds it, lives while `self.sock` does.
            unsafe { ffi::rtun_kill_fasync(self.sock.fasync_list(), writable) }
        }
    }

    /// tun's `tun_chr_fasync`.
    ///
    /// # Safety
    /// `file` is the open file this list belongs to.
    unsafe fn set(&self, fd: c_int, file: *mut bindings::file, on: bool) -> Result {
        // SAFETY: Per the function's requirements; process context.
        unsafe {
            if on {
                to_result(ffi::file_f_owner_allocate(file))?;
            }
            let ret = ffi::fasync_helper(fd, file, c_int::from(on), self.sock.fasync_list());
            if ret < 0 {
                return to_result(ret);
            }
            if on {
                ffi::__f_setown(
                    file,
                    ffi::rtun_current_tgid(),
                    bindings::pid_type_PIDTYPE_TGID,
                    0,
                );
            }
        }
        self.on.store(on, Ordering::Relaxed);
        Ok(())
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
unsafe extern "C" fn rtun_fop_open(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    match Queue::new() {
        Ok(q) => {
            // Read and write honour IOCB_NOWAIT (below), so the file says so
            // (FMODE_NOWAIT), as tun's does: RWF_NOWAIT is accepted, and
            // io_uring polls the file instead of blocking in a read.
            // SAFETY: `file` is valid and being opened: its private_data and
            // f_mode are ours to set, and nothing else uses it yet.
            unsafe {
                (*file).private_data = q.into_foreign().cast::<c_void>();
                ffi::rtun_file_set_nowait(file);
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: The last user of the file; takes back the Arc stored by open.
    let q = unsafe { <Arc<Queue> as ForeignOwnable>::from_foreign((*file).private_data) };
    Queue::release(q);
    0
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_read_iter(
    iocb: *mut bindings::kiocb,
    to: *mut bindings::iov_iter,
) -> isize {
    // As tun's, reads do not wait with O_NONBLOCK or IOCB_NOWAIT.
    // SAFETY: The VFS passes a valid kiocb for an open rtun file and a valid iterator.
    let (q, nonblock, to) = unsafe {
        let file = (*iocb).ki_filp;
        let nonblock = (*file).f_flags & bindings::O_NONBLOCK != 0 || ffi::rtun_iocb_nowait(iocb);
        (queue(file), nonblock, IovIterDest::from_raw(to))
    };
    ret_size(q.read(to, nonblock))
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_write_iter(
    iocb: *mut bindings::kiocb,
    from: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: As for read. tun's writes do not wait with O_NONBLOCK or
    // IOCB_NOWAIT.
    let (q, nonblock, from) = unsafe {
        let file = (*iocb).ki_filp;
        let nonblock = (*file).f_flags & bindings::O_NONBLOCK != 0 || ffi::rtun_iocb_nowait(iocb);
        (queue(file), nonblock, IovIterSource::from_raw(from))
    };
    ret_size(q.write(from, nonblock))
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_poll(
    file: *mut bindings::file,
    wait: *mut bindings::poll_table,
) -> c_uint {
    // SAFETY: The VFS passes an open rtun file and a poll table (or null) valid
    // for this call.
    let (q, poll) = unsafe {
        (
            queue(file),
            crate::abstractions::sync::PollCtx::from_raw(file, wait),
        )
    };
    q.poll(&poll)
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_ioctl(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: The VFS passes an open rtun file.
    let q = unsafe { queue(file) };
    match Queue::ioctl(q, cmd, arg as usize, ioctl::IFREQ_LEN) {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

// `rtun_fop_compat_ioctl` takes a 32-bit caller's pointer as it is, which is
// what `compat_ptr()` does on x86_64; rtun is not built for other compat ABIs.
#[cfg(all(CONFIG_COMPAT, not(CONFIG_X86_64)))]
compile_error!("rtun supports CONFIG_COMPAT only on x86_64: its compat_ioctl uses a 32-bit caller's pointer as is, which compat_ptr() does there (s390 masks the top bit)");

/// A 32-bit caller: tun passes every argument as a 32-bit value (user pointers
/// included, which `compat_ptr` leaves as they are on x86_64, the only compat
/// configuration rtun builds for) and reads a `struct compat_ifreq`, whose
/// fields tun uses are laid out the same.
#[no_mangle]
unsafe extern "C" fn rtun_fop_compat_ioctl(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: The VFS passes an open rtun file.
    let q = unsafe { queue(file) };
    match Queue::ioctl(q, cmd, arg as u32 as usize, ioctl::COMPAT_IFREQ_LEN) {
        Ok(v) => v as c_long,
        Err(e) => e.to_errno() as c_long,
    }
}

#[no_mangle]
unsafe extern "C" fn rtun_fop_fasync(fd: c_int, file: *mut bindings::file, on: c_int) -> c_int {
    // SAFETY: The VFS passes an open rtun file.
    let q = unsafe { queue(file) };
    // SAFETY: `file` is the queue's own file.
    match unsafe { q.fasync().set(fd, file, on != 0) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `/proc/<pid>/fdinfo/<fd>`: the `iff:` line tun prints, which `ip tuntap`
/// reads to tell which process holds which device.
#[no_mangle]
unsafe extern "C" fn rtun_fop_show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
    // SAFETY: The VFS passes a seq_file and an open rtun file for this call.
    let (seq, q) = unsafe { (kernel::seq_file::SeqFile::from_raw(m), queue(file)) };
    let name = q.iff_name();
    let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    let name = core::str::from_utf8(&name[..len]).unwrap_or("");
    kernel::seq_print!(seq, "iff:\t{}\n", name);
}
