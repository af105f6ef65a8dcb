//! The system calls the benchmark makes: tun's ioctls, interface configuration
//! through socket ioctls (no `ip` process per run), sockets, BPF, tracefs.
//! Every failure comes back as a message that names the call and the errno.

use std::{ffi::CString, io, mem, time::Duration};

pub type Res<T> = Result<T, String>;

pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// "WHAT: strerror (ENAME)" for the errno the last call left.
pub fn os_err(what: &str) -> String {
    let e = errno();
    format!("{what}: {} ({})", io::Error::from_raw_os_error(e), errno_name(e))
}

pub fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENOBUFS => "ENOBUFS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EBADFD => "EBADFD",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        _ => "E?",
    }
}

// ---- tun's ABI (include/uapi/linux/if_tun.h) ----------------------------------

const fn ioc(dir: u64, nr: u64, size: u64) -> u64 {
    (dir << 30) | (size << 16) | ((b'T' as u64) << 8) | nr
}
pub const TUNSETIFF: u64 = ioc(1, 202, 4);
pub const TUNSETOFFLOAD: u64 = ioc(1, 208, 4);
pub const TUNSETQUEUE: u64 = ioc(1, 217, 4);
pub const TUNSETSTEERINGEBPF: u64 = ioc(2, 224, 4);

pub const IFF_TUN: u16 = 0x0001;
pub const IFF_TAP: u16 = 0x0002;
pub const IFF_MULTI_QUEUE: u16 = 0x0100;
pub const IFF_DETACH_QUEUE: u16 = 0x0400;
pub const IFF_NO_PI: u16 = 0x1000;
pub const IFF_VNET_HDR: u16 = 0x4000;
pub const TUN_F_CSUM: u32 = 0x01;
pub const TUN_F_TSO4: u32 = 0x02;

/// `struct ifreq`: a 16-byte name and a 24-byte union.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> IfReq {
        let mut r = IfReq { name: [0; 16], data: [0; 24] };
        for (d, s) in r.name.iter_mut().zip(name.bytes().take(15)) {
            *d = s;
        }
        r
    }

    fn with_flags(name: &str, flags: u16) -> IfReq {
        let mut r = IfReq::new(name);
        r.data[..2].copy_from_slice(&flags.to_ne_bytes());
        r
    }

    fn with_int(name: &str, v: i32) -> IfReq {
        let mut r = IfReq::new(name);
        r.data[..4].copy_from_slice(&v.to_ne_bytes());
        r
    }

    /// A `struct sockaddr_in` in the union.
    fn with_inet(name: &str, a: [u8; 4]) -> IfReq {
        let mut r = IfReq::new(name);
        r.data[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        r.data[4..8].copy_from_slice(&a);
        r
    }

    fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

fn ioctl_ptr<T>(fd: i32, req: u64, arg: *mut T, what: &str) -> Res<i32> {
    // SAFETY: The callers pass an argument of the layout `req` expects.
    let r = unsafe { libc::ioctl(fd, req as _, arg) };
    if r < 0 { Err(os_err(what)) } else { Ok(r) }
}

fn ioctl_val(fd: i32, req: u64, v: libc::c_ulong, what: &str) -> Res<i32> {
    // SAFETY: These requests take an integer argument.
    let r = unsafe { libc::ioctl(fd, req as _, v) };
    if r < 0 { Err(os_err(what)) } else { Ok(r) }
}

/// An owned file descriptor, closed on drop.
pub struct Fd(pub i32);

impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: We own the descriptor.
            unsafe { libc::close(self.0) };
        }
    }
}

/// Opens the device node (`/dev/net/tun` or `/dev/net/rtun`) and attaches with
/// TUNSETIFF: one queue of device `name`.
pub fn tun_attach(dev: &str, name: &str, flags: u16, nonblock: bool) -> Res<Fd> {
    let path = CString::new(dev).map_err(|_| format!("bad device path {dev}"))?;
    let mut oflags = libc::O_RDWR | libc::O_CLOEXEC;
    if nonblock {
        oflags |= libc::O_NONBLOCK;
    }
    // SAFETY: A valid C string.
    let fd = Fd(unsafe { libc::open(path.as_ptr(), oflags) });
    if fd.0 < 0 {
        return Err(os_err(&format!("open {dev}")));
    }
    let mut req = IfReq::with_flags(name, flags);
    ioctl_ptr(fd.0, TUNSETIFF, &mut req, &format!("TUNSETIFF {name} flags=0x{flags:x} on {dev}"))?;
    if req.name() != name {
        return Err(format!("TUNSETIFF on {dev}: asked for {name}, got {}", req.name()));
    }
    Ok(fd)
}

