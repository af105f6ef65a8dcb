// SPDX-License-Identifier: GPL-2.0
//! The ioctl wrappers, an owned fd, and the small syscalls more than one
//! tool makes; each failure is an [`Errno`].

use std::ffi::CString;

use crate::Errno;

/// `ioctl(fd, req, arg)` with a pointer to `arg`, which must have the layout
/// (and at least the size) that `req` reads and writes: a `struct ifreq`
/// ([`crate::abi::IfReq`]), an int, a byte buffer.
pub fn ioctl<T: ?Sized>(fd: i32, req: u64, arg: &mut T) -> Result<i32, Errno> {
    let p: *mut T = arg;
    // SAFETY: `p` points at `arg`, live and writable across the call, of the
    // layout `req` expects (the caller's side of the contract above).
    Errno::result(unsafe { libc::ioctl(fd, req as _, p.cast::<libc::c_void>()) })
}

/// `ioctl(fd, req, value)` for commands that take their argument by value.
pub fn ioctl_val(fd: i32, req: u64, val: libc::c_ulong) -> Result<i32, Errno> {
    // SAFETY: These commands take an integer, not a pointer.
    Errno::result(unsafe { libc::ioctl(fd, req as _, val) })
}

/// An owned file descriptor, closed on drop (a negative one is not closed).
pub struct Fd(pub i32);

impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: We own the descriptor.
            unsafe { libc::close(self.0) };
        }
    }
}

/// `frame` cut into iovecs of the lengths `cuts`, for writev(); the last
/// one takes the rest (a cut past the end is an empty segment). The iovecs
/// point into `frame`, which must outlive their use.
pub fn iovecs_cut(frame: &[u8], cuts: &[usize]) -> Vec<libc::iovec> {
    let mut iov = Vec::new();
    let mut at = 0;
    for &n in cuts {
        let n = n.min(frame.len() - at);
        iov.push(libc::iovec {
            iov_base: frame[at..].as_ptr().cast_mut().cast(),
            iov_len: n,
        });
        at += n;
    }
    iov.push(libc::iovec {
        iov_base: frame[at..].as_ptr().cast_mut().cast(),
        iov_len: frame.len() - at,
    });
    iov
}

/// Opens a device node (`/dev/net/tun`, `/dev/net/rtun`) with
/// `O_RDWR | O_CLOEXEC | extra`; the fd, or the errno.
pub fn open_dev(path: &str, extra: i32) -> Result<i32, Errno> {
    let c = CString::new(path).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: A valid C string.
    Errno::result(unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC | extra) })
}

/// Sets or clears O_NONBLOCK (nothing if F_GETFL fails).
pub fn set_nonblock(fd: i32, on: bool) {
    // SAFETY: fcntl on an fd the caller owns.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 {
            let fl = if on {
                fl | libc::O_NONBLOCK
            } else {
                fl & !libc::O_NONBLOCK
            };
            libc::fcntl(fd, libc::F_SETFL, fl);
        }
    }
}

/// An address range of `len` bytes (at least one page) that is not mapped:
/// the kernel must fail a copy from or to it.
pub fn unmapped_region(len: usize) -> *mut u8 {
    let len = len.max(1);
    // SAFETY: Anonymous mapping, unmapped again right away: the range is invalid.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return 8 as *mut u8;
        }
        libc::munmap(p, len);
        p.cast()
    }
}

/// `rmmod NAME` as kmod does it: delete_module(2) with O_NONBLOCK.
pub fn delete_module(name: &str) -> Result<(), Errno> {
    let c = CString::new(name).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: A valid C string and flags.
    Errno::result(unsafe { libc::syscall(libc::SYS_delete_module, c.as_ptr(), libc::O_NONBLOCK) })
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_errors_come_back_as_errno() {
        assert_eq!(
            ioctl_val(-1, crate::abi::TUNSETPERSIST, 1),
            Err(Errno(libc::EBADF))
        );
        let mut x = 0i32;
        assert_eq!(
            ioctl(-1, crate::abi::TUNGETFEATURES, &mut x),
            Err(Errno(libc::EBADF))
        );
        let mut buf = [0u8; 40];
        assert_eq!(
            ioctl(-1, crate::abi::TUNGETIFF, &mut buf[..]),
            Err(Errno(libc::EBADF))
        );
        assert_eq!(open_dev("/nonexistent/rtun", 0), Err(Errno(libc::ENOENT)));
        assert_eq!(open_dev("bad\0path", 0), Err(Errno(libc::EINVAL)));
        assert_eq!(delete_module("bad\0name"), Err(Errno(libc::EINVAL)));
    }

    #[test]
    fn iovecs_cut_cover_the_frame() {
        let f = [0u8; 10];
        let lens = |cuts: &[usize]| -> Vec<usize> {
            iovecs_cut(&f, cuts).iter().map(|v| v.iov_len).collect()
        };
        assert_eq!(lens(&[]), vec![10]);
        assert_eq!(lens(&[4, 3]), vec![4, 3, 3]);
        assert_eq!(lens(&[4, 20, 1]), vec![4, 6, 0, 0]);
        let iov = iovecs_cut(&f, &[4]);
        assert_eq!(iov[1].iov_base as usize, f.as_ptr() as usize + 4);
    }

    #[test]
    fn unmapped_region_faults() {
        let p = unmapped_region(4096);
        let mut fds = [0i32; 2];
        // SAFETY: A pipe into our array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (_r, w) = (Fd(fds[0]), Fd(fds[1]));
        // write(2) from the unmapped range fails with EFAULT instead of crashing.
        // SAFETY: The kernel checks the pointer.
        let r = unsafe { libc::write(w.0, p.cast(), 16) };
        assert_eq!((r, Errno::last()), (-1, Errno(libc::EFAULT)));
    }
}
