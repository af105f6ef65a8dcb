// SPDX-License-Identifier: GPL-2.0
//! The character device's ABI: tun's ioctl numbers, flags and structure layouts
//! (include/uapi/linux/if_tun.h). Pure data, shared with the host-side unit tests.
//! The whole ABI is listed, including commands the driver answers with EINVAL.
#![allow(dead_code)]

// The kernel's own ioctl encoders, so the numbers follow the architecture and
// the argument types' sizes (`struct sock_fprog` differs for 32-bit callers).
// The host build of this file uses an equivalent of the generic encoding.
#[cfg(test)]
use host_ioctl::{_IO, _IOR, _IOW};
#[cfg(not(test))]
use kernel::{
    bindings::sock_fprog,
    ioctl::{_IO, _IOR, _IOW},
};
#[cfg(test)]
#[repr(C)]
struct sock_fprog {
    len: u16,
    filter: *mut u8,
}

#[cfg(test)]
#[allow(non_snake_case)]
mod host_ioctl {
    const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
        (dir << 30) | ((size as u32) << 16) | (ty << 8) | nr
    }
    pub(super) const fn _IO(ty: u32, nr: u32) -> u32 {
        ioc(0, ty, nr, 0)
    }
    pub(super) const fn _IOW<T>(ty: u32, nr: u32) -> u32 {
        ioc(1, ty, nr, core::mem::size_of::<T>())
    }
    pub(super) const fn _IOR<T>(ty: u32, nr: u32) -> u32 {
        ioc(2, ty, nr, core::mem::size_of::<T>())
    }
}

const T: u32 = b'T' as u32;
type Int = core::ffi::c_int;
type UInt = core::ffi::c_uint;

pub(crate) const TUNSETNOCSUM: u32 = _IOW::<Int>(T, 200);
pub(crate) const TUNSETDEBUG: u32 = _IOW::<Int>(T, 201);
pub(crate) const TUNSETIFF: u32 = _IOW::<Int>(T, 202);
pub(crate) const TUNSETPERSIST: u32 = _IOW::<Int>(T, 203);
pub(crate) const TUNSETOWNER: u32 = _IOW::<Int>(T, 204);
pub(crate) const TUNSETLINK: u32 = _IOW::<Int>(T, 205);
pub(crate) const TUNSETGROUP: u32 = _IOW::<Int>(T, 206);
pub(crate) const TUNGETFEATURES: u32 = _IOR::<UInt>(T, 207);
pub(crate) const TUNSETOFFLOAD: u32 = _IOW::<UInt>(T, 208);
pub(crate) const TUNSETTXFILTER: u32 = _IOW::<UInt>(T, 209);
pub(crate) const TUNGETIFF: u32 = _IOR::<UInt>(T, 210);
pub(crate) const TUNGETSNDBUF: u32 = _IOR::<Int>(T, 211);
pub(crate) const TUNSETSNDBUF: u32 = _IOW::<Int>(T, 212);
pub(crate) const TUNATTACHFILTER: u32 = _IOW::<sock_fprog>(T, 213);
pub(crate) const TUNDETACHFILTER: u32 = _IOW::<sock_fprog>(T, 214);
pub(crate) const TUNGETVNETHDRSZ: u32 = _IOR::<Int>(T, 215);
pub(crate) const TUNSETVNETHDRSZ: u32 = _IOW::<Int>(T, 216);
pub(crate) const TUNSETQUEUE: u32 = _IOW::<Int>(T, 217);
pub(crate) const TUNSETIFINDEX: u32 = _IOW::<UInt>(T, 218);
pub(crate) const TUNGETFILTER: u32 = _IOR::<sock_fprog>(T, 219);
pub(crate) const TUNSETVNETLE: u32 = _IOW::<Int>(T, 220);
pub(crate) const TUNGETVNETLE: u32 = _IOR::<Int>(T, 221);
pub(crate) const TUNSETVNETBE: u32 = _IOW::<Int>(T, 222);
pub(crate) const TUNGETVNETBE: u32 = _IOR::<Int>(T, 223);
pub(crate) const TUNSETSTEERINGEBPF: u32 = _IOR::<Int>(T, 224);
pub(crate) const TUNSETFILTEREBPF: u32 = _IOR::<Int>(T, 225);
pub(crate) const TUNSETCARRIER: u32 = _IOW::<Int>(T, 226);
pub(crate) const TUNGETDEVNETNS: u32 = _IO(T, 227);

