// SPDX-License-Identifier: GPL-2.0
//! rtunabi: ABI fidelity between C tun.ko and rtun.
//!
//!     rtunabi [--dev PATH] SCENARIO
//!     rtunabi list
//!
//! One fixed sequence of ioctl, read, write, poll and signal calls, run the
//! same way on `/dev/net/tun` (C tun.ko) and on `/dev/net/rtun` (the
//! default). Every call prints one `step: result` line: a return value, an
//! errno name, flags in hex, a byte count, poll events. Nothing
//! device-specific is printed (no interface name, no ifindex, no MAC that the
//! kernel chose), so the two outputs compare line for line
//! (tests/guest/t_abi.sh). The expected tun values come from
//! drivers/net/tun.c of Linux 7.3.
//!
//! Each scenario creates its own devices (the kernel names them: tap%d, tun%d
//! or rtap%d, rtun%d) and deletes them at the end. A setup step that fails
//! prints its errno and stops the scenario (exit status 1); a usage error or
//! an unknown scenario exits 2.

mod uring;

use std::{
    ffi::CStr,
    fmt::Display,
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::{exit, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use rtun_common::{
    abi::*,
    bpf, frame,
    hex::to_hex,
    net,
    sys::{self, ioctl, ioctl_val, iovecs_cut, Fd},
    Errno,
};

use uring::Ring;

/// A setup step failed: its line is printed, the scenario stops.
pub struct Stop;

type Res = Result<(), Stop>;
type Scenario = fn(&mut Ctx) -> Res;

const SCENARIOS: &[(&str, Scenario)] = &[
    ("detached_queue_ops", detached_queue_ops),
    ("reattach_unprivileged", reattach_unprivileged),
    ("second_attacher_flags", second_attacher_flags),
    ("zero_length_read", zero_length_read),
    ("counters_reset_on_rebind", counters_reset_on_rebind),
    ("purge_on_detach", purge_on_detach),
    ("napi", napi),
    ("napi_frags_layout", napi_frags_layout),
    ("rx_queue", rx_queue),
    ("errnos", errnos),
    ("ring_resize", ring_resize),
    ("fdinfo_and_sysfs", fdinfo_and_sysfs),
    ("fasync", fasync),
    ("compat32", compat32),
    ("steering", steering),
    ("backpressure", backpressure),
    ("backpressure_detach_middle", backpressure_detach_middle),
    ("sndbuf", sndbuf),
    ("nowait", nowait),
];

const USAGE: &str = "usage: rtunabi [--dev PATH] SCENARIO
       rtunabi list

Runs one fixed call sequence on the device node PATH (default /dev/net/rtun)
and prints it as 'step: result' lines that compare between /dev/net/tun and
/dev/net/rtun (tests/guest/t_abi.sh). 'list' prints the scenarios.";

fn usage_error(msg: &str) -> ! {
    eprintln!("rtunabi: {msg}\n{USAGE}");
    exit(2)
}

fn main() {
    let mut dev = "/dev/net/rtun".to_string();
    let mut scenario = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dev" => {
                dev = it
                    .next()
                    .unwrap_or_else(|| usage_error("--dev needs a path"))
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0)
            }
            s if s.starts_with("--") => usage_error(&format!("unknown option {s}")),
            _ if scenario.is_some() => {
                usage_error(&format!("one scenario at a time, not also {a}"))
            }
            _ => scenario = Some(a),
        }
    }
    let scenario = scenario.unwrap_or_else(|| usage_error("missing SCENARIO"));
    exit(run_scenario(&scenario, &dev))
}

/// Runs one scenario against the device node `dev`; the process exit status.
fn run_scenario(scenario: &str, dev: &str) -> i32 {
    if scenario == "list" {
        for (name, _) in SCENARIOS {
            println!("{name}");
        }
        return 0;
    }
    let Some((_, f)) = SCENARIOS.iter().find(|(n, _)| *n == scenario) else {
        eprintln!("rtunabi: unknown scenario {scenario} (try 'rtunabi list')");
        return 2;
    };
    let mut c = Ctx {
        dev: dev.to_string(),
        names: Vec::new(),
    };
    let r = f(&mut c);
    c.cleanup();
    match r {
        Ok(()) => 0,
        Err(Stop) => {
            println!("stopped: a setup step failed");
            1
        }
    }
}

// ---- pure formatting (unit-tested on the host) ---------------------------------

/// A syscall result as printed: the value, or the errno name.
pub fn rv<T: Display>(r: &Result<T, Errno>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(e) => e.to_string(),
    }
}

/// A TUNGETIFF result: `0 flags=0x1502`, or the errno name.
pub fn fmt_flags(r: &Result<u16, Errno>) -> String {
    match r {
        Ok(f) => format!("0 flags=0x{f:x}"),
        Err(e) => e.to_string(),
    }
}

/// Poll events by name, in a fixed order; `none` for 0.
pub fn poll_names(revents: i16) -> String {
    let bits = [
        (libc::POLLIN, "POLLIN"),
        (libc::POLLRDNORM, "POLLRDNORM"),
        (libc::POLLPRI, "POLLPRI"),
        (libc::POLLOUT, "POLLOUT"),
        (libc::POLLWRNORM, "POLLWRNORM"),
        (libc::POLLERR, "POLLERR"),
        (libc::POLLHUP, "POLLHUP"),
        (libc::POLLNVAL, "POLLNVAL"),
    ];
    let mut v: Vec<String> = bits
        .iter()
        .filter(|(b, _)| revents & b != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let known = bits.iter().fold(0, |a, (b, _)| a | b);
    if revents & !known != 0 {
        v.push(format!("0x{:x}", revents & !known));
    }
    if v.is_empty() {
        "none".into()
    } else {
        v.join(",")
    }
}

pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The `iff:` line of /proc/PID/fdinfo/FD, normalised: `absent`, `empty`,
/// `name` when it names `expect`, `other` otherwise.
pub fn fdinfo_iff(text: &str, expect: &str) -> &'static str {
    match text.lines().find_map(|l| l.strip_prefix("iff:")) {
        None => "absent",
        Some(v) => match v.trim() {
            "" => "empty",
            n if n == expect => "name",
            _ => "other",
        },
    }
}

/// The errno whose strerror() text `ip` printed ("RTNETLINK answers: ...");
/// the longest match wins ("No such device or address" over "No such device").
pub fn errno_from_message(msg: &str) -> Option<Errno> {
    let mut best: Option<(usize, i32)> = None;
    for e in 1..134 {
        // SAFETY: strerror returns a valid C string (glibc: never NULL).
        let s = unsafe { CStr::from_ptr(libc::strerror(e)) }
            .to_string_lossy()
            .into_owned();
        if s.starts_with("Unknown error") || !msg.contains(&s) {
            continue;
        }
        if best.is_none_or(|(len, _)| s.len() > len) {
            best = Some((s.len(), e));
        }
    }
    best.map(|(_, e)| Errno(e))
}

/// The state letter of a /proc/.../stat line ("123 (comm) S ...").
pub fn proc_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
}

/// Which of ethtool -i's fields are there: `driver=yes version=yes bus-info=yes`.
pub fn ethtool_fields(text: &str) -> String {
    let has = |k: &str| {
        text.lines().any(|l| {
            l.split_once(':')
                .is_some_and(|(key, v)| key.trim() == k && !v.trim().is_empty())
        })
    };
    format!(
        "driver={} version={} bus-info={}",
        yes_no(has("driver")),
        yes_no(has("version")),
        yes_no(has("bus-info"))
    )
}

/// Counters as `k=v` pairs; `all zero` if every one is 0.
pub fn fmt_counters(kv: &[(String, String)], only_nonzero: bool) -> String {
    let v: Vec<String> = kv
        .iter()
        .filter(|(_, v)| !only_nonzero || v != "0")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if only_nonzero && v.is_empty() {
        "all zero".into()
    } else {
        v.join(" ")
    }
}

/// The result of each send as `sent=9 ENOBUFS=1`: how many went out, then
/// each errno with its count, in the order they first occurred.
pub fn send_summary(sends: &[Result<(), Errno>]) -> String {
    let mut parts = vec![format!(
        "sent={}",
        sends.iter().filter(|r| r.is_ok()).count()
    )];
    let mut seen: Vec<Errno> = Vec::new();
    for &e in sends.iter().filter_map(|r| r.as_ref().err()) {
        if !seen.contains(&e) {
            seen.push(e);
            parts.push(format!(
                "{e}={}",
                sends.iter().filter(|&&x| x == Err(e)).count()
            ));
        }
    }
    parts.join(" ")
}

/// The root qdisc `ip -o link show` names ("... qdisc pfifo_fast state ..."),
/// or `none`.
pub fn qdisc_of(ip_link: &str) -> String {
    let mut w = ip_link.split_whitespace();
    while let Some(t) = w.next() {
        if t == "qdisc" {
            return w.next().unwrap_or("none").to_string();
        }
    }
    "none".into()
}

/// Frames read per queue: `q0=0 q1=8`.
pub fn fmt_per_queue(counts: &[usize]) -> String {
    counts
        .iter()
        .enumerate()
        .map(|(i, n)| format!("q{i}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where `rtunabi compat32` looks for the 32-bit client, in order:
/// $RTUN_TUN32, next to rtunabi (the guest's /usr/bin), target/tun32 beside
/// target/release/rtunabi (scripts/build.sh), then `tun32` on the PATH.
pub fn tun32_candidates(env: Option<&str>, exe: Option<&Path>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = env
        .filter(|e| !e.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .collect();
    if let Some(dir) = exe.and_then(Path::parent) {
        v.push(dir.join("tun32"));
        if let Some(up) = dir.parent() {
            v.push(up.join("tun32"));
        }
    }
    v.push(PathBuf::from("tun32"));
    v
}

// ---- syscalls ---------------------------------------------------------------------

/// A system call's `ssize_t` result, as the `int` the scenarios print.
fn sys(r: isize) -> Result<i32, Errno> {
    Errno::result(r).map(|v| v as i32)
}

fn open_dev(path: &str, extra: i32) -> Result<Fd, Errno> {
    sys::open_dev(path, extra).map(Fd)
}

/// TUNSETIFF; the ifreq as the kernel copied it back.
fn setiff(fd: i32, name: &str, flags: u16) -> Result<IfReq, Errno> {
    let mut req = IfReq::new(name, flags);
    ioctl(fd, TUNSETIFF, &mut req)?;
    Ok(req)
}

fn getiff(fd: i32) -> Result<u16, Errno> {
    let mut req = IfReq::new("", 0);
    ioctl(fd, TUNGETIFF, &mut req)?;
    Ok(req.flags())
}

fn setqueue(fd: i32, flags: u16) -> Result<i32, Errno> {
    let mut req = IfReq::new("", flags);
    ioctl(fd, TUNSETQUEUE, &mut req)
}

/// An ioctl whose argument is a pointer to one int.
fn ioctl_int(fd: i32, req: u64, v: i32) -> Result<i32, Errno> {
    let mut x = v;
    ioctl(fd, req, &mut x)
}

/// An ioctl that writes one int; the int.
fn ioctl_get_int(fd: i32, req: u64) -> Result<i32, Errno> {
    let mut x: i32 = -12345;
    ioctl(fd, req, &mut x).map(|_| x)
}

fn read_fd(fd: i32, len: usize) -> Result<i32, Errno> {
    let mut buf = vec![0u8; len.max(1)];
    // SAFETY: `buf` is writable for at least `len` bytes.
    sys(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), len) })
}

fn lseek_fd(fd: i32) -> Result<i32, Errno> {
    // SAFETY: lseek takes no pointer.
    sys(unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } as isize)
}

fn write_fd(fd: i32, data: &[u8]) -> Result<i32, Errno> {
    // SAFETY: `data` is readable for its length.
    sys(unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) })
}

fn poll_fd(fd: i32, events: i16, timeout_ms: i32) -> i16 {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: One valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if n < 0 {
        0
    } else {
        p.revents
    }
}

/// Poll readiness right now; asks for every event, as poll() reports only
/// those asked for (and POLLERR, POLLHUP, POLLNVAL).
fn poll_now(fd: i32) -> String {
    poll_names(poll_fd(
        fd,
        libc::POLLIN | libc::POLLRDNORM | libc::POLLPRI | libc::POLLOUT | libc::POLLWRNORM,
        0,
    ))
}

/// Waits up to `ms` for a frame on `fd`; then a little longer, so that frames
/// sent together have all arrived.
fn wait_readable(fd: i32, ms: i32) -> bool {
    let ok = poll_fd(fd, libc::POLLIN, ms) & libc::POLLIN != 0;
    thread::sleep(Duration::from_millis(200));
    ok
}

fn set_fl(fd: i32, set: i32, clear: i32) -> Result<i32, Errno> {
    // SAFETY: fcntl on our fd.
    unsafe {
        let fl = Errno::result(libc::fcntl(fd, libc::F_GETFL))?;
        Errno::result(libc::fcntl(fd, libc::F_SETFL, (fl | set) & !clear))
    }
}

/// Reads frames until nothing has come for `quiet_ms` (the fd must be
/// non-blocking): frames that arrive while it reads (a woken queue) count too.
fn drain_wait(fd: i32, quiet_ms: i32) -> usize {
    let mut n = 0;
    while n < 10000 {
        if read_fd(fd, 65536).is_ok() {
            n += 1;
        } else if poll_fd(fd, libc::POLLIN, quiet_ms) & libc::POLLIN == 0 {
            break;
        }
    }
    n
}

/// Reads frames until EAGAIN (the fd must be non-blocking); how many.
fn drain(fd: i32) -> usize {
    let mut n = 0;
    while read_fd(fd, 65536).is_ok() && n < 10000 {
        n += 1;
    }
    n
}

/// A 60-byte broadcast Ethernet frame, ethertype 0x88b5.
fn eth_frame() -> Vec<u8> {
    let mut f = frame::default_eth_frame();
    f.resize(60, 0);
    f
}

/// Sends `count` frames out through `name`'s xmit path (AF_PACKET).
fn inject(name: &str, count: usize) -> Result<i32, Errno> {
    let f = eth_frame();
    frame::inject(name, &f, 0x88b5, count, false).map(|n| n as i32)
}

fn sysfs(name: &str, attr: &str) -> String {
    match net::sysfs_net(name, attr) {
        Ok(s) => s,
        Err(e) => e
            .raw_os_error()
            .map(|e| Errno(e).to_string())
            .unwrap_or_else(|| "error".into()),
    }
}

