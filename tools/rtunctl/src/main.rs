// SPDX-License-Identifier: GPL-2.0
//! rtunctl: the companion tool of rust_tun. It creates, deletes and persists
//! devices, moves frames through them, provokes each kind of drop on purpose,
//! and prints counters. It speaks tun's ABI, so `--dev /dev/net/tun` drives the
//! C tun driver the same way.
//!
//! Output is line-oriented for scripts: failures of the operation under test
//! print `errno=NAME` on stdout and exit 1; usage errors print to stderr and
//! exit 2.

mod block;
mod cycles;
mod race;
// The module's drop-reason table, the file the kernel build compiles:
// `rtunctl reasons` prints its names. rtunctl uses nothing else of it.
#[allow(dead_code)]
#[path = "../../../skb_reason.rs"]
mod skb_reason;
mod top;

use std::{ffi::CString, fs, io::Write, process::exit, time::Duration};

use rtun_common::{
    abi::*,
    bpf, frame,
    hex::{parse_hex, parse_mac, to_hex},
    sys::{ioctl, ioctl_val, iovecs_cut, unmapped_region},
    Errno,
};

const USAGE: &str = "usage: rtunctl [--dev PATH] [--as-uid UID[:GID]] COMMAND [ARGS]

attach flags (every command that attaches): --tun | --tap (default), --no-pi,
  --multi-queue, --vnet-hdr, --napi, --napi-frags, --backpressure, --nonblock

commands:
  add NAME... [--owner UID] [--group GID]  create persistent devices, print their names
  del NAME                                  clear persist; the device goes with the fd
  attach NAME [--queues N] [--ready-file F] [--read | --read-after F] [--hexlen N]
         [--txfilter MAC,... [--allmulti]] [--cbpf-ret N] [--ebpf-ret N] [--offload N]
         [--detach | --detach-one]          attach (and set filters), then hold or read;
                                            --detach-one detaches only the last queue
  block read|poll|epoll|write NAME [--ready-file F] [--sndbuf N] [--hex HEX --pad-to N --count K]
                                            block in one call on the attached fd, print its
                                            result, probe the fd again without blocking, close
                                            (SIGUSR1 interrupts the call: EINTR)
  cycles MODULE NETNS [--count N] [--extra-every K]
                                            N insmod/rmmod cycles with persistent devices,
                                            more every K cycles (src/cycles.rs)
  close-rmmod MODULE.ko [persist] [--count N] [--dev PATH]
                                            N rounds: open, TUNSETIFF, close, rmmod at once;
                                            prints each refused first try (src/cycles.rs)
  send NAME (--hex HEX | --bad-buffer) [--pad-to N] [--count K] [--pi-proto HEX]
         [--vnet HEX] [--segments N,N,...]  write frames, print 'wrote N' or 'errno=E';
                                            --segments: writev() cut after the headers at
                                            those lengths, the rest in a last segment
  recv NAME [--count N] [--timeout-ms T] [--no-poll]
                                            read frames (--no-poll: one plain blocking read)
  forward A B [--ready-file F]              copy frames between two devices
  inject NAME [--count K] [--bypass-qdisc] [--hex HEX] [--pad-to N] [--proto HEX] [--gso MSS --len N]
                                            send frames out through the device's xmit path;
                                            --gso: TCP/IPv4 with a virtio-net header (MSS 0:
                                            checksum offload only)
  capture NAME [--ready-file F]             hold a packet tap on NAME (frames get cloned)
  nonblock-check NAME                       read with O_NONBLOCK and nothing queued
  poll-check NAME [--ready-file F] [--timeout-ms T]
  queue-check NAME --queues N               TUNSETQUEUE detach/attach sequence
  close-many NAME --queues N                attach N queues, close them all, print the time
  getiff NAME                               TUNGETIFF and TUNGETFEATURES
  carrier NAME on|off                       TUNSETCARRIER
  stats NAME                                the device's counters
  top [--interval SECS] [--count N] [--once] [--json] [DEV...]
                                            live view of drops per reason with their rates,
                                            for DEV or every rtun device (src/top.rs);
                                            no privileges needed
  race napi-del|napi-frags-del [--count ROUNDS] [--seed S]
                                            writers on an IFF_NAPI queue while its device is
                                            deleted (src/race.rs)
  reasons                                   the drop reasons rtun reports (skb_reason.rs),
                                            on one line, in ethtool -S order

