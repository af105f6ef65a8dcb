//! tun's ABI, netlink link statistics, network namespaces, bpf(2) and the
//! small syscall helpers the workers use.

use std::{ffi::CString, fs, io};

pub const TUNSETIFF: u64 = ioc(1, 202, 4);
pub const TUNSETPERSIST: u64 = ioc(1, 203, 4);
pub const TUNSETOFFLOAD: u64 = ioc(1, 208, 4);
pub const TUNSETTXFILTER: u64 = ioc(1, 209, 4);
pub const TUNGETIFF: u64 = ioc(2, 210, 4);
pub const TUNATTACHFILTER: u64 = ioc(1, 213, 16);
pub const TUNDETACHFILTER: u64 = ioc(1, 214, 16);
pub const TUNSETVNETHDRSZ: u64 = ioc(1, 216, 4);
pub const TUNSETQUEUE: u64 = ioc(1, 217, 4);
pub const TUNSETFILTEREBPF: u64 = ioc(2, 225, 4);

pub const IFF_TUN: u16 = 0x0001;
pub const IFF_TAP: u16 = 0x0002;
pub const IFF_NAPI: u16 = 0x0010;
pub const IFF_NAPI_FRAGS: u16 = 0x0020;
pub const IFF_BACKPRESSURE: u16 = 0x0080;
pub const IFF_MULTI_QUEUE: u16 = 0x0100;
pub const IFF_ATTACH_QUEUE: u16 = 0x0200;
pub const IFF_DETACH_QUEUE: u16 = 0x0400;
pub const IFF_NO_PI: u16 = 0x1000;
pub const IFF_VNET_HDR: u16 = 0x4000;
pub const TUN_FLT_ALLMULTI: u16 = 0x0001;

const fn ioc(dir: u64, nr: u64, size: u64) -> u64 {
    (dir << 30) | (size << 16) | ((b'T' as u64) << 8) | nr
}

pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The errno's name, for the report.
pub fn errno_name(e: i32) -> String {
    let n = match e {
        0 => "OK",
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENOBUFS => "ENOBUFS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EBADFD => "EBADFD",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENOSPC => "ENOSPC",
        libc::EACCES => "EACCES",
        libc::ECONNREFUSED => "ECONNREFUSED",
        _ => return format!("E{e}"),
    };
    n.to_string()
}

/// `struct ifreq` with `short ifr_flags`.
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
}

pub fn ioctl_ptr<T>(fd: i32, req: u64, arg: *mut T) -> Result<i32, i32> {
    // SAFETY: The caller passes an argument of the layout `req` expects.
    let r = unsafe { libc::ioctl(fd, req as _, arg) };
    if r < 0 { Err(errno()) } else { Ok(r) }
}

pub fn ioctl_val(fd: i32, req: u64, val: libc::c_ulong) -> Result<i32, i32> {
    // SAFETY: These commands take an integer, not a pointer.
    let r = unsafe { libc::ioctl(fd, req as _, val) };
    if r < 0 { Err(errno()) } else { Ok(r) }
}

pub fn open_dev(path: &str, nonblock: bool) -> Result<i32, i32> {
    let c = CString::new(path).map_err(|_| libc::EINVAL)?;
    let mut flags = libc::O_RDWR | libc::O_CLOEXEC;
    if nonblock {
        flags |= libc::O_NONBLOCK;
    }
    // SAFETY: A valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 { Err(errno()) } else { Ok(fd) }
}

pub fn close(fd: i32) {
    // SAFETY: The caller owns `fd` and forgets it.
    unsafe { libc::close(fd) };
}

pub fn set_nonblock(fd: i32, on: bool) {
    // SAFETY: fcntl on an fd the caller owns.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 {
            let fl = if on { fl | libc::O_NONBLOCK } else { fl & !libc::O_NONBLOCK };
            libc::fcntl(fd, libc::F_SETFL, fl);
        }
    }
}

pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: `buf` is writable for its length.
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 { Err(errno()) } else { Ok(r as usize) }
}

/// A read into memory that is not mapped: the driver must fail the copy.
pub fn read_bad(fd: i32, bad: *mut u8, len: usize) -> Result<usize, i32> {
    // SAFETY: Deliberately unmapped: the kernel checks the user pointer.
    let r = unsafe { libc::read(fd, bad.cast(), len) };
    if r < 0 { Err(errno()) } else { Ok(r as usize) }
}

/// Writes `iov`s as one frame.
pub fn writev(fd: i32, parts: &[(*const u8, usize)]) -> Result<usize, i32> {
    let iov: Vec<libc::iovec> = parts.iter().map(|&(p, l)| libc::iovec { iov_base: p as *mut _, iov_len: l }).collect();
    // SAFETY: Each iovec points at memory the caller chose (some deliberately unmapped).
    let r = unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as i32) };
    if r < 0 { Err(errno()) } else { Ok(r as usize) }
}

/// An address range of `len` bytes that is not mapped.
pub fn unmapped_region(len: usize) -> *mut u8 {
    // SAFETY: Anonymous mapping, unmapped again right away: the range is invalid.
    unsafe {
        let p = libc::mmap(std::ptr::null_mut(), len, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
        if p == libc::MAP_FAILED {
            return 8 as *mut u8;
        }
        libc::munmap(p, len);
        p.cast()
    }
}

/// `rmmod rtun` as kmod does it: delete_module(2) with O_NONBLOCK.
pub fn delete_module(name: &str) -> Result<(), i32> {
    let c = CString::new(name).map_err(|_| libc::EINVAL)?;
    // SAFETY: A valid C string and flags.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, c.as_ptr(), libc::O_NONBLOCK) };
    if r < 0 { Err(errno()) } else { Ok(()) }
}

/// Loads `r0 = ret; exit` as a socket filter program.
pub fn load_ebpf_returning(ret: u32) -> Result<i32, i32> {
    let mut insns = [0u8; 16];
    insns[0] = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K, dst r0
    insns[4..8].copy_from_slice(&ret.to_ne_bytes());
    insns[8] = 0x95; // BPF_JMP | BPF_EXIT
    let license = b"GPL\0";
    let mut attr = [0u8; 144];
    attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // BPF_PROG_TYPE_SOCKET_FILTER
    attr[4..8].copy_from_slice(&2u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    // SAFETY: A bpf_attr for BPF_PROG_LOAD (5) pointing at live buffers.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 5i64, attr.as_mut_ptr(), attr.len()) };
    if fd < 0 { Err(errno()) } else { Ok(fd as i32) }
}

/// A classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

#[repr(C)]
pub struct SockFprog {
    pub len: u16,
    pub filter: *const SockFilter,
}

/// The classic programs the workers attach: drop all, pass all, trim to 20
/// bytes, and drop frames longer than 100 bytes.
pub fn cbpf_program(which: u64) -> Vec<SockFilter> {
    let ret = |k| SockFilter { code: 0x06, jt: 0, jf: 0, k };
    match which {
        0 => vec![ret(0)],
        1 => vec![ret(0xffff)],
        2 => vec![ret(20)],
        _ => vec![
            SockFilter { code: 0x80, jt: 0, jf: 0, k: 0 }, // ld len
            SockFilter { code: 0x25, jt: 0, jf: 1, k: 100 }, // jgt #100
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
    if fd < 0 { Err(format!("open {path}: {}", errno_name(errno()))) } else { Ok(fd) }
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
        return Err(format!("setns {ns}: {}", errno_name(errno())));
    }
    let out = f();
    // SAFETY: As above.
    if unsafe { libc::setns(home, libc::CLONE_NEWNET) } < 0 {
        return Err(format!("setns back from {ns}: {}", errno_name(errno())));
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
        return Err(format!("RTM_GETLINK: {}", errno_name(-e)));
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
    // SAFETY: Plain socket calls on buffers we own.
    unsafe {
        let s = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE);
        if s < 0 {
            return Err(format!("netlink socket: {}", errno_name(errno())));
        }
        let req = getlink_request(name, 1);
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        let r = libc::sendto(s, req.as_ptr().cast(), req.len(), 0, (&sa as *const libc::sockaddr_nl).cast(), std::mem::size_of::<libc::sockaddr_nl>() as u32);
        if r < 0 {
            let e = errno();
            close(s);
            return Err(format!("netlink send: {}", errno_name(e)));
        }
        let mut buf = vec![0u8; 32768];
        let n = libc::recv(s, buf.as_mut_ptr().cast(), buf.len(), 0);
        let e = errno();
        close(s);
        if n < 0 {
            return Err(format!("netlink recv: {}", errno_name(e)));
        }
        parse_getlink_reply(&buf[..n as usize])
    }
}

/// The per-reason counters of `/sys/kernel/debug/rtun/<name>` (or
/// `<name>@<netns inode>` for a device outside the initial namespace).
pub fn debugfs_reasons(name: &str) -> Result<[u64; 15], String> {
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

pub fn parse_reasons(text: &str) -> Result<[u64; 15], String> {
    let mut out = [0u64; 15];
    let mut seen = 0;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else { continue };
        if let Some(i) = crate::account::reason_index(k.trim_end_matches(':')) {
            out[i] = v.parse().map_err(|_| format!("bad counter line '{line}'"))?;
            seen += 1;
        }
    }
    if seen == 0 {
        return Err(format!("no reason counters in '{}'", text.trim()));
    }
    Ok(out)
}

// ---- frames ---------------------------------------------------------------------

/// The IPv4 header checksum.
pub fn ip_checksum(h: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in h.chunks(2) {
        let w = if c.len() == 2 { u16::from_be_bytes([c[0], c[1]]) } else { u16::from(c[0]) << 8 };
        s += u32::from(w);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

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
    fn ioctl_numbers_match_the_header() {
        assert_eq!(TUNSETIFF, 0x400454ca);
        assert_eq!(TUNATTACHFILTER, 0x401054d5);
        assert_eq!(TUNDETACHFILTER, 0x401054d6);
        assert_eq!(TUNSETFILTEREBPF, 0x800454e1);
        assert_eq!(TUNSETQUEUE, 0x400454d9);
        assert_eq!(TUNSETVNETHDRSZ, 0x400454d8);
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        assert_eq!(std::mem::size_of::<SockFilter>(), 8);
        assert_eq!(std::mem::size_of::<SockFprog>(), 16);
    }

    #[test]
    fn checksum_of_a_known_header() {
        // The classic example header (Wikipedia, "IPv4 header checksum").
        let h = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
        assert_eq!(ip_checksum(&h), 0xb861);
        let p = ipv4_udp([10, 0, 0, 2], [10, 0, 0, 1], 10, 7);
        assert_eq!(p.len(), 38);
        assert_eq!(ip_checksum(&p[..20]), 0, "a header with its checksum sums to zero");
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
        assert_eq!(s, LinkStats { rx_packets: 100, tx_packets: 101, rx_dropped: 106, tx_dropped: 107, rx_frame_errors: 113 });
        let mut e = vec![0u8; 36];
        e[0..4].copy_from_slice(&36u32.to_ne_bytes());
        e[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        e[16..20].copy_from_slice(&(-libc::ENODEV).to_ne_bytes());
        assert_eq!(parse_getlink_reply(&e), Err("RTM_GETLINK: ENODEV".into()));
    }

    #[test]
    fn reasons_file() {
        let r = parse_reasons("DEV_READY 3\nFULL_RING: 7\nQUEUE_PURGE 1\n").unwrap();
        assert_eq!(r[0], 3);
        assert_eq!(r[6], 7);
        assert_eq!(r[12], 1);
        assert!(parse_reasons("").is_err());
    }
}