/// Socket ioctls tun also answers on its file (include/uapi/linux/sockios.h).
pub(crate) const SIOCSIFHWADDR: u32 = 0x8924;
pub(crate) const SIOCGIFHWADDR: u32 = 0x8927;
pub(crate) const SIOCGSKNS: u32 = 0x894c;
/// The `_IOC_TYPE` of socket ioctls, whose argument is a `struct ifreq`.
pub(crate) const SOCK_IOC_TYPE: u32 = 0x89;

pub(crate) const fn ioc_type(cmd: u32) -> u32 {
    (cmd >> 8) & 0xff
}

/// tun's link attributes in `IFLA_INFO_DATA` (uapi `<linux/if_link.h>`).
pub(crate) const IFLA_TUN_OWNER: u16 = 1;
pub(crate) const IFLA_TUN_GROUP: u16 = 2;
pub(crate) const IFLA_TUN_TYPE: u16 = 3;
pub(crate) const IFLA_TUN_PI: u16 = 4;
pub(crate) const IFLA_TUN_VNET_HDR: u16 = 5;
pub(crate) const IFLA_TUN_PERSIST: u16 = 6;
pub(crate) const IFLA_TUN_MULTI_QUEUE: u16 = 7;
pub(crate) const IFLA_TUN_NUM_QUEUES: u16 = 8;
pub(crate) const IFLA_TUN_NUM_DISABLED_QUEUES: u16 = 9;

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

/// Read-only TUNGETIFF flag: this queue has no classic filter attached. It
/// shares its value with IFF_NO_PI, as in tun.
pub(crate) const IFF_NOFILTER: u16 = 0x1000;

/// The per-device feature flags a TUNSETIFF sets (tun's TUN_FEATURES).
pub(crate) const FEATURES: u16 = IFF_NO_PI
    | IFF_ONE_QUEUE
    | IFF_VNET_HDR
    | IFF_MULTI_QUEUE
    | IFF_NAPI
    | IFF_NAPI_FRAGS
    | IFF_BACKPRESSURE;

/// What TUNGETFEATURES reports.
pub(crate) const fn supported_features() -> u32 {
    (FEATURES | IFF_TUN | IFF_TAP | IFF_NO_CARRIER) as u32
}

/// `struct tun_pi` flag: the frame did not fit the reader's buffer.
pub(crate) const TUN_PKT_STRIP: u16 = 0x0001;
/// `struct tun_pi` size.
pub(crate) const PI_LEN: usize = 4;

/// `struct ifreq` layout: a 16-byte name, then a union whose first member we use
/// is `short ifr_flags`.
pub(crate) const IFNAMSIZ: usize = 16;
pub(crate) const IFREQ_LEN: usize = 40;
/// `sizeof(struct compat_ifreq)`: what a 32-bit caller passes.
pub(crate) const COMPAT_IFREQ_LEN: usize = 32;
pub(crate) const IFREQ_FLAGS_OFF: usize = IFNAMSIZ;

/// The device kind asked for by TUNSETIFF.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    Tun,
    Tap,
}

impl Mode {
    /// The kind a new device gets from `ifr_flags`: IFF_TUN wins when both
    /// kinds are asked for, as in tun; `None` when neither is.
    pub(crate) fn from_flags(flags: u16) -> Option<Mode> {
        if flags & IFF_TUN != 0 {
            Some(Mode::Tun)
        } else if flags & IFF_TAP != 0 {
            Some(Mode::Tap)
        } else {
            None
        }
    }

    /// Whether `ifr_flags` let a queue attach to an existing device of this
    /// kind: the device's kind must be among the kinds asked for.
    pub(crate) fn accepts(self, flags: u16) -> bool {
        flags & self.flag() != 0
    }

    pub(crate) fn flag(self) -> u16 {
        match self {
            Mode::Tun => IFF_TUN,
            Mode::Tap => IFF_TAP,
        }
    }