The ABI comparison scenarios are a tool of their own: rtunabi.";

#[derive(Default)]
struct Opts {
    dev_path: String,
    as_uid: Option<(u32, u32)>,
    tun: bool,
    no_pi: bool,
    multi_queue: bool,
    detach: bool,
    detach_one: bool,
    napi: bool,
    napi_frags: bool,
    segments: Vec<usize>,
    backpressure: bool,
    sndbuf: Option<i32>,
    extra_every: usize,
    bypass_qdisc: bool,
    vnet_hdr: bool,
    nonblock: bool,
    queues: usize,
    ready_file: Option<String>,
    read_after: Option<String>,
    read: bool,
    hexlen: usize,
    hex: Option<Vec<u8>>,
    pad_to: Option<usize>,
    count: usize,
    /// Whether `--count` was given (`top` runs until interrupted without it).
    count_given: bool,
    interval: Option<Duration>,
    once: bool,
    json: bool,
    seed: u64,
    bad_buffer: bool,
    timeout_ms: i32,
    no_poll: bool,
    owner: Option<u32>,
    group: Option<u32>,
    pi_proto: Option<u16>,
    vnet: Option<Vec<u8>>,
    proto: Option<u16>,
    gso: Option<u16>,
    len: Option<usize>,
    txfilter: Option<Vec<[u8; 6]>>,
    allmulti: bool,
    cbpf_ret: Option<u32>,
    ebpf_ret: Option<u32>,
    offload: Option<u32>,
    args: Vec<String>,
}

fn usage_error(msg: &str) -> ! {
    eprintln!("rtunctl: {msg}\n{USAGE}");
    exit(2)
}

/// The operation under test failed: report the errno the way scripts expect.
fn errno_exit(e: Errno) -> ! {
    println!("errno={e}");
    exit(1)
}

fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> T {
    let v = v.unwrap_or_else(|| usage_error(&format!("{flag} needs a value")));
    let parsed = if let Some(h) = v.strip_prefix("0x") {
        u64::from_str_radix(h, 16)
            .ok()
            .and_then(|n| n.to_string().parse().ok())
    } else {
        v.parse().ok()
    };
    parsed.unwrap_or_else(|| usage_error(&format!("bad number for {flag}: {v}")))
}

