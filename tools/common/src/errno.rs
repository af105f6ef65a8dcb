// SPDX-License-Identifier: GPL-2.0
//! [`Errno`]: how a failed system call comes back to the tools, and the
//! names they print for it.

use std::{fmt, io};

/// Errno numbers (x86-64/generic) and their names, as scripts, reports and
/// rtunfuzz's errno table write them. A number without a name here prints as
/// `E<number>`.
pub const ERRNO_NAMES: &[(i32, &str)] = &[
    (libc::EPERM, "EPERM"),
    (libc::ENOENT, "ENOENT"),
    (libc::ESRCH, "ESRCH"),
    (libc::EINTR, "EINTR"),
    (libc::EIO, "EIO"),
    (libc::ENXIO, "ENXIO"),
    (libc::E2BIG, "E2BIG"),
    (libc::EBADF, "EBADF"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EACCES, "EACCES"),
    (libc::EFAULT, "EFAULT"),
    (libc::EBUSY, "EBUSY"),
    (libc::EEXIST, "EEXIST"),
    (libc::EXDEV, "EXDEV"),
    (libc::ENODEV, "ENODEV"),
    (libc::EINVAL, "EINVAL"),
    (libc::ENFILE, "ENFILE"),
    (libc::EMFILE, "EMFILE"),
    (libc::ENOTTY, "ENOTTY"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::ERANGE, "ERANGE"),
    (libc::ENOSYS, "ENOSYS"),
    (libc::EOVERFLOW, "EOVERFLOW"),
    (libc::EBADFD, "EBADFD"),
    (libc::ENOTSOCK, "ENOTSOCK"),
    (libc::EMSGSIZE, "EMSGSIZE"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::ENETDOWN, "ENETDOWN"),
    (libc::ENETUNREACH, "ENETUNREACH"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
];

/// An errno value: why a system call failed.
///
/// Displays as its name (`EINVAL`), or `E<number>` for one that
/// [`ERRNO_NAMES`] does not name: the form every tool prints.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// The errno the last failed call of this thread left.
    pub fn last() -> Errno {
        Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The name, if [`ERRNO_NAMES`] has it.
    pub fn name(self) -> Option<&'static str> {
        ERRNO_NAMES
            .iter()
            .find(|(n, _)| *n == self.0)
            .map(|(_, s)| *s)
    }

    /// A system call's return value: `Err(Errno::last())` if it is negative
    /// (the call failed and set errno), else the value.
    pub fn result<T: SysRet>(r: T) -> Result<T, Errno> {
        if r.failed() {
            Err(Errno::last())
        } else {
            Ok(r)
        }
    }

    /// A value in the kernel's own encoding, minus the errno on failure (an
    /// io_uring completion's `res`, a netlink ack's error): the value, or
    /// the errno.
    pub fn from_negative(r: i32) -> Result<i32, Errno> {
        if r < 0 {
            Err(Errno(r.wrapping_neg()))
        } else {
            Ok(r)
        }
    }
}

/// A system call's return type: negative is a failure, with errno set.
pub trait SysRet: Copy {
    fn failed(self) -> bool;
}

impl SysRet for i32 {
    fn failed(self) -> bool {
        self < 0
    }
}

impl SysRet for i64 {
    fn failed(self) -> bool {
        self < 0
    }
}

impl SysRet for isize {
    fn failed(self) -> bool {
        self < 0
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "E{}", self.0),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Errno({self})")
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for io::Error {
    fn from(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.0)
    }
}

impl From<io::Error> for Errno {
    /// The OS error of `e`; EIO for an error that did not come from a
    /// system call.
    fn from(e: io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Errno(libc::EFAULT).to_string(), "EFAULT");
        assert_eq!(Errno(libc::EBADFD).to_string(), "EBADFD");
        assert_eq!(Errno(libc::ENETUNREACH).to_string(), "ENETUNREACH");
        assert_eq!(Errno(9999).to_string(), "E9999");
        assert_eq!(format!("{:?}", Errno(libc::EINVAL)), "Errno(EINVAL)");
        assert_eq!(Errno(0).name(), None);
    }

    #[test]
    fn names_are_unique_and_spelled_as_their_constant() {
        let mut seen = std::collections::BTreeSet::new();
        for (n, s) in ERRNO_NAMES {
            assert!(seen.insert(*n), "{s} twice");
            assert!(s.starts_with('E'), "{s}");
        }
    }

    #[test]
    fn results_of_system_calls() {
        // SAFETY: close(2) of an fd that is not open.
        let r = Errno::result(unsafe { libc::close(-1) });
        assert_eq!(r, Err(Errno(libc::EBADF)));
        assert_eq!(Errno::result(7isize), Ok(7));
        assert_eq!(Errno::result(0i64), Ok(0));
        assert_eq!(
            Errno::from_negative(-libc::EAGAIN),
            Err(Errno(libc::EAGAIN))
        );
        assert_eq!(Errno::from_negative(60), Ok(60));
    }

    #[test]
    fn io_errors() {
        let e: io::Error = Errno(libc::ENOENT).into();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(Errno::from(e), Errno(libc::ENOENT));
        assert_eq!(Errno::from(io::Error::other("no errno")), Errno(libc::EIO));
    }
}