    /// Name template used when TUNSETIFF gives an empty name: tun's
    /// (`tun%d`, `tap%d`) with `as_tun`, else rtun's own.
    pub(crate) fn default_template(self, as_tun: bool) -> &'static [u8] {
        match (self, as_tun) {
            (Mode::Tun, true) => b"tun%d",
            (Mode::Tap, true) => b"tap%d",
            (Mode::Tun, false) => b"rtun%d",
            (Mode::Tap, false) => b"rtap%d",
        }
    }
}

/// The address length a device of ARPHRD `ty` gets from TUNSETLINK (tun's
/// `tun_get_addr_len`).
pub(crate) fn link_addr_len(ty: u16) -> u8 {
    match ty {
        823 | 769 => 16,      // IP6GRE, TUNNEL6: struct in6_addr
        778 | 768 | 776 => 4, // IPGRE, TUNNEL, SIT
        1 => 6,               // ETHER
        804 | 805 => 8,       // IEEE802154(_MONITOR): extended address
        825 => 8,             // 6LOWPAN: EUI-64
        774 | 780 | 6 => 6,   // FDDI, HIPPI, IEEE802 (FC)
        270 => 5,             // ROSE
        0 => 7,               // NETROM: AX.25 address
        773 => 1,             // LOCALTLK
        _ => 0,               // PHONET_PIPE, PPP, NONE and the rest
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

/// A device's debugfs file name: its interface `name` (NUL-terminated), then
/// `@<inum>` for a device outside the initial network namespace, NUL-terminated.
pub(crate) fn debugfs_name(name: &[u8; IFNAMSIZ], inum: Option<u32>) -> [u8; 32] {
    let mut out = [0u8; 32];
    let len = name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(IFNAMSIZ - 1)
        .min(IFNAMSIZ - 1);
    copy_bytes(&mut out[..len], &name[..len]);
    if let Some(mut n) = inum {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        out[len] = b'@';
        copy_bytes(&mut out[len + 1..], &digits[i..]);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn debugfs_names() {
        let mut name = [0u8; IFNAMSIZ];
        name[..5].copy_from_slice(b"rtun0");
        let s = |b: [u8; 32]| {
            String::from_utf8(b.iter().copied().take_while(|&c| c != 0).collect())
                .unwrap_or_default()
        };
        assert_eq!(s(debugfs_name(&name, None)), "rtun0");
        assert_eq!(s(debugfs_name(&name, Some(4026532001))), "rtun0@4026532001");
        assert_eq!(s(debugfs_name(&name, Some(0))), "rtun0@0");
        assert_eq!(s(debugfs_name(&name, Some(u32::MAX))), "rtun0@4294967295");
        let full = [b'x'; IFNAMSIZ];
        let n = debugfs_name(&full, Some(7));
        assert_eq!(s(n), format!("{}@7", "x".repeat(IFNAMSIZ - 1)));
    }
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
        assert_eq!(TUNSETVNETBE, 0x400454de);
        assert_eq!(TUNSETSTEERINGEBPF, 0x800454e0);
        assert_eq!(TUNGETDEVNETNS, 0x54e3);
        assert_eq!(ioc_type(SIOCGIFHWADDR), SOCK_IOC_TYPE);
    }

    #[test]
    fn mode_needs_a_kind() {
        assert_eq!(Mode::from_flags(IFF_TUN | IFF_NO_PI), Some(Mode::Tun));
        assert_eq!(Mode::from_flags(IFF_TAP | IFF_MULTI_QUEUE), Some(Mode::Tap));
        assert_eq!(
            Mode::from_flags(IFF_TUN | IFF_TAP),
            Some(Mode::Tun),
            "TUN wins, as in tun"
        );
        assert_eq!(Mode::from_flags(IFF_NO_PI), None);
        assert!(Mode::Tap.accepts(IFF_TUN | IFF_TAP));
        assert!(!Mode::Tap.accepts(IFF_TUN));
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

    #[test]
    fn link_types_get_tuns_address_lengths() {
        assert_eq!(link_addr_len(1), 6);
        assert_eq!(link_addr_len(0xfffe), 0);
        assert_eq!(link_addr_len(823), 16);
        assert_eq!(link_addr_len(776), 4);
        assert_eq!(link_addr_len(0), 7);
    }
}
