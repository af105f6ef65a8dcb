// SPDX-License-Identifier: GPL-2.0
//! The system calls the benchmark makes: tun's ioctls, interface configuration
//! through socket ioctls (no `ip` process per run), sockets, BPF, tracefs.
//! Every failure comes back as a message that names the call and the errno
//! (rtun-common's convention for setup steps: `Result<T, String>`).

use std::{io, mem, time::Duration};

use rtun_common::{
    bpf, net,
    sys::{ioctl, ioctl_val as ioctl_v, open_dev},
};

pub use rtun_common::abi::*;
pub use rtun_common::{sys::Fd, Errno};

pub type Res<T> = Result<T, String>;

/// "WHAT: strerror (ENAME)" for the errno the last call left.
pub fn os_err(what: &str) -> String {
    os_err_of(what, Errno::last())
}

/// "WHAT: strerror (ENAME)" for errno `e`.
pub fn os_err_of(what: &str, e: Errno) -> String {
    format!("{what}: {} ({e})", io::Error::from(e))
}

// ---- tun's ABI (rtun_common::abi) ---------------------------------------------

fn ioctl_ptr<T>(fd: i32, req: u64, arg: &mut T, what: &str) -> Res<i32> {
    ioctl(fd, req, arg).map_err(|e| os_err_of(what, e))
}

fn ioctl_val(fd: i32, req: u64, v: libc::c_ulong, what: &str) -> Res<i32> {
    ioctl_v(fd, req, v).map_err(|e| os_err_of(what, e))
}

/// Opens the device node (`/dev/net/tun` or `/dev/net/rtun`) and attaches with
/// TUNSETIFF: one queue of device `name`.
pub fn tun_attach(dev: &str, name: &str, flags: u16, nonblock: bool) -> Res<Fd> {
    let extra = if nonblock { libc::O_NONBLOCK } else { 0 };
    let fd = Fd(open_dev(dev, extra).map_err(|e| os_err_of(&format!("open {dev}"), e))?);
    let mut req = IfReq::new(name, flags);
    ioctl_ptr(
        fd.0,
        TUNSETIFF,
        &mut req,
        &format!("TUNSETIFF {name} flags=0x{flags:x} on {dev}"),
    )?;
    if req.name() != name {
        return Err(format!(
            "TUNSETIFF on {dev}: asked for {name}, got {}",
            req.name()
        ));
    }
    Ok(fd)
}

/// TUNSETQUEUE IFF_DETACH_QUEUE: the queue stays bound to the device but receives nothing.
pub fn tun_detach_queue(fd: i32) -> Res<()> {
    let mut req = IfReq::new("", IFF_DETACH_QUEUE);
    ioctl_ptr(fd, TUNSETQUEUE, &mut req, "TUNSETQUEUE IFF_DETACH_QUEUE").map(|_| ())
}

pub fn tun_set_offload(fd: i32, bits: u32) -> Res<()> {
    ioctl_val(
        fd,
        TUNSETOFFLOAD,
        bits.into(),
        &format!("TUNSETOFFLOAD 0x{bits:x}"),
    )
    .map(|_| ())
}

pub fn tun_set_steering(fd: i32, prog: i32) -> Res<()> {
    let mut p = prog;
    ioctl_ptr(fd, TUNSETSTEERINGEBPF, &mut p, "TUNSETSTEERINGEBPF").map(|_| ())
}

// ---- interface configuration ---------------------------------------------------

fn inet_dgram() -> Res<Fd> {
    // SAFETY: Plain socket call.
    let fd = Fd(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) });
    if fd.0 < 0 {
        Err(os_err("socket(AF_INET)"))
    } else {
        Ok(fd)
    }
}

fn if_ioctl(req: u64, r: &mut IfReq, what: &str) -> Res<()> {
    let s = inet_dgram()?;
    ioctl_ptr(s.0, req, r, what).map(|_| ())
}

/// IFF_UP.
pub fn if_up(name: &str) -> Res<()> {
    let mut r = IfReq::new(name, 0);
    if_ioctl(libc::SIOCGIFFLAGS, &mut r, &format!("SIOCGIFFLAGS {name}"))?;
    let flags = i16::from_ne_bytes([r.data[0], r.data[1]]) | libc::IFF_UP as i16;
    r.data[..2].copy_from_slice(&flags.to_ne_bytes());
    if_ioctl(
        libc::SIOCSIFFLAGS,
        &mut r,
        &format!("SIOCSIFFLAGS {name} up"),
    )
}

/// The local address with a netmask of `prefix` bits.
pub fn if_addr(name: &str, a: [u8; 4], prefix: u32) -> Res<()> {
    if_ioctl(
        libc::SIOCSIFADDR,
        &mut IfReq::with_inet(name, a),
        &format!("SIOCSIFADDR {name}"),
    )?;
    let mask = (!0u32).checked_shl(32 - prefix).unwrap_or(0).to_be_bytes();
    if_ioctl(
        libc::SIOCSIFNETMASK,
        &mut IfReq::with_inet(name, mask),
        &format!("SIOCSIFNETMASK {name}"),
    )
}

/// The peer of a point-to-point (TUN) device; brings a route to it.
pub fn if_peer(name: &str, a: [u8; 4]) -> Res<()> {
    if_ioctl(
        libc::SIOCSIFDSTADDR,
        &mut IfReq::with_inet(name, a),
        &format!("SIOCSIFDSTADDR {name}"),
    )
}

