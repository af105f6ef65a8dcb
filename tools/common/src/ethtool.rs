// SPDX-License-Identifier: GPL-2.0
//! The read-only ethtool commands through the `SIOCETHTOOL` ioctl: a device's
//! driver (`ethtool -i`) and its named counters (`ethtool -S`). The kernel
//! lets any user run these (`dev_ethtool` asks for `CAP_NET_ADMIN` only for
//! the commands that change something), in the caller's network namespace.

use crate::{abi::IfReq, sys::ioctl, sys::Fd, Errno};

/// `SIOCETHTOOL` (include/uapi/linux/sockios.h).
pub const SIOCETHTOOL: u64 = 0x8946;
/// `ETH_GSTRING_LEN`: each counter name is a NUL-padded field of this size.
pub const ETH_GSTRING_LEN: usize = 32;
const ETHTOOL_GDRVINFO: u32 = 0x03;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSTATS: u32 = 0x1d;
/// `ETH_SS_STATS`: the string set of `ethtool -S`.
const ETH_SS_STATS: u32 = 1;
/// `sizeof(struct ethtool_drvinfo)`: `cmd`, five 32-byte strings, 12 reserved
/// bytes, five `u32` counts.
const DRVINFO_LEN: usize = 196;
/// Room for this many names or values more than the device reported: the
/// kernel writes as many as the device has when it answers, and a device of
/// the same name may have been replaced in between.
const SLACK: usize = 64;

/// What `ETHTOOL_GDRVINFO` reports (`ethtool -i`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrvInfo {
    pub driver: String,
    pub version: String,
    pub bus_info: String,
    /// How many counters `ethtool -S` has.
    pub n_stats: u32,
}

/// A NUL-padded C string field.
fn c_field(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(w)
}

/// A `struct ethtool_drvinfo` as the kernel filled it.
pub fn parse_drvinfo(b: &[u8; DRVINFO_LEN]) -> DrvInfo {
    DrvInfo {
        driver: c_field(&b[4..36]),
        version: c_field(&b[36..68]),
        bus_info: c_field(&b[132..164]),
        // After cmd, the five strings, 12 reserved bytes and n_priv_flags.
        n_stats: u32_at(b, 4 + 5 * 32 + 12 + 4),
    }
}

/// The names in `ETHTOOL_GSTRINGS`' data: `n` NUL-padded fields of
/// [`ETH_GSTRING_LEN`] bytes (fewer if `data` is short).
pub fn parse_gstrings(data: &[u8], n: usize) -> Vec<String> {
    data.chunks_exact(ETH_GSTRING_LEN)
        .take(n)
        .map(c_field)
        .collect()
}

/// A socket to send the ethtool ioctl on.
pub struct Ethtool(Fd);