fn parse_args() -> Opts {
    let mut o = Opts {
        dev_path: "/dev/net/rtun".into(),
        queues: 1,
        hexlen: 64,
        count: 1,
        timeout_ms: 3000,
        ..Default::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dev" => {
                o.dev_path = it
                    .next()
                    .unwrap_or_else(|| usage_error("--dev needs a path"))
            }
            "--as-uid" => {
                let v = it
                    .next()
                    .unwrap_or_else(|| usage_error("--as-uid needs a uid"));
                let mut p = v.splitn(2, ':');
                let uid: u32 = num("--as-uid", p.next().map(String::from));
                let gid: u32 = p
                    .next()
                    .map(|g| num("--as-uid", Some(g.to_string())))
                    .unwrap_or(uid);
                o.as_uid = Some((uid, gid));
            }
            "--tun" => o.tun = true,
            "--tap" => o.tun = false,
            "--no-pi" => o.no_pi = true,
            "--multi-queue" => o.multi_queue = true,
            "--detach" => o.detach = true,
            "--detach-one" => o.detach_one = true,
            "--napi" => o.napi = true,
            "--napi-frags" => o.napi_frags = true,
            "--segments" => {
                o.segments = it
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(|n| num("--segments", Some(n.to_string())))
                    .collect()
            }
            "--backpressure" => o.backpressure = true,
            "--sndbuf" => o.sndbuf = Some(num("--sndbuf", it.next())),
            "--extra-every" => o.extra_every = num("--extra-every", it.next()),
            "--vnet-hdr" => o.vnet_hdr = true,
            "--nonblock" => o.nonblock = true,
            "--queues" => o.queues = num("--queues", it.next()),
            "--ready-file" => o.ready_file = it.next(),
            "--read-after" => {
                o.read_after = it.next();
                o.read = true;
            }
            "--read" => o.read = true,
            "--hexlen" => o.hexlen = num("--hexlen", it.next()),
            "--hex" => {
                o.hex = Some(
                    parse_hex(&it.next().unwrap_or_default()).unwrap_or_else(|e| usage_error(&e)),
                )
            }
            "--pad-to" => o.pad_to = Some(num("--pad-to", it.next())),
            "--count" => {
                o.count = num("--count", it.next());
                o.count_given = true;
            }
            "--interval" => {
                let v = it
                    .next()
                    .unwrap_or_else(|| usage_error("--interval needs a value"));
                o.interval = Some(top::parse_interval(&v).unwrap_or_else(|e| usage_error(&e)));
            }
            "--once" => o.once = true,
            "--json" => o.json = true,
            "--seed" => o.seed = num("--seed", it.next()),
            "--bypass-qdisc" => o.bypass_qdisc = true,
            "--bad-buffer" => o.bad_buffer = true,
            "--timeout-ms" => o.timeout_ms = num("--timeout-ms", it.next()),
            "--no-poll" => o.no_poll = true,
            "--owner" => o.owner = Some(num("--owner", it.next())),
            "--group" => o.group = Some(num("--group", it.next())),
            "--pi-proto" => o.pi_proto = Some(num("--pi-proto", it.next())),
            "--vnet" => {
                o.vnet = Some(
                    parse_hex(&it.next().unwrap_or_default()).unwrap_or_else(|e| usage_error(&e)),
                )
            }
            "--proto" => o.proto = Some(num("--proto", it.next())),
            "--gso" => o.gso = Some(num("--gso", it.next())),
            "--len" => o.len = Some(num("--len", it.next())),
            "--txfilter" => {
                let v = it.next().unwrap_or_default();
                let macs = v
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|m| parse_mac(m).unwrap_or_else(|e| usage_error(&e)));
                o.txfilter = Some(macs.collect());
            }
            "--allmulti" => o.allmulti = true,
            "--cbpf-ret" => o.cbpf_ret = Some(num("--cbpf-ret", it.next())),
            "--ebpf-ret" => o.ebpf_ret = Some(num("--ebpf-ret", it.next())),
            "--offload" => o.offload = Some(num("--offload", it.next())),
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0)
            }
            s if s.starts_with("--") => usage_error(&format!("unknown option {s}")),
            _ => o.args.push(a),
        }
    }
    o
}

impl Opts {
    fn flags(&self) -> u16 {
        let mut f = if self.tun { IFF_TUN } else { IFF_TAP };
        if self.no_pi {
            f |= IFF_NO_PI;
        }
        if self.multi_queue {
            f |= IFF_MULTI_QUEUE;
        }
        if self.vnet_hdr {
            f |= IFF_VNET_HDR;
        }
        if self.napi {
            f |= IFF_NAPI;
        }
        if self.napi_frags {
            f |= IFF_NAPI | IFF_NAPI_FRAGS;
        }
        if self.backpressure {
            f |= IFF_BACKPRESSURE;
        }
        f
    }

    fn arg(&self, i: usize, what: &str) -> &str {
        self.args
            .get(i)
            .map(String::as_str)
            .unwrap_or_else(|| usage_error(&format!("missing {what}")))
    }
}

