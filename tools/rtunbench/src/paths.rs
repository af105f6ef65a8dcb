// SPDX-License-Identifier: GPL-2.0
//! One measured run of one path on one device node, in a process of its own
//! (`rtunbench run ...`), or beside the other driver's run of the path, the
//! two taking turns (`rtunbench pair ...`): a hang or a crash is confined to
//! that process.
//!
//! Every path builds its devices and traffic through the same code whatever the
//! device node: only `dev` (/dev/net/tun or /dev/net/rtun) differs.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
        Arc, Condvar, Mutex, MutexGuard,
    },
    thread,
    time::{Duration, Instant},
};

use rtun_common::frame;

use crate::sys::*;

/// The paths, in the order they run and are reported.
pub const PATHS: &[(&str, &str)] = &[
    ("write_tap_64", "write() of 64-byte TAP frames (IPv4/UDP to a local socket whose buffer is full)"),
    ("write_tap_1500", "write() of 1500-byte TAP frames"),
    ("write_tun_64", "write() of 64-byte TUN packets (IPv4/UDP to a local socket whose buffer is full)"),
    ("write_tun_1500", "write() of 1500-byte TUN packets"),
    ("xmit_udp_64", "a UDP socket sends 64-byte datagrams routed via a TUN device; a reader thread reads them"),
    ("xmit_udp_1400", "the same with 1400-byte datagrams"),
    ("drop_noreader", "UDP sent via a multi-queue TUN device whose only queue is detached (carrier on)"),
    ("drop_ringfull", "UDP sent via a TUN device whose reader never reads (ring of 500 full)"),
    ("mq2_udp", "2 queues, 2 UDP senders steered by eBPF to one queue each, 2 readers; aggregate frames read"),
    ("tso64k_seg", "64 KiB (65214-byte) TCP/IPv4 GSO frames (packet socket, virtio-net header) to a TAP reader without offloads: segmented"),
    ("tso64k_vnet", "the same to an IFF_VNET_HDR reader with TUNSETOFFLOAD CSUM|TSO4: taken whole"),
];

/// Where the threads of a path run: flow i's sender (the writer of `write_*`)
/// on CPU `tx[i]`, its reader on `rx[i]` (the one-flow paths use flow 0), the
/// measuring thread on `main` if set. The numbers index the CPUs the run may
/// use, modulo their count: a 1-CPU guest runs everything on its one CPU. Left
/// to the scheduler, the threads settle in a different placement from run to
/// run, and the rates with them, on either driver: `mq2_udp` about 12.8k
/// frames/s with each flow's sender and reader on one CPU, 19k with them apart;
/// `tso64k_*` lower with the sender on CPU 0 (`tso64k_vnet` 670 against 851).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub tx: [usize; 2],
    pub rx: [usize; 2],
    pub main: Option<usize>,
}

/// The placement unless `--pin` says otherwise: senders on CPU 1 (flow 1's on
/// CPU 0), readers on CPU 0 (flow 1's on CPU 1), the measuring thread on CPU
/// 0. Measured under `--icount 3`, 9 rounds, the spread (max - min over the
/// median) per driver was at most 0.8% on `mq2_udp`, `tso64k_*` and
/// `xmit_udp_*`, against up to 49% unpinned; with the measuring thread
/// unpinned, up to 1.7%.
pub const DEFAULT_PIN: &str = "1,0/0,1/0";

/// `none` (the scheduler places the threads), or `TX0,TX1/RX0,RX1[/MAIN]`.
pub fn parse_pin(s: &str) -> Res<Option<Placement>> {
    if s == "none" {
        return Ok(None);
    }
    let bad = || format!("--pin wants none or TX0,TX1/RX0,RX1[/MAIN] (CPU numbers), not {s}");
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return Err(bad());
    }
    let pair = |p: &str| -> Res<[usize; 2]> {
        let v: Vec<usize> = p
            .split(',')
            .map(|x| x.parse().map_err(|_| bad()))
            .collect::<Res<_>>()?;
        match v[..] {
            [a, b] => Ok([a, b]),
            _ => Err(bad()),
        }
    };
    let main = match parts.get(2) {
        Some(m) => Some(m.parse().map_err(|_| bad())?),
        None => None,
    };
    Ok(Some(Placement {
        tx: pair(parts[0])?,
        rx: pair(parts[1])?,
        main,
    }))
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{},{}/{},{}",
            self.tx[0], self.tx[1], self.rx[0], self.rx[1]
        )?;
        if let Some(m) = self.main {
            write!(f, "/{m}")?;
        }
        Ok(())
    }
}

pub struct RunCfg {
    pub path: String,
    pub dev: String,
    pub name: String,
    /// The device's /24: 10.net[0].net[1].0; local .1, peer .2.
    pub net: [u8; 2],
    pub warm: Duration,
    pub dur: Duration,
    /// None: the scheduler places the threads.
    pub pin: Option<Placement>,
    /// Some: this run shares its process with the other driver's run of the
    /// same path, and takes turns with it (`Turns`); None: it runs alone.
    pub turns: Option<(Arc<Turns>, usize)>,
}

impl RunCfg {
    fn local(&self) -> [u8; 4] {
        [10, self.net[0], self.net[1], 1]
    }
    fn peer(&self) -> [u8; 4] {
        [10, self.net[0], self.net[1], 2]
    }
}

pub struct RunOut {
    /// Units counted in the measured window, and how many make one frame.
    pub count: u64,
    pub scale: f64,
    pub secs: f64,
    pub extras: Vec<(String, u64)>,
}