impl Ethtool {
    /// A datagram socket: AF_INET as ethtool(8) opens, else AF_UNIX (a kernel
    /// without IPv4); both pass `SIOCETHTOOL` on to the device core.
    pub fn open() -> Result<Ethtool, Errno> {
        let mut last = Errno(libc::EAFNOSUPPORT);
        for family in [libc::AF_INET, libc::AF_UNIX] {
            // SAFETY: A plain socket(2) call.
            match Errno::result(unsafe {
                libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
            }) {
                Ok(fd) => return Ok(Ethtool(Fd(fd))),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// `SIOCETHTOOL` on `name` with `buf` as the command block (its first
    /// `u32` is the command), which must be as large as the command writes.
    fn call(&self, name: &str, buf: *mut u8) -> Result<(), Errno> {
        let mut req = IfReq::with_ptr(name, buf.cast());
        ioctl(self.0 .0, SIOCETHTOOL, &mut req).map(|_| ())
    }

    /// `ethtool -i NAME`. ENODEV: no such device; EOPNOTSUPP: a device
    /// whose driver does not say.
    pub fn drvinfo(&self, name: &str) -> Result<DrvInfo, Errno> {
        let mut b = [0u8; DRVINFO_LEN];
        b[..4].copy_from_slice(&ETHTOOL_GDRVINFO.to_ne_bytes());
        self.call(name, b.as_mut_ptr())?;
        Ok(parse_drvinfo(&b))
    }

    /// The counter names of `ethtool -S NAME`; `n` is how many the device
    /// reported ([`DrvInfo::n_stats`]).
    pub fn stat_names(&self, name: &str, n: usize) -> Result<Vec<String>, Errno> {
        // cmd, string_set, len, then the names.
        let mut b = vec![0u8; 12 + (n + SLACK) * ETH_GSTRING_LEN];
        b[..4].copy_from_slice(&ETHTOOL_GSTRINGS.to_ne_bytes());
        b[4..8].copy_from_slice(&ETH_SS_STATS.to_ne_bytes());
        self.call(name, b.as_mut_ptr())?;
        let len = u32_at(&b, 8) as usize;
        if len > n + SLACK {
            // Written past what we can trust: the device changed under us.
            return Err(Errno(libc::EAGAIN));
        }
        Ok(parse_gstrings(&b[12..], len))
    }

    /// The counter values of `ethtool -S NAME`, in the order of
    /// [`Ethtool::stat_names`]; `n` as there.
    pub fn stat_values(&self, name: &str, n: usize) -> Result<Vec<u64>, Errno> {
        // cmd and n_stats in the first u64, then the values.
        let mut b = vec![0u64; 1 + n + SLACK];
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&ETHTOOL_GSTATS.to_ne_bytes());
        b[0] = u64::from_ne_bytes(head);
        self.call(name, b.as_mut_ptr().cast())?;
        let got = u32_at(&b[0].to_ne_bytes(), 4) as usize;
        if got > n + SLACK {
            return Err(Errno(libc::EAGAIN));
        }
        Ok(b[1..1 + got].to_vec())
    }

    /// `ethtool -S NAME`: each counter's name and value, in the driver's
    /// order. EAGAIN if the device's set of counters changed between the
    /// calls.
    pub fn stats(&self, name: &str) -> Result<Vec<(String, u64)>, Errno> {
        let n = self.drvinfo(name)?.n_stats as usize;
        let names = self.stat_names(name, n)?;
        let values = self.stat_values(name, n)?;
        if names.len() != values.len() {
            return Err(Errno(libc::EAGAIN));
        }
        Ok(names.into_iter().zip(values).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drvinfo_layout() {
        let mut b = [0u8; DRVINFO_LEN];
        b[4..8].copy_from_slice(b"rtun");
        b[36..41].copy_from_slice(b"0.1.0");
        b[132..135].copy_from_slice(b"tap");
        b[180..184].copy_from_slice(&15u32.to_ne_bytes());
        let d = parse_drvinfo(&b);
        assert_eq!(
            d,
            DrvInfo {
                driver: "rtun".into(),
                version: "0.1.0".into(),
                bus_info: "tap".into(),
                n_stats: 15
            }
        );
    }

    #[test]
    fn gstrings_are_nul_padded_fields() {
        let mut data = vec![0u8; 3 * ETH_GSTRING_LEN];
        data[..9].copy_from_slice(b"DEV_READY");
        data[32..41].copy_from_slice(b"FULL_RING");
        // A name that fills its field has no NUL.
        data[64..96].copy_from_slice(&[b'A'; 32]);
        assert_eq!(
            parse_gstrings(&data, 3),
            vec!["DEV_READY", "FULL_RING", &"A".repeat(32)]
        );
        assert_eq!(parse_gstrings(&data, 1), vec!["DEV_READY"]);
        // Fewer fields than claimed: only the whole ones.
        assert_eq!(parse_gstrings(&data[..40], 3), vec!["DEV_READY"]);
    }

    #[test]
    fn errors_of_the_ioctl() {
        let e = Ethtool::open().expect("a datagram socket");
        assert_eq!(
            e.drvinfo("no-such-if0").map(|_| ()),
            Err(Errno(libc::ENODEV))
        );
        assert_eq!(e.stats("no-such-if0").map(|_| ()), Err(Errno(libc::ENODEV)));
    }
}