/// Opens the device node and runs TUNSETIFF; returns the fd and the name.
fn try_attach(o: &Opts, name: &str) -> Result<(i32, String), Errno> {
    let path = CString::new(o.dev_path.as_str()).map_err(|_| Errno(libc::EINVAL))?;
    let mut oflags = libc::O_RDWR | libc::O_CLOEXEC;
    if o.nonblock {
        oflags |= libc::O_NONBLOCK;
    }
    // SAFETY: A valid C string.
    let fd = Errno::result(unsafe { libc::open(path.as_ptr(), oflags) })?;
    let mut req = IfReq::new(name, o.flags());
    if let Err(e) = ioctl(fd, TUNSETIFF, &mut req) {
        // SAFETY: Our fd.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    Ok((fd, req.name()))
}

fn attach(o: &Opts, name: &str) -> (i32, String) {
    try_attach(o, name).unwrap_or_else(|e| errno_exit(e))
}

fn touch(path: &Option<String>) {
    if let Some(p) = path {
        if let Err(e) = fs::write(p, b"") {
            eprintln!("rtunctl: cannot create {p}: {e}");
            exit(2);
        }
    }
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn main() {
    let o = parse_args();
    if let Some((uid, gid)) = o.as_uid {
        // SAFETY: Plain credential syscalls.
        let ok = unsafe {
            libc::setgroups(0, std::ptr::null()) == 0
                && libc::setgid(gid) == 0
                && libc::setuid(uid) == 0
        };
        if !ok {
            eprintln!("rtunctl: cannot switch to uid {uid}: {}", Errno::last());
            exit(2);
        }
    }
    let cmd = o
        .args
        .first()
        .cloned()
        .unwrap_or_else(|| usage_error("no command"));
    match cmd.as_str() {
        "add" => cmd_add(&o),
        "del" => cmd_del(&o),
        "attach" => cmd_attach(&o),
        "send" => cmd_send(&o),
        "recv" => cmd_recv(&o),
        "forward" => cmd_forward(&o),
        "inject" => cmd_inject(&o),
        "capture" => {
            let _fd = frame::capture(o.arg(1, "NAME")).unwrap_or_else(|e| errno_exit(e));
            touch(&o.ready_file);
            sleep_forever()
        }
        "nonblock-check" => cmd_nonblock_check(&o),
        "poll-check" => cmd_poll_check(&o),
        "queue-check" => cmd_queue_check(&o),
        "close-many" => cmd_close_many(&o),
        "getiff" => cmd_getiff(&o),
        "carrier" => cmd_carrier(&o),
        "stats" => cmd_stats(&o),
        "top" => cmd_top(&o),
        "abi" => {
            usage_error("the ABI scenarios moved to their own tool: rtunabi [--dev PATH] SCENARIO")
        }
        "block" => cmd_block(&o),
        "cycles" => {
            let module = o
                .args
                .get(1)
                .cloned()
                .unwrap_or_else(|| "/modules/rtun.ko".into());
            let netns = o
                .args
                .get(2)
                .cloned()
                .unwrap_or_else(|| usage_error("cycles needs MODULE NETNS"));
            cycles::run(&module, &netns, o.count, o.extra_every);
        }
        "race" => match o.args.get(1).map(String::as_str) {
            Some("napi-del") => exit(race::napi_del(&o.dev_path, o.count.max(1), o.seed, false)),
            Some("napi-frags-del") => {
                exit(race::napi_del(&o.dev_path, o.count.max(1), o.seed, true))
            }
            _ => usage_error("race needs napi-del or napi-frags-del"),
        },
        "close-rmmod" => {
            let persist = match o.args.get(2).map(String::as_str) {
                None => false,
                Some("persist") => true,
                Some(a) => usage_error(&format!("close-rmmod: unknown argument {a}")),
            };
            cycles::close_rmmod(o.arg(1, "MODULE.ko"), &o.dev_path, persist, o.count);
        }
        "reasons" => println!("{}", skb_reason::Reason::NAMES.join(" ")),
        "help" => println!("{USAGE}"),
        c => usage_error(&format!("unknown command {c}")),
    }
}

fn cmd_add(o: &Opts) {
    o.arg(1, "NAME");
    for name in &o.args[1..] {
        let (fd, name) = attach(o, name);
        if let Some(uid) = o.owner {
            ioctl_val(fd, TUNSETOWNER, uid.into()).unwrap_or_else(|e| errno_exit(e));
        }
        if let Some(gid) = o.group {
            ioctl_val(fd, TUNSETGROUP, gid.into()).unwrap_or_else(|e| errno_exit(e));
        }
        ioctl_val(fd, TUNSETPERSIST, 1).unwrap_or_else(|e| errno_exit(e));
        // SAFETY: Our fd; the device persists without it.
        unsafe { libc::close(fd) };
        println!("{name}");
    }
}

fn cmd_del(o: &Opts) {
    let (fd, name) = attach(o, o.arg(1, "NAME"));
    ioctl_val(fd, TUNSETPERSIST, 0).unwrap_or_else(|e| errno_exit(e));
    println!("deleted {name}");
}

/// Applies the filter and offload options to an attached fd.
fn set_filters(o: &Opts, fd: i32) {
    if let Some(macs) = &o.txfilter {
        let mut buf = Vec::with_capacity(4 + 6 * macs.len());
        buf.extend_from_slice(&(if o.allmulti { TUN_FLT_ALLMULTI } else { 0 }).to_ne_bytes());
        buf.extend_from_slice(&(macs.len() as u16).to_ne_bytes());
        for m in macs {
            buf.extend_from_slice(m);
        }
        let n = ioctl(fd, TUNSETTXFILTER, &mut buf[..]).unwrap_or_else(|e| errno_exit(e));
        println!("txfilter exact={n}");
    }
    if let Some(ret) = o.cbpf_ret {
        // One classic instruction: "ret #ret" (BPF_RET | BPF_K).
        let insn = [bpf::SockFilter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: ret,
        }];
        let mut fprog = bpf::SockFprog {
            len: 1,
            filter: insn.as_ptr(),
        };
        ioctl(fd, TUNATTACHFILTER, &mut fprog).unwrap_or_else(|e| errno_exit(e));
        println!("cbpf ret={ret}");
    }
    if let Some(ret) = o.ebpf_ret {
        let prog = bpf::load_ebpf_returning(ret).unwrap_or_else(|e| errno_exit(e));
        let mut pfd = prog;
        ioctl(fd, TUNSETFILTEREBPF, &mut pfd).unwrap_or_else(|e| errno_exit(e));
        println!("ebpf ret={ret}");
    }
    if let Some(bits) = o.offload {
        ioctl_val(fd, TUNSETOFFLOAD, bits.into()).unwrap_or_else(|e| errno_exit(e));
        println!("offload 0x{bits:x}");
    }
}

fn cmd_attach(o: &Opts) {
    let name = o.arg(1, "NAME").to_string();
    let mut fds = Vec::new();
    for _ in 0..o.queues.max(1) {
        fds.push(attach(o, &name).0);
    }
    if let Some(&fd) = fds.first() {
        set_filters(o, fd);
    }
    if o.detach || o.detach_one {
        // TUNSETQUEUE IFF_DETACH_QUEUE on every queue (or the last): bound, not receiving.
        let first = if o.detach_one { fds.len() - 1 } else { 0 };
        for &fd in &fds[first..] {
            let mut req = IfReq::new("", IFF_DETACH_QUEUE);
            if let Err(e) = ioctl(fd, TUNSETQUEUE, &mut req) {
                errno_exit(e);
            }
        }
        println!("detached");
    }
    let _ = std::io::stdout().flush();
    touch(&o.ready_file);
    if !o.read {
        sleep_forever();
    }
    if let Some(go) = &o.read_after {
        // A reader that does not read until told to (the file appears).
        while fs::metadata(go).is_err() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut buf = vec![0u8; 65536 + 64];
    loop {
        // SAFETY: `pfds` is a valid array of pollfd.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as _, -1) };
        if n < 0 {
            exit(1);
        }
        for (q, p) in pfds.iter_mut().enumerate() {
            if p.revents & libc::POLLIN != 0 {
                // SAFETY: `buf` is writable for its length.
                let r = unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) };
                if r >= 0 {
                    let r = r as usize;
                    println!(
                        "frame q={q} len={r} hex={}",
                        to_hex(&buf[..r.min(o.hexlen)])
                    );
                    let _ = std::io::stdout().flush();
                }
            }
        }
    }
}