const MAIN_COUNTERS: [&str; 6] = [
    "rx_packets",
    "rx_bytes",
    "rx_dropped",
    "tx_packets",
    "tx_bytes",
    "tx_dropped",
];

fn counters(name: &str, keys: &[&str]) -> Vec<(String, String)> {
    keys.iter()
        .map(|k| (k.to_string(), sysfs(name, &format!("statistics/{k}"))))
        .collect()
}

/// Every file of /sys/class/net/NAME/statistics, sorted.
fn all_counters(name: &str) -> Vec<(String, String)> {
    let mut keys: Vec<String> = fs::read_dir(format!("/sys/class/net/{name}/statistics"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys.iter()
        .map(|k| (k.clone(), sysfs(name, &format!("statistics/{k}"))))
        .collect()
}

fn ifindex(name: &str) -> u32 {
    net::if_index(name).unwrap_or(0)
}

/// Runs a command with a timeout: Some((success, stderr)), None if it hung.
fn run(prog: &str, args: &[&str], timeout: Duration) -> Option<(bool, String, String)> {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if t0.elapsed() < timeout => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn tool(name: &str) -> String {
    // busybox has an `ip` applet too: prefer iproute2's.
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = format!("{dir}/{name}");
        if fs::metadata(&p).is_ok() {
            return p;
        }
    }
    name.to_string()
}

/// `ip ARGS`: `0`, the errno name iproute2 reported, `failed` or `timeout`.
fn ip(args: &[&str]) -> String {
    match run(&tool("ip"), args, Duration::from_secs(10)) {
        None => "timeout".into(),
        Some((true, _, _)) => "0".into(),
        Some((false, _, err)) => errno_from_message(&err)
            .map(|e| e.to_string())
            .unwrap_or_else(|| "failed".into()),
    }
}

/// Runs `f` (a call that may block) on a thread of its own: the thread's id,
/// once it runs (for /proc/self/task/TID and tgkill), and where its result
/// comes; `None` if the thread did not start within 5 s.
fn spawn_call(
    f: impl FnOnce() -> Result<i32, Errno> + Send + 'static,
) -> Option<(i32, mpsc::Receiver<Result<i32, Errno>>)> {
    let (tid_tx, tid_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // SAFETY: gettid has no arguments.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        let _ = tid_tx.send(tid as i32);
        let _ = tx.send(f());
    });
    let tid = tid_rx.recv_timeout(Duration::from_secs(5)).ok()?;
    Some((tid, rx))
}

/// A namespace fd returned by an ioctl: `fd, same netns` when it is ours.
fn netns_result(r: Result<i32, Errno>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(nsfd) => {
            let nsfd = Fd(nsfd);
            // SAFETY: stat buffers are plain data; valid fd and path.
            let same = unsafe {
                let mut a: libc::stat = std::mem::zeroed();
                let mut b: libc::stat = std::mem::zeroed();
                libc::fstat(nsfd.0, &mut a) == 0
                    && libc::stat(c"/proc/self/ns/net".as_ptr(), &mut b) == 0
                    && a.st_ino == b.st_ino
                    && a.st_dev == b.st_dev
            };
            format!("fd, {} netns", if same { "same" } else { "other" })
        }
    }
}

// ---- the context of a scenario ---------------------------------------------------

pub struct Ctx {
    dev: String,
    /// Every device a scenario created, deleted at the end if still there.
    names: Vec<String>,
}

impl Ctx {
    fn say(&self, step: &str, v: impl Display) {
        println!("{step}: {v}");
        let _ = std::io::stdout().flush();
    }

    fn show(&self, step: &str, r: Result<i32, Errno>) {
        self.say(step, rv(&r));
    }

    /// A setup step: prints `0` or the errno; an errno stops the scenario.
    fn need<T>(&self, step: &str, r: Result<T, Errno>) -> Result<T, Stop> {
        match r {
            Ok(v) => {
                self.say(step, 0);
                Ok(v)
            }
            Err(e) => {
                self.say(step, e);
                Err(Stop)
            }
        }
    }

    /// `ip ARGS` as a setup step.
    fn ip_need(&self, step: &str, args: &[&str]) -> Res {
        let r = ip(args);
        self.say(step, &r);
        if r == "0" {
            Ok(())
        } else {
            Err(Stop)
        }
    }

    fn open(&self) -> Result<Fd, Errno> {
        open_dev(&self.dev, 0)
    }

    fn track(&mut self, name: &str) {
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_string());
        }
    }

    /// Opens the device node and creates a new device (the kernel names it).
    fn create(&mut self, step: &str, flags: u16) -> Result<(Fd, String), Stop> {
        let r = self
            .open()
            .and_then(|fd| setiff(fd.0, "", flags).map(|req| (fd, req.name())));
        let (fd, name) = self.need(step, r)?;
        self.track(&name);
        Ok((fd, name))
    }

    /// Opens the device node and attaches to the existing device `name`.
    fn attach(&mut self, step: &str, name: &str, flags: u16) -> Result<Fd, Stop> {
        let r = self
            .open()
            .and_then(|fd| setiff(fd.0, name, flags).map(|_| fd));
        self.need(step, r)
    }

    fn up(&self, name: &str) -> Res {
        self.ip_need("link up", &["link", "set", "dev", name, "up"])
    }

    fn cleanup(&mut self) {
        for n in self.names.drain(..) {
            if fs::metadata(format!("/sys/class/net/{n}")).is_ok() {
                let r = ip(&["link", "del", "dev", &n]);
                if r != "0" {
                    eprintln!("rtunabi: cleanup: ip link del {n}: {r}");
                }
            }
        }
    }
}

const TAP: u16 = IFF_TAP | IFF_NO_PI;
const TAP_MQ: u16 = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;

// ---- C1 --------------------------------------------------------------------------------

/// A queue detached with TUNSETQUEUE stays bound to its device: ioctls work
/// on it, reads find nothing, writes still reach the stack; TUNSETIFF on it
/// is refused.
fn detached_queue_ops(c: &mut Ctx) -> Res {
    let (fd1, name) = c.create("fd1 TUNSETIFF tap multi_queue", TAP_MQ)?;
    let fd2 = c.attach("fd2 TUNSETIFF same device", &name, TAP_MQ)?;
    c.up(&name)?;
    c.need("fd1 TUNSETQUEUE detach", setqueue(fd1.0, IFF_DETACH_QUEUE))?;
    c.show(
        "detached TUNSETQUEUE detach again",
        setqueue(fd1.0, IFF_DETACH_QUEUE),
    );
    c.show(
        "detached TUNSETVNETHDRSZ 12",
        ioctl_int(fd1.0, TUNSETVNETHDRSZ, 12),
    );
    c.show(
        "detached TUNGETVNETHDRSZ",
        ioctl_get_int(fd1.0, TUNGETVNETHDRSZ),
    );
    c.say("detached TUNGETIFF", fmt_flags(&getiff(fd1.0)));
    c.say("fd2 TUNGETIFF", fmt_flags(&getiff(fd2.0)));
    c.need("fd1 O_NONBLOCK", set_fl(fd1.0, libc::O_NONBLOCK, 0))?;
    c.need("fd2 O_NONBLOCK", set_fl(fd2.0, libc::O_NONBLOCK, 0))?;
    c.show("detached nonblocking read", read_fd(fd1.0, 2048));
    c.show(
        "detached write 60-byte frame",
        write_fd(fd1.0, &eth_frame()),
    );
    c.say("detached poll", poll_now(fd1.0));
    c.show("inject 1 frame", inject(&name, 1));
    c.say("attached fd2 gets it", yes_no(wait_readable(fd2.0, 2000)));
    c.say("detached poll after xmit", poll_now(fd1.0));
    c.show("fd2 read", read_fd(fd2.0, 2048));
    c.show(
        "detached TUNSETIFF",
        setiff(fd1.0, &name, TAP_MQ).map(|_| 0),
    );
    c.show(
        "detached TUNSETIFF no name",
        setiff(fd1.0, "", TAP_MQ).map(|_| 0),
    );
    c.show("reattach", setqueue(fd1.0, IFF_ATTACH_QUEUE));
    c.show(
        "TUNSETQUEUE attach again",
        setqueue(fd1.0, IFF_ATTACH_QUEUE),
    );
    c.say("reattached TUNGETIFF", fmt_flags(&getiff(fd1.0)));
    c.show(
        "reattached TUNGETVNETHDRSZ",
        ioctl_get_int(fd1.0, TUNGETVNETHDRSZ),
    );
    c.say("reattached poll", poll_now(fd1.0));
    Ok(())
}

// ---- C2 --------------------------------------------------------------------------------

/// Drops every capability: uid/gid 1000, no supplementary groups.
fn drop_privileges() -> Result<i32, Errno> {
    // SAFETY: Plain credential syscalls.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(1000) != 0
            || libc::setuid(1000) != 0
        {
            return Err(Errno::last());
        }
    }
    Ok(0)
}

/// Re-attaching a detached queue needs no privilege (tun_set_queue checks
/// only the LSM hook); attaching a new queue does (tun_permitted).
fn reattach_unprivileged(c: &mut Ctx) -> Res {
    let (fd1, name) = c.create("fd1 TUNSETIFF tap multi_queue", TAP_MQ)?;
    let fd2 = c.attach("fd2 TUNSETIFF same device", &name, TAP_MQ)?;
    c.need("fd2 TUNSETQUEUE detach", setqueue(fd2.0, IFF_DETACH_QUEUE))?;
    let _ = std::io::stdout().flush();
    // SAFETY: Single-threaded here; the child only makes syscalls and prints.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return c.need("fork", Err::<(), Errno>(Errno::last()));
    }
    if pid == 0 {
        // Opened as root: what is checked is the ioctl, not the node's mode.
        let fd3 = c.open();
        let r = drop_privileges();
        c.show("child drops privileges (uid 1000)", r);
        if r.is_ok() {
            c.show("unprivileged reattach", setqueue(fd2.0, IFF_ATTACH_QUEUE));
            c.say("unprivileged TUNGETIFF", fmt_flags(&getiff(fd2.0)));
            c.show("unprivileged detach", setqueue(fd2.0, IFF_DETACH_QUEUE));
            c.show(
                "unprivileged reattach again",
                setqueue(fd2.0, IFF_ATTACH_QUEUE),
            );
            let r = fd3.and_then(|fd| setiff(fd.0, &name, TAP_MQ).map(|_| 0));
            c.show("unprivileged TUNSETIFF new queue", r);
        }
        let _ = std::io::stdout().flush();
        // SAFETY: Leave the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: Our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    c.say("child exit status", status);
    c.say("fd2 TUNGETIFF", fmt_flags(&getiff(fd2.0)));
    c.say("fd1 TUNGETIFF", fmt_flags(&getiff(fd1.0)));
    Ok(())
}

// ---- M1 --------------------------------------------------------------------------------

/// The feature flags (NO_PI, VNET_HDR, ...) are the first queue's: a second
/// queue of a multi-queue device does not change them; the first attach to a
/// persistent device with no queue sets them anew.
fn second_attacher_flags(c: &mut Ctx) -> Res {
    let (fd1, a) = c.create("mq fd1 TUNSETIFF vnet_hdr", TAP_MQ | IFF_VNET_HDR)?;
    let fd2 = c.attach("mq fd2 TUNSETIFF without vnet_hdr", &a, TAP_MQ)?;
    c.say("mq fd1 TUNGETIFF", fmt_flags(&getiff(fd1.0)));
    c.say("mq fd2 TUNGETIFF", fmt_flags(&getiff(fd2.0)));
    c.say("mq tun_flags", sysfs(&a, "tun_flags"));
    drop((fd1, fd2));

    let (fd1, b) = c.create("mq2 fd1 TUNSETIFF without vnet_hdr", TAP_MQ)?;
    let fd2 = c.attach("mq2 fd2 TUNSETIFF vnet_hdr", &b, TAP_MQ | IFF_VNET_HDR)?;
    c.say("mq2 fd2 TUNGETIFF", fmt_flags(&getiff(fd2.0)));
    c.say("mq2 tun_flags", sysfs(&b, "tun_flags"));
    drop((fd1, fd2));

    let (fd, s) = c.create("persistent TUNSETIFF vnet_hdr no_pi", TAP | IFF_VNET_HDR)?;
    c.need(
        "persistent TUNSETPERSIST 1",
        ioctl_val(fd.0, TUNSETPERSIST, 1),
    )?;
    drop(fd);
    c.say("persistent closed tun_flags", sysfs(&s, "tun_flags"));
    let fd = c.attach("persistent reopened TUNSETIFF plain tap", &s, IFF_TAP)?;
    c.say("persistent reopened TUNGETIFF", fmt_flags(&getiff(fd.0)));
    c.say("persistent reopened tun_flags", sysfs(&s, "tun_flags"));
    c.show(
        "persistent TUNSETPERSIST 0",
        ioctl_val(fd.0, TUNSETPERSIST, 0),
    );
    drop(fd);

    let (fd, m) = c.create("persistent mq TUNSETIFF vnet_hdr", TAP_MQ | IFF_VNET_HDR)?;
    c.need(
        "persistent mq TUNSETPERSIST 1",
        ioctl_val(fd.0, TUNSETPERSIST, 1),
    )?;
    drop(fd);
    let fd = c.attach("persistent mq reopened without vnet_hdr", &m, TAP_MQ)?;
    c.say("persistent mq reopened TUNGETIFF", fmt_flags(&getiff(fd.0)));
    c.show(
        "persistent mq TUNSETPERSIST 0",
        ioctl_val(fd.0, TUNSETPERSIST, 0),
    );
    Ok(())
}

// ---- M4 --------------------------------------------------------------------------------

/// read() with a zero-length buffer returns 0 and leaves the frame queued.
fn zero_length_read(c: &mut Ctx) -> Res {
    let (fd, name) = c.create("TUNSETIFF tap", TAP)?;
    c.need("O_NONBLOCK", set_fl(fd.0, libc::O_NONBLOCK, 0))?;
    c.show("read 0 bytes, nothing queued", read_fd(fd.0, 0));
    c.up(&name)?;
    c.show("inject 1 frame", inject(&name, 1));
    c.say("frame queued", yes_no(wait_readable(fd.0, 2000)));
    c.show("read 0 bytes", read_fd(fd.0, 0));
    c.say("poll after zero-length read", poll_now(fd.0));
    c.show("read", read_fd(fd.0, 2048));
    c.show("read again", read_fd(fd.0, 2048));
    c.show("inject 1 frame", inject(&name, 1));
    c.say("frame queued", yes_no(wait_readable(fd.0, 2000)));
    c.show("read 10 bytes of it", read_fd(fd.0, 10));
    c.show("read after the short read", read_fd(fd.0, 2048));
    // tun has no llseek: the file is not seekable.
    c.show("lseek to 0", lseek_fd(fd.0));
    Ok(())
}

