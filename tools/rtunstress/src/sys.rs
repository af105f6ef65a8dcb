// SPDX-License-Identifier: GPL-2.0
//! What the workers call: tun's ABI, `Errno`, ioctl and the small syscalls of
//! rtun_common (re-exported here), reads and writes, classic filter programs,
//! network namespaces, link statistics over rtnetlink, and test frames.
//! System calls fail with an `Errno`; the namespace, netlink and debugfs
//! helpers whose failure ends up in the report say what failed in a
//! `String` (rtun-common's convention).

use std::{ffi::CString, fs};

use crate::{
    account::{reason_index, PerReason},
    skb_reason::Reason,
};

pub use rtun_common::{
    abi::*,
    bpf::{load_ebpf_returning, SockFilter, SockFprog},
    net::ip_checksum,
    sys::{delete_module, ioctl, ioctl_val, open_dev, set_nonblock, unmapped_region},
    Errno,
};

pub fn close(fd: i32) {
    // SAFETY: The caller owns `fd` and forgets it.
    unsafe { libc::close(fd) };
}

pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is writable for its length.
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    Errno::result(r).map(|n| n as usize)
}

/// A read into memory that is not mapped: the driver must fail the copy.
pub fn read_bad(fd: i32, bad: *mut u8, len: usize) -> Result<usize, Errno> {
    // SAFETY: Deliberately unmapped: the kernel checks the user pointer.
    let r = unsafe { libc::read(fd, bad.cast(), len) };
    Errno::result(r).map(|n| n as usize)
}

/// Writes `iov`s as one frame.
pub fn writev(fd: i32, parts: &[(*const u8, usize)]) -> Result<usize, Errno> {
    let iov: Vec<libc::iovec> = parts
        .iter()
        .map(|&(p, l)| libc::iovec {
            iov_base: p as *mut _,
            iov_len: l,
        })
        .collect();
    // SAFETY: Each iovec points at memory the caller chose (some deliberately unmapped).
    let r = unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as i32) };
    Errno::result(r).map(|n| n as usize)
}

/// The classic programs the workers attach: drop all, pass all, trim to 20
/// bytes, and drop frames longer than 100 bytes.
pub fn cbpf_program(which: u64) -> Vec<SockFilter> {
    let ret = |k| SockFilter {
        code: 0x06,
        jt: 0,
        jf: 0,
        k,
    };
    match which {
        0 => vec![ret(0)],
        1 => vec![ret(0xffff)],
        2 => vec![ret(20)],
        _ => vec![
            SockFilter {
                code: 0x80,
                jt: 0,
                jf: 0,
                k: 0,
            }, // ld len
            SockFilter {
                code: 0x25,
                jt: 0,
                jf: 1,
                k: 100,
            }, // jgt #100
            ret(0),
            ret(0xffff),
        ],
    }
}

// ---- network namespaces -------------------------------------------------------

/// The calling process's network namespace, to come back to.
pub fn own_netns() -> Result<i32, String> {
    open_ro("/proc/self/ns/net")
}

fn open_ro(path: &str) -> Result<i32, String> {
    let c = CString::new(path).map_err(|e| e.to_string())?;
    // SAFETY: A valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(format!("open {path}: {}", Errno::last()))
    } else {
        Ok(fd)
    }
}

/// Runs `f` with the process in the named namespace (`ip netns`), then comes
/// back to `home`. Sockets and files opened by `f` stay in that namespace.
pub fn in_netns<T>(ns: Option<&str>, home: i32, f: impl FnOnce() -> T) -> Result<T, String> {
    let Some(ns) = ns else { return Ok(f()) };
    let fd = open_ro(&format!("/run/netns/{ns}"))?;
    // SAFETY: setns on namespace fds we own.
    let r = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
    close(fd);
    if r < 0 {
        return Err(format!("setns {ns}: {}", Errno::last()));
    }
    let out = f();
    // SAFETY: As above.
    if unsafe { libc::setns(home, libc::CLONE_NEWNET) } < 0 {
        return Err(format!("setns back from {ns}: {}", Errno::last()));
    }
    Ok(out)
}

// ---- link statistics over rtnetlink ----------------------------------------------

/// The `rtnl_link_stats64` fields the accounting needs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_frame_errors: u64,
}

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_STATS64: u16 = 23;