/// The PI and vnet headers this device's flags put before a frame.
fn headers(o: &Opts, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if !o.no_pi {
        let proto = o
            .pi_proto
            .unwrap_or_else(|| frame::guess_proto(o.tun, payload));
        out.extend_from_slice(&0u16.to_ne_bytes());
        out.extend_from_slice(&proto.to_be_bytes());
    }
    if o.vnet_hdr {
        let mut v = o.vnet.clone().unwrap_or_default();
        v.resize(10, 0);
        out.extend_from_slice(&v);
    }
    out
}

fn cmd_send(o: &Opts) {
    let (fd, _) = attach(o, o.arg(1, "NAME"));
    let mut failed = false;
    if o.bad_buffer {
        let len = o.pad_to.unwrap_or(100);
        let bad = unmapped_region(len);
        for _ in 0..o.count {
            // SAFETY: Deliberately an unmapped address: the kernel must fail the copy.
            let r = unsafe { libc::write(fd, bad.cast(), len) };
            report_write(r, &mut failed);
        }
    } else {
        let mut payload = o
            .hex
            .clone()
            .unwrap_or_else(|| usage_error("send needs --hex or --bad-buffer"));
        if let Some(n) = o.pad_to {
            if payload.len() < n {
                payload.resize(n, 0);
            }
        }
        let mut buf = headers(o, &payload);
        // The headers (if any), then the frame cut at --segments, then the
        // rest; without --segments, one segment (a plain write).
        let mut cuts = Vec::new();
        if !o.segments.is_empty() && !buf.is_empty() {
            cuts.push(buf.len());
        }
        cuts.extend_from_slice(&o.segments);
        buf.extend_from_slice(&payload);
        let iov = iovecs_cut(&buf, &cuts);
        for _ in 0..o.count {
            // A plain write() without --segments: a writev() of nothing
            // would not reach the driver.
            let r = if o.segments.is_empty() {
                // SAFETY: `buf` is readable for its length.
                unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }
            } else {
                // SAFETY: Every iovec points into `buf`, within its length.
                unsafe { libc::writev(fd, iov.as_ptr(), iov.len() as i32) }
            };
            report_write(r, &mut failed);
        }
    }
    exit(i32::from(failed));
}