impl RunOut {
    pub fn rate(&self) -> f64 {
        self.count as f64 / self.scale / self.secs
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Stops the threads of a run and keeps its first error. Senders stop at the
/// end of the measured window; readers may go on draining until `stop`. A run
/// that takes turns (`Turns`) also pauses its senders between its turns: they
/// wait in `sending()`, asleep, until the run's next turn.
struct Ctl {
    stop: AtomicBool,
    stop_senders: AtomicBool,
    paused: AtomicBool,
    /// Held to change `paused` or to stop, so that a sender about to wait
    /// cannot miss the wake-up (`gate_cv`).
    gate: Mutex<()>,
    gate_cv: Condvar,
    err: Mutex<Option<String>>,
}

impl Ctl {
    fn new(cfg: &RunCfg) -> Ctl {
        Ctl {
            stop: AtomicBool::new(false),
            stop_senders: AtomicBool::new(false),
            paused: AtomicBool::new(cfg.turns.is_some()),
            gate: Mutex::new(()),
            gate_cv: Condvar::new(),
            err: Mutex::new(None),
        }
    }
    fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }
    /// Whether a sender goes on; while the run is paused, it waits here.
    fn sending(&self) -> bool {
        if self.paused.load(Relaxed) {
            let mut g = lock(&self.gate);
            while self.paused.load(Relaxed)
                && !self.stop.load(Relaxed)
                && !self.stop_senders.load(Relaxed)
            {
                g = self.gate_cv.wait(g).unwrap_or_else(|p| p.into_inner());
            }
        }
        !self.stop.load(Relaxed) && !self.stop_senders.load(Relaxed)
    }
    /// Sets `flag` (or `paused` to `to`) and wakes the senders waiting.
    fn signal(&self, flag: &AtomicBool, to: bool) {
        let _g = lock(&self.gate);
        flag.store(to, Relaxed);
        self.gate_cv.notify_all();
    }
    fn fail(&self, e: String) {
        let mut g = lock(&self.err);
        if g.is_none() {
            *g = Some(e);
        }
        drop(g);
        self.signal(&self.stop, true);
    }
    fn error(&self) -> Option<String> {
        lock(&self.err).clone()
    }
}

/// Two runs of one path, one per driver, in one process, taking turns: a
/// warm-up each, then slices of `slice` that alternate ABBA, so that the two
/// drivers are measured over the same seconds of a host whose speed varies
/// from one second to the next. Only the run whose turn it is sends; the
/// other's senders wait, asleep.
pub struct Turns {
    /// The measured time of one slice.
    pub slice: Duration,
    st: Mutex<TurnState>,
    cv: Condvar,
}

struct TurnState {
    /// Whose turn, in order, and whether it is a warm-up.
    seq: Vec<(usize, bool)>,
    pos: usize,
    arrived: [bool; 2],
    gone: [bool; 2],
    /// A turn was skipped: its run had gone (failed). The other's later
    /// slices then followed each other without a break.
    skipped: bool,
}

impl Turns {
    /// `slices` each. Run 1 warms up first, run 0 then warms up and takes the
    /// first slice: with ABBA after that, each run has as many slices that
    /// follow a turn of its own as the other (for an even `slices`).
    pub fn new(slice: Duration, slices: usize) -> Turns {
        let mut seq = vec![(1, true), (0, true)];
        for i in 0..slices {
            let first = i % 2;
            seq.extend([(first, false), (1 - first, false)]);
        }
        Turns {
            slice,
            st: Mutex::new(TurnState {
                seq,
                pos: 0,
                arrived: [false; 2],
                gone: [false; 2],
                skipped: false,
            }),
            cv: Condvar::new(),
        }
    }

    /// Run `me` is set up and ready for its first turn.
    fn arrive(&self, me: usize) {
        lock(&self.st).arrived[me] = true;
        self.cv.notify_all();
    }

    /// Waits for `me`'s next turn, once both runs are ready (or gone): Some
    /// (whether it is a warm-up), or None when every turn has been taken.
    /// The turns of a run that has gone are skipped.
    fn next(&self, me: usize) -> Option<bool> {
        let mut st = lock(&self.st);
        loop {
            let ready = (0..2).all(|i| st.arrived[i] || st.gone[i]);
            if ready {
                while st.pos < st.seq.len() && st.gone[st.seq[st.pos].0] {
                    st.pos += 1;
                    st.skipped = true;
                }
                match st.seq.get(st.pos) {
                    None => return None,
                    Some(&(who, warm)) if who == me => return Some(warm),
                    Some(_) => {}
                }
            }
            st = self.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn end(&self, me: usize) {
        let mut st = lock(&self.st);
        if st.seq.get(st.pos).map(|t| t.0) == Some(me) {
            st.pos += 1;
        }
        drop(st);
        self.cv.notify_all();
    }

    /// Run `me` takes no more turns (done, or failed).
    pub fn leave(&self, me: usize) {
        lock(&self.st).gone[me] = true;
        self.cv.notify_all();
    }

    /// Whether a turn of a run that had gone was skipped.
    pub fn skipped(&self) -> bool {
        lock(&self.st).skipped
    }
}

/// Leaves the turns when dropped, also on a panic, so that the other run is
/// not kept waiting for them.
struct LeaveTurns<'a>(&'a RunCfg);

impl Drop for LeaveTurns<'_> {
    fn drop(&mut self) {
        if let Some((turns, me)) = &self.0.turns {
            turns.leave(*me);
        }
    }
}

/// Stops the run's threads when dropped, also on a panic, so that no sender
/// sleeps paused for ever and the run's thread scope can end.
struct StopOnDrop<'a>(&'a Ctl);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.signal(&self.0.stop, true);
    }
}

