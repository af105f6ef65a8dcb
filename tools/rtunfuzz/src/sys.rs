// SPDX-License-Identifier: GPL-2.0
//! Syscall wrappers and the memory the fuzzer points the kernel at.

use std::ffi::CString;

use rtun_common::{net, Errno};

pub const PAGE: usize = 4096;

pub fn ioctl(fd: i32, cmd: u64, arg: usize) -> Result<i32, Errno> {
    // SAFETY: ioctl with arbitrary arguments: the kernel validates every
    // pointer, and the memory it may write to (the buffers of `Mem`) is ours.
    Errno::result(unsafe { libc::ioctl(fd, cmd as libc::c_ulong, arg as libc::c_ulong) })
}

pub fn open(path: &str) -> Result<i32, Errno> {
    let p = CString::new(path).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: A NUL-terminated path.
    Errno::result(unsafe {
        libc::open(
            p.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })
}

pub fn close(fd: i32) -> Result<i32, Errno> {
    // SAFETY: Closing an fd we own.
    Errno::result(unsafe { libc::close(fd) })
}

/// readv/writev over raw iovecs (which may point anywhere): the byte count.
pub fn rw(fd: i32, write: bool, iov: &[libc::iovec]) -> Result<usize, Errno> {
    // SAFETY: The kernel checks the iovecs' memory.
    let r = unsafe {
        if write {
            libc::writev(fd, iov.as_ptr(), iov.len() as i32)
        } else {
            libc::readv(fd, iov.as_ptr(), iov.len() as i32)
        }
    };
    Errno::result(r).map(|n| n as usize)
}

/// poll(2) of one fd, without waiting: the result and the revents.
pub fn poll(fd: i32, events: i16) -> (Result<i32, Errno>, i16) {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: One pollfd of ours.
    let r = Errno::result(unsafe { libc::poll(&mut p, 1, 0) });
    (r, p.revents)
}

/// The fuzzer's memory: a large readable and writable buffer, a page whose
/// successor is inaccessible (for structures cut by the end of a mapping), and
/// an inaccessible page.
pub struct Mem {
    pub good: *mut u8,
    pub good_len: usize,
    /// First byte of the inaccessible page that follows a writable one.
    pub edge: *mut u8,
    pub none: *mut u8,
}

fn map(len: usize, prot: i32) -> *mut u8 {
    // SAFETY: An anonymous private mapping.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert!(p != libc::MAP_FAILED, "mmap failed");
    p.cast()
}

impl Mem {
    pub fn new(good_len: usize) -> Mem {
        let good = map(good_len, libc::PROT_READ | libc::PROT_WRITE);
        let two = map(2 * PAGE, libc::PROT_READ | libc::PROT_WRITE);
        // SAFETY: The second page of our own mapping.
        unsafe { libc::mprotect(two.add(PAGE).cast(), PAGE, libc::PROT_NONE) };
        let none = map(PAGE, libc::PROT_NONE);
        // SAFETY: Inside `two`.
        Mem {
            good,
            good_len,
            edge: unsafe { two.add(PAGE) },
            none,
        }
    }

    pub fn good(&mut self) -> &mut [u8] {
        // SAFETY: Our mapping, used by one thread; the kernel writes to it only
        // during a syscall, when no reference is alive.
        unsafe { std::slice::from_raw_parts_mut(self.good, self.good_len) }
    }

    /// The last `n` writable bytes before the inaccessible page (n <= PAGE).
    pub fn before_edge(&mut self, n: usize) -> &mut [u8] {
        // SAFETY: The writable page before `edge`.
        unsafe { std::slice::from_raw_parts_mut(self.edge.sub(n), n) }
    }
}

pub fn read_file(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

pub fn sysfs_u64(dev: &str, attr: &str) -> Option<u64> {
    net::sysfs_net(dev, attr).ok()?.parse().ok()
}