/// TUNSETQUEUE IFF_DETACH_QUEUE: the queue stays bound to the device but receives nothing.
pub fn tun_detach_queue(fd: i32) -> Res<()> {
    let mut req = IfReq::with_flags("", IFF_DETACH_QUEUE);
    ioctl_ptr(fd, TUNSETQUEUE, &mut req, "TUNSETQUEUE IFF_DETACH_QUEUE").map(|_| ())
}

pub fn tun_set_offload(fd: i32, bits: u32) -> Res<()> {
    ioctl_val(fd, TUNSETOFFLOAD, bits.into(), &format!("TUNSETOFFLOAD 0x{bits:x}")).map(|_| ())
}

pub fn tun_set_steering(fd: i32, prog: i32) -> Res<()> {
    let mut p = prog;
    ioctl_ptr(fd, TUNSETSTEERINGEBPF, &mut p, "TUNSETSTEERINGEBPF").map(|_| ())
}

// ---- interface configuration ---------------------------------------------------

fn inet_dgram() -> Res<Fd> {
    // SAFETY: Plain socket call.
    let fd = Fd(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) });
    if fd.0 < 0 { Err(os_err("socket(AF_INET)")) } else { Ok(fd) }
}

fn if_ioctl(req: u64, r: &mut IfReq, what: &str) -> Res<()> {
    let s = inet_dgram()?;
    ioctl_ptr(s.0, req, r, what).map(|_| ())
}

/// IFF_UP.
pub fn if_up(name: &str) -> Res<()> {
    let mut r = IfReq::new(name);
    if_ioctl(libc::SIOCGIFFLAGS, &mut r, &format!("SIOCGIFFLAGS {name}"))?;
    let flags = i16::from_ne_bytes([r.data[0], r.data[1]]) | libc::IFF_UP as i16;
    r.data[..2].copy_from_slice(&flags.to_ne_bytes());
    if_ioctl(libc::SIOCSIFFLAGS, &mut r, &format!("SIOCSIFFLAGS {name} up"))
}

/// The local address with a netmask of `prefix` bits.
pub fn if_addr(name: &str, a: [u8; 4], prefix: u32) -> Res<()> {
    if_ioctl(libc::SIOCSIFADDR, &mut IfReq::with_inet(name, a), &format!("SIOCSIFADDR {name}"))?;
    let mask = (!0u32).checked_shl(32 - prefix).unwrap_or(0).to_be_bytes();
    if_ioctl(libc::SIOCSIFNETMASK, &mut IfReq::with_inet(name, mask), &format!("SIOCSIFNETMASK {name}"))
}

/// The peer of a point-to-point (TUN) device; brings a route to it.
pub fn if_peer(name: &str, a: [u8; 4]) -> Res<()> {
    if_ioctl(libc::SIOCSIFDSTADDR, &mut IfReq::with_inet(name, a), &format!("SIOCSIFDSTADDR {name}"))
}

pub fn if_txqlen(name: &str, n: i32) -> Res<()> {
    if_ioctl(libc::SIOCSIFTXQLEN, &mut IfReq::with_int(name, n), &format!("SIOCSIFTXQLEN {name} {n}"))
}

pub fn if_hwaddr(name: &str) -> Res<[u8; 6]> {
    let mut r = IfReq::new(name);
    if_ioctl(libc::SIOCGIFHWADDR, &mut r, &format!("SIOCGIFHWADDR {name}"))?;
    let mut m = [0u8; 6];
    m.copy_from_slice(&r.data[2..8]);
    Ok(m)
}

pub fn if_index(name: &str) -> Res<i32> {
    let c = CString::new(name).map_err(|_| format!("bad interface name {name}"))?;
    // SAFETY: A valid C string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 { Err(os_err(&format!("if_nametoindex {name}"))) } else { Ok(i as i32) }
}

/// A file under /sys/class/net/NAME, trimmed.
pub fn sysfs_net(name: &str, file: &str) -> Res<String> {
    let p = format!("/sys/class/net/{name}/{file}");
    std::fs::read_to_string(&p).map(|s| s.trim().to_string()).map_err(|e| format!("{p}: {e}"))
}

pub fn stat(name: &str, counter: &str) -> Res<u64> {
    let s = sysfs_net(name, &format!("statistics/{counter}"))?;
    s.parse().map_err(|_| format!("{name} {counter}: '{s}'"))
}

