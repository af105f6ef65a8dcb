//! Errors, hex and small syscall helpers.

use std::io;

/// The errno name scripts match on.
pub fn errno_name(e: i32) -> String {
    let n = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::ENOSYS => "ENOSYS",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENOBUFS => "ENOBUFS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EBADFD => "EBADFD",
        libc::ENETDOWN => "ENETDOWN",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENOTSOCK => "ENOTSOCK",
        _ => return format!("E{e}"),
    };
    n.to_string()
}

pub fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s: String = s.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
    if s.len() % 2 != 0 {
        return Err(format!("odd number of hex digits in '{s}'"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex '{}'", &s[i..i + 2])))
        .collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let v = parse_hex(s)?;
    v.try_into().map_err(|_| format!("'{s}' is not a MAC address"))
}

/// `ioctl(fd, req, arg)`, as a Result with the errno.
pub fn ioctl<T>(fd: i32, req: u64, arg: *mut T) -> Result<i32, i32> {
    // SAFETY: The caller passes an argument of the layout `req` expects.
    let r = unsafe { libc::ioctl(fd, req as _, arg) };
    if r < 0 { Err(last_errno()) } else { Ok(r) }
}

/// `ioctl(fd, req, value)` for commands that take their argument by value.
pub fn ioctl_val(fd: i32, req: u64, val: libc::c_ulong) -> Result<i32, i32> {
    // SAFETY: These commands take an integer, not a pointer.
    let r = unsafe { libc::ioctl(fd, req as _, val) };
    if r < 0 { Err(last_errno()) } else { Ok(r) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(parse_hex("00ff10").unwrap(), vec![0, 255, 16]);
        assert_eq!(parse_hex("02:00:00:00:00:01").unwrap().len(), 6);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert_eq!(to_hex(&[1, 0xab]), "01ab");
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(libc::EFAULT), "EFAULT");
        assert_eq!(errno_name(9999), "E9999");
    }
}