// ---- M5 --------------------------------------------------------------------------------

/// A new device starts with zero counters, whatever the fd went through.
fn counters_reset_on_rebind(c: &mut Ctx) -> Res {
    let (fd, a) = c.create("A TUNSETIFF tap", TAP)?;
    c.need("A TUNSETPERSIST 1", ioctl_val(fd.0, TUNSETPERSIST, 1))?;
    c.up(&a)?;
    c.need("O_NONBLOCK", set_fl(fd.0, libc::O_NONBLOCK, 0))?;
    let f = eth_frame();
    let wrote: Vec<String> = (0..3).map(|_| rv(&write_fd(fd.0, &f))).collect();
    c.say("A write 3 frames", wrote.join(","));
    c.show("A inject 2 frames", inject(&a, 2));
    c.say("A frames queued", yes_no(wait_readable(fd.0, 2000)));
    c.show("A read 1 frame", read_fd(fd.0, 2048));
    c.say(
        "A counters",
        fmt_counters(&counters(&a, &MAIN_COUNTERS), false),
    );
    drop(fd);
    c.say(
        "A counters after close",
        fmt_counters(&counters(&a, &MAIN_COUNTERS), false),
    );
    let fd = c.attach("A reattach", &a, TAP)?;
    c.say(
        "A counters after reattach",
        fmt_counters(&counters(&a, &MAIN_COUNTERS), false),
    );
    c.ip_need("ip link del A", &["link", "del", "dev", &a])?;
    c.say("fd TUNGETIFF after delete", fmt_flags(&getiff(fd.0)));
    let r = setiff(fd.0, "", TAP).map(|req| req.name());
    let b = c.need("same fd TUNSETIFF new device B", r)?;
    c.track(&b);
    c.say("B counters", fmt_counters(&all_counters(&b), true));
    c.up(&b)?;
    c.say("B counters after up", fmt_counters(&all_counters(&b), true));
    let (_fd2, d) = c.create("new fd TUNSETIFF new device C", TAP)?;
    c.say("C counters", fmt_counters(&all_counters(&d), true));
    Ok(())
}

// ---- M8 --------------------------------------------------------------------------------

/// Detaching a queue frees the frames on its ring: after re-attaching, there
/// is nothing to read.
fn purge_on_detach(c: &mut Ctx) -> Res {
    let (fd1, name) = c.create("fd1 TUNSETIFF tap multi_queue", TAP_MQ)?;
    let fd2 = c.attach("fd2 TUNSETIFF same device", &name, TAP_MQ)?;
    c.need("fd1 O_NONBLOCK", set_fl(fd1.0, libc::O_NONBLOCK, 0))?;
    c.need("fd2 O_NONBLOCK", set_fl(fd2.0, libc::O_NONBLOCK, 0))?;
    c.up(&name)?;
    c.show("inject 3 frames", inject(&name, 3));
    // The queue is chosen by flow hash: find the one that got them.
    let t0 = Instant::now();
    let busy = loop {
        let a = poll_fd(fd1.0, libc::POLLIN, 0) & libc::POLLIN != 0;
        let b = poll_fd(fd2.0, libc::POLLIN, 0) & libc::POLLIN != 0;
        if a || b || t0.elapsed() > Duration::from_secs(2) {
            break if a {
                Some(&fd1)
            } else if b {
                Some(&fd2)
            } else {
                None
            };
        }
        thread::sleep(Duration::from_millis(20));
    };
    c.say("a queue holds the frames", yes_no(busy.is_some()));
    let Some(busy) = busy else { return Err(Stop) };
    thread::sleep(Duration::from_millis(200));
    c.need("detach that queue", setqueue(busy.0, IFF_DETACH_QUEUE))?;
    c.show("read while detached", read_fd(busy.0, 2048));
    c.need("reattach", setqueue(busy.0, IFF_ATTACH_QUEUE))?;
    c.show("read after reattach", read_fd(busy.0, 2048));
    c.say("poll after reattach", poll_now(busy.0));
    c.say(
        "frames left on the other queue",
        drain(if busy.0 == fd1.0 { fd2.0 } else { fd1.0 }),
    );
    Ok(())
}

// ---- IFF_NAPI ---------------------------------------------------------------------------

/// IFF_NAPI: written frames go through a NAPI instance; a detached queue's
/// instance is off, so tun refuses its writes with EBUSY. IFF_NAPI_FRAGS needs
/// IFF_NAPI and a TAP device.
fn napi(c: &mut Ctx) -> Res {
    for (label, flags) in [
        ("napi_frags without napi", TAP | IFF_NAPI_FRAGS),
        (
            "napi_frags on tun",
            IFF_TUN | IFF_NO_PI | IFF_NAPI | IFF_NAPI_FRAGS,
        ),
    ] {
        let r = c
            .open()
            .and_then(|fd| setiff(fd.0, "", flags).map(|req| req.name()));
        if let Ok(name) = &r {
            c.track(name);
        }
        c.say(&format!("TUNSETIFF {label}"), rv(&r.map(|_| 0)));
    }
    for (label, extra) in [
        ("napi", IFF_NAPI),
        ("napi_frags", IFF_NAPI | IFF_NAPI_FRAGS),
    ] {
        let (fd1, name) = c.create(
            &format!("{label}: TUNSETIFF tap multi_queue"),
            TAP_MQ | extra,
        )?;
        let fd2 = c.attach(&format!("{label}: fd2 TUNSETIFF"), &name, TAP_MQ | extra)?;
        c.up(&name)?;
        let f = eth_frame();
        c.show(&format!("{label}: write"), write_fd(fd1.0, &f));
        c.say(&format!("{label}: TUNGETIFF"), fmt_flags(&getiff(fd1.0)));
        c.need(
            &format!("{label}: detach fd1"),
            setqueue(fd1.0, IFF_DETACH_QUEUE),
        )?;
        // The frame written before is through the stack (which counts it in
        // rx_dropped: no protocol takes 0x88b5); tun frees the refused one
        // without counting it.
        thread::sleep(Duration::from_millis(200));
        let dropped = || {
            sysfs(&name, "statistics/rx_dropped")
                .parse::<i64>()
                .unwrap_or(-1)
        };
        let before = dropped();
        c.show(
            &format!("{label}: write on the detached queue"),
            write_fd(fd1.0, &f),
        );
        c.say(
            &format!("{label}: rx_dropped by that write"),
            dropped() - before,
        );
        c.show(&format!("{label}: write on fd2"), write_fd(fd2.0, &f));
        c.need(
            &format!("{label}: reattach fd1"),
            setqueue(fd1.0, IFF_ATTACH_QUEUE),
        )?;
        c.show(
            &format!("{label}: write after reattach"),
            write_fd(fd1.0, &f),
        );
        thread::sleep(Duration::from_millis(200));
        c.say(
            &format!("{label}: rx_packets"),
            sysfs(&name, "statistics/rx_packets"),
        );
        drop(fd2);
        drop(fd1);
    }
    Ok(())
}

/// A trace instance of its own with `net:napi_gro_frags_entry` on: what
/// napi_gro_frags() saw of each frame. Removed on drop.
struct GroFragsTrace(PathBuf);

impl GroFragsTrace {
    fn new() -> Result<Self, Errno> {
        let dir = PathBuf::from(format!(
            "/sys/kernel/tracing/instances/rtunabi_frags_{}",
            std::process::id()
        ));
        let io = |e: std::io::Error| Errno(e.raw_os_error().unwrap_or(libc::EIO));
        fs::create_dir(&dir).map_err(io)?;
        let t = GroFragsTrace(dir);
        fs::write(t.0.join("events/net/napi_gro_frags_entry/enable"), "1").map_err(io)?;
        Ok(t)
    }

    /// `len=.. data_len=.. nr_frags=..` of each event since the last call,
    /// or `none`.
    fn take(&self) -> String {
        let text = fs::read_to_string(self.0.join("trace")).unwrap_or_default();
        let _ = fs::write(self.0.join("trace"), "");
        let mut out = Vec::new();
        for line in text.lines().filter(|l| l.contains("napi_gro_frags_entry:")) {
            let field = |k: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .unwrap_or("?")
                    .to_string()
            };
            out.push(format!(
                "len={} data_len={} nr_frags={}",
                field("len="),
                field("data_len="),
                field("nr_frags=")
            ));
        }
        if out.is_empty() {
            "none".into()
        } else {
            out.join("; ")
        }
    }
}

impl Drop for GroFragsTrace {
    fn drop(&mut self) {
        let _ = fs::write(self.0.join("events/net/napi_gro_frags_entry/enable"), "0");
        let _ = fs::remove_dir(&self.0);
    }
}

/// `name`'s rx_dropped, or -1.
fn dropped_of(name: &str) -> i64 {
    sysfs(name, "statistics/rx_dropped")
        .parse::<i64>()
        .unwrap_or(-1)
}

/// A packet socket on `name` that receives the 0x88b5 frames reaching the stack.
fn frame_socket(name: &str) -> Result<Fd, Errno> {
    let idx = net::if_index(name)? as i32;
    let proto = 0x88b5u16;
    // SAFETY: Plain socket call.
    let fd =
        Fd(sys(
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto.to_be())) }
                as isize,
        )?);
    bind_ll(&fd, idx, proto)?;
    Ok(fd)
}

/// Binds packet socket `fd` to interface `idx` for protocol `proto` (host
/// byte order).
fn bind_ll(fd: &Fd, idx: i32, proto: u16) -> Result<(), Errno> {
    let sa = frame::ll_addr(idx, proto);
    // SAFETY: `sa` is a valid sockaddr_ll.
    sys(unsafe {
        libc::bind(
            fd.0,
            (&sa as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    } as isize)?;
    Ok(())
}

/// writev() of `frame` cut into segments of the lengths `cuts` (the last one
/// takes the rest; a cut past the end is an empty segment).
fn writev_cut(fd: i32, frame: &[u8], cuts: &[usize]) -> Result<i32, Errno> {
    let iov = iovecs_cut(frame, cuts);
    // SAFETY: Every iovec points into `frame`, within its length.
    sys(unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as i32) })
}

/// What the frame socket got within 1 s: `N bytes, same` (as written),
/// `N bytes, different`, or `no frame`.
fn frame_back(fd: i32, written: &[u8]) -> String {
    if !wait_readable(fd, 1000) {
        return "no frame".into();
    }
    let mut buf = vec![0u8; 70000];
    // SAFETY: `buf` is ours for its length.
    match sys(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) }) {
        Ok(n) => {
            let n = n as usize;
            let same = buf.get(..n) == Some(written);
            format!("{n} bytes, {}", if same { "same" } else { "different" })
        }
        Err(e) => e.to_string(),
    }
}