fn report_write(r: isize, failed: &mut bool) {
    if r < 0 {
        println!("errno={}", Errno::last());
        *failed = true;
    } else {
        println!("wrote {r}");
    }
}

fn poll_in(fd: i32, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: One valid pollfd.
    unsafe { libc::poll(&mut p, 1, timeout_ms) > 0 && p.revents & libc::POLLIN != 0 }
}

fn cmd_recv(o: &Opts) {
    let (fd, _) = attach(o, o.arg(1, "NAME"));
    let mut buf = vec![0u8; 65536 + 64];
    if o.no_poll {
        let _ = std::io::stdout().flush();
        touch(&o.ready_file);
        // SAFETY: `buf` is writable for its length.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if r < 0 {
            errno_exit(Errno::last());
        }
        println!("read {r}");
        return;
    }
    for _ in 0..o.count {
        if !poll_in(fd, o.timeout_ms) {
            println!("timeout");
            exit(1);
        }
        // SAFETY: `buf` is writable for its length.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if r < 0 {
            errno_exit(Errno::last());
        }
        let r = r as usize;
        println!("frame len={r} hex={}", to_hex(&buf[..r.min(o.hexlen)]));
    }
}

fn cmd_forward(o: &Opts) {
    let (a, _) = attach(o, o.arg(1, "A"));
    let (b, _) = attach(o, o.arg(2, "B"));
    touch(&o.ready_file);
    let mut pfds = [
        libc::pollfd {
            fd: a,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let mut buf = vec![0u8; 65536 + 64];
    loop {
        // SAFETY: A valid array of two pollfd.
        if unsafe { libc::poll(pfds.as_mut_ptr(), 2, -1) } < 0 {
            exit(1);
        }
        for i in 0..2 {
            if pfds[i].revents & libc::POLLIN != 0 {
                let (from, to) = (pfds[i].fd, pfds[1 - i].fd);
                // SAFETY: `buf` is writable/readable for its length.
                unsafe {
                    let r = libc::read(from, buf.as_mut_ptr().cast(), buf.len());
                    if r > 0 {
                        libc::write(to, buf.as_ptr().cast(), r as usize);
                    }
                }
            }
        }
    }
}

fn cmd_inject(o: &Opts) {
    let name = o.arg(1, "NAME");
    let r = match o.gso {
        Some(mss) => frame::inject_offload(name, mss, o.len.unwrap_or(4000), o.count),
        None => {
            let mut f = o.hex.clone().unwrap_or_else(frame::default_eth_frame);
            f.resize(f.len().max(o.pad_to.unwrap_or(60)), 0);
            let proto = o.proto.unwrap_or_else(|| frame::guess_proto(false, &f));
            frame::inject(name, &f, proto, o.count, o.bypass_qdisc)
        }
    };
    match r {
        Ok(n) => println!("sent {n}"),
        Err(e) => errno_exit(e),
    }
}

fn cmd_nonblock_check(o: &Opts) {
    let mut o2 = Opts {
        nonblock: true,
        ..Default::default()
    };
    o2.dev_path = o.dev_path.clone();
    o2.tun = o.tun;
    o2.no_pi = o.no_pi;
    o2.vnet_hdr = o.vnet_hdr;
    let (fd, _) = attach(&o2, o.arg(1, "NAME"));
    let mut buf = [0u8; 2048];
    // SAFETY: `buf` is writable.
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        let e = Errno::last();
        println!("read errno={e}");
        exit(if e == Errno(libc::EAGAIN) { 0 } else { 1 });
    }
    println!("read ok {r}");
    exit(1);
}

fn revents(r: i16) -> String {
    block::bit_names(
        r.into(),
        &[
            (libc::POLLIN, "POLLIN"),
            (libc::POLLOUT, "POLLOUT"),
            (libc::POLLERR, "POLLERR"),
            (libc::POLLHUP, "POLLHUP"),
        ],
    )
}

fn cmd_poll_check(o: &Opts) {
    let (fd, _) = attach(o, o.arg(1, "NAME"));
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN | libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: One valid pollfd.
    unsafe { libc::poll(&mut p, 1, 0) };
    println!("initial revents={}", revents(p.revents));
    let _ = std::io::stdout().flush();
    touch(&o.ready_file);
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: One valid pollfd.
    unsafe { libc::poll(&mut p, 1, o.timeout_ms) };
    println!("after revents={}", revents(p.revents));
    if p.revents & libc::POLLIN != 0 {
        let mut buf = vec![0u8; 65536];
        // SAFETY: `buf` is writable.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        println!("frame len={r}");
    }
}

fn txqueues(name: &str) -> usize {
    fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("tx-"))
                .count()
        })
        .unwrap_or(0)
}