/// How long a window may be stretched, and readers may drain, when a starved
/// thread (a loaded host under TCG) has not moved a frame yet.
const GRACE: Duration = Duration::from_secs(5);

/// Sleeps for `d`, in steps, unless the run stops.
fn nap(ctl: &Ctl, d: Duration) {
    let end = Instant::now() + d;
    while !ctl.stopped() && Instant::now() < end {
        thread::sleep(Duration::from_millis(5).min(end.saturating_duration_since(Instant::now())));
    }
}

/// After a resume, the time not counted while the senders wake; after a turn,
/// the interval over which the counts must stand still, twice in a row (the
/// senders wait and the readers have drained), at most `QUIET_MAX`, before
/// the other run's turn.
pub const SETTLE: Duration = Duration::from_millis(5);
pub const QUIET_MAX: Duration = Duration::from_millis(200);

/// Warm up, then count over the measured window, which lasts `cfg.dur` and, if
/// the main count (`snap()[0]`) has not moved by then, until it does (at most
/// `GRACE` longer). A run that takes turns counts over its slices instead.
/// Then stops the senders, lets the readers go on until `drained()` (at most
/// `GRACE`), and stops everything.
fn measure(
    ctl: &Ctl,
    cfg: &RunCfg,
    snap: impl Fn() -> Vec<u64>,
    drained: impl Fn() -> bool,
) -> (Vec<u64>, f64) {
    let _stop = StopOnDrop(ctl);
    let (d, secs) = match &cfg.turns {
        Some((turns, me)) => measure_turns(ctl, turns, *me, cfg.warm, &snap),
        None => {
            nap(ctl, cfg.warm);
            let a = snap();
            let t0 = Instant::now();
            nap(ctl, cfg.dur);
            while !ctl.stopped() && snap()[0] == a[0] && t0.elapsed() < cfg.dur + GRACE {
                thread::sleep(Duration::from_millis(5));
            }
            let b = snap();
            let d = b.iter().zip(&a).map(|(b, a)| b - a).collect();
            (d, t0.elapsed().as_secs_f64())
        }
    };
    ctl.signal(&ctl.stop_senders, true);
    let t1 = Instant::now();
    while !ctl.stopped() && !drained() && t1.elapsed() < GRACE {
        thread::sleep(Duration::from_millis(5));
    }
    // `_stop` stops the readers too.
    (d, secs)
}

/// `measure` for a run that takes turns: the counts summed over its slices,
/// and their measured time. Each turn resumes the senders, waits `SETTLE`
/// (not counted), counts over the slice, pauses the senders, and waits until
/// the counts stand still (the readers have drained) before handing over.
fn measure_turns(
    ctl: &Ctl,
    turns: &Turns,
    me: usize,
    warm: Duration,
    snap: &impl Fn() -> Vec<u64>,
) -> (Vec<u64>, f64) {
    turns.arrive(me);
    let mut sum = vec![0u64; snap().len()];
    let mut secs = 0.0;
    while let Some(warmup) = turns.next(me) {
        ctl.signal(&ctl.paused, false);
        if warmup {
            nap(ctl, warm);
        } else {
            nap(ctl, SETTLE);
            let a = snap();
            let t0 = Instant::now();
            nap(ctl, turns.slice);
            let b = snap();
            secs += t0.elapsed().as_secs_f64();
            for (s, (b, a)) in sum.iter_mut().zip(b.iter().zip(&a)) {
                *s += b - a;
            }
        }
        ctl.signal(&ctl.paused, true);
        let t1 = Instant::now();
        let (mut last, mut still) = (snap(), 0);
        while !ctl.stopped() && still < 2 && t1.elapsed() < QUIET_MAX {
            thread::sleep(SETTLE);
            let now = snap();
            still = if now == last { still + 1 } else { 0 };
            last = now;
        }
        turns.end(me);
        if ctl.stopped() {
            break;
        }
    }
    turns.leave(me);
    (sum, secs)
}

fn no_drain() -> bool {
    true
}

// ---- thread placement ------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Tx(usize),
    Rx(usize),
    Main,
}

impl Role {
    fn name(self) -> String {
        match self {
            Role::Tx(i) => format!("tx{i}"),
            Role::Rx(i) => format!("rx{i}"),
            Role::Main => "main".into(),
        }
    }
}

/// Binds a run's threads to their CPUs, best effort, and records the CPU each
/// ended the run on, which the run reports as `cpu_ROLE=N` extras: the
/// placement it had, pinned or not.
struct Pins {
    /// The CPUs the process may use, taken before any thread is bound.
    cpus: Vec<usize>,
    want: Option<Placement>,
    seen: Vec<(Role, AtomicU64)>,
}

impl Pins {
    fn new(cfg: &RunCfg, roles: &[Role]) -> Pins {
        let cpus = match cfg.pin.map(|_| allowed_cpus()) {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                println!("# pin: {e}: the threads are left where the scheduler puts them");
                Vec::new()
            }
            None => Vec::new(),
        };
        Pins {
            cpus,
            want: cfg.pin,
            seen: roles
                .iter()
                .map(|&r| (r, AtomicU64::new(u64::MAX)))
                .collect(),
        }
    }

    /// The CPU `role` is to run on, if any.
    fn cpu(&self, role: Role) -> Option<usize> {
        let p = self.want?;
        let i = match role {
            Role::Tx(i) => p.tx[i],
            Role::Rx(i) => p.rx[i],
            Role::Main => p.main?,
        };
        (!self.cpus.is_empty()).then(|| self.cpus[i % self.cpus.len()])
    }

    /// Runs `f` on the calling thread, bound to `role`'s CPU if it has one (a
    /// failure is a `#` line, not an error), and records where it ended.
    fn run<T>(&self, role: Role, f: impl FnOnce() -> T) -> T {
        if let Some(c) = self.cpu(role) {
            if let Err(e) = pin_thread(c) {
                println!(
                    "# pin: {}: {e}; it runs where the scheduler puts it",
                    role.name()
                );
            }
        }
        let r = f();
        if let (Some(cpu), Some((_, seen))) =
            (current_cpu(), self.seen.iter().find(|(r, _)| *r == role))
        {
            seen.store(cpu as u64, Relaxed);
        }
        r
    }

    fn extras(&self) -> Vec<(String, u64)> {
        let seen = self.seen.iter().map(|(r, v)| (r, v.load(Relaxed)));
        seen.filter(|&(_, v)| v != u64::MAX)
            .map(|(r, v)| (format!("cpu_{}", r.name()), v))
            .collect()
    }
}

