//! tun's ioctl numbers (include/uapi/linux/if_tun.h, x86-64) and the ones the
//! fuzzer never draws because the VFS answers them before the driver.

const fn ioc(dir: u32, nr: u32, size: u32) -> u32 {
    (dir << 30) | (size << 16) | ((b'T' as u32) << 8) | nr
}

pub const TUNSETNOCSUM: u32 = ioc(1, 200, 4);
pub const TUNSETDEBUG: u32 = ioc(1, 201, 4);
pub const TUNSETIFF: u32 = ioc(1, 202, 4);
pub const TUNSETPERSIST: u32 = ioc(1, 203, 4);
pub const TUNSETOWNER: u32 = ioc(1, 204, 4);
pub const TUNSETLINK: u32 = ioc(1, 205, 4);
pub const TUNSETGROUP: u32 = ioc(1, 206, 4);
pub const TUNGETFEATURES: u32 = ioc(2, 207, 4);
pub const TUNSETOFFLOAD: u32 = ioc(1, 208, 4);
pub const TUNSETTXFILTER: u32 = ioc(1, 209, 4);
pub const TUNGETIFF: u32 = ioc(2, 210, 4);
pub const TUNGETSNDBUF: u32 = ioc(2, 211, 4);
pub const TUNSETSNDBUF: u32 = ioc(1, 212, 4);
pub const TUNATTACHFILTER: u32 = ioc(1, 213, 16);
pub const TUNDETACHFILTER: u32 = ioc(1, 214, 16);
pub const TUNGETVNETHDRSZ: u32 = ioc(2, 215, 4);
pub const TUNSETVNETHDRSZ: u32 = ioc(1, 216, 4);
pub const TUNSETQUEUE: u32 = ioc(1, 217, 4);
pub const TUNSETIFINDEX: u32 = ioc(1, 218, 4);
pub const TUNGETFILTER: u32 = ioc(2, 219, 16);
pub const TUNSETVNETLE: u32 = ioc(1, 220, 4);
pub const TUNGETVNETLE: u32 = ioc(2, 221, 4);
pub const TUNSETVNETBE: u32 = ioc(1, 222, 4);
pub const TUNGETVNETBE: u32 = ioc(2, 223, 4);
pub const TUNSETSTEERINGEBPF: u32 = ioc(2, 224, 4);
pub const TUNSETFILTEREBPF: u32 = ioc(2, 225, 4);
pub const TUNSETCARRIER: u32 = ioc(1, 226, 4);
pub const TUNGETDEVNETNS: u32 = ioc(0, 227, 0);
pub const SIOCSIFHWADDR: u32 = 0x8924;
pub const SIOCGIFHWADDR: u32 = 0x8927;
pub const SIOCGSKNS: u32 = 0x894c;

/// How the driver takes the argument.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Arg {
    /// An integer by value.
    Val,
    /// A pointer to an int the driver reads.
    IntIn,
    /// A pointer to an int (or unsigned) the driver writes.
    IntOut,
    /// A pointer to a `struct ifreq` (read, and written back for some).
    Ifreq,
    /// `struct tun_filter` (TUNSETTXFILTER).
    TxFilter,
    /// `struct sock_fprog`.
    Fprog,
}

pub const ALL: &[(u32, &str, Arg)] = &[
    (TUNSETNOCSUM, "TUNSETNOCSUM", Arg::Val),
    (TUNSETDEBUG, "TUNSETDEBUG", Arg::Val),
    (TUNSETIFF, "TUNSETIFF", Arg::Ifreq),
    (TUNSETPERSIST, "TUNSETPERSIST", Arg::Val),
    (TUNSETOWNER, "TUNSETOWNER", Arg::Val),
    (TUNSETLINK, "TUNSETLINK", Arg::Val),
    (TUNSETGROUP, "TUNSETGROUP", Arg::Val),
    (TUNGETFEATURES, "TUNGETFEATURES", Arg::IntOut),
    (TUNSETOFFLOAD, "TUNSETOFFLOAD", Arg::Val),
    (TUNSETTXFILTER, "TUNSETTXFILTER", Arg::TxFilter),
    (TUNGETIFF, "TUNGETIFF", Arg::Ifreq),
    (TUNGETSNDBUF, "TUNGETSNDBUF", Arg::IntOut),
    (TUNSETSNDBUF, "TUNSETSNDBUF", Arg::IntIn),
    (TUNATTACHFILTER, "TUNATTACHFILTER", Arg::Fprog),
    (TUNDETACHFILTER, "TUNDETACHFILTER", Arg::Fprog),
    (TUNGETVNETHDRSZ, "TUNGETVNETHDRSZ", Arg::IntOut),
    (TUNSETVNETHDRSZ, "TUNSETVNETHDRSZ", Arg::IntIn),
    (TUNSETQUEUE, "TUNSETQUEUE", Arg::Ifreq),
    (TUNSETIFINDEX, "TUNSETIFINDEX", Arg::IntIn),
    (TUNGETFILTER, "TUNGETFILTER", Arg::Fprog),
    (TUNSETVNETLE, "TUNSETVNETLE", Arg::IntIn),
    (TUNGETVNETLE, "TUNGETVNETLE", Arg::IntOut),
    (TUNSETVNETBE, "TUNSETVNETBE", Arg::IntIn),
    (TUNGETVNETBE, "TUNGETVNETBE", Arg::IntOut),
    (TUNSETSTEERINGEBPF, "TUNSETSTEERINGEBPF", Arg::IntIn),
    (TUNSETFILTEREBPF, "TUNSETFILTEREBPF", Arg::IntIn),
    (TUNSETCARRIER, "TUNSETCARRIER", Arg::IntIn),
    (TUNGETDEVNETNS, "TUNGETDEVNETNS", Arg::Val),
    (SIOCSIFHWADDR, "SIOCSIFHWADDR", Arg::Ifreq),
    (SIOCGIFHWADDR, "SIOCGIFHWADDR", Arg::Ifreq),
    (SIOCGSKNS, "SIOCGSKNS", Arg::Val),
];