/// The RTM_GETLINK request for `name`.
pub fn getlink_request(name: &str, seq: u32) -> Vec<u8> {
    let mut attr = Vec::new();
    let nlen = name.len() + 1;
    attr.extend_from_slice(&((4 + nlen) as u16).to_ne_bytes());
    attr.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
    attr.extend_from_slice(name.as_bytes());
    attr.push(0);
    while attr.len() % 4 != 0 {
        attr.push(0);
    }
    let total = 16 + 16 + attr.len();
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&RTM_GETLINK.to_ne_bytes());
    m.extend_from_slice(&1u16.to_ne_bytes()); // NLM_F_REQUEST
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[0u8; 16]); // struct ifinfomsg, all zero: by name
    m.extend_from_slice(&attr);
    m
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(i..i + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

/// Parses the answer to [`getlink_request`]: the stats, or the errno.
pub fn parse_getlink_reply(b: &[u8]) -> Result<LinkStats, String> {
    let len = u32_at(b, 0).ok_or("short netlink reply")? as usize;
    let ty = u16_at(b, 4).ok_or("short netlink reply")?;
    if ty == NLMSG_ERROR {
        let e = u32_at(b, 16).ok_or("short netlink error")? as i32;
        return Err(format!("RTM_GETLINK: {}", Errno(e.wrapping_neg())));
    }
    if ty != RTM_NEWLINK {
        return Err(format!("RTM_GETLINK answered with type {ty}"));
    }
    let end = len.min(b.len());
    let mut i = 32;
    while i + 4 <= end {
        let alen = u16_at(b, i).ok_or("bad attribute")? as usize;
        let aty = u16_at(b, i + 2).ok_or("bad attribute")? & 0x3fff;
        if alen < 4 {
            break;
        }
        if aty == IFLA_STATS64 {
            let f = |k: usize| u64_at(b, i + 4 + 8 * k).ok_or("short IFLA_STATS64");
            return Ok(LinkStats {
                rx_packets: f(0)?,
                tx_packets: f(1)?,
                rx_dropped: f(6)?,
                tx_dropped: f(7)?,
                rx_frame_errors: f(13)?,
            });
        }
        i += (alen + 3) & !3;
    }
    Err("no IFLA_STATS64 in the reply".into())
}

/// The counters of `name` in the calling process's network namespace.
pub fn link_stats(name: &str) -> Result<LinkStats, String> {
    let mut buf = vec![0u8; 32768];
    let n = rtun_common::net::rtnl_exchange(&getlink_request(name, 1), &mut buf)
        .map_err(|(step, e)| format!("netlink {step}: {e}"))?;
    parse_getlink_reply(&buf[..n])
}

/// The per-reason counters of `/sys/kernel/debug/rtun/<name>` (or
/// `<name>@<netns inode>` for a device outside the initial namespace).
pub fn debugfs_reasons(name: &str) -> Result<PerReason, String> {
    let dir = "/sys/kernel/debug/rtun";
    let entries = fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))?;
    let at = format!("{name}@");
    let mut found = None;
    for e in entries.flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        if f == name || f.starts_with(&at) {
            found = Some(f);
        }
    }
    let f = found.ok_or_else(|| format!("no {dir}/{name}"))?;
    let text = fs::read_to_string(format!("{dir}/{f}")).map_err(|e| format!("{dir}/{f}: {e}"))?;
    parse_reasons(&text)
}

pub fn parse_reasons(text: &str) -> Result<PerReason, String> {
    let mut out: PerReason = [0; Reason::COUNT];
    let mut seen = 0;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        if let Some(i) = reason_index(k.trim_end_matches(':')) {
            out[i] = v
                .parse()
                .map_err(|_| format!("bad counter line '{line}'"))?;
            seen += 1;
        }
    }
    if seen == 0 {
        return Err(format!("no reason counters in '{}'", text.trim()));
    }
    Ok(out)
}

// ---- frames ---------------------------------------------------------------------

/// An IPv4/UDP packet from `src` to `dst` (port 9) with `payload` bytes of 0x5a.
pub fn ipv4_udp(src: [u8; 4], dst: [u8; 4], payload: usize, id: u16) -> Vec<u8> {
    let total = 20 + 8 + payload;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let c = ip_checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&9999u16.to_be_bytes());
    p[22..24].copy_from_slice(&9u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    for b in &mut p[28..] {
        *b = 0x5a;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_packet_has_a_valid_header() {
        let p = ipv4_udp([10, 0, 0, 2], [10, 0, 0, 1], 10, 7);
        assert_eq!(p.len(), 38);
        assert_eq!(
            ip_checksum(&p[..20]),
            0,
            "a header with its checksum sums to zero"
        );
    }

    #[test]
    fn getlink_round_trip() {
        let req = getlink_request("rs0x1", 9);
        assert_eq!(req.len() % 4, 0);
        assert_eq!(u32_at(&req, 0), Some(req.len() as u32));
        // A reply: header, ifinfomsg, an IFLA_IFNAME and an IFLA_STATS64.
        let mut r = vec![0u8; 32];
        r[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
        r.extend_from_slice(&12u16.to_ne_bytes());
        r.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
        r.extend_from_slice(b"rs0x1\0\0\0");
        r.extend_from_slice(&((4 + 24 * 8) as u16).to_ne_bytes());
        r.extend_from_slice(&IFLA_STATS64.to_ne_bytes());
        for k in 0..24u64 {
            r.extend_from_slice(&(100 + k).to_ne_bytes());
        }
        let len = r.len() as u32;
        r[0..4].copy_from_slice(&len.to_ne_bytes());
        let s = parse_getlink_reply(&r).unwrap();
        assert_eq!(
            s,
            LinkStats {
                rx_packets: 100,
                tx_packets: 101,
                rx_dropped: 106,
                tx_dropped: 107,
                rx_frame_errors: 113
            }
        );
        let mut e = vec![0u8; 36];
        e[0..4].copy_from_slice(&36u32.to_ne_bytes());
        e[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        e[16..20].copy_from_slice(&(-libc::ENODEV).to_ne_bytes());
        assert_eq!(parse_getlink_reply(&e), Err("RTM_GETLINK: ENODEV".into()));
    }

    #[test]
    fn reasons_file() {
        let r = parse_reasons("DEV_READY 3\nFULL_RING: 7\nQUEUE_PURGE 1\n").unwrap();
        assert_eq!(r[Reason::DevReady.index()], 3);
        assert_eq!(r[Reason::FullRing.index()], 7);
        assert_eq!(r[Reason::QueuePurge.index()], 1);
        assert_eq!(r.iter().sum::<u64>(), 11);
        assert!(parse_reasons("").is_err());
    }
}