// ---- the loops ------------------------------------------------------------------------

/// write() the same frame into the device until the run stops.
fn write_loop(ctl: &Ctl, fd: i32, buf: &[u8], n: &AtomicU64) {
    while ctl.sending() {
        // SAFETY: `buf` is readable for its length.
        let r = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if r == buf.len() as isize {
            n.fetch_add(1, Relaxed);
        } else if r < 0 && matches!(Errno::last(), Errno(libc::EAGAIN | libc::EINTR)) {
            continue;
        } else if r < 0 {
            return ctl.fail(os_err(&format!("write of a {}-byte frame", buf.len())));
        } else {
            return ctl.fail(format!("write of a {}-byte frame returned {r}", buf.len()));
        }
    }
}

/// Whether a send's errno still means the frame went to the device: ENOBUFS is
/// a drop the device reported (NET_XMIT_DROP).
fn sent_anyway(e: Errno) -> Option<bool> {
    match e.0 {
        libc::ENOBUFS => Some(true),
        // SO_SNDTIMEO expired, a signal, or an ICMP error from an earlier frame.
        libc::EAGAIN | libc::EINTR | libc::ECONNREFUSED => Some(false),
        _ => None,
    }
}

/// Calls `send` (one datagram or frame) until the run stops, counting in `n`
/// each that went to the device; an errno that [`sent_anyway`] does not know
/// fails the run, `what` naming the send.
fn send_until_stopped(
    ctl: &Ctl,
    n: &AtomicU64,
    what: &str,
    mut send: impl FnMut() -> Result<usize, Errno>,
) {
    while ctl.sending() {
        let e = match send() {
            Ok(_) => {
                n.fetch_add(1, Relaxed);
                continue;
            }
            Err(e) => e,
        };
        match sent_anyway(e) {
            Some(true) => {
                n.fetch_add(1, Relaxed);
            }
            Some(false) => {}
            None => return ctl.fail(os_err_of(what, e)),
        }
    }
}

/// send() on a connected UDP socket until the run stops.
fn send_loop(ctl: &Ctl, fd: i32, buf: &[u8], n: &AtomicU64) {
    let what = format!("send of a {}-byte UDP datagram", buf.len());
    send_until_stopped(ctl, n, &what, || {
        // SAFETY: `buf` is readable for its length.
        Errno::result(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), 0) })
            .map(|r| r as usize)
    })
}

/// sendto() on a packet socket until the run stops.
fn sendto_ll_loop(ctl: &Ctl, fd: i32, sa: &libc::sockaddr_ll, buf: &[u8], n: &AtomicU64) {
    let what = format!("sendto of a {}-byte frame on a packet socket", buf.len());
    send_until_stopped(ctl, n, &what, || frame::sendto_ll(fd, sa, buf))
}

/// read() a non-blocking queue until the run stops: frames, and bytes past the
/// first `hdr` of each.
fn read_loop(ctl: &Ctl, fd: i32, hdr: usize, frames: &AtomicU64, payload: &AtomicU64) {
    let mut buf = vec![0u8; 70000];
    while !ctl.stopped() {
        // SAFETY: `buf` is writable for its length.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if r > 0 {
            frames.fetch_add(1, Relaxed);
            payload.fetch_add((r as usize).saturating_sub(hdr) as u64, Relaxed);
            continue;
        }
        if r == 0 {
            return ctl.fail("read returned 0 (device gone?)".into());
        }
        match Errno::last().0 {
            libc::EAGAIN => {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: One valid pollfd.
                unsafe { libc::poll(&mut p, 1, 20) };
            }
            libc::EINTR => {}
            _ => return ctl.fail(os_err("read")),
        }
    }
}

// ---- frames ---------------------------------------------------------------------------------