/// IFF_NAPI_FRAGS frames as tun lays them out (tun_napi_alloc_frags): what is
/// left of the first segment is linear and every later segment a page
/// fragment of its own, handed to napi_gro_frags(), which the
/// `napi_gro_frags_entry` tracepoint shows. Its limits: a segment past the
/// first empty or over a page (EINVAL), more than MAX_SKB_FRAGS + 1 segments
/// or more than an Ethernet MTU's worth of bytes (EMSGSIZE), each counted in
/// rx_dropped.
fn napi_frags_layout(c: &mut Ctx) -> Res {
    let (fd, name) = c.create(
        "TUNSETIFF tap napi napi_frags",
        TAP | IFF_NAPI | IFF_NAPI_FRAGS,
    )?;
    c.up(&name)?;
    let ps = c.need("packet socket for 0x88b5", frame_socket(&name))?;
    let trace = c.need(
        "trace instance with napi_gro_frags_entry",
        GroFragsTrace::new(),
    )?;
    let dropped = || dropped_of(&name);
    let mut big = frame::default_eth_frame();
    big.resize(3000, 0x5a);
    let mut huge = frame::default_eth_frame();
    huge.resize(65472, 0x5a);
    let max_segs: Vec<usize> = vec![14; 17];
    let too_many: Vec<usize> = vec![14; 18];
    let page = 4096;
    let cases: [(&str, &[u8], Vec<usize>); 9] = [
        ("one segment", &big, vec![]),
        ("eth | ip | rest", &big, vec![14, 40]),
        ("eth header split 6 | 8 | rest", &big, vec![6, 8]),
        ("1000 | 1000 | rest", &big, vec![1000, 1000]),
        ("18 segments", &big, max_segs),
        ("19 segments", &big, too_many),
        ("empty middle segment", &big, vec![14, 0]),
        ("segment over a page", &huge[..page + 100], vec![14]),
        ("65472 bytes", &huge, vec![65000]),
    ];
    for (label, f, cuts) in cases {
        let before = dropped();
        c.show(&format!("{label}: writev"), writev_cut(fd.0, f, &cuts));
        c.say(&format!("{label}: read back"), frame_back(ps.0, f));
        c.say(&format!("{label}: GRO saw"), trace.take());
        c.say(&format!("{label}: rx_dropped"), dropped() - before);
    }
    drop(trace);
    drop(ps);
    drop(fd);

    // With a virtio-net header (10 bytes, before the frame, read first): the
    // frame after it is laid out as without one; an invalid header (GSO
    // TCPv4 with no size) is refused, counted in rx_frame_errors as tun
    // does, not in rx_dropped.
    let (fd, name) = c.create(
        "vnet_hdr: TUNSETIFF tap napi napi_frags vnet_hdr",
        TAP | IFF_NAPI | IFF_NAPI_FRAGS | IFF_VNET_HDR,
    )?;
    c.up(&name)?;
    let ps = c.need("vnet_hdr: packet socket for 0x88b5", frame_socket(&name))?;
    let trace = c.need("vnet_hdr: trace instance", GroFragsTrace::new())?;
    for (label, hdr) in [
        ("vnet_hdr: plain header", [0u8; 10]),
        (
            "vnet_hdr: GSO TCPv4 without size",
            [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ] {
        let mut w = hdr.to_vec();
        w.extend_from_slice(&big);
        let before = dropped_of(&name);
        c.show(
            &format!("{label}: writev 10 | 14 | 40 | rest"),
            writev_cut(fd.0, &w, &[10, 14, 40]),
        );
        c.say(&format!("{label}: read back"), frame_back(ps.0, &big));
        c.say(&format!("{label}: GRO saw"), trace.take());
        c.say(&format!("{label}: rx_dropped"), dropped_of(&name) - before);
    }
    drop(trace);
    drop(ps);
    drop(fd);

    // The path is each queue's own choice (tun's napi_frags_enabled): on one
    // multi-queue device, a queue attached with IFF_NAPI only takes 19
    // segments, one attached with IFF_NAPI_FRAGS refuses them.
    for (label, first, second) in [
        ("frags, then napi", IFF_NAPI | IFF_NAPI_FRAGS, IFF_NAPI),
        ("napi, then frags", IFF_NAPI, IFF_NAPI | IFF_NAPI_FRAGS),
    ] {
        let (fd1, name) = c.create(&format!("{label}: TUNSETIFF fd1"), TAP_MQ | first)?;
        let fd2 = c.attach(&format!("{label}: TUNSETIFF fd2"), &name, TAP_MQ | second)?;
        c.up(&name)?;
        let too_many: Vec<usize> = vec![14; 18];
        for (which, fd) in [("fd1", &fd1), ("fd2", &fd2)] {
            c.show(
                &format!("{label}: 19 segments on {which}"),
                writev_cut(fd.0, &big, &too_many),
            );
        }
        drop(fd2);
        drop(fd1);
    }
    Ok(())
}

// ---- rx queue ---------------------------------------------------------------------------

/// A packet socket on `name` whose classic filter takes only 0x88b5 frames,
/// with a snap length of `skb->queue_mapping + 1` (`ld #queue`, SKF_AD_QUEUE):
/// the length a recv returns tells the receive queue the stack recorded.
fn queue_socket(name: &str) -> Result<Fd, Errno> {
    let idx = net::if_index(name)? as i32;
    // No protocol until bound: nothing arrives before the filter is on.
    // SAFETY: Plain socket call.
    let fd = Fd(sys(
        unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) } as isize,
    )?);
    let ins = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let prog = [
        ins(
            (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16,
            0,
            0,
            12,
        ),
        ins(
            (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            0,
            3,
            0x88b5,
        ),
        ins(
            (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            0,
            0,
            (libc::SKF_AD_OFF + libc::SKF_AD_QUEUE) as u32,
        ),
        ins(
            (libc::BPF_ALU | libc::BPF_ADD | libc::BPF_K) as u16,
            0,
            0,
            1,
        ),
        ins((libc::BPF_RET | libc::BPF_A) as u16, 0, 0, 0),
        ins((libc::BPF_RET | libc::BPF_K) as u16, 0, 0, 0),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` and the program it points to live across the call.
    sys(unsafe {
        libc::setsockopt(
            fd.0,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as u32,
        )
    } as isize)?;
    bind_ll(&fd, idx, libc::ETH_P_ALL as u16)?;
    Ok(fd)
}

/// The receive queue recorded for the next frame `queue_socket` gets (1 s at
/// most): `rx-N`, `none` (not recorded), `no frame`, or the errno.
fn recorded_queue(fd: i32) -> String {
    if !wait_readable(fd, 1000) {
        return "no frame".into();
    }
    let mut buf = [0u8; 64];
    // SAFETY: `buf` is ours for its length.
    match sys(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) }) {
        Ok(0) => "no frame".into(),
        Ok(1) => "none".into(),
        Ok(n) => format!("rx-{}", n - 2),
        Err(e) => e.to_string(),
    }
}

/// skb_record_rx_queue: tun_get_user records the writer's queue as the
/// frame's receive queue (RPS, packet fanout, BPF see it), on every path:
/// plain, IFF_NAPI and IFF_NAPI_FRAGS.
fn rx_queue(c: &mut Ctx) -> Res {
    for (label, extra) in [
        ("plain", 0),
        ("napi", IFF_NAPI),
        ("napi_frags", IFF_NAPI | IFF_NAPI_FRAGS),
    ] {
        let (fd1, name) = c.create(
            &format!("{label}: TUNSETIFF tap multi_queue"),
            TAP_MQ | extra,
        )?;
        let fd2 = c.attach(&format!("{label}: fd2 TUNSETIFF"), &name, TAP_MQ | extra)?;
        c.up(&name)?;
        let ps = c.need(
            &format!("{label}: packet socket reporting the rx queue"),
            queue_socket(&name),
        )?;
        let f = eth_frame();
        // fd1 is queue 0, fd2 queue 1.
        for (i, (q, fd)) in [(1, fd2.0), (0, fd1.0), (1, fd2.0)].into_iter().enumerate() {
            c.show(
                &format!("{label}: write {i} on queue {q}"),
                write_fd(fd, &f),
            );
            c.say(
                &format!("{label}: write {i}: recorded"),
                recorded_queue(ps.0),
            );
        }
        drop(ps);
        drop(fd2);
        drop(fd1);
    }
    Ok(())
}

// ---- m3 ---------------------------------------------------------------------------------

/// Independent blocks: one whose setup fails does not hide the others.
fn errnos(c: &mut Ctx) -> Res {
    let blocks: [Scenario; 12] = [
        errnos_setiff,
        errnos_tun_and_tap,
        errnos_no_carrier,
        errnos_unattached,
        errnos_getiff_bytes,
        errnos_carrier,
        errnos_writes,
        errnos_ifindex,
        errnos_misc_ioctls,
        errnos_hwaddr,
        errnos_queue,
        errnos_deleted_under_reader,
    ];
    let mut r = Ok(());
    for b in blocks {
        if b(c).is_err() {
            r = Err(Stop);
        }
    }
    r
}

fn errnos_setiff(c: &mut Ctx) -> Res {
    let fd = c.need("open", c.open())?;
    let feat = ioctl_get_int(fd.0, TUNGETFEATURES);
    c.say(
        "TUNGETFEATURES",
        feat.map(|v| format!("0 features=0x{:x}", v as u32))
            .unwrap_or_else(|e| e.to_string()),
    );
    let r = setiff(fd.0, "", TAP);
    let req = c.need("TUNSETIFF tap no_pi", r)?;
    let a = req.name();
    c.track(&a);
    c.say(
        "TUNSETIFF flags copied back",
        format!("0x{:x}", req.flags()),
    );
    c.show(
        "TUNSETIFF twice on one fd",
        setiff(fd.0, "", TAP).map(|_| 0),
    );
    c.show(
        "TUNSETIFF twice, same name",
        setiff(fd.0, &a, TAP).map(|_| 0),
    );
    let other = |name: &str, flags: u16| c.open().and_then(|f| setiff(f.0, name, flags).map(|_| 0));
    c.show("attach tun to a tap device", other(&a, IFF_TUN | IFF_NO_PI));
    c.show("second queue on a single-queue device", other(&a, TAP));
    c.show(
        "multi_queue attach to a single-queue device",
        other(&a, TAP_MQ),
    );
    c.show(
        "IFF_TUN_EXCL on an existing name",
        other(&a, TAP | IFF_TUN_EXCL),
    );
    c.show("TUNSETIFF neither tun nor tap", other("", IFF_NO_PI));
    Ok(())
}

/// IFF_TUN wins over IFF_TAP when both are set.
fn errnos_tun_and_tap(c: &mut Ctx) -> Res {
    let (fd, t) = c.create("TUNSETIFF tun|tap", IFF_TUN | IFF_TAP | IFF_NO_PI)?;
    c.say("tun|tap TUNGETIFF", fmt_flags(&getiff(fd.0)));
    c.say("tun|tap link type", sysfs(&t, "type"));
    Ok(())
}

fn errnos_no_carrier(c: &mut Ctx) -> Res {
    let (fd, n) = c.create("TUNSETIFF no_carrier", TAP | IFF_NO_CARRIER)?;
    c.up(&n)?;
    c.say("no_carrier carrier", sysfs(&n, "carrier"));
    c.say("no_carrier TUNGETIFF", fmt_flags(&getiff(fd.0)));
    Ok(())
}

/// Everything but TUNSETIFF, TUNSETIFINDEX, TUNGETFEATURES, TUNSETQUEUE and
/// SIOCGSKNS needs an attached fd.
fn errnos_unattached(c: &mut Ctx) -> Res {
    let fd = c.need("unattached open", c.open())?;
    c.say("unattached TUNGETIFF", fmt_flags(&getiff(fd.0)));
    c.show(
        "unattached TUNSETPERSIST",
        ioctl_val(fd.0, TUNSETPERSIST, 1),
    );
    c.show(
        "unattached TUNGETVNETHDRSZ",
        ioctl_get_int(fd.0, TUNGETVNETHDRSZ),
    );
    c.say(
        "unattached TUNGETDEVNETNS",
        netns_result(ioctl_val(fd.0, TUNGETDEVNETNS, 0)),
    );
    c.say(
        "unattached SIOCGSKNS",
        netns_result(ioctl_val(fd.0, SIOCGSKNS, 0)),
    );
    c.show(
        "unattached TUNSETQUEUE detach",
        setqueue(fd.0, IFF_DETACH_QUEUE),
    );
    c.show(
        "unattached TUNSETQUEUE attach",
        setqueue(fd.0, IFF_ATTACH_QUEUE),
    );
    c.show("unattached unknown ioctl", ioctl_val(fd.0, 0x54fa, 0));
    c.show("unattached read", read_fd(fd.0, 2048));
    c.show("unattached write", write_fd(fd.0, &eth_frame()));
    c.say("unattached poll", poll_now(fd.0));
    Ok(())
}

/// TUNGETIFF writes the name and the flags and zeroes the rest of the ifreq:
/// it does not echo what the caller had there.
fn errnos_getiff_bytes(c: &mut Ctx) -> Res {
    let (fd, name) = c.create("TUNSETIFF tap for TUNGETIFF bytes", TAP)?;
    let mut buf = [0xffu8; 40];
    let r = ioctl(fd.0, TUNGETIFF, &mut buf);
    c.show("TUNGETIFF over 0xff", r);
    let end = buf[..16].iter().position(|&b| b == 0).unwrap_or(16);
    let name_ok = &buf[..end] == name.as_bytes();
    c.say("TUNGETIFF name", if name_ok { "ours" } else { "other" });
    // Its length depends on the name's (tap0, rtap0): only whether it is zeroed.
    let pad_zero = buf[end.min(16)..16].iter().all(|&b| b == 0);
    c.say(
        "TUNGETIFF name padding",
        if pad_zero { "zero" } else { "not zero" },
    );
    c.say(
        "TUNGETIFF flags",
        format!("0x{:x}", u16::from_ne_bytes([buf[16], buf[17]])),
    );
    c.say("TUNGETIFF bytes 18..39", to_hex(&buf[18..40]));
    Ok(())
}

/// Carrier on needs a queue (tun_net_change_carrier: EPERM without one).
fn errnos_carrier(c: &mut Ctx) -> Res {
    let (fd, name) = c.create("carrier TUNSETIFF tap multi_queue", TAP_MQ)?;
    c.need("carrier TUNSETPERSIST 1", ioctl_val(fd.0, TUNSETPERSIST, 1))?;
    c.show(
        "TUNSETCARRIER 1 with a queue",
        ioctl_int(fd.0, TUNSETCARRIER, 1),
    );
    c.need(
        "TUNSETQUEUE detach the only queue",
        setqueue(fd.0, IFF_DETACH_QUEUE),
    )?;
    c.show(
        "detached TUNSETCARRIER 1 (no queue)",
        ioctl_int(fd.0, TUNSETCARRIER, 1),
    );
    c.show(
        "detached TUNSETCARRIER 0",
        ioctl_int(fd.0, TUNSETCARRIER, 0),
    );
    c.say(
        "ip carrier on, queue detached",
        ip(&["link", "set", "dev", &name, "carrier", "on"]),
    );
    drop(fd);
    c.say(
        "ip carrier off, no fd",
        ip(&["link", "set", "dev", &name, "carrier", "off"]),
    );
    c.say(
        "ip carrier on, no fd",
        ip(&["link", "set", "dev", &name, "carrier", "on"]),
    );
    let fd = c.attach("carrier reattach", &name, TAP_MQ)?;
    c.say(
        "ip carrier on, attached",
        ip(&["link", "set", "dev", &name, "carrier", "on"]),
    );
    c.show("TUNSETCARRIER 0", ioctl_int(fd.0, TUNSETCARRIER, 0));
    c.show("TUNSETCARRIER 1", ioctl_int(fd.0, TUNSETCARRIER, 1));
    c.show("carrier TUNSETPERSIST 0", ioctl_val(fd.0, TUNSETPERSIST, 0));
    Ok(())
}

/// What a write of a short or odd frame returns.
fn errnos_writes(c: &mut Ctx) -> Res {
    let (fd, name) = c.create("TUNSETIFF tun no_pi", IFF_TUN | IFF_NO_PI)?;
    let mut v4 = vec![
        0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    c.show("tun down: 1-byte IPv4 write", write_fd(fd.0, &v4[..1]));
    c.show("tun down: version 5 write", write_fd(fd.0, &[0x50; 20]));
    c.up(&name)?;
    c.show("tun: 0-byte write", write_fd(fd.0, &[]));
    c.show("tun: 1-byte IPv4 write", write_fd(fd.0, &v4[..1]));
    c.show("tun: 19-byte IPv4 write", write_fd(fd.0, &v4[..19]));
    c.show("tun: 20-byte IPv4 write", write_fd(fd.0, &v4));
    c.show("tun: 1-byte IPv6 write", write_fd(fd.0, &[0x60]));
    v4[0] = 0x55;
    c.show("tun: version 5 write", write_fd(fd.0, &v4));
    c.show("tun: version 0 write", write_fd(fd.0, &[0u8; 20]));
    drop(fd);

    let (fd, name) = c.create("TUNSETIFF tun with pi", IFF_TUN)?;
    c.up(&name)?;
    c.show("tun pi: 3-byte write", write_fd(fd.0, &[0, 0, 8]));
    c.show(
        "tun pi: 4-byte write (pi only)",
        write_fd(fd.0, &[0, 0, 8, 0]),
    );
    c.show(
        "tun pi: version 5 after pi",
        write_fd(fd.0, &[0, 0, 8, 0, 0x55, 0, 0, 20]),
    );
    drop(fd);

    let (fd, name) = c.create("TUNSETIFF tap no_pi for writes", TAP)?;
    let f = eth_frame();
    c.show("tap down: 60-byte write", write_fd(fd.0, &f));
    c.up(&name)?;
    c.show("tap: 13-byte write", write_fd(fd.0, &f[..13]));
    c.show("tap: 14-byte write", write_fd(fd.0, &f[..14]));
    c.show("tap: 60-byte write", write_fd(fd.0, &f));
    Ok(())
}

fn errnos_ifindex(c: &mut Ctx) -> Res {
    let fd = c.need("ifindex open", c.open())?;
    c.show("TUNSETIFINDEX -1", ioctl_int(fd.0, TUNSETIFINDEX, -1));
    c.show("TUNSETIFINDEX 4242", ioctl_int(fd.0, TUNSETIFINDEX, 4242));
    let r = setiff(fd.0, "", TAP).map(|req| req.name());
    let name = c.need("TUNSETIFF after TUNSETIFINDEX", r)?;
    c.track(&name);
    c.say(
        "device ifindex",
        if ifindex(&name) == 4242 {
            "match"
        } else {
            "mismatch"
        },
    );
    c.show(
        "TUNSETIFINDEX when attached",
        ioctl_int(fd.0, TUNSETIFINDEX, 4243),
    );
    Ok(())
}

fn errnos_misc_ioctls(c: &mut Ctx) -> Res {
    let (fd, name) = c.create("TUNSETIFF tap for ioctls", TAP)?;
    c.show("TUNGETSNDBUF", ioctl_get_int(fd.0, TUNGETSNDBUF));
    c.show("TUNSETSNDBUF 0", ioctl_int(fd.0, TUNSETSNDBUF, 0));
    c.show("TUNSETSNDBUF 65536", ioctl_int(fd.0, TUNSETSNDBUF, 65536));
    c.show("TUNGETSNDBUF after set", ioctl_get_int(fd.0, TUNGETSNDBUF));
    c.show("TUNGETVNETHDRSZ", ioctl_get_int(fd.0, TUNGETVNETHDRSZ));
    c.show("TUNSETVNETHDRSZ 8", ioctl_int(fd.0, TUNSETVNETHDRSZ, 8));
    c.show("TUNSETVNETHDRSZ 12", ioctl_int(fd.0, TUNSETVNETHDRSZ, 12));
    c.show(
        "TUNGETVNETHDRSZ after set",
        ioctl_get_int(fd.0, TUNGETVNETHDRSZ),
    );
    c.show("TUNGETVNETLE", ioctl_get_int(fd.0, TUNGETVNETLE));
    c.show("TUNSETVNETLE 1", ioctl_int(fd.0, TUNSETVNETLE, 1));
    c.show("TUNGETVNETLE after set", ioctl_get_int(fd.0, TUNGETVNETLE));
    c.show("TUNSETVNETLE 0", ioctl_int(fd.0, TUNSETVNETLE, 0));
    c.show("TUNSETVNETBE 1", ioctl_int(fd.0, TUNSETVNETBE, 1));
    c.show("TUNGETVNETBE", ioctl_get_int(fd.0, TUNGETVNETBE));
    c.show("TUNSETNOCSUM", ioctl_val(fd.0, TUNSETNOCSUM, 1));
    c.show("TUNSETDEBUG", ioctl_val(fd.0, TUNSETDEBUG, 0));
    c.show("unknown ioctl", ioctl_val(fd.0, 0x54fa, 0));
    c.say(
        "TUNGETDEVNETNS",
        netns_result(ioctl_val(fd.0, TUNGETDEVNETNS, 0)),
    );
    c.say("SIOCGSKNS", netns_result(ioctl_val(fd.0, SIOCGSKNS, 0)));
    c.show(
        "TUNSETSTEERINGEBPF -1",
        ioctl_int(fd.0, TUNSETSTEERINGEBPF, -1),
    );
    c.show(
        "TUNSETSTEERINGEBPF bad fd",
        ioctl_int(fd.0, TUNSETSTEERINGEBPF, 9999),
    );
    c.show(
        "TUNSETSTEERINGEBPF non-bpf fd",
        ioctl_int(fd.0, TUNSETSTEERINGEBPF, fd.0),
    );
    c.show("TUNSETFILTEREBPF -1", ioctl_int(fd.0, TUNSETFILTEREBPF, -1));
    let off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_UDP_TUNNEL_GSO;
    c.show(
        "TUNSETOFFLOAD csum|tso4|udp_tunnel_gso",
        ioctl_val(fd.0, TUNSETOFFLOAD, off.into()),
    );
    c.show(
        "TUNSETOFFLOAD unknown bit 0x200",
        ioctl_val(fd.0, TUNSETOFFLOAD, 0x200),
    );
    c.show(
        "TUNSETOFFLOAD tso4 without csum",
        ioctl_val(fd.0, TUNSETOFFLOAD, TUN_F_TSO4.into()),
    );
    c.show(
        "TUNSETOFFLOAD udp_tunnel_gso without tso",
        ioctl_val(
            fd.0,
            TUNSETOFFLOAD,
            (TUN_F_CSUM | TUN_F_UDP_TUNNEL_GSO).into(),
        ),
    );
    // tun's set_offload sees the whole unsigned long: a bit above 31 is unknown.
    let csum_hi = (1u64 << 32) | u64::from(TUN_F_CSUM);
    c.show(
        "TUNSETOFFLOAD csum|1<<32",
        ioctl_val(fd.0, TUNSETOFFLOAD, csum_hi as _),
    );
    c.show(
        "TUNSETOFFLOAD 1<<63",
        ioctl_val(fd.0, TUNSETOFFLOAD, (1u64 << 63) as _),
    );
    c.show("TUNSETOFFLOAD 0", ioctl_val(fd.0, TUNSETOFFLOAD, 0));
    let mut fprog = [0u8; 16];
    c.show(
        "TUNGETFILTER (none attached)",
        ioctl(fd.0, TUNGETFILTER, &mut fprog),
    );
    c.say("TUNGETFILTER len", u16::from_ne_bytes([fprog[0], fprog[1]]));
    c.show(
        "TUNDETACHFILTER (none attached)",
        ioctl(fd.0, TUNDETACHFILTER, &mut fprog),
    );
    c.up(&name)?;
    c.show("TUNSETLINK while up", ioctl_val(fd.0, TUNSETLINK, 65534));
    c.ip_need("link down", &["link", "set", "dev", &name, "down"])?;
    c.show(
        "TUNSETLINK none while down",
        ioctl_val(fd.0, TUNSETLINK, 65534),
    );
    c.say("link type after TUNSETLINK", sysfs(&name, "type"));
    c.say("addr_len after TUNSETLINK", sysfs(&name, "addr_len"));
    c.show("TUNSETLINK ether", ioctl_val(fd.0, TUNSETLINK, 1));
    c.say("addr_len after TUNSETLINK ether", sysfs(&name, "addr_len"));
    drop(fd);

    let (fd, _) = c.create("TUNSETIFF tun for tap-only ioctls", IFF_TUN | IFF_NO_PI)?;
    c.show("tun TUNGETFILTER", ioctl(fd.0, TUNGETFILTER, &mut fprog));
    c.show(
        "tun TUNDETACHFILTER",
        ioctl(fd.0, TUNDETACHFILTER, &mut fprog),
    );
    let mut flt = [0u8; 4];
    c.show("tun TUNSETTXFILTER", ioctl(fd.0, TUNSETTXFILTER, &mut flt));
    Ok(())
}

/// SIOCGIFHWADDR/SIOCSIFHWADDR on the tun fd (the ifreq comes from the caller).
fn errnos_hwaddr(c: &mut Ctx) -> Res {
    let (fd, name) = c.create("TUNSETIFF tap for hwaddr", TAP)?;
    let mut buf = [0xffu8; 40];
    c.show(
        "SIOCGIFHWADDR over 0xff",
        ioctl(fd.0, SIOCGIFHWADDR, &mut buf),
    );
    c.say(
        "SIOCGIFHWADDR family",
        u16::from_ne_bytes([buf[16], buf[17]]),
    );
    let mac = sysfs(&name, "address").replace(':', "");
    c.say(
        "SIOCGIFHWADDR address",
        if to_hex(&buf[18..24]) == mac {
            "match"
        } else {
            "mismatch"
        },
    );
    c.say("SIOCGIFHWADDR bytes 0..15", to_hex(&buf[..16]));
    c.say("SIOCGIFHWADDR bytes 24..39", to_hex(&buf[24..40]));
    let mut set = [0u8; 40];
    set[16..18].copy_from_slice(&1u16.to_ne_bytes());
    set[18..24].copy_from_slice(&[0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    c.show(
        "SIOCSIFHWADDR 02:11:22:33:44:55",
        ioctl(fd.0, SIOCSIFHWADDR, &mut set),
    );
    let set_ok = sysfs(&name, "address") == "02:11:22:33:44:55";
    c.say(
        "address after SIOCSIFHWADDR",
        if set_ok {
            "02:11:22:33:44:55"
        } else {
            "unchanged or other"
        },
    );
    set[16..18].copy_from_slice(&0u16.to_ne_bytes());
    c.show(
        "SIOCSIFHWADDR family 0",
        ioctl(fd.0, SIOCSIFHWADDR, &mut set),
    );
    set[16..18].copy_from_slice(&1u16.to_ne_bytes());
    set[18] = 0x01;
    c.show(
        "SIOCSIFHWADDR multicast address",
        ioctl(fd.0, SIOCSIFHWADDR, &mut set),
    );
    drop(fd);

    let (fd, _) = c.create("TUNSETIFF tun for hwaddr", IFF_TUN | IFF_NO_PI)?;
    let mut buf = [0xffu8; 40];
    c.show(
        "tun SIOCGIFHWADDR over 0xff",
        ioctl(fd.0, SIOCGIFHWADDR, &mut buf),
    );
    c.say("tun SIOCGIFHWADDR bytes 16..39", to_hex(&buf[16..40]));
    Ok(())
}

fn errnos_queue(c: &mut Ctx) -> Res {
    let (fd, _) = c.create("TUNSETIFF single-queue tap", TAP)?;
    c.show(
        "single-queue TUNSETQUEUE detach",
        setqueue(fd.0, IFF_DETACH_QUEUE),
    );
    c.show(
        "single-queue TUNSETQUEUE attach",
        setqueue(fd.0, IFF_ATTACH_QUEUE),
    );
    c.show("TUNSETQUEUE no flag", setqueue(fd.0, 0));
    Ok(())
}

/// `ip link del` while a reader sleeps in read(): what the reader gets, and
/// what the fd does afterwards (it is unbound, and may bind again).
fn errnos_deleted_under_reader(c: &mut Ctx) -> Res {
    let (fd, name) = c.create("TUNSETIFF tap for a blocked reader", TAP)?;
    let rfd = fd.0;
    let Some((tid, rx)) = spawn_call(move || read_fd(rfd, 2048)) else {
        return Err(Stop);
    };
    // The reader is asleep in read() once its state is S.
    let t0 = Instant::now();
    let mut asleep = false;
    while t0.elapsed() < Duration::from_secs(5) {
        let st = fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
        if proc_state(&st) == Some('S') {
            asleep = true;
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(100));
    c.say("reader asleep in read", yes_no(asleep));
    c.say(
        "ip link del under the reader",
        ip(&["link", "del", "dev", &name]),
    );
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(r) => c.say("blocked read returns", rv(&r)),
        _ => {
            c.say("blocked read returns", "nothing: still blocked after 5 s");
            std::mem::forget(fd);
            return Err(Stop);
        }
    }
    c.show("read after delete", read_fd(fd.0, 2048));
    c.show("write after delete", write_fd(fd.0, &eth_frame()));
    c.say("TUNGETIFF after delete", fmt_flags(&getiff(fd.0)));
    c.say("poll after delete", poll_now(fd.0));
    let r = setiff(fd.0, "", TAP).map(|req| req.name());
    let n = c.need("TUNSETIFF again on that fd", r)?;
    c.track(&n);
    c.say("TUNGETIFF on the new device", fmt_flags(&getiff(fd.0)));
    Ok(())
}

// ---- m5 ---------------------------------------------------------------------------------

/// Changing txqueuelen resizes the rings of attached queues.
fn ring_resize(c: &mut Ctx) -> Res {
    let (fd, name) = c.create("TUNSETIFF tap", TAP)?;
    c.need("O_NONBLOCK", set_fl(fd.0, libc::O_NONBLOCK, 0))?;
    c.up(&name)?;
    c.say("tx_queue_len", sysfs(&name, "tx_queue_len"));
    c.ip_need(
        "ip link set txqueuelen 4",
        &["link", "set", "dev", &name, "txqueuelen", "4"],
    )?;
    c.show("inject 10 frames", inject(&name, 10));
    c.say("frames queued", yes_no(wait_readable(fd.0, 2000)));
    c.say("readable after txqueuelen 4", drain(fd.0));
    c.say("tx_dropped", sysfs(&name, "statistics/tx_dropped"));
    c.ip_need(
        "ip link set txqueuelen 16",
        &["link", "set", "dev", &name, "txqueuelen", "16"],
    )?;
    c.show("inject 10 frames", inject(&name, 10));
    c.say("frames queued", yes_no(wait_readable(fd.0, 2000)));
    c.say("readable after txqueuelen 16", drain(fd.0));
    c.show("inject 3 frames, left queued", inject(&name, 3));
    c.say("frames queued", yes_no(wait_readable(fd.0, 2000)));
    c.ip_need(
        "ip link set txqueuelen 2 with 3 queued",
        &["link", "set", "dev", &name, "txqueuelen", "2"],
    )?;
    c.say("readable after shrinking to 2", drain(fd.0));
    c.say("tx_dropped", sysfs(&name, "statistics/tx_dropped"));
    Ok(())
}

// ---- fdinfo, sysfs, ethtool ------------------------------------------------------

fn fdinfo(fd: i32, name: &str) -> &'static str {
    let text = fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
    fdinfo_iff(&text, name)
}

const SYSFS_ATTRS: [&str; 8] = [
    "tun_flags",
    "owner",
    "group",
    "type",
    "addr_len",
    "flags",
    "mtu",
    "tx_queue_len",
];

fn fdinfo_and_sysfs(c: &mut Ctx) -> Res {
    let fd = c.need("open", c.open())?;
    c.say("fdinfo iff before TUNSETIFF", fdinfo(fd.0, ""));
    let r = setiff(fd.0, "", TAP | IFF_VNET_HDR).map(|req| req.name());
    let name = c.need("TUNSETIFF tap vnet_hdr", r)?;
    c.track(&name);
    c.say("fdinfo iff", fdinfo(fd.0, &name));
    for a in SYSFS_ATTRS {
        c.say(&format!("sysfs {a}"), sysfs(&name, a));
    }
    c.say("sysfs operstate", sysfs(&name, "operstate"));
    c.show("TUNSETOWNER 1000", ioctl_val(fd.0, TUNSETOWNER, 1000));
    c.show("TUNSETGROUP 1000", ioctl_val(fd.0, TUNSETGROUP, 1000));
    c.say("sysfs owner", sysfs(&name, "owner"));
    c.say("sysfs group", sysfs(&name, "group"));
    c.show("TUNSETPERSIST 1", ioctl_val(fd.0, TUNSETPERSIST, 1));
    c.say("sysfs tun_flags after persist", sysfs(&name, "tun_flags"));
    c.say("TUNGETIFF after persist", fmt_flags(&getiff(fd.0)));
    c.show("TUNSETPERSIST 0", ioctl_val(fd.0, TUNSETPERSIST, 0));
    c.say("TUNGETIFF after persist 0", fmt_flags(&getiff(fd.0)));
    let eth = match run(&tool("ethtool"), &["-i", &name], Duration::from_secs(10)) {
        Some((true, out, _)) => ethtool_fields(&out),
        Some((false, _, err)) => errno_from_message(&err)
            .map(|e| e.to_string())
            .unwrap_or_else(|| "failed".into()),
        None => "timeout".into(),
    };
    c.say("ethtool -i fields", eth);
    drop(fd);

    let (fd, t) = c.create("TUNSETIFF tun", IFF_TUN | IFF_NO_PI)?;
    c.say("tun fdinfo iff", fdinfo(fd.0, &t));
    for a in SYSFS_ATTRS {
        c.say(&format!("tun sysfs {a}"), sysfs(&t, a));
    }
    Ok(())
}

// ---- fasync -------------------------------------------------------------------------

/// Waits up to `ms` for a SIGIO (blocked, so it stays pending).
fn sigio_within(ms: i64) -> bool {
    // SAFETY: sigset and timespec are plain data; sigtimedwait only reads them.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGIO);
        let ts = libc::timespec {
            tv_sec: ms / 1000,
            tv_nsec: (ms % 1000) * 1_000_000,
        };
        libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) == libc::SIGIO
    }
}

fn fasync(c: &mut Ctx) -> Res {
    // SAFETY: Blocks SIGIO in this (single-threaded) process, so it stays pending.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGIO);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let (fd, name) = c.create("TUNSETIFF tap", TAP)?;
    // SAFETY: fcntl on our fd.
    let r = sys(unsafe { libc::fcntl(fd.0, libc::F_SETOWN, libc::getpid()) } as isize);
    c.need("F_SETOWN", r)?;
    c.need(
        "F_SETFL O_ASYNC|O_NONBLOCK",
        set_fl(fd.0, libc::O_ASYNC | libc::O_NONBLOCK, 0),
    )?;
    c.say("sigio after O_ASYNC", yes_no(sigio_within(200)));
    c.say("poll while down", poll_now(fd.0));
    c.up(&name)?;
    c.say(
        "sigio on link up (writable again)",
        yes_no(sigio_within(1000)),
    );
    while sigio_within(0) {}
    c.show("inject 1 frame", inject(&name, 1));
    c.say("sigio on frame", yes_no(sigio_within(2000)));
    c.show("read", read_fd(fd.0, 2048));
    while sigio_within(0) {}
    c.show("write 60-byte frame", write_fd(fd.0, &eth_frame()));
    c.say("sigio on write", yes_no(sigio_within(300)));
    c.need("F_SETFL clear O_ASYNC", set_fl(fd.0, 0, libc::O_ASYNC))?;
    c.show("inject 1 frame", inject(&name, 1));
    c.say("sigio after O_ASYNC off", yes_no(sigio_within(500)));
    c.show("read", read_fd(fd.0, 2048));
    Ok(())
}

// ---- compat32 ------------------------------------------------------------------------

/// A 32-bit client: tools/compat32/tun32.c, built `gcc -m32 -static`, makes
/// its calls through the driver's compat_ioctl and prints the lines of this
/// scenario itself. Its exit status is rtunabi's.
fn compat32(c: &mut Ctx) -> Res {
    let env = std::env::var("RTUN_TUN32").ok();
    let exe = std::env::current_exe().ok();
    let cands = tun32_candidates(env.as_deref(), exe.as_deref());
    let prog = cands
        .iter()
        .find(|p| p.components().count() > 1 && p.is_file())
        .cloned()
        .unwrap_or_else(|| PathBuf::from("tun32"));
    let _ = std::io::stdout().flush();
    match Command::new(&prog)
        .arg(&c.dev)
        .stdin(Stdio::null())
        .status()
    {
        Err(e) => {
            c.say(
                "run tun32",
                e.raw_os_error()
                    .map(|e| Errno(e).to_string())
                    .unwrap_or_else(|| "failed".into()),
            );
            Err(Stop)
        }
        Ok(st) if st.success() => Ok(()),
        Ok(st) => {
            // tun32 has said which step failed.
            c.cleanup();
            std::process::exit(st.code().unwrap_or(1))
        }
    }
}

// ---- steering --------------------------------------------------------------------------

/// Waits until one of `fds` has a frame (2 s at most), lets the rest arrive,
/// then drains each: the count per queue.
fn read_per_queue(fds: &[i32]) -> Vec<usize> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2)
        && !fds
            .iter()
            .any(|&fd| poll_fd(fd, libc::POLLIN, 0) & libc::POLLIN != 0)
    {
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(200));
    fds.iter().map(|&fd| drain(fd)).collect()
}

/// A BPF_PROG_TYPE_SOCKET_FILTER program returning `ret`, as an owned fd.
fn ebpf_returning(ret: u32) -> Result<Fd, Errno> {
    bpf::load_ebpf_returning(ret).map(Fd)
}

/// TUNSETSTEERINGEBPF: the program's return value picks the queue (modulo
/// the number of queues, as tun_ebpf_select_queue's u16); -1 goes back to
/// tun's automatic flow steering.
fn steering(c: &mut Ctx) -> Res {
    const N: usize = 8;
    let (fd1, name) = c.create("fd1 TUNSETIFF tap multi_queue", TAP_MQ)?;
    let fd2 = c.attach("fd2 TUNSETIFF same device", &name, TAP_MQ)?;
    c.need("fd1 O_NONBLOCK", set_fl(fd1.0, libc::O_NONBLOCK, 0))?;
    c.need("fd2 O_NONBLOCK", set_fl(fd2.0, libc::O_NONBLOCK, 0))?;
    c.up(&name)?;
    c.show(
        "TUNSETSTEERINGEBPF non-bpf fd",
        ioctl_int(fd1.0, TUNSETSTEERINGEBPF, fd1.0),
    );
    c.show(
        "TUNSETSTEERINGEBPF closed fd",
        ioctl_int(fd1.0, TUNSETSTEERINGEBPF, 9999),
    );
    c.show(
        "TUNSETSTEERINGEBPF -2",
        ioctl_int(fd1.0, TUNSETSTEERINGEBPF, -2),
    );
    let fds = [fd1.0, fd2.0];
    for ret in [1u32, 0] {
        let prog = c.need(
            &format!("load program returning {ret}"),
            ebpf_returning(ret),
        )?;
        c.show(
            &format!("TUNSETSTEERINGEBPF program returning {ret}"),
            ioctl_int(fd1.0, TUNSETSTEERINGEBPF, prog.0),
        );
        // The device holds its own reference: closing ours changes nothing.
        drop(prog);
        c.show(&format!("inject {N} frames"), inject(&name, N));
        c.say(
            &format!("program returning {ret}: frames per queue"),
            fmt_per_queue(&read_per_queue(&fds)),
        );
    }
    c.show(
        "TUNSETSTEERINGEBPF -1",
        ioctl_int(fd1.0, TUNSETSTEERINGEBPF, -1),
    );
    c.show(
        "TUNSETSTEERINGEBPF -1 again",
        ioctl_int(fd1.0, TUNSETSTEERINGEBPF, -1),
    );
    c.show(&format!("inject {N} frames"), inject(&name, N));
    // Which queue the flow hash picks differs from boot to boot: the sum only.
    c.say(
        "no program: frames read on both queues",
        read_per_queue(&fds).iter().sum::<usize>(),
    );

    // tun keeps the program's u32 result in a u16 before `% numqueues`.
    let fd3 = c.attach("fd3 TUNSETIFF third queue", &name, TAP_MQ)?;
    c.need("fd3 O_NONBLOCK", set_fl(fd3.0, libc::O_NONBLOCK, 0))?;
    let fds = [fd1.0, fd2.0, fd3.0];
    for ret in [5u32, 0x10000] {
        let prog = c.need(
            &format!("load program returning 0x{ret:x}"),
            ebpf_returning(ret),
        )?;
        c.show(
            &format!("fd2 TUNSETSTEERINGEBPF program returning 0x{ret:x}"),
            ioctl_int(fd2.0, TUNSETSTEERINGEBPF, prog.0),
        );
        drop(prog);
        c.show(&format!("inject {N} frames"), inject(&name, N));
        c.say(
            &format!("3 queues, program returning 0x{ret:x}: frames per queue"),
            fmt_per_queue(&read_per_queue(&fds)),
        );
    }
    c.show(
        "TUNSETSTEERINGEBPF -1 at the end",
        ioctl_int(fd3.0, TUNSETSTEERINGEBPF, -1),
    );
    Ok(())
}

// ---- backpressure -------------------------------------------------------------------

/// IFF_BACKPRESSURE (7.3): a full ring stops the device's queue, so the
/// qdisc keeps what does not fit (and drops only past its own limit) instead
/// of the driver dropping it as FULL_RING; reading wakes the queue. The same
/// sequence without the flag first, for contrast. Frames go through the
/// qdisc (an AF_PACKET socket without PACKET_QDISC_BYPASS).
fn backpressure(c: &mut Ctx) -> Res {
    for (label, flags) in [("plain", TAP), ("backpressure", TAP | IFF_BACKPRESSURE)] {
        let (fd, name) = c.create(&format!("{label}: TUNSETIFF"), flags)?;
        c.say(&format!("{label}: TUNGETIFF"), fmt_flags(&getiff(fd.0)));
        c.say(
            &format!("{label}: sysfs tun_flags"),
            sysfs(&name, "tun_flags"),
        );
        c.need(
            &format!("{label}: O_NONBLOCK"),
            set_fl(fd.0, libc::O_NONBLOCK, 0),
        )?;
        c.ip_need(
            &format!("{label}: ip link set txqueuelen 4"),
            &["link", "set", "dev", &name, "txqueuelen", "4"],
        )?;
        c.up(&name)?;
        // tun's devices get the default qdisc; a device with noqueue has no
        // queue to stop, so IFF_BACKPRESSURE cannot act.
        let q = match run(
            &tool("ip"),
            &["-o", "link", "show", "dev", &name],
            Duration::from_secs(10),
        ) {
            Some((true, out, _)) => qdisc_of(&out),
            _ => "ip failed".into(),
        };
        c.say(&format!("{label}: qdisc"), q);
        let sent = frame::inject_each(&name, &eth_frame(), 0x88b5, 10);
        c.say(
            &format!("{label}: inject 10 frames through the qdisc"),
            sent.map(|v| send_summary(&v))
                .unwrap_or_else(|e| e.to_string()),
        );
        c.say(
            &format!("{label}: frames queued"),
            yes_no(wait_readable(fd.0, 2000)),
        );
        c.say(&format!("{label}: poll before reading"), poll_now(fd.0));
        c.say(
            &format!("{label}: tx_dropped before reading"),
            sysfs(&name, "statistics/tx_dropped"),
        );
        c.say(
            &format!("{label}: readable in total, the queue woken by reads"),
            drain_wait(fd.0, 1000),
        );
        c.say(
            &format!("{label}: tx_dropped after reading"),
            sysfs(&name, "statistics/tx_dropped"),
        );
        c.say(
            &format!("{label}: tx_packets after reading"),
            sysfs(&name, "statistics/tx_packets"),
        );
        c.show(
            &format!("{label}: inject 1 frame after draining"),
            inject(&name, 1),
        );
        c.say(
            &format!("{label}: frame queued after draining"),
            yes_no(wait_readable(fd.0, 2000)),
        );
        c.say(&format!("{label}: readable"), drain(fd.0));
    }
    Ok(())
}

/// A queue leaving from the middle of a multi-queue IFF_BACKPRESSURE device
/// (tun's `__tun_detach`): the last queue takes its index, and with it the
/// transmit queue that the leaving queue's full ring stopped; tun wakes that
/// transmit queue once the new owner's ring is empty, or the qdisc would
/// hold its frames for ever. Once by close, once by TUNSETQUEUE. A steering
/// program returning 1 sends everything to the queue at index 1.
fn backpressure_detach_middle(c: &mut Ctx) -> Res {
    for how in ["close", "detach"] {
        let (fd1, name) = c.create(
            &format!("{how}: fd1 TUNSETIFF tap multi_queue backpressure"),
            TAP_MQ | IFF_BACKPRESSURE,
        )?;
        let fd2 = c.attach(
            &format!("{how}: fd2 TUNSETIFF"),
            &name,
            TAP_MQ | IFF_BACKPRESSURE,
        )?;
        let fd3 = c.attach(
            &format!("{how}: fd3 TUNSETIFF"),
            &name,
            TAP_MQ | IFF_BACKPRESSURE,
        )?;
        for (n, fd) in [("fd1", &fd1), ("fd2", &fd2), ("fd3", &fd3)] {
            c.need(
                &format!("{how}: {n} O_NONBLOCK"),
                set_fl(fd.0, libc::O_NONBLOCK, 0),
            )?;
        }
        c.ip_need(
            &format!("{how}: ip link set txqueuelen 4"),
            &["link", "set", "dev", &name, "txqueuelen", "4"],
        )?;
        c.up(&name)?;
        let prog = c.need(
            &format!("{how}: load program returning 1"),
            ebpf_returning(1),
        )?;
        c.show(
            &format!("{how}: TUNSETSTEERINGEBPF program returning 1"),
            ioctl_int(fd1.0, TUNSETSTEERINGEBPF, prog.0),
        );
        drop(prog);
        let sent = frame::inject_each(&name, &eth_frame(), 0x88b5, 6);
        c.say(
            &format!("{how}: inject 6 frames through the qdisc"),
            sent.map(|v| send_summary(&v))
                .unwrap_or_else(|e| e.to_string()),
        );
        c.say(
            &format!("{how}: fd2 (index 1) has frames"),
            yes_no(wait_readable(fd2.0, 2000)),
        );
        let fd2 = if how == "close" {
            drop(fd2);
            c.say(&format!("{how}: fd2 closed"), 0);
            None
        } else {
            c.show(
                &format!("{how}: fd2 TUNSETQUEUE IFF_DETACH_QUEUE"),
                setqueue(fd2.0, IFF_DETACH_QUEUE),
            );
            Some(fd2)
        };
        // fd3 now has index 1: what the qdisc held for it comes through.
        c.say(
            &format!("{how}: fd3 reads what the qdisc held"),
            drain_wait(fd3.0, 1000),
        );
        c.show(&format!("{how}: inject 3 more frames"), inject(&name, 3));
        c.say(
            &format!("{how}: fd3 reads the new frames"),
            drain_wait(fd3.0, 1000),
        );
        c.say(&format!("{how}: fd1 reads"), drain(fd1.0));
        c.say(&format!("{how}: poll fd3 at the end"), poll_now(fd3.0));
        drop(fd2);
    }

    // Which queue an index reaches after the first of three leaves: tun
    // moves the last one into its place.
    let (fd1, name) = c.create("reindex: fd1 TUNSETIFF tap multi_queue", TAP_MQ)?;
    let fd2 = c.attach("reindex: fd2 TUNSETIFF", &name, TAP_MQ)?;
    let fd3 = c.attach("reindex: fd3 TUNSETIFF", &name, TAP_MQ)?;
    for (n, fd) in [("fd1", &fd1), ("fd2", &fd2), ("fd3", &fd3)] {
        c.need(
            &format!("reindex: {n} O_NONBLOCK"),
            set_fl(fd.0, libc::O_NONBLOCK, 0),
        )?;
    }
    c.up(&name)?;
    c.show(
        "reindex: fd1 TUNSETQUEUE IFF_DETACH_QUEUE",
        setqueue(fd1.0, IFF_DETACH_QUEUE),
    );
    for ret in [0u32, 1] {
        let prog = c.need(
            &format!("reindex: load program returning {ret}"),
            ebpf_returning(ret),
        )?;
        c.show(
            &format!("reindex: TUNSETSTEERINGEBPF program returning {ret}"),
            ioctl_int(fd2.0, TUNSETSTEERINGEBPF, prog.0),
        );
        drop(prog);
        c.show("reindex: inject 4 frames", inject(&name, 4));
        c.say(
            &format!("reindex: program returning {ret}: frames on fd1, fd2, fd3"),
            fmt_per_queue(&read_per_queue(&[fd1.0, fd2.0, fd3.0])),
        );
    }
    Ok(())
}

// ---- TUNSETSNDBUF ----------------------------------------------------------------------

/// A 60-byte broadcast ARP request from 10.231.1.2 (02:00:00:00:e7:02) for
/// 10.231.2.5, an address behind the route of another device.
fn arp_request() -> Vec<u8> {
    let mac = [0x02, 0, 0, 0, 0xe7, 0x02];
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[10, 231, 1, 2]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[10, 231, 2, 5]);
    f.resize(60, 0);
    f
}

/// Writes a sysctl: `0` or the errno name.
fn sysctl_set(path: &str, v: &str) -> String {
    match fs::write(path, v) {
        Ok(()) => "0".into(),
        Err(e) => e
            .raw_os_error()
            .map(|e| Errno(e).to_string())
            .unwrap_or_else(|| "error".into()),
    }
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// SIGUSR1 interrupts a blocked call instead of restarting it (no SA_RESTART).
fn sigusr1_interrupts() {
    // SAFETY: A plain sigaction with an empty mask and a handler that does nothing.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
}

/// A `write()` on a thread of its own, for a writer that may block.
struct BlockedWrite {
    rx: mpsc::Receiver<Result<i32, Errno>>,
    tid: i32,
}

impl BlockedWrite {
    /// Starts the write; `None` if the thread did not start.
    fn start(fd: i32, data: Vec<u8>) -> Option<BlockedWrite> {
        spawn_call(move || write_fd(fd, &data)).map(|(tid, rx)| BlockedWrite { rx, tid })
    }

    /// Whether the writer is asleep (state S) within 5 s, and stays so a
    /// little longer.
    fn asleep(&self) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            let st = fs::read_to_string(format!("/proc/self/task/{}/stat", self.tid))
                .unwrap_or_default();
            if proc_state(&st) == Some('S') {
                thread::sleep(Duration::from_millis(200));
                let st = fs::read_to_string(format!("/proc/self/task/{}/stat", self.tid))
                    .unwrap_or_default();
                return proc_state(&st) == Some('S');
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The write's result within `ms`, or `None`.
    fn result(&self, ms: u64) -> Option<Result<i32, Errno>> {
        self.rx.recv_timeout(Duration::from_millis(ms)).ok()
    }

    fn signal(&self) {
        // SAFETY: tgkill to a thread of this process.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), self.tid, libc::SIGUSR1) };
    }

    /// The write's result within 5 s; a write still blocked is interrupted
    /// (so that the scenario can delete its devices) and reported.
    fn finish(self, c: &Ctx, step: &str) -> Res {
        match self.result(5000) {
            Some(r) => {
                c.say(step, rv(&r));
                Ok(())
            }
            None => {
                c.say(step, "nothing: still blocked after 5 s");
                self.signal();
                let _ = self.result(5000);
                Err(Stop)
            }
        }
    }
}

/// POLLOUT|POLLWRNORM asked for alone: whether the fd is writable now (a
/// poll that finds it not writable asks the driver for a wake-up).
fn poll_out(fd: i32) -> String {
    poll_names(poll_fd(fd, libc::POLLOUT | libc::POLLWRNORM, 0))
}

/// TUNSETSNDBUF: tun charges every written frame to the queue's socket
/// (`skb_set_owner_w`) until it is freed, and a write waits, or fails with
/// EAGAIN when non-blocking, while the charged frames fill `sk_sndbuf`.
///
/// Frames stay charged here in the ARP proxy queue: with `proxy_arp` and
/// `forwarding` on the TAP and a route out of another device, a broadcast ARP
/// request for an address behind that route waits in the neighbour table's
/// proxy queue (`pneigh_enqueue`, for a random delay below `proxy_delay`,
/// set to days), still charged: ARP input does not orphan, as IPv4 and IPv6
/// input do. Removing the TAP's only IPv4 address (`fib_disable_ip` →
/// `arp_ifdown`) frees them.
///
/// tun's `sk_write_space` wakes a writer only if a poll found the file not
/// writable (SOCKWQ_ASYNC_NOSPACE) since, and once less than half the buffer
/// is charged; a waiting writer also wakes, and looks again, when the
/// transmit path wakes the queue's readers (`sk_data_ready`).
fn sndbuf(c: &mut Ctx) -> Res {
    sigusr1_interrupts();
    // SAFETY: Blocks SIGIO in this thread and the threads it starts, so it stays pending.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGIO);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }

    // The value, per queue and per device.
    let r = c.open();
    let ufd = c.need("open, no TUNSETIFF", r)?;
    c.show(
        "unattached TUNGETSNDBUF",
        ioctl_get_int(ufd.0, TUNGETSNDBUF),
    );
    c.show(
        "unattached TUNSETSNDBUF 4096",
        ioctl_int(ufd.0, TUNSETSNDBUF, 4096),
    );
    drop(ufd);
    let (fd1, name) = c.create("mq fd1 TUNSETIFF tap multi_queue", TAP_MQ)?;
    let fd2 = c.attach("mq fd2 TUNSETIFF same device", &name, TAP_MQ)?;
    let fd3 = c.attach("mq fd3 TUNSETIFF same device", &name, TAP_MQ)?;
    c.show(
        "mq fd1 TUNGETSNDBUF default",
        ioctl_get_int(fd1.0, TUNGETSNDBUF),
    );
    c.show("mq fd1 TUNSETSNDBUF 0", ioctl_int(fd1.0, TUNSETSNDBUF, 0));
    c.show("mq fd1 TUNSETSNDBUF -1", ioctl_int(fd1.0, TUNSETSNDBUF, -1));
    c.show(
        "mq fd3 TUNSETQUEUE detach",
        setqueue(fd3.0, IFF_DETACH_QUEUE),
    );
    c.show(
        "mq fd1 TUNSETSNDBUF 4096",
        ioctl_int(fd1.0, TUNSETSNDBUF, 4096),
    );
    c.show("mq fd1 TUNGETSNDBUF", ioctl_get_int(fd1.0, TUNGETSNDBUF));
    c.show("mq fd2 TUNGETSNDBUF", ioctl_get_int(fd2.0, TUNGETSNDBUF));
    c.show(
        "mq fd3 (detached) TUNGETSNDBUF",
        ioctl_get_int(fd3.0, TUNGETSNDBUF),
    );
    c.show(
        "mq fd3 (detached) TUNSETSNDBUF 8192",
        ioctl_int(fd3.0, TUNSETSNDBUF, 8192),
    );
    c.show(
        "mq fd3 (detached) TUNGETSNDBUF",
        ioctl_get_int(fd3.0, TUNGETSNDBUF),
    );
    c.show(
        "mq fd1 TUNGETSNDBUF after fd3's",
        ioctl_get_int(fd1.0, TUNGETSNDBUF),
    );
    let fd4 = c.attach("mq fd4 TUNSETIFF same device", &name, TAP_MQ)?;
    c.show(
        "mq fd4 (new) TUNGETSNDBUF",
        ioctl_get_int(fd4.0, TUNGETSNDBUF),
    );
    c.show(
        "mq fd3 TUNSETQUEUE attach",
        setqueue(fd3.0, IFF_ATTACH_QUEUE),
    );
    c.show(
        "mq fd3 (reattached) TUNGETSNDBUF",
        ioctl_get_int(fd3.0, TUNGETSNDBUF),
    );
    drop((fd1, fd2, fd3, fd4));

    // A TAP whose broadcast ARP requests wait in the proxy queue.
    let (_tunfd, tun) = c.create("TUNSETIFF tun (the route's device)", IFF_TUN | IFF_NO_PI)?;
    c.ip_need(
        "tun: ip addr add 10.231.2.1/24",
        &["addr", "add", "10.231.2.1/24", "dev", &tun],
    )?;
    c.up(&tun)?;
    let (fd, name) = c.create("TUNSETIFF tap", TAP)?;
    c.ip_need(
        "tap: ip addr add 10.231.1.1/24",
        &["addr", "add", "10.231.1.1/24", "dev", &name],
    )?;
    for (k, v) in [
        ("conf/{}/forwarding", "1"),
        ("conf/{}/proxy_arp", "1"),
        ("neigh/{}/proxy_delay", "100000000"),
    ] {
        let path = format!("/proc/sys/net/ipv4/{}", k.replace("{}", &name));
        let r = sysctl_set(&path, v);
        c.say(&format!("sysctl {} = {v}", k.replace("{}", "TAP")), &r);
        if r != "0" {
            return Err(Stop);
        }
    }
    c.up(&name)?;
    c.need("O_NONBLOCK", set_fl(fd.0, libc::O_NONBLOCK, 0))?;
    let other = eth_frame();
    let arp = arp_request();

    // The default buffer: frames built in the page fragment are charged too.
    c.show("TUNGETSNDBUF default", ioctl_get_int(fd.0, TUNGETSNDBUF));
    c.show("write ARP request (held)", write_fd(fd.0, &arp));
    c.show("write ARP request (held)", write_fd(fd.0, &arp));
    c.say(
        "poll POLLOUT, 2 frames held, unlimited buffer",
        poll_out(fd.0),
    );
    c.show("TUNSETSNDBUF 64", ioctl_int(fd.0, TUNSETSNDBUF, 64));
    c.show("TUNGETSNDBUF", ioctl_get_int(fd.0, TUNGETSNDBUF));
    c.show("nonblocking write, 2 frames held", write_fd(fd.0, &other));
    c.ip_need(
        "ip addr del (frees the held frames)",
        &["addr", "del", "10.231.1.1/24", "dev", &name],
    )?;
    c.show("nonblocking write after", write_fd(fd.0, &other));
    c.show(
        "nonblocking write again (that one was freed)",
        write_fd(fd.0, &other),
    );

    // Non-blocking: EAGAIN while a frame is held, not counted as a drop.
    c.ip_need(
        "ip addr add 10.231.1.1/24 again",
        &["addr", "add", "10.231.1.1/24", "dev", &name],
    )?;
    let rx_dropped0 = sysfs(&name, "statistics/rx_dropped");
    c.show("write ARP request (held)", write_fd(fd.0, &arp));
    c.show("nonblocking write, 1 frame held", write_fd(fd.0, &other));
    c.show(
        "nonblocking write ARP request, 1 frame held",
        write_fd(fd.0, &arp),
    );
    c.say(
        "rx_dropped grew",
        yes_no(sysfs(&name, "statistics/rx_dropped") != rx_dropped0),
    );

    // Blocking, no poller: freeing the frame does not wake the writer; the
    // transmit path's wake-up does.
    c.need("clear O_NONBLOCK", set_fl(fd.0, 0, libc::O_NONBLOCK))?;
    let w = BlockedWrite::start(fd.0, other.clone()).ok_or(Stop)?;
    c.say("blocking write asleep", yes_no(w.asleep()));
    c.ip_need(
        "ip addr del (frees the held frame)",
        &["addr", "del", "10.231.1.1/24", "dev", &name],
    )?;
    c.say(
        "blocking write still asleep 500 ms later",
        yes_no(w.result(500).is_none()),
    );
    c.show("inject 1 frame towards the reader", inject(&name, 1));
    w.finish(c, "blocked write returns after the transmit")?;

    // Blocking, after a poll found the file not writable: freeing the frame
    // wakes the writer and the poller, with SIGIO.
    c.ip_need(
        "ip addr add 10.231.1.1/24 again",
        &["addr", "add", "10.231.1.1/24", "dev", &name],
    )?;
    c.show("write ARP request (held)", write_fd(fd.0, &arp));
    // SAFETY: fcntl on our fd.
    let r = sys(unsafe { libc::fcntl(fd.0, libc::F_SETOWN, libc::getpid()) } as isize);
    c.need("F_SETOWN", r)?;
    c.need("O_ASYNC", set_fl(fd.0, libc::O_ASYNC, 0))?;
    c.say("poll POLLOUT, 1 frame held", poll_out(fd.0));
    let w = BlockedWrite::start(fd.0, other.clone()).ok_or(Stop)?;
    c.say("blocking write asleep", yes_no(w.asleep()));
    while sigio_within(0) {}
    c.ip_need(
        "ip addr del (frees the held frame)",
        &["addr", "del", "10.231.1.1/24", "dev", &name],
    )?;
    w.finish(c, "blocked write returns")?;
    c.say("sigio when writable", yes_no(sigio_within(1000)));
    c.need("clear O_ASYNC", set_fl(fd.0, 0, libc::O_ASYNC))?;
    c.say("poll POLLOUT after", poll_out(fd.0));

    // A signal ends the wait: EINTR without SA_RESTART, counted in rx_dropped.
    c.ip_need(
        "ip addr add 10.231.1.1/24 again",
        &["addr", "add", "10.231.1.1/24", "dev", &name],
    )?;
    c.show("write ARP request (held)", write_fd(fd.0, &arp));
    let rx_dropped0 = sysfs(&name, "statistics/rx_dropped");
    let w = BlockedWrite::start(fd.0, other.clone()).ok_or(Stop)?;
    c.say("blocking write asleep", yes_no(w.asleep()));
    w.signal();
    w.finish(c, "blocked write after SIGUSR1")?;
    let grew = sysfs(&name, "statistics/rx_dropped")
        .parse::<u64>()
        .ok()
        .zip(rx_dropped0.parse::<u64>().ok());
    c.say(
        "rx_dropped grew by",
        grew.map(|(a, b)| a.wrapping_sub(b).to_string())
            .unwrap_or_else(|| "?".into()),
    );
    c.show(
        "TUNSETSNDBUF 2147483647",
        ioctl_int(fd.0, TUNSETSNDBUF, i32::MAX),
    );
    c.show(
        "write with the buffer unlimited, 1 frame held",
        write_fd(fd.0, &other),
    );
    Ok(())
}

// ---- IOCB_NOWAIT ----------------------------------------------------------------------

extern "C" fn ignore_alarm(_: libc::c_int) {}

/// `f()` with SIGALRM due in 3 s and no SA_RESTART: a call that should not
/// wait, but does, ends with EINTR instead of hanging the scenario.
fn within_3s(f: impl FnOnce() -> Result<i32, Errno>) -> Result<i32, Errno> {
    // SAFETY: A plain sigaction with an empty mask and a handler that does
    // nothing, then alarm(); alarm(0) cancels it.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = ignore_alarm as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
        libc::alarm(3);
    }
    let r = f();
    // SAFETY: Cancels the alarm.
    unsafe { libc::alarm(0) };
    r
}

/// `preadv2(fd, {buf}, 1, -1, RWF_NOWAIT)`: the byte count and the bytes read.
fn preadv2_nowait(fd: i32) -> (Result<i32, Errno>, Vec<u8>) {
    let mut buf = vec![0u8; 2048];
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: One iovec over `buf`, writable for its length.
    let r = within_3s(|| sys(unsafe { libc::preadv2(fd, &iov, 1, -1, libc::RWF_NOWAIT) }));
    buf.truncate(*r.as_ref().unwrap_or(&0) as usize);
    (r, buf)
}

/// `pwritev2(fd, {data}, 1, -1, RWF_NOWAIT)`.
fn pwritev2_nowait(fd: i32, data: &[u8]) -> Result<i32, Errno> {
    let iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: One iovec over `data`, which the kernel only reads.
    within_3s(|| sys(unsafe { libc::pwritev2(fd, &iov, 1, -1, libc::RWF_NOWAIT) }))
}

/// `the frame`, or the length and the first 64 bytes of what was read instead.
fn same_frame(got: &[u8], want: &[u8]) -> String {
    if got == want {
        "the frame".into()
    } else {
        format!(
            "{} bytes, differ: {}",
            got.len(),
            to_hex(&got[..got.len().min(64)])
        )
    }
}

/// A completion as printed: its result (bytes or errno name), or `pending`.
fn fmt_cqe(c: &Option<uring::Cqe>) -> String {
    match c {
        None => "pending".into(),
        Some(c) => rv(&c.res),
    }
}

/// IOCB_NOWAIT: tun's file has FMODE_NOWAIT (tun_chr_open), so preadv2 and
/// pwritev2 accept RWF_NOWAIT, and tun_chr_read_iter/tun_chr_write_iter
/// treat IOCB_NOWAIT as O_NONBLOCK: on a blocking fd, a read of an empty
/// queue and a write that would wait for send buffer fail with EAGAIN.
/// io_uring issues its reads with IOCB_NOWAIT; on EAGAIN it waits for POLLIN
/// in the kernel (no io-wq worker) and reads again when a frame comes.
fn nowait(c: &mut Ctx) -> Res {
    let (fd, name) = c.create("TUNSETIFF tap", TAP)?;
    c.up(&name)?;
    let f = eth_frame();

    // preadv2 and pwritev2 on the blocking fd.
    c.show("preadv2 RWF_NOWAIT, nothing queued", preadv2_nowait(fd.0).0);
    c.show(
        "pwritev2 RWF_NOWAIT 60-byte frame",
        pwritev2_nowait(fd.0, &f),
    );
    c.show("inject 1 frame", inject(&name, 1));
    c.say("frame queued", yes_no(wait_readable(fd.0, 2000)));
    let (r, got) = preadv2_nowait(fd.0);
    c.show("preadv2 RWF_NOWAIT", r);
    c.say("preadv2 RWF_NOWAIT read", same_frame(&got, &f));
    c.show(
        "preadv2 RWF_NOWAIT again, nothing queued",
        preadv2_nowait(fd.0).0,
    );

    // io_uring: a read of the empty queue waits for the frame.
    let mut ring = c.need("io_uring_setup 4 entries", Ring::new(4))?;
    c.show(
        "io_uring read, nothing queued: io_uring_enter",
        ring.submit_read(fd.0, 2048, 1),
    );
    c.say("io_uring read 300 ms later", fmt_cqe(&ring.wait(300)));
    c.say("io-wq workers while it waits", uring::iowq_workers());
    c.show("inject 1 frame", inject(&name, 1));
    let done = ring.wait(3000);
    c.say("io_uring read after the transmit", fmt_cqe(&done));
    if let Some(d) = &done {
        c.say(
            "io_uring read after the transmit, what it read",
            format!("user_data={} {}", d.user_data, same_frame(&d.buf, &f)),
        );
    }
    // A read of a queued frame completes in io_uring_enter.
    c.show("inject 1 frame", inject(&name, 1));
    c.say("frame queued", yes_no(wait_readable(fd.0, 2000)));
    c.show(
        "io_uring read, frame queued: io_uring_enter",
        ring.submit_read(fd.0, 2048, 2),
    );
    let done = ring.peek();
    c.say("io_uring read completed by io_uring_enter", fmt_cqe(&done));
    if let Some(d) = &done {
        c.say(
            "io_uring read completed by io_uring_enter, what it read",
            format!("user_data={} {}", d.user_data, same_frame(&d.buf, &f)),
        );
    }
    c.say("io-wq workers", uring::iowq_workers());
    drop(ring);
    c.show(
        "preadv2 RWF_NOWAIT after, nothing queued",
        preadv2_nowait(fd.0).0,
    );

    // A write that would wait for send buffer: one frame held charged in the
    // ARP proxy queue (as in `sndbuf`), the buffer 64 bytes.
    let (_tunfd, tun) = c.create("TUNSETIFF tun (the route's device)", IFF_TUN | IFF_NO_PI)?;
    c.ip_need(
        "tun: ip addr add 10.231.2.1/24",
        &["addr", "add", "10.231.2.1/24", "dev", &tun],
    )?;
    c.up(&tun)?;
    c.ip_need(
        "tap: ip addr add 10.231.1.1/24",
        &["addr", "add", "10.231.1.1/24", "dev", &name],
    )?;
    for (k, v) in [
        ("conf/{}/forwarding", "1"),
        ("conf/{}/proxy_arp", "1"),
        ("neigh/{}/proxy_delay", "100000000"),
    ] {
        let r = sysctl_set(&format!("/proc/sys/net/ipv4/{}", k.replace("{}", &name)), v);
        c.say(&format!("sysctl {} = {v}", k.replace("{}", "TAP")), &r);
        if r != "0" {
            return Err(Stop);
        }
    }
    c.show("TUNSETSNDBUF 64", ioctl_int(fd.0, TUNSETSNDBUF, 64));
    c.show(
        "pwritev2 RWF_NOWAIT ARP request (held)",
        pwritev2_nowait(fd.0, &arp_request()),
    );
    let rx_dropped0 = sysfs(&name, "statistics/rx_dropped");
    c.show(
        "pwritev2 RWF_NOWAIT, 1 frame held",
        pwritev2_nowait(fd.0, &f),
    );
    c.say(
        "rx_dropped grew",
        yes_no(sysfs(&name, "statistics/rx_dropped") != rx_dropped0),
    );
    c.ip_need(
        "ip addr del (frees the held frame)",
        &["addr", "del", "10.231.1.1/24", "dev", &name],
    )?;
    c.show("pwritev2 RWF_NOWAIT after", pwritev2_nowait(fd.0, &f));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_print_as_values_or_errno_names() {
        assert_eq!(rv(&Ok(0)), "0");
        assert_eq!(rv(&Ok(60)), "60");
        assert_eq!(rv(&Err::<i32, _>(Errno(libc::EAGAIN))), "EAGAIN");
        assert_eq!(fmt_flags(&Ok(0x1502)), "0 flags=0x1502");
        assert_eq!(fmt_flags(&Err(Errno(libc::EBADFD))), "EBADFD");
    }

    #[test]
    fn poll_events_by_name() {
        assert_eq!(poll_names(0), "none");
        assert_eq!(
            poll_names(libc::POLLOUT | libc::POLLWRNORM),
            "POLLOUT,POLLWRNORM"
        );
        assert_eq!(poll_names(libc::POLLERR), "POLLERR");
        assert_eq!(
            poll_names(libc::POLLIN | libc::POLLRDNORM | libc::POLLOUT),
            "POLLIN,POLLRDNORM,POLLOUT"
        );
        assert_eq!(poll_names(0x2000), "0x2000");
    }

    #[test]
    fn fdinfo_iff_line() {
        let t = "pos:\t0\nflags:\t02000002\nmnt_id:\t20\nino:\t1034\niff:\ttap0\n";
        assert_eq!(fdinfo_iff(t, "tap0"), "name");
        assert_eq!(fdinfo_iff(t, "tap1"), "other");
        assert_eq!(fdinfo_iff("pos:\t0\niff:\t\n", ""), "empty");
        assert_eq!(fdinfo_iff("pos:\t0\n", "tap0"), "absent");
    }

    #[test]
    fn errno_from_iproute2_messages() {
        assert_eq!(
            errno_from_message("RTNETLINK answers: Operation not permitted\n"),
            Some(Errno(libc::EPERM))
        );
        assert_eq!(
            errno_from_message("RTNETLINK answers: Device or resource busy"),
            Some(Errno(libc::EBUSY))
        );
        assert_eq!(
            errno_from_message("RTNETLINK answers: No such device"),
            Some(Errno(libc::ENODEV))
        );
        assert_eq!(
            errno_from_message("RTNETLINK answers: No such device or address"),
            Some(Errno(libc::ENXIO))
        );
        assert_eq!(errno_from_message("Error: something else entirely."), None);
    }

    #[test]
    fn proc_stat_state() {
        assert_eq!(proc_state("123 (rtunabi) S 1 2 3"), Some('S'));
        assert_eq!(proc_state("123 (a) b) R 1"), Some('R'));
        assert_eq!(proc_state(""), None);
    }

    #[test]
    fn ethtool_field_presence() {
        let out = "driver: tun\nversion: 1.6\nfirmware-version: \nbus-info: tap\nsupports-statistics: no\n";
        assert_eq!(ethtool_fields(out), "driver=yes version=yes bus-info=yes");
        assert_eq!(
            ethtool_fields("driver: rtun\nbus-info: \n"),
            "driver=yes version=no bus-info=no"
        );
    }

    #[test]
    fn counters_format() {
        let kv = vec![
            ("rx_packets".to_string(), "0".to_string()),
            ("tx_packets".to_string(), "2".to_string()),
        ];
        assert_eq!(fmt_counters(&kv, false), "rx_packets=0 tx_packets=2");
        assert_eq!(fmt_counters(&kv, true), "tx_packets=2");
        assert_eq!(fmt_counters(&kv[..1], true), "all zero");
    }

    #[test]
    fn send_results_summary() {
        assert_eq!(send_summary(&[]), "sent=0");
        let (ok, nobufs, down) = (
            Ok(()),
            Err(Errno(libc::ENOBUFS)),
            Err(Errno(libc::ENETDOWN)),
        );
        assert_eq!(send_summary(&[ok, ok, ok]), "sent=3");
        assert_eq!(send_summary(&[ok, nobufs, ok, nobufs]), "sent=2 ENOBUFS=2");
        assert_eq!(
            send_summary(&[down, nobufs, down]),
            "sent=0 ENETDOWN=2 ENOBUFS=1"
        );
    }

    #[test]
    fn qdisc_from_ip_link() {
        let out = "7: tap0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast state UP mode DEFAULT group default qlen 4\\    link/ether 02:..";
        assert_eq!(qdisc_of(out), "pfifo_fast");
        assert_eq!(
            qdisc_of("8: rtap0: <UP> mtu 1500 qdisc noqueue state UNKNOWN"),
            "noqueue"
        );
        assert_eq!(qdisc_of("8: rtap0: <UP> mtu 1500 state DOWN"), "none");
        assert_eq!(qdisc_of("x qdisc"), "none");
    }

    #[test]
    fn per_queue_counts() {
        assert_eq!(fmt_per_queue(&[0, 8]), "q0=0 q1=8");
        assert_eq!(fmt_per_queue(&[8]), "q0=8");
        assert_eq!(fmt_per_queue(&[]), "");
    }

    #[test]
    fn tun32_search_order() {
        let exe = Path::new("/w/target/release/rtunabi");
        let v = tun32_candidates(Some("/opt/tun32"), Some(exe));
        let want: Vec<PathBuf> = [
            "/opt/tun32",
            "/w/target/release/tun32",
            "/w/target/tun32",
            "tun32",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(v, want);
        assert_eq!(
            tun32_candidates(Some(""), None),
            vec![PathBuf::from("tun32")]
        );
        assert_eq!(
            tun32_candidates(None, Some(Path::new("/usr/bin/rtunabi")))[0],
            PathBuf::from("/usr/bin/tun32")
        );
    }

    #[test]
    fn scenario_names_are_unique_shell_words() {
        for (i, (n, _)) in SCENARIOS.iter().enumerate() {
            assert!(
                n.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_' || ch.is_ascii_digit()),
                "{n}"
            );
            assert!(SCENARIOS[..i].iter().all(|(m, _)| m != n), "{n} twice");
        }
    }
}