fn cmd_queue_check(o: &Opts) {
    let name = o.arg(1, "NAME").to_string();
    let mut fds = Vec::new();
    for _ in 0..o.queues.max(1) {
        fds.push(attach(o, &name).0);
    }
    let dev = name.as_str();
    println!("txqueues={}", txqueues(dev));
    let last = *fds.last().unwrap_or(&-1);
    let mut req = IfReq::new("", IFF_DETACH_QUEUE);
    match ioctl(last, TUNSETQUEUE, &mut req) {
        Ok(_) => println!("detach ok"),
        Err(e) => println!("detach errno={e}"),
    }
    println!("txqueues={}", txqueues(dev));
    let mut req = IfReq::new("", IFF_ATTACH_QUEUE);
    match ioctl(last, TUNSETQUEUE, &mut req) {
        Ok(_) => println!("attach ok"),
        Err(e) => println!("attach errno={e}"),
    }
    println!("txqueues={}", txqueues(dev));
    let mut single = Opts {
        multi_queue: false,
        tun: o.tun,
        no_pi: o.no_pi,
        ..Default::default()
    };
    single.dev_path = o.dev_path.clone();
    match try_attach(&single, dev) {
        Ok(_) => println!("mismatch ok"),
        Err(e) => println!("mismatch errno={e}"),
    }
}