fn csum16(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ipv4_header(src: [u8; 4], dst: [u8; 4], proto: u8, total: usize) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = csum16(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip
}

/// An IPv4/UDP packet of `total` bytes, UDP checksum 0 (none).
pub fn udp4_packet(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, total: usize) -> Vec<u8> {
    let mut p = ipv4_header(src, dst, 17, total);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((total - 20) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.resize(total, 0);
    p
}

fn eth_header(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    let mut e = dst.to_vec();
    e.extend_from_slice(&src);
    e.extend_from_slice(&0x0800u16.to_be_bytes());
    e
}

/// TSO frames: 45 full segments of `TSO_MSS`, 65214 bytes with the Ethernet
/// header. (A frame of 65536 bytes or more is over the default gso_max_size and
/// the core would segment it before any driver saw it.)
pub const TSO_MSS: u16 = 1448;
pub const TSO_HDRS: usize = 14 + 20 + 20;
pub const TSO_PAYLOAD: usize = 45 * TSO_MSS as usize;
pub const TSO_FRAME: usize = TSO_HDRS + TSO_PAYLOAD;

/// An Ethernet + IPv4 + TCP frame of `TSO_FRAME` bytes behind a virtio-net
/// header asking for TSO with `TSO_MSS` and a partial checksum.
pub fn tso_frame() -> Vec<u8> {
    let (src, dst) = ([10, 99, 0, 1], [10, 99, 0, 2]);
    let mut v = Vec::with_capacity(10 + TSO_FRAME);
    const { assert!(TSO_FRAME < 65536) };
    v.push(1); // VIRTIO_NET_HDR_F_NEEDS_CSUM
    v.push(1); // VIRTIO_NET_HDR_GSO_TCPV4
    v.extend_from_slice(&(TSO_HDRS as u16).to_le_bytes()); // hdr_len
    v.extend_from_slice(&TSO_MSS.to_le_bytes()); // gso_size
    v.extend_from_slice(&34u16.to_le_bytes()); // csum_start
    v.extend_from_slice(&16u16.to_le_bytes()); // csum_offset
    v.extend_from_slice(&eth_header([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]));
    v.extend_from_slice(&ipv4_header(src, dst, 6, TSO_FRAME - 14));
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&4000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&5000u16.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x18; // PSH, ACK
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    // The pseudo-header sum, not inverted, as CHECKSUM_PARTIAL wants.
    let tcp_len = (TSO_FRAME - 14 - 20) as u32;
    let mut sum: u32 = [10u32 << 8 | 99, 1, 10 << 8 | 99, 2, 6, tcp_len]
        .iter()
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    tcp[16..18].copy_from_slice(&(sum as u16).to_be_bytes());
    v.extend_from_slice(&tcp);
    v.resize(10 + TSO_FRAME, 0);
    v
}

// ---- the paths ----------------------------------------------------------------------------

const SINK_PORT: u16 = 9999;

/// Configures a TUN device point-to-point with its peer, or a TAP device on a
/// /24, and brings it up.
fn configure(cfg: &RunCfg, tap: bool) -> Res<()> {
    if tap {
        if_addr(&cfg.name, cfg.local(), 24)?;
    } else {
        if_addr(&cfg.name, cfg.local(), 32)?;
        if_peer(&cfg.name, cfg.peer())?;
    }
    if_txqlen(&cfg.name, 500)?;
    if_up(&cfg.name)
}

fn finish(ctl: &Ctl, (d, secs): (Vec<u64>, f64), scale: f64, names: &[&str]) -> Res<RunOut> {
    if let Some(e) = ctl.error() {
        return Err(e);
    }
    let extras = names
        .iter()
        .zip(d.iter().skip(1))
        .map(|(n, v)| (n.to_string(), *v))
        .collect();
    Ok(RunOut {
        count: d[0],
        scale,
        secs,
        extras,
    })
}

fn path_write(cfg: &RunCfg, tap: bool, size: usize) -> Res<RunOut> {
    let flags = if tap { IFF_TAP } else { IFF_TUN } | IFF_NO_PI;
    let q = tun_attach(&cfg.dev, &cfg.name, flags, false)?;
    configure(cfg, tap)?;
    // The stack delivers every frame to this socket, which is never read: once
    // its smallest buffer is full, each one is dropped there, cheaply.
    let sink = udp_bound(cfg.local(), SINK_PORT)?;
    setsockopt_int(sink.0, libc::SOL_SOCKET, libc::SO_RCVBUF, 1, "SO_RCVBUF")?;
    let frame = if tap {
        let mut f = eth_header(if_hwaddr(&cfg.name)?, [2, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&udp4_packet(
            cfg.peer(),
            cfg.local(),
            4321,
            SINK_PORT,
            size - 14,
        ));
        f
    } else {
        udp4_packet(cfg.peer(), cfg.local(), 4321, SINK_PORT, size)
    };
    let rx0 = stat(&cfg.name, "rx_packets")?;
    let ctl = Ctl::new(cfg);
    let pins = Pins::new(cfg, &[Role::Tx(0), Role::Main]);
    let n = AtomicU64::new(0);
    let r = thread::scope(|s| {
        s.spawn(|| pins.run(Role::Tx(0), || write_loop(&ctl, q.0, &frame, &n)));
        pins.run(Role::Main, || {
            measure(&ctl, cfg, || vec![n.load(Relaxed)], no_drain)
        })
    });
    let mut out = finish(&ctl, r, 1.0, &[])?;
    out.extras.extend(pins.extras());
    out.extras
        .push(("rx_packets".into(), stat(&cfg.name, "rx_packets")? - rx0));
    Ok(out)
}

fn path_xmit(cfg: &RunCfg, size: usize) -> Res<RunOut> {
    let q = tun_attach(&cfg.dev, &cfg.name, IFF_TUN | IFF_NO_PI, true)?;
    configure(cfg, false)?;
    let tx = udp_connected(cfg.peer(), SINK_PORT)?;
    let payload = vec![0u8; size];
    let ctl = Ctl::new(cfg);
    let pins = Pins::new(cfg, &[Role::Tx(0), Role::Rx(0), Role::Main]);
    let (sent, frames, bytes) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let r = thread::scope(|s| {
        s.spawn(|| pins.run(Role::Rx(0), || read_loop(&ctl, q.0, 0, &frames, &bytes)));
        s.spawn(|| pins.run(Role::Tx(0), || send_loop(&ctl, tx.0, &payload, &sent)));
        pins.run(Role::Main, || {
            measure(
                &ctl,
                cfg,
                || vec![frames.load(Relaxed), sent.load(Relaxed)],
                || frames.load(Relaxed) > 0,
            )
        })
    });
    let mut out = finish(&ctl, r, 1.0, &["sent"])?;
    out.extras.extend(pins.extras());
    if out.count == 0 {
        return Err(format!(
            "the reader got no frame ({} sent; {})",
            out.extras[0].1,
            drop_summary(&cfg.name)
        ));
    }
    Ok(out)
}

/// Sends UDP via the device and counts sends; the driver must count a drop for
/// (almost) every one. With `fill`, first sends until the driver drops (the
/// reader's ring is full), so that the measured window sees only drops.
fn drop_run(cfg: &RunCfg, fill: bool) -> Res<RunOut> {
    let tx = udp_connected(cfg.peer(), SINK_PORT)?;
    let payload = vec![0u8; 64];
    if fill {
        let d0 = stat(&cfg.name, "tx_dropped")?;
        let t0 = Instant::now();
        let mut n = 0u64;
        while stat(&cfg.name, "tx_dropped")? == d0 {
            if t0.elapsed() > Duration::from_secs(10) {
                return Err(format!(
                    "{n} datagrams sent in 10 s and no drop yet: the ring never filled"
                ));
            }
            for _ in 0..32 {
                // SAFETY: `payload` is readable for its length.
                if unsafe { libc::send(tx.0, payload.as_ptr().cast(), payload.len(), 0) } >= 0 {
                    n += 1;
                }
            }
        }
    }
    let d0 = stat(&cfg.name, "tx_dropped")?;
    let ctl = Ctl::new(cfg);
    let pins = Pins::new(cfg, &[Role::Tx(0), Role::Main]);
    let sent = AtomicU64::new(0);
    let r = thread::scope(|s| {
        s.spawn(|| pins.run(Role::Tx(0), || send_loop(&ctl, tx.0, &payload, &sent)));
        pins.run(Role::Main, || {
            measure(&ctl, cfg, || vec![sent.load(Relaxed)], no_drain)
        })
    });
    let mut out = finish(&ctl, r, 1.0, &[])?;
    out.extras.extend(pins.extras());
    let dropped = stat(&cfg.name, "tx_dropped")? - d0;
    out.extras.push(("tx_dropped".into(), dropped));
    if dropped == 0 {
        return Err(format!(
            "{} datagrams sent, but tx_dropped did not move: they did not reach the driver ({})",
            out.count,
            drop_summary(&cfg.name)
        ));
    }
    Ok(out)
}

fn path_drop_noreader(cfg: &RunCfg) -> Res<RunOut> {
    let q = tun_attach(
        &cfg.dev,
        &cfg.name,
        IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE,
        false,
    )?;
    configure(cfg, false)?;
    tun_detach_queue(q.0)?;
    let carrier = sysfs_net(&cfg.name, "carrier")?;
    if carrier != "1" {
        return Err(format!("carrier is '{carrier}' after TUNSETQUEUE IFF_DETACH_QUEUE of the only queue (tun keeps it on)"));
    }
    let out = drop_run(cfg, false);
    drop(q);
    out
}

fn path_drop_ringfull(cfg: &RunCfg) -> Res<RunOut> {
    // Attached, never read.
    let q = tun_attach(&cfg.dev, &cfg.name, IFF_TUN | IFF_NO_PI, true)?;
    configure(cfg, false)?;
    let out = drop_run(cfg, true);
    drop(q);
    out
}

fn path_mq2(cfg: &RunCfg) -> Res<RunOut> {
    let flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
    let q0 = tun_attach(&cfg.dev, &cfg.name, flags, true)?;
    let q1 = tun_attach(&cfg.dev, &cfg.name, flags, true)?;
    configure(cfg, false)?;
    let prog = load_port_steering()?;
    tun_set_steering(q0.0, prog.0)?;
    // Port 10000 -> queue 0, 10001 -> queue 1.
    let tx0 = udp_connected(cfg.peer(), 10000)?;
    let tx1 = udp_connected(cfg.peer(), 10001)?;
    let payload = vec![0u8; 64];
    let ctl = Ctl::new(cfg);
    let pins = Pins::new(
        cfg,
        &[
            Role::Tx(0),
            Role::Rx(0),
            Role::Tx(1),
            Role::Rx(1),
            Role::Main,
        ],
    );
    let c: Vec<AtomicU64> = (0..6).map(|_| AtomicU64::new(0)).collect();
    let r = thread::scope(|s| {
        s.spawn(|| pins.run(Role::Rx(0), || read_loop(&ctl, q0.0, 0, &c[0], &c[1])));
        s.spawn(|| pins.run(Role::Rx(1), || read_loop(&ctl, q1.0, 0, &c[2], &c[3])));
        s.spawn(|| pins.run(Role::Tx(0), || send_loop(&ctl, tx0.0, &payload, &c[4])));
        s.spawn(|| pins.run(Role::Tx(1), || send_loop(&ctl, tx1.0, &payload, &c[5])));
        pins.run(Role::Main, || {
            measure(
                &ctl,
                cfg,
                || {
                    let (a, b) = (c[0].load(Relaxed), c[2].load(Relaxed));
                    vec![a + b, a, b, c[4].load(Relaxed), c[5].load(Relaxed)]
                },
                || c[0].load(Relaxed) > 0 && c[2].load(Relaxed) > 0,
            )
        })
    });
    let mut out = finish(&ctl, r, 1.0, &["q0", "q1", "sent0", "sent1"])?;
    out.extras.extend(pins.extras());
    // Both queues must have carried frames over the whole run (a reader starved
    // through the window still drains afterwards).
    let total = [c[0].load(Relaxed), c[2].load(Relaxed)];
    for i in 0..2 {
        if total[i] == 0 {
            return Err(format!(
                "queue {i} read no frame in the whole run: steering by destination port failed (read q0={} q1={}; sent to port 10000 (queue 0): {}, to 10001 (queue 1): {}; {})",
                total[0],
                total[1],
                c[4].load(Relaxed),
                c[5].load(Relaxed),
                drop_summary(&cfg.name)
            ));
        }
    }
    Ok(out)
}

fn path_tso(cfg: &RunCfg, vnet: bool) -> Res<RunOut> {
    let flags = IFF_TAP | IFF_NO_PI | if vnet { IFF_VNET_HDR } else { 0 };
    let q = tun_attach(&cfg.dev, &cfg.name, flags, true)?;
    if vnet {
        tun_set_offload(q.0, TUN_F_CSUM | TUN_F_TSO4)?;
    }
    if_up(&cfg.name)?;
    let (tx, sa) = packet_vnet(if_index(&cfg.name)?)?;
    let frame = tso_frame();
    let hdr = if vnet { 10 } else { 0 } + TSO_HDRS;
    let ctl = Ctl::new(cfg);
    let pins = Pins::new(cfg, &[Role::Tx(0), Role::Rx(0), Role::Main]);
    let (sent, reads, payload) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let r = thread::scope(|s| {
        s.spawn(|| pins.run(Role::Rx(0), || read_loop(&ctl, q.0, hdr, &reads, &payload)));
        s.spawn(|| {
            pins.run(Role::Tx(0), || {
                sendto_ll_loop(&ctl, tx.0, &sa, &frame, &sent)
            })
        });
        pins.run(Role::Main, || {
            measure(
                &ctl,
                cfg,
                || {
                    vec![
                        payload.load(Relaxed),
                        reads.load(Relaxed),
                        sent.load(Relaxed),
                    ]
                },
                || payload.load(Relaxed) > 0,
            )
        })
    });
    // Frames delivered: TCP payload read, in whole 64 KiB frames' worth.
    let mut out = finish(&ctl, r, TSO_PAYLOAD as f64, &["reads", "sent"])?;
    out.extras.extend(pins.extras());
    if out.count == 0 {
        return Err(format!(
            "the reader got no payload ({} reads, {} frames sent; {})",
            out.extras[0].1,
            out.extras[1].1,
            drop_summary(&cfg.name)
        ));
    }
    Ok(out)
}

pub fn run(cfg: &RunCfg) -> Res<RunOut> {
    let leave = LeaveTurns(cfg);
    let out = match cfg.path.as_str() {
        "write_tap_64" => path_write(cfg, true, 64),
        "write_tap_1500" => path_write(cfg, true, 1500),
        "write_tun_64" => path_write(cfg, false, 64),
        "write_tun_1500" => path_write(cfg, false, 1500),
        "xmit_udp_64" => path_xmit(cfg, 64),
        "xmit_udp_1400" => path_xmit(cfg, 1400),
        "drop_noreader" => path_drop_noreader(cfg),
        "drop_ringfull" => path_drop_ringfull(cfg),
        "mq2_udp" => path_mq2(cfg),
        "tso64k_seg" => path_tso(cfg, false),
        "tso64k_vnet" => path_tso(cfg, true),
        p => Err(format!("unknown path {p}")),
    };
    // Its turns are over, whether it took them or failed before.
    drop(leave);
    // The device goes with its last queue; wait for it so that runs do not overlap.
    if !wait_gone(&cfg.name, Duration::from_secs(5)) {
        println!(
            "# warning: {} still exists 5 s after its last queue closed",
            cfg.name
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_packet_is_well_formed() {
        let p = udp4_packet([10, 0, 0, 2], [10, 0, 0, 1], 1, 2, 64);
        assert_eq!(p.len(), 64);
        assert_eq!(csum16(&p[..20]), 0, "the IPv4 header checksum verifies");
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 64);
        assert_eq!(u16::from_be_bytes([p[24], p[25]]), 44, "UDP length");
    }

    #[test]
    fn tso_frame_is_64k() {
        let f = tso_frame();
        assert_eq!(f.len(), 10 + 65214);
        assert!(f.len() - 10 < 65536, "under the default gso_max_size");
        assert_eq!(csum16(&f[10 + 14..10 + 34]), 0);
        assert_eq!(
            u16::from_be_bytes([f[10 + 16], f[10 + 17]]) as usize,
            65214 - 14
        );
    }

    #[test]
    fn pin_specs_parse() {
        assert_eq!(parse_pin("none"), Ok(None));
        let p = parse_pin("0,1/1,0").ok().flatten();
        assert_eq!(
            p,
            Some(Placement {
                tx: [0, 1],
                rx: [1, 0],
                main: None
            })
        );
        assert_eq!(p.map(|p| p.to_string()).as_deref(), Some("0,1/1,0"));
        let m = parse_pin("0,1/0,1/1").ok().flatten();
        assert_eq!(
            m,
            Some(Placement {
                tx: [0, 1],
                rx: [0, 1],
                main: Some(1)
            })
        );
        assert_eq!(m.map(|p| p.to_string()).as_deref(), Some("0,1/0,1/1"));
        assert!(parse_pin(DEFAULT_PIN).is_ok());
        for bad in [
            "",
            "0,1",
            "0/1",
            "0,1/1",
            "0,1/1,0/",
            "0,1/1,0/0/0",
            "a,1/1,0",
            "0,1,2/1,0",
        ] {
            assert!(parse_pin(bad).is_err(), "{bad}");
        }
    }

    /// A configuration for the tests that need one: no device, no time.
    fn test_cfg(pin: Option<Placement>, turns: Option<(Arc<Turns>, usize)>) -> RunCfg {
        RunCfg {
            path: String::new(),
            dev: String::new(),
            name: String::new(),
            net: [0, 0],
            warm: Duration::ZERO,
            dur: Duration::ZERO,
            pin,
            turns,
        }
    }

    #[test]
    fn placement_wraps_to_the_usable_cpus() {
        let cfg = |pin| test_cfg(pin, None);
        let want = Some(Placement {
            tx: [0, 1],
            rx: [1, 0],
            main: None,
        });
        let one = Pins {
            cpus: vec![3],
            ..Pins::new(&cfg(want), &[])
        };
        assert_eq!(
            [
                one.cpu(Role::Tx(0)),
                one.cpu(Role::Rx(0)),
                one.cpu(Role::Main)
            ],
            [Some(3), Some(3), None]
        );
        let two = Pins {
            cpus: vec![0, 2],
            ..Pins::new(&cfg(want), &[])
        };
        assert_eq!(
            [two.cpu(Role::Tx(1)), two.cpu(Role::Rx(1))],
            [Some(2), Some(0)]
        );
        let none = Pins::new(&cfg(None), &[Role::Tx(0)]);
        assert_eq!(none.cpu(Role::Tx(0)), None);
        assert!(
            none.extras().is_empty(),
            "nothing recorded before the threads ran"
        );
    }

    /// Runs `f` in a thread, and fails if it has not finished in 10 s (a
    /// hang is then a failure, not a test that never ends).
    fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(f());
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(v) => v,
            Err(_) => panic!("hung for 10 s"),
        }
    }

    /// Two runs taking turns: who ran in which order. Run i arrives if
    /// `arrive[i]`, and leaves after `quit_after[i]` turns.
    fn take_turns(
        slices: usize,
        arrive: [bool; 2],
        quit_after: [usize; 2],
    ) -> (Vec<(usize, bool)>, bool) {
        within_10s(move || {
            let turns = Turns::new(Duration::from_millis(1), slices);
            let log = Mutex::new(Vec::new());
            thread::scope(|s| {
                for (me, quit) in quit_after.into_iter().enumerate() {
                    let (log, turns) = (&log, &turns);
                    s.spawn(move || {
                        if !arrive[me] {
                            return turns.leave(me);
                        }
                        turns.arrive(me);
                        let mut taken = 0;
                        while taken < quit {
                            let Some(warm) = turns.next(me) else { break };
                            lock(log).push((me, warm));
                            taken += 1;
                            turns.end(me);
                        }
                        turns.leave(me);
                    });
                }
            });
            (log.into_inner().unwrap_or_default(), turns.skipped())
        })
    }

    #[test]
    fn turns_alternate_abba() {
        let (got, skipped) = take_turns(3, [true; 2], [usize::MAX; 2]);
        let want = [
            (1, true),
            (0, true),
            (0, false),
            (1, false),
            (1, false),
            (0, false),
            (0, false),
            (1, false),
        ];
        assert_eq!(got, want);
        assert!(!skipped);
    }

    #[test]
    fn each_run_follows_itself_as_often() {
        // How many of each run's slices come right after a turn of its own:
        // warm caches favour those.
        let (got, _) = take_turns(10, [true; 2], [usize::MAX; 2]);
        let mut after_own = [0; 2];
        for w in got.windows(2) {
            if !w[1].1 && w[0].0 == w[1].0 {
                after_own[w[1].0] += 1;
            }
        }
        assert_eq!(after_own[0], after_own[1], "{got:?}");
        assert_eq!(got.iter().filter(|t| !t.1).count(), 20);
    }

    #[test]
    fn a_run_that_leaves_does_not_hold_up_the_other() {
        // Run 1 fails after its warm-up: run 0 takes its own turns alone.
        let (got, skipped) = take_turns(3, [true; 2], [usize::MAX, 1]);
        assert_eq!(got.iter().filter(|x| x.0 == 1).count(), 1);
        assert_eq!(got.iter().filter(|x| x.0 == 0).count(), 4);
        assert!(skipped);
        // Run 1 fails before it arrives (its setup failed).
        let (got, skipped) = take_turns(2, [true, false], [usize::MAX; 2]);
        assert_eq!(got, [(0, true), (0, false), (0, false)]);
        assert!(skipped);
        // Run 0 fails before it arrives.
        let (got, _) = take_turns(2, [false, true], [usize::MAX; 2]);
        assert_eq!(got, [(1, true), (1, false), (1, false)]);
    }

    #[test]
    fn a_paused_sender_wakes_to_stop() {
        let cfg = test_cfg(None, Some((Arc::new(Turns::new(Duration::ZERO, 1)), 0)));
        assert!(
            Ctl::new(&cfg).paused.load(Relaxed),
            "a run that takes turns starts paused"
        );
        for how in ["resume", "stop_senders", "stop"] {
            let ctl = Arc::new(Ctl::new(&cfg));
            let c = ctl.clone();
            let sender = thread::spawn(move || c.sending());
            thread::sleep(Duration::from_millis(20));
            match how {
                "resume" => ctl.signal(&ctl.paused, false),
                "stop_senders" => ctl.signal(&ctl.stop_senders, true),
                _ => drop(StopOnDrop(&ctl)),
            }
            let go_on = within_10s(move || sender.join().unwrap_or(true));
            assert_eq!(go_on, how == "resume", "{how}");
        }
    }

    #[test]
    fn paths_are_unique() {
        let mut v: Vec<_> = PATHS.iter().map(|p| p.0).collect();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), PATHS.len());
    }
}
