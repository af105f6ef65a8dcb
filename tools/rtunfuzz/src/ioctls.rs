// SPDX-License-Identifier: GPL-2.0
//! The ioctls the fuzzer draws, with how each takes its argument (the numbers
//! and flags are rtun_common::abi's, re-exported here), and the ones it never
//! draws because the VFS answers them before the driver.

pub use rtun_common::abi::*;

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

pub const ALL: &[(u64, &str, Arg)] = &[
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
pub const VFS: &[u64] = &[
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
pub fn call_name(cmd: u64) -> &'static str {
    if let Some((_, n, _)) = ALL.iter().find(|(c, _, _)| *c == cmd) {
        return n;
    }
    if (cmd >> 8) & 0xff == 0x89 {
        "other SIOC*"
    } else {
        "other"
    }
}

pub fn arg_kind(cmd: u64) -> Option<Arg> {
    ALL.iter().find(|(c, _, _)| *c == cmd).map(|(_, _, a)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

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