pub fn if_txqlen(name: &str, n: i32) -> Res<()> {
    if_ioctl(
        libc::SIOCSIFTXQLEN,
        &mut IfReq::with_int(name, n),
        &format!("SIOCSIFTXQLEN {name} {n}"),
    )
}

pub fn if_hwaddr(name: &str) -> Res<[u8; 6]> {
    let mut r = IfReq::new(name, 0);
    if_ioctl(
        libc::SIOCGIFHWADDR,
        &mut r,
        &format!("SIOCGIFHWADDR {name}"),
    )?;
    let mut m = [0u8; 6];
    m.copy_from_slice(&r.data[2..8]);
    Ok(m)
}

pub fn if_index(name: &str) -> Res<i32> {
    net::if_index(name)
        .map(|i| i as i32)
        .map_err(|e| os_err_of(&format!("if_nametoindex {name}"), e))
}

/// A file under /sys/class/net/NAME, trimmed.
pub fn sysfs_net(name: &str, file: &str) -> Res<String> {
    net::sysfs_net(name, file).map_err(|e| format!("/sys/class/net/{name}/{file}: {e}"))
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

fn setsockopt_raw(
    fd: i32,
    level: i32,
    opt: i32,
    val: *const libc::c_void,
    len: usize,
    what: &str,
) -> Res<()> {
    // SAFETY: `val` points at `len` readable bytes.
    let r = unsafe { libc::setsockopt(fd, level, opt, val, len as u32) };
    if r < 0 {
        Err(os_err(what))
    } else {
        Ok(())
    }
}

pub fn setsockopt_int(fd: i32, level: i32, opt: i32, v: i32, what: &str) -> Res<()> {
    setsockopt_raw(fd, level, opt, (&v as *const i32).cast(), 4, what)
}

/// SO_SNDTIMEO, so that a sender blocked on its send buffer gets back to
/// checking whether the run is over.
pub fn set_send_timeout(fd: i32, d: Duration) -> Res<()> {
    let tv = libc::timeval {
        tv_sec: d.as_secs() as _,
        tv_usec: d.subsec_micros() as _,
    };
    setsockopt_raw(
        fd,
        libc::SOL_SOCKET,
        libc::SO_SNDTIMEO,
        (&tv as *const libc::timeval).cast(),
        mem::size_of::<libc::timeval>(),
        "SO_SNDTIMEO",
    )
}

/// A UDP socket bound to `a:port` (port 0: any).
pub fn udp_bound(a: [u8; 4], port: u16) -> Res<Fd> {
    let s = inet_dgram()?;
    let sa = net::sockaddr_in(a, port);
    // SAFETY: `sa` is a valid sockaddr_in.
    let r = unsafe {
        libc::bind(
            s.0,
            (&sa as *const libc::sockaddr_in).cast(),
            mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    if r < 0 {
        return Err(os_err(&format!("bind {}:{port}", fmt_ip(a))));
    }
    Ok(s)
}

/// A UDP socket connected to `a:port`.
pub fn udp_connected(a: [u8; 4], port: u16) -> Res<Fd> {
    let s = inet_dgram()?;
    let sa = net::sockaddr_in(a, port);
    // SAFETY: `sa` is a valid sockaddr_in.
    let r = unsafe {
        libc::connect(
            s.0,
            (&sa as *const libc::sockaddr_in).cast(),
            mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
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
    Ok((s, rtun_common::frame::ll_addr(ifindex, 0x0800)))
}

pub fn fmt_ip(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

// ---- BPF -------------------------------------------------------------------------------

/// SKF_NET_OFF: LD_ABS offsets from the network header.
const SKF_NET_OFF: i32 = -0x100000;

/// A steering program (TUNSETSTEERINGEBPF): the queue is the low bit of the
/// IPv4/UDP destination port, so port 10000 goes to queue 0 and 10001 to queue 1
/// on either driver (tun takes the return value modulo the number of queues).
pub fn load_port_steering() -> Res<Fd> {
    use bpf::insn;
    let prog = [
        insn(0xbf, 6, 1, 0, 0),                // r6 = r1 (LD_ABS wants the skb in r6)
        insn(0x28, 0, 0, 0, SKF_NET_OFF + 22), // r0 = ntohs(*(u16 *)(nh + 20 + 2)): UDP dport
        insn(0x57, 0, 0, 0, 1),                // r0 &= 1
        insn(0x95, 0, 0, 0, 0),                // exit
    ];
    let mut log = vec![0u8; 4096];
    match bpf::load_socket_filter(&prog, Some(&mut log)) {
        Ok(fd) => Ok(Fd(fd)),
        Err(e) => {
            let e = os_err_of("BPF_PROG_LOAD (steering program)", e);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err(format!(
                "{e}; verifier: {}",
                String::from_utf8_lossy(&log[..end]).trim()
            ))
        }
    }
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
    write_file(
        &format!("{t}/events/skb/kfree_skb/enable"),
        if on { "1" } else { "0" },
    )
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
        stat(name, "tx_dropped")
            .map(|v| v.to_string())
            .unwrap_or_else(|_| "?".into()),
        stat(name, "rx_dropped")
            .map(|v| v.to_string())
            .unwrap_or_else(|_| "?".into())
    );
    if let Ok(t) = std::fs::read_to_string(format!("/sys/kernel/debug/rtun/{name}")) {
        let nz: Vec<&str> = t.lines().filter(|l| !l.ends_with(" 0")).collect();
        s += &format!(
            ", rtun per reason: {}",
            if nz.is_empty() {
                "none".into()
            } else {
                nz.join(", ")
            }
        );
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
