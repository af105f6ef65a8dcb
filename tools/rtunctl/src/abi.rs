//! tun's ioctl ABI (include/uapi/linux/if_tun.h), as rtunctl uses it.

const fn ioc(dir: u64, nr: u64, size: u64) -> u64 {
    (dir << 30) | (size << 16) | ((b'T' as u64) << 8) | nr
}

pub const TUNSETIFF: u64 = ioc(1, 202, 4);
pub const TUNSETPERSIST: u64 = ioc(1, 203, 4);
pub const TUNSETOWNER: u64 = ioc(1, 204, 4);
pub const TUNSETGROUP: u64 = ioc(1, 206, 4);
pub const TUNGETFEATURES: u64 = ioc(2, 207, 4);
pub const TUNSETOFFLOAD: u64 = ioc(1, 208, 4);
pub const TUNSETTXFILTER: u64 = ioc(1, 209, 4);
pub const TUNGETIFF: u64 = ioc(2, 210, 4);
pub const TUNATTACHFILTER: u64 = ioc(1, 213, 16);
pub const TUNSETQUEUE: u64 = ioc(1, 217, 4);
pub const TUNSETFILTEREBPF: u64 = ioc(2, 225, 4);
pub const TUNSETCARRIER: u64 = ioc(1, 226, 4);

pub const IFF_TUN: u16 = 0x0001;
pub const IFF_TAP: u16 = 0x0002;
pub const IFF_MULTI_QUEUE: u16 = 0x0100;
pub const IFF_ATTACH_QUEUE: u16 = 0x0200;
pub const IFF_DETACH_QUEUE: u16 = 0x0400;
pub const IFF_NO_PI: u16 = 0x1000;
pub const IFF_VNET_HDR: u16 = 0x4000;
pub const TUN_FLT_ALLMULTI: u16 = 0x0001;

/// `struct ifreq`: 16-byte name, then the union (we use `short ifr_flags`).
#[repr(C)]
pub struct IfReq {
    pub name: [u8; 16],
    pub flags: u16,
    pub pad: [u8; 22],
}

impl IfReq {
    pub fn new(name: &str, flags: u16) -> IfReq {
        let mut r = IfReq { name: [0; 16], flags, pad: [0; 22] };
        for (d, s) in r.name.iter_mut().zip(name.bytes().take(15)) {
            *d = s;
        }
        r
    }

    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
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
        assert_eq!(TUNSETFILTEREBPF, 0x800454e1);
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
    }

    #[test]
    fn ifreq_name_is_truncated_and_terminated() {
        let r = IfReq::new("a-very-long-interface-name", IFF_TAP);
        assert_eq!(r.name(), "a-very-long-int");
        assert_eq!(r.name[15], 0);
    }
}
