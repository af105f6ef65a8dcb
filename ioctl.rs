// SPDX-License-Identifier: GPL-2.0
//! The character device's ABI: tun's ioctl numbers, flags and structure layouts
//! (include/uapi/linux/if_tun.h). Pure data, shared with the host-side unit tests.
//! The whole ABI is listed, including commands the driver answers with EINVAL.
#![allow(dead_code)]

const fn ioc(dir: u32, nr: u32, size: u32) -> u32 {
    (dir << 30) | (size << 16) | ((b'T' as u32) << 8) | nr
}
const fn iow(nr: u32, size: u32) -> u32 {
    ioc(1, nr, size)
}
const fn ior(nr: u32, size: u32) -> u32 {
    ioc(2, nr, size)
}

/// `sizeof(struct sock_fprog)` on 64-bit kernels.
const SOCK_FPROG_SIZE: u32 = 16;

pub(crate) const TUNSETNOCSUM: u32 = iow(200, 4);
pub(crate) const TUNSETDEBUG: u32 = iow(201, 4);
pub(crate) const TUNSETIFF: u32 = iow(202, 4);
pub(crate) const TUNSETPERSIST: u32 = iow(203, 4);
pub(crate) const TUNSETOWNER: u32 = iow(204, 4);
pub(crate) const TUNSETLINK: u32 = iow(205, 4);
pub(crate) const TUNSETGROUP: u32 = iow(206, 4);
pub(crate) const TUNGETFEATURES: u32 = ior(207, 4);
pub(crate) const TUNSETOFFLOAD: u32 = iow(208, 4);
pub(crate) const TUNSETTXFILTER: u32 = iow(209, 4);
pub(crate) const TUNGETIFF: u32 = ior(210, 4);
pub(crate) const TUNGETSNDBUF: u32 = ior(211, 4);
pub(crate) const TUNSETSNDBUF: u32 = iow(212, 4);
pub(crate) const TUNATTACHFILTER: u32 = iow(213, SOCK_FPROG_SIZE);
pub(crate) const TUNDETACHFILTER: u32 = iow(214, SOCK_FPROG_SIZE);
pub(crate) const TUNGETVNETHDRSZ: u32 = ior(215, 4);
pub(crate) const TUNSETVNETHDRSZ: u32 = iow(216, 4);
pub(crate) const TUNSETQUEUE: u32 = iow(217, 4);
pub(crate) const TUNSETIFINDEX: u32 = iow(218, 4);
pub(crate) const TUNGETFILTER: u32 = ior(219, SOCK_FPROG_SIZE);
pub(crate) const TUNSETVNETLE: u32 = iow(220, 4);
pub(crate) const TUNGETVNETLE: u32 = ior(221, 4);
pub(crate) const TUNSETSTEERINGEBPF: u32 = ior(224, 4);
pub(crate) const TUNSETFILTEREBPF: u32 = ior(225, 4);
pub(crate) const TUNSETCARRIER: u32 = iow(226, 4);

pub(crate) const IFF_TUN: u16 = 0x0001;
pub(crate) const IFF_TAP: u16 = 0x0002;
pub(crate) const IFF_NAPI: u16 = 0x0010;
pub(crate) const IFF_NAPI_FRAGS: u16 = 0x0020;
pub(crate) const IFF_NO_CARRIER: u16 = 0x0040;
pub(crate) const IFF_BACKPRESSURE: u16 = 0x0080;
pub(crate) const IFF_MULTI_QUEUE: u16 = 0x0100;
pub(crate) const IFF_ATTACH_QUEUE: u16 = 0x0200;
pub(crate) const IFF_DETACH_QUEUE: u16 = 0x0400;
pub(crate) const IFF_PERSIST: u16 = 0x0800;
pub(crate) const IFF_NO_PI: u16 = 0x1000;
pub(crate) const IFF_ONE_QUEUE: u16 = 0x2000;
pub(crate) const IFF_VNET_HDR: u16 = 0x4000;
pub(crate) const IFF_TUN_EXCL: u16 = 0x8000;
pub(crate) const TUN_TYPE_MASK: u16 = 0x000f;

/// The per-device feature flags a TUNSETIFF may set (tun's TUN_FEATURES, less
/// NAPI, which this driver does not implement).
pub(crate) const FEATURES: u16 = IFF_NO_PI | IFF_ONE_QUEUE | IFF_VNET_HDR | IFF_MULTI_QUEUE;

/// What TUNGETFEATURES reports.
pub(crate) const fn supported_features() -> u32 {
    (FEATURES | IFF_TUN | IFF_TAP) as u32
}

/// `struct tun_pi` flag: the frame did not fit the reader's buffer.
pub(crate) const TUN_PKT_STRIP: u16 = 0x0001;
/// `struct tun_pi` size.
pub(crate) const PI_LEN: usize = 4;

