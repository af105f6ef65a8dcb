// SPDX-License-Identifier: GPL-2.0
//! Interfaces by name (index, sysfs attributes) and the IPv4 header checksum.

use std::{ffi::CString, io};

use crate::Errno;

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
}