/// Answered by do_vfs_ioctl() (fs/ioctl.c) for every file: FIOCLEX, FIONCLEX,
/// FIONBIO, FIOASYNC, FIOQSIZE, FIFREEZE, FITHAW, FS_IOC_FIEMAP, FIGETBSZ,
/// FICLONE, FICLONERANGE, FIDEDUPERANGE, FS_IOC_GETFLAGS, FS_IOC_SETFLAGS,
/// FS_IOC_FSGETXATTR, FS_IOC_FSSETXATTR, FS_IOC_GETFSUUID, FS_IOC_GETFSSYSFSPATH.
/// Never drawn: they do not reach the driver, and FIONBIO/FIOASYNC would
/// change the fd (blocking reads, SIGIO).
pub const VFS: &[u32] = &[
    0x5451,
    0x5450,
    0x5421,
    0x5452,
    0x5460,
    0xc004_5877,
    0xc004_5878,
    0xc020_660b,
    0x2,
    0x4004_9409,
    0x4020_940d,
    0xc018_9436,
    0x8008_6601,
    0x4008_6602,
    0x801c_581f,
    0x401c_5820,
    0x8011_1500,
    0x8081_1501,
];

/// The errno table's name for an ioctl command.
pub fn call_name(cmd: u32) -> &'static str {
    if let Some((_, n, _)) = ALL.iter().find(|(c, _, _)| *c == cmd) {
        return n;
    }
    if (cmd >> 8) & 0xff == 0x89 {
        "other SIOC*"
    } else {
        "other"
    }
}

pub fn arg_kind(cmd: u32) -> Option<Arg> {
    ALL.iter().find(|(c, _, _)| *c == cmd).map(|(_, _, a)| *a)
}

pub const IFF_TUN: u16 = 0x0001;
pub const IFF_TAP: u16 = 0x0002;
pub const IFF_NAPI: u16 = 0x0010;
pub const IFF_NAPI_FRAGS: u16 = 0x0020;
pub const IFF_NO_CARRIER: u16 = 0x0040;
pub const IFF_BACKPRESSURE: u16 = 0x0080;
pub const IFF_MULTI_QUEUE: u16 = 0x0100;
pub const IFF_ATTACH_QUEUE: u16 = 0x0200;
pub const IFF_DETACH_QUEUE: u16 = 0x0400;
pub const IFF_PERSIST: u16 = 0x0800;
pub const IFF_NO_PI: u16 = 0x1000;
pub const IFF_ONE_QUEUE: u16 = 0x2000;
pub const IFF_VNET_HDR: u16 = 0x4000;
pub const IFF_TUN_EXCL: u16 = 0x8000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_header() {
        assert_eq!(TUNSETIFF, 0x400454ca);
        assert_eq!(TUNGETIFF, 0x800454d2);
        assert_eq!(TUNATTACHFILTER, 0x401054d5);
        assert_eq!(TUNSETFILTEREBPF, 0x800454e1);
        assert_eq!(TUNGETDEVNETNS, 0x54e3);
        assert_eq!(TUNSETCARRIER, 0x400454e2);
    }

    #[test]
    fn names_are_in_the_errno_table() {
        for (c, n, _) in ALL {
            assert!(crate::errnos::known_call(n), "{n}");
            assert_eq!(call_name(*c), *n);
            assert!(!VFS.contains(c));
        }
        assert_eq!(call_name(0x8913), "other SIOC*");
        assert_eq!(call_name(0x54fa), "other");
        assert!(crate::errnos::known_call("other SIOC*"));
    }
}