/// `struct ifreq` layout: a 16-byte name, then a union whose first member we use
/// is `short ifr_flags`.
pub(crate) const IFNAMSIZ: usize = 16;
pub(crate) const IFREQ_LEN: usize = 40;
pub(crate) const IFREQ_FLAGS_OFF: usize = IFNAMSIZ;

/// `sizeof(struct virtio_net_hdr)`, the smallest valid vnet header size.
pub(crate) const VNET_HDR_LEN: usize = 10;

/// The device kind asked for by TUNSETIFF.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Tun,
    Tap,
}

impl Mode {
    /// The kind requested in `ifr_flags`, or `None` if neither or both are set.
    pub(crate) fn from_flags(flags: u16) -> Option<Mode> {
        match flags & TUN_TYPE_MASK {
            IFF_TUN => Some(Mode::Tun),
            IFF_TAP => Some(Mode::Tap),
            _ => None,
        }
    }

    pub(crate) fn flag(self) -> u16 {
        match self {
            Mode::Tun => IFF_TUN,
            Mode::Tap => IFF_TAP,
        }
    }

    /// Name template used when TUNSETIFF gives an empty name.
    pub(crate) fn default_template(self) -> &'static [u8] {
        match self {
            Mode::Tun => b"rtun%d",
            Mode::Tap => b"rtap%d",
        }
    }
}

/// Copies as many bytes as both slices hold; returns the count. Never panics,
/// unlike `copy_from_slice` on mismatched lengths.
pub(crate) fn copy_bytes(dst: &mut [u8], src: &[u8]) -> usize {
    let mut n = 0;
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
        n += 1;
    }
    n
}

/// A copy of user space's `struct ifreq`, as far as TUNSETIFF/TUNGETIFF use it.
#[derive(Clone, Copy)]
pub(crate) struct IfReq {
    pub(crate) raw: [u8; IFREQ_LEN],
}

impl IfReq {
    pub(crate) fn new(raw: [u8; IFREQ_LEN]) -> Self {
        IfReq { raw }
    }

    pub(crate) fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.raw[IFREQ_FLAGS_OFF], self.raw[IFREQ_FLAGS_OFF + 1]])
    }

    pub(crate) fn set_flags(&mut self, flags: u16) {
        copy_bytes(&mut self.raw[IFREQ_FLAGS_OFF..], &flags.to_ne_bytes());
    }

    /// The name as a NUL-terminated buffer (always terminated, even if user space
    /// filled all 16 bytes), and whether it is empty.
    pub(crate) fn name(&self) -> ([u8; IFNAMSIZ], bool) {
        let mut name = [0u8; IFNAMSIZ];
        copy_bytes(&mut name[..IFNAMSIZ - 1], &self.raw);
        (name, name[0] == 0)
    }

    pub(crate) fn set_name(&mut self, name: &[u8]) {
        let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
        self.raw[..IFNAMSIZ].fill(0);
        copy_bytes(&mut self.raw[..IFNAMSIZ - 1], name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_uapi_header() {
        // Values as printed by a C program including <linux/if_tun.h> on x86_64.
        assert_eq!(TUNSETIFF, 0x400454ca);
        assert_eq!(TUNSETPERSIST, 0x400454cb);
        assert_eq!(TUNGETFEATURES, 0x800454cf);
        assert_eq!(TUNGETIFF, 0x800454d2);
        assert_eq!(TUNATTACHFILTER, 0x401054d5);
        assert_eq!(TUNSETQUEUE, 0x400454d9);
        assert_eq!(TUNSETCARRIER, 0x400454e2);
    }

    #[test]
    fn mode_needs_exactly_one_kind() {
        assert_eq!(Mode::from_flags(IFF_TUN | IFF_NO_PI), Some(Mode::Tun));
        assert_eq!(Mode::from_flags(IFF_TAP | IFF_MULTI_QUEUE), Some(Mode::Tap));
        assert_eq!(Mode::from_flags(IFF_TUN | IFF_TAP), None);
        assert_eq!(Mode::from_flags(IFF_NO_PI), None);
    }

    #[test]
    fn ifreq_name_is_always_terminated() {
        let mut raw = [b'x'; IFREQ_LEN];
        raw[IFREQ_FLAGS_OFF..IFREQ_FLAGS_OFF + 2].copy_from_slice(&(IFF_TAP).to_ne_bytes());
        let req = IfReq::new(raw);
        let (name, empty) = req.name();
        assert!(!empty);
        assert_eq!(name[IFNAMSIZ - 1], 0);
        assert_eq!(req.flags(), IFF_TAP);
    }

    #[test]
    fn ifreq_set_name_truncates_and_clears() {
        let mut req = IfReq::new([0xff; IFREQ_LEN]);
        req.set_name(b"rtun0");
        assert_eq!(&req.raw[..6], b"rtun0\0");
        assert!(req.raw[6..IFNAMSIZ].iter().all(|&b| b == 0));
        assert_eq!(req.raw[IFNAMSIZ], 0xff);
    }
}
