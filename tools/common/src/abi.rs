// SPDX-License-Identifier: GPL-2.0
//! tun's ioctl ABI (include/uapi/linux/if_tun.h, x86-64): the command numbers,
//! the socket ioctls tun also answers on its character device, the `IFF_*`
//! and `TUN_F_*` flags, and `struct ifreq`.
//!
//! The numbers are `u64`, the type of libc's `SIOC*` constants, so both go to
//! the same wrappers ([`crate::sys::ioctl`]); they all fit in 32 bits (the
//! kernel's `unsigned int cmd`).

/// `_IOC(dir, 'T', nr, size)`.
const fn ioc(dir: u64, nr: u64, size: u64) -> u64 {
    (dir << 30) | (size << 16) | ((b'T' as u64) << 8) | nr
}

pub const TUNSETNOCSUM: u64 = ioc(1, 200, 4);
pub const TUNSETDEBUG: u64 = ioc(1, 201, 4);
pub const TUNSETIFF: u64 = ioc(1, 202, 4);
pub const TUNSETPERSIST: u64 = ioc(1, 203, 4);
pub const TUNSETOWNER: u64 = ioc(1, 204, 4);
pub const TUNSETLINK: u64 = ioc(1, 205, 4);
pub const TUNSETGROUP: u64 = ioc(1, 206, 4);
pub const TUNGETFEATURES: u64 = ioc(2, 207, 4);
pub const TUNSETOFFLOAD: u64 = ioc(1, 208, 4);
pub const TUNSETTXFILTER: u64 = ioc(1, 209, 4);
pub const TUNGETIFF: u64 = ioc(2, 210, 4);
pub const TUNGETSNDBUF: u64 = ioc(2, 211, 4);
pub const TUNSETSNDBUF: u64 = ioc(1, 212, 4);
pub const TUNATTACHFILTER: u64 = ioc(1, 213, 16);
pub const TUNDETACHFILTER: u64 = ioc(1, 214, 16);
pub const TUNGETVNETHDRSZ: u64 = ioc(2, 215, 4);
pub const TUNSETVNETHDRSZ: u64 = ioc(1, 216, 4);
pub const TUNSETQUEUE: u64 = ioc(1, 217, 4);
pub const TUNSETIFINDEX: u64 = ioc(1, 218, 4);
pub const TUNGETFILTER: u64 = ioc(2, 219, 16);
pub const TUNSETVNETLE: u64 = ioc(1, 220, 4);
pub const TUNGETVNETLE: u64 = ioc(2, 221, 4);
pub const TUNSETVNETBE: u64 = ioc(1, 222, 4);
pub const TUNGETVNETBE: u64 = ioc(2, 223, 4);
pub const TUNSETSTEERINGEBPF: u64 = ioc(2, 224, 4);
pub const TUNSETFILTEREBPF: u64 = ioc(2, 225, 4);
pub const TUNSETCARRIER: u64 = ioc(1, 226, 4);
pub const TUNGETDEVNETNS: u64 = ioc(0, 227, 0);

/// Socket ioctls tun also answers on its character device.
pub const SIOCSIFHWADDR: u64 = 0x8924;
pub const SIOCGIFHWADDR: u64 = 0x8927;
pub const SIOCGSKNS: u64 = 0x894c;

pub const IFF_TUN: u16 = 0x0001;
pub const IFF_TAP: u16 = 0x0002;
pub const IFF_NAPI: u16 = 0x0010;
pub const IFF_NAPI_FRAGS: u16 = 0x0020;
pub const IFF_NO_CARRIER: u16 = 0x0040;
/// New in 7.3: stop the queue instead of dropping when the ring is full.
pub const IFF_BACKPRESSURE: u16 = 0x0080;
pub const IFF_MULTI_QUEUE: u16 = 0x0100;
pub const IFF_ATTACH_QUEUE: u16 = 0x0200;
pub const IFF_DETACH_QUEUE: u16 = 0x0400;
pub const IFF_PERSIST: u16 = 0x0800;
pub const IFF_NO_PI: u16 = 0x1000;
pub const IFF_ONE_QUEUE: u16 = 0x2000;
pub const IFF_VNET_HDR: u16 = 0x4000;
pub const IFF_TUN_EXCL: u16 = 0x8000;

pub const TUN_F_CSUM: u32 = 0x01;
pub const TUN_F_TSO4: u32 = 0x02;
pub const TUN_F_UDP_TUNNEL_GSO: u32 = 0x080;

/// `struct tun_filter`'s flag: accept all multicast.
pub const TUN_FLT_ALLMULTI: u16 = 0x0001;

