// SPDX-License-Identifier: GPL-2.0
//! Interfaces by name (index, sysfs attributes), IPv4 socket addresses, one
//! rtnetlink request and its reply, and the IPv4 header checksum.

use std::{ffi::CString, io};

use crate::{sys::Fd, Errno};

/// if_nametoindex(3): the index, or the errno (ENODEV: no such interface; a
/// name with a NUL byte is EINVAL, without a call).
pub fn if_index(name: &str) -> Result<u32, Errno> {
    let c = CString::new(name).map_err(|_| Errno(libc::EINVAL))?;
    // SAFETY: A valid C string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(Errno::last())
    } else {
        Ok(i)
    }
}

/// `/sys/class/net/NAME/FILE`, trimmed.
pub fn sysfs_net(name: &str, file: &str) -> io::Result<String> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/{file}")).map(|s| s.trim().to_string())
}

/// An IPv4 socket address: `a` (in the order it is written, 10.0.0.1 as
/// `[10, 0, 0, 1]`) and `port`.
pub fn sockaddr_in(a: [u8; 4], port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(a),
        },
        sin_zero: [0; 8],
    }
}

/// Sends `msg`, a whole netlink request, to the kernel on a new
/// NETLINK_ROUTE socket, and receives one reply into `reply`: the reply's
/// length (the caller parses it). Err: the step that failed (`"socket"`,
/// `"send"` or `"recv"`) and its errno. The socket is closed on return.
pub fn rtnl_exchange(msg: &[u8], reply: &mut [u8]) -> Result<usize, (&'static str, Errno)> {
    // SAFETY: A plain socket call; the fd, if any, is ours (closed on drop).
    let s = Fd(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    });
    // Each errno below is read before `s` is dropped (closed).
    if s.0 < 0 {
        return Err(("socket", Errno::last()));
    }
    // SAFETY: `sockaddr_nl` is plain data, valid all zeroes.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    // The kernel's address: nl_pid 0.
    sa.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: `msg` and `sa` are valid for the lengths given.
    let r = unsafe {
        libc::sendto(
            s.0,
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if r < 0 {
        return Err(("send", Errno::last()));
    }
    // SAFETY: `reply` is writable for its length.
    let n = unsafe { libc::recv(s.0, reply.as_mut_ptr().cast(), reply.len(), 0) };
    if n < 0 {
        return Err(("recv", Errno::last()));
    }
    Ok(n as usize)
}

/// The Internet checksum (RFC 1071) of `data`, as an IPv4 header carries it:
/// a header that holds its checksum sums to 0.
pub fn ip_checksum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        s += u32::from(w);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_known_header() {
        // The classic example header (Wikipedia, "IPv4 header checksum").
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ip_checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(
            ip_checksum(&h),
            0,
            "a header with its checksum sums to zero"
        );
        // An odd length pads with a zero byte.
        assert_eq!(ip_checksum(&[0x12]), !0x1200);
    }

    #[test]
    fn lookups_of_what_is_not_there() {
        assert_eq!(if_index("no-such-if0"), Err(Errno(libc::ENODEV)));
        assert_eq!(if_index("bad\0name"), Err(Errno(libc::EINVAL)));
        assert!(sysfs_net("no-such-if0", "mtu").is_err());
    }

    #[test]
    fn sockaddr_in_is_in_network_order() {
        let sa = sockaddr_in([10, 0, 0, 1], 9999);
        assert_eq!(sa.sin_family, libc::AF_INET as u16);
        assert_eq!(sa.sin_port.to_ne_bytes(), 9999u16.to_be_bytes());
        assert_eq!(sa.sin_addr.s_addr.to_ne_bytes(), [10, 0, 0, 1]);
    }

    #[test]
    fn rtnl_exchange_gets_the_kernels_answer() {
        // RTM_GETLINK (18) of ifindex 0x7fffffff, with NLM_F_REQUEST | NLM_F_ACK:
        // nlmsghdr (16) + ifinfomsg (16).
        let mut m = [0u8; 32];
        m[0..4].copy_from_slice(&32u32.to_ne_bytes());
        m[4..6].copy_from_slice(&18u16.to_ne_bytes());
        m[6..8].copy_from_slice(&5u16.to_ne_bytes());
        m[20..24].copy_from_slice(&0x7fff_ffffi32.to_ne_bytes());
        let mut reply = [0u8; 1024];
        let Ok(n) = rtnl_exchange(&m, &mut reply) else {
            return; // no rtnetlink here (a sandbox): nothing to test
        };
        // NLMSG_ERROR (2) with -ENODEV: no such interface.
        assert!(n >= 20, "{n}");
        assert_eq!(u16::from_ne_bytes([reply[4], reply[5]]), 2);
        let e = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
        assert_eq!(e, -libc::ENODEV);
    }
}