/// Waits until the interface is gone (the last queue of a non-persistent device closed).
pub fn wait_gone(name: &str, timeout: Duration) -> bool {
    let t = std::time::Instant::now();
    while std::path::Path::new(&format!("/sys/class/net/{name}")).exists() {
        if t.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

// ---- sockets -----------------------------------------------------------------------

fn sockaddr_in(a: [u8; 4], port: u16) -> libc::sockaddr_in {
    // SAFETY: Plain data.
    let mut sa: libc::sockaddr_in = unsafe { mem::zeroed() };
    sa.sin_family = libc::AF_INET as u16;
    sa.sin_port = port.to_be();
    sa.sin_addr.s_addr = u32::from_ne_bytes(a);
    sa
}

fn setsockopt_raw(fd: i32, level: i32, opt: i32, val: *const libc::c_void, len: usize, what: &str) -> Res<()> {
    // SAFETY: `val` points at `len` readable bytes.
    let r = unsafe { libc::setsockopt(fd, level, opt, val, len as u32) };
    if r < 0 { Err(os_err(what)) } else { Ok(()) }
}

pub fn setsockopt_int(fd: i32, level: i32, opt: i32, v: i32, what: &str) -> Res<()> {
    setsockopt_raw(fd, level, opt, (&v as *const i32).cast(), 4, what)
}

/// SO_SNDTIMEO, so that a sender blocked on its send buffer gets back to
/// checking whether the run is over.
pub fn set_send_timeout(fd: i32, d: Duration) -> Res<()> {
    let tv = libc::timeval { tv_sec: d.as_secs() as _, tv_usec: d.subsec_micros() as _ };
    setsockopt_raw(fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, (&tv as *const libc::timeval).cast(), mem::size_of::<libc::timeval>(), "SO_SNDTIMEO")
}

/// A UDP socket bound to `a:port` (port 0: any).
pub fn udp_bound(a: [u8; 4], port: u16) -> Res<Fd> {
    let s = inet_dgram()?;
    let sa = sockaddr_in(a, port);
    // SAFETY: `sa` is a valid sockaddr_in.
    let r = unsafe { libc::bind(s.0, (&sa as *const libc::sockaddr_in).cast(), mem::size_of::<libc::sockaddr_in>() as u32) };
    if r < 0 {
        return Err(os_err(&format!("bind {}:{port}", fmt_ip(a))));
    }
    Ok(s)
}

/// A UDP socket connected to `a:port`.
pub fn udp_connected(a: [u8; 4], port: u16) -> Res<Fd> {
    let s = inet_dgram()?;
    let sa = sockaddr_in(a, port);
    // SAFETY: `sa` is a valid sockaddr_in.
    let r = unsafe { libc::connect(s.0, (&sa as *const libc::sockaddr_in).cast(), mem::size_of::<libc::sockaddr_in>() as u32) };
    if r < 0 {
        return Err(os_err(&format!("connect {}:{port}", fmt_ip(a))));
    }
    set_send_timeout(s.0, Duration::from_millis(100))?;
    Ok(s)
}

const PACKET_VNET_HDR: i32 = 15;

/// A raw packet socket that sends on `ifindex` with a virtio-net header in
/// front of each frame; its destination address.
pub fn packet_vnet(ifindex: i32) -> Res<(Fd, libc::sockaddr_ll)> {
    // SAFETY: Plain socket call.
    let s = Fd(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) });
    if s.0 < 0 {
        return Err(os_err("socket(AF_PACKET)"));
    }
    setsockopt_int(s.0, libc::SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR")?;
    set_send_timeout(s.0, Duration::from_millis(100))?;
    // SAFETY: Plain data.
    let mut sa: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = 0x0800u16.to_be();
    sa.sll_ifindex = ifindex;
    Ok((s, sa))
}

pub fn fmt_ip(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

// ---- BPF -------------------------------------------------------------------------------

const BPF_PROG_LOAD: i64 = 5;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
/// SKF_NET_OFF: LD_ABS offsets from the network header.
const SKF_NET_OFF: i32 = -0x100000;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut i = [0u8; 8];
    i[0] = code;
    i[1] = (src << 4) | dst;
    i[2..4].copy_from_slice(&off.to_ne_bytes());
    i[4..8].copy_from_slice(&imm.to_ne_bytes());
    i
}

/// A steering program (TUNSETSTEERINGEBPF): the queue is the low bit of the
/// IPv4/UDP destination port, so port 10000 goes to queue 0 and 10001 to queue 1
/// on either driver (tun takes the return value modulo the number of queues).
pub fn load_port_steering() -> Res<Fd> {
    let prog: Vec<[u8; 8]> = vec![
        insn(0xbf, 6, 1, 0, 0),                // r6 = r1 (LD_ABS wants the skb in r6)
        insn(0x28, 0, 0, 0, SKF_NET_OFF + 22), // r0 = ntohs(*(u16 *)(nh + 20 + 2)): UDP dport
        insn(0x57, 0, 0, 0, 1),                // r0 &= 1
        insn(0x95, 0, 0, 0, 0),                // exit
    ];
    let code: Vec<u8> = prog.concat();
    let license = b"GPL\0";
    let mut log = vec![0u8; 4096];
    let mut attr = [0u8; 144];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_SOCKET_FILTER.to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(code.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    attr[24..28].copy_from_slice(&1u32.to_ne_bytes());
    attr[28..32].copy_from_slice(&(log.len() as u32).to_ne_bytes());
    attr[32..40].copy_from_slice(&(log.as_mut_ptr() as u64).to_ne_bytes());
    // SAFETY: `attr` is a bpf_attr for BPF_PROG_LOAD pointing at live buffers.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, attr.as_mut_ptr(), attr.len()) };
    if fd < 0 {
        let e = os_err("BPF_PROG_LOAD (steering program)");
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        return Err(format!("{e}; verifier: {}", String::from_utf8_lossy(&log[..end]).trim()));
    }
    Ok(Fd(fd as i32))
}

// ---- tracefs ------------------------------------------------------------------------------

pub fn tracefs() -> Res<&'static str> {
    for t in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if std::path::Path::new(&format!("{t}/events/skb/kfree_skb/enable")).exists() {
            return Ok(t);
        }
    }
    Err("no tracefs with events/skb/kfree_skb (mount tracefs on /sys/kernel/tracing)".into())
}