/// `struct ifreq`: a 16-byte name, then the 24-byte union (`short ifr_flags`,
/// `int ifr_ifindex`/`ifr_qlen`, `struct sockaddr ifr_addr`, ...).
#[repr(C)]
pub struct IfReq {
    pub name: [u8; 16],
    pub data: [u8; 24],
}

impl IfReq {
    /// `name` (cut to 15 bytes, NUL-terminated) and `ifr_flags`.
    pub fn new(name: &str, flags: u16) -> IfReq {
        let mut r = IfReq {
            name: [0; 16],
            data: [0; 24],
        };
        for (d, s) in r.name.iter_mut().zip(name.bytes().take(15)) {
            *d = s;
        }
        r.set_flags(flags);
        r
    }

    /// `name` and an int in the union (`ifr_qlen`, `ifr_ifindex`, ...).
    pub fn with_int(name: &str, v: i32) -> IfReq {
        let mut r = IfReq::new(name, 0);
        r.data[..4].copy_from_slice(&v.to_ne_bytes());
        r
    }

    /// `name` and a `struct sockaddr_in` (AF_INET, port 0) in the union.
    pub fn with_inet(name: &str, a: [u8; 4]) -> IfReq {
        let mut r = IfReq::new(name, 0);
        r.data[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        r.data[4..8].copy_from_slice(&a);
        r
    }

    /// `name` and a pointer in the union (`ifr_data`: `SIOCETHTOOL`'s
    /// command block).
    pub fn with_ptr(name: &str, p: *mut libc::c_void) -> IfReq {
        let mut r = IfReq::new(name, 0);
        r.data[..std::mem::size_of::<usize>()].copy_from_slice(&(p as usize).to_ne_bytes());
        r
    }

    /// The name, up to its NUL.
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    /// `ifr_flags`.
    pub fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.data[0], self.data[1]])
    }

    pub fn set_flags(&mut self, flags: u16) {
        self.data[..2].copy_from_slice(&flags.to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_header() {
        assert_eq!(TUNSETIFF, 0x400454ca);
        assert_eq!(TUNGETIFF, 0x800454d2);
        assert_eq!(TUNATTACHFILTER, 0x401054d5);
        assert_eq!(TUNDETACHFILTER, 0x401054d6);
        assert_eq!(TUNSETFILTEREBPF, 0x800454e1);
        assert_eq!(TUNSETSTEERINGEBPF, 0x800454e0);
        assert_eq!(TUNGETVNETHDRSZ, 0x800454d7);
        assert_eq!(TUNSETVNETHDRSZ, 0x400454d8);
        assert_eq!(TUNSETQUEUE, 0x400454d9);
        assert_eq!(TUNSETIFINDEX, 0x400454da);
        assert_eq!(TUNGETFILTER, 0x801054db);
        assert_eq!(TUNSETVNETBE, 0x400454de);
        assert_eq!(TUNSETCARRIER, 0x400454e2);
        assert_eq!(TUNGETDEVNETNS, 0x54e3);
        assert_eq!(SIOCSIFHWADDR, libc::SIOCSIFHWADDR);
        assert_eq!(SIOCGIFHWADDR, libc::SIOCGIFHWADDR);
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        assert_eq!(
            std::mem::size_of::<IfReq>(),
            std::mem::size_of::<libc::ifreq>()
        );
    }

    #[test]
    fn ifreq_name_is_truncated_and_terminated() {
        let r = IfReq::new("a-very-long-interface-name", IFF_TAP);
        assert_eq!(r.name(), "a-very-long-int");
        assert_eq!(r.name[15], 0);
        assert_eq!(r.flags(), IFF_TAP);
    }

    #[test]
    fn ifreq_union() {
        let r = IfReq::new("rt0", IFF_TUN | IFF_NO_PI);
        assert_eq!(&r.data[..2], &(IFF_TUN | IFF_NO_PI).to_ne_bytes());
        assert!(r.data[2..].iter().all(|&b| b == 0));
        let r = IfReq::with_int("rt0", 500);
        assert_eq!(&r.data[..4], &500i32.to_ne_bytes());
        let r = IfReq::with_inet("rt0", [10, 0, 0, 1]);
        assert_eq!(
            u16::from_ne_bytes([r.data[0], r.data[1]]),
            libc::AF_INET as u16
        );
        assert_eq!(&r.data[2..8], &[0, 0, 10, 0, 0, 1]);
        let mut x = 0u8;
        let p: *mut u8 = &mut x;
        let r = IfReq::with_ptr("rt0", p.cast());
        assert_eq!(&r.data[..8], &(p as usize).to_ne_bytes());
        assert!(r.data[8..].iter().all(|&b| b == 0));
    }
}