/// Attaches `--queues` queues to one device, then closes them all, one by
/// one, and prints how long the closes took (the last one deletes the device).
fn cmd_close_many(o: &Opts) {
    let name = o.arg(1, "NAME").to_string();
    let mut fds = Vec::new();
    for _ in 0..o.queues.max(1) {
        fds.push(attach(o, &name).0);
    }
    println!("queues={} txqueues={}", fds.len(), txqueues(&name));
    let start = std::time::Instant::now();
    for fd in fds {
        // SAFETY: `fd` is ours and closed once.
        unsafe { libc::close(fd) };
    }
    let ms = start.elapsed().as_millis();
    let gone = !std::path::Path::new(&format!("/sys/class/net/{name}")).exists();
    println!("closed_ms={ms} device_gone={gone}");
}

fn cmd_getiff(o: &Opts) {
    let (fd, _) = attach(o, o.arg(1, "NAME"));
    let mut req = IfReq::new("", 0);
    ioctl(fd, TUNGETIFF, &mut req).unwrap_or_else(|e| errno_exit(e));
    println!("name={} flags=0x{:x}", req.name(), req.flags());
    let mut feat: u32 = 0;
    ioctl(fd, TUNGETFEATURES, &mut feat).unwrap_or_else(|e| errno_exit(e));
    println!("features=0x{feat:x}");
}

fn cmd_carrier(o: &Opts) {
    let (fd, _) = attach(o, o.arg(1, "NAME"));
    let mut on: i32 = match o.arg(2, "on|off") {
        "on" => 1,
        "off" => 0,
        s => usage_error(&format!("carrier: {s}?")),
    };
    ioctl(fd, TUNSETCARRIER, &mut on).unwrap_or_else(|e| errno_exit(e));
    println!("carrier ok");
}

fn cmd_stats(o: &Opts) {
    let name = o.arg(1, "NAME");
    let get = |k: &str| {
        fs::read_to_string(format!("/sys/class/net/{name}/statistics/{k}"))
            .map(|s| s.trim().to_string())
    };
    let keys = [
        "rx_packets",
        "rx_bytes",
        "rx_dropped",
        "tx_packets",
        "tx_bytes",
        "tx_dropped",
    ];
    let mut parts = Vec::new();
    for k in keys {
        match get(k) {
            Ok(v) => parts.push(format!("{k}={v}")),
            Err(e) => {
                eprintln!("rtunctl: {name}: {e}");
                exit(1);
            }
        }
    }
    println!("{}", parts.join(" "));
}

fn cmd_top(o: &Opts) {
    if o.count_given && o.count == 0 {
        usage_error("top: --count must be at least 1");
    }
    if o.once && o.count_given {
        usage_error("top: --once and --count together");
    }
    let t = top::TopOpts {
        interval: o.interval,
        count: o.count_given.then_some(o.count),
        once: o.once,
        json: o.json,
        devs: o.args[1..].to_vec(),
    };
    top::run(&t).unwrap_or_else(|e| errno_exit(e));
}

fn cmd_block(o: &Opts) {
    let mode = o.arg(1, "read|poll|epoll|write").to_string();
    let (fd, _) = attach(o, o.arg(2, "NAME"));
    let mut frame = o.hex.clone().unwrap_or_else(frame::default_eth_frame);
    if let Some(n) = o.pad_to {
        if frame.len() < n {
            frame.resize(n, 0);
        }
    }
    let mut buf = headers(o, &frame);
    buf.extend_from_slice(&frame);
    block::run(&mode, fd, &buf, o.count, o.sndbuf, &o.ready_file);
}