fn write_file(p: &str, v: &str) -> Res<()> {
    std::fs::write(p, v).map_err(|e| format!("{p}: {e}"))
}

/// Turns the skb:kfree_skb tracepoint on (recording into the top-level trace
/// buffer, emptied first) or off.
pub fn set_kfree_skb_tracepoint(on: bool) -> Res<()> {
    let t = tracefs()?;
    if on {
        write_file(&format!("{t}/trace"), "")?;
        write_file(&format!("{t}/tracing_on"), "1")?;
    }
    write_file(&format!("{t}/events/skb/kfree_skb/enable"), if on { "1" } else { "0" })
}

/// IPv6 autoconfiguration would send frames of its own through the devices.
pub fn disable_ipv6() {
    for c in ["all", "default"] {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{c}/disable_ipv6"), "1");
    }
}

/// For error messages: the device's tx/rx_dropped and, on rtun, its nonzero
/// per-reason drop counters (/sys/kernel/debug/rtun/NAME).
pub fn drop_summary(name: &str) -> String {
    let mut s = format!(
        "{name}: tx_dropped={} rx_dropped={}",
        stat(name, "tx_dropped").map(|v| v.to_string()).unwrap_or_else(|_| "?".into()),
        stat(name, "rx_dropped").map(|v| v.to_string()).unwrap_or_else(|_| "?".into())
    );
    if let Ok(t) = std::fs::read_to_string(format!("/sys/kernel/debug/rtun/{name}")) {
        let nz: Vec<&str> = t.lines().filter(|l| !l.ends_with(" 0")).collect();
        s += &format!(", rtun per reason: {}", if nz.is_empty() { "none".into() } else { nz.join(", ") });
    }
    s
}

// ---- CPU affinity ---------------------------------------------------------------------------

/// The CPUs the calling thread may run on, in increasing order.
pub fn allowed_cpus() -> Res<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is writable for its size.
    if unsafe { libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return Err(os_err("sched_getaffinity"));
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|&c| {
            // SAFETY: `c` is below CPU_SETSIZE, inside `set`.
            unsafe { libc::CPU_ISSET(c, &set) }
        })
        .collect())
}

/// Binds the calling thread to `cpu`.
pub fn pin_thread(cpu: usize) -> Res<()> {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(format!("CPU {cpu} is past CPU_SETSIZE"));
    }
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above), inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is readable for its size.
    if unsafe { libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(os_err(&format!("sched_setaffinity to CPU {cpu}")));
    }
    Ok(())
}

/// The CPU the calling thread is on now, if the kernel says.
pub fn current_cpu() -> Option<usize> {
    // SAFETY: No arguments; returns -1 on error.
    let c = unsafe { libc::sched_getcpu() };
    usize::try_from(c).ok()
}
