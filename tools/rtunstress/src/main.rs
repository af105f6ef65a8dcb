// SPDX-License-Identifier: GPL-2.0
//! rtunstress: a bounded, seeded stress test of rust_tun.
//!
//!     rtunstress --seed N --seconds S [--procs P] [--dev /dev/net/rtun]
//!     rtunstress lifecycle --seed N --seconds S [--dev PATH] ...
//!
//! The second form is the lifecycle mode (lifecycle/mod.rs): threads on the
//! data path against threads that tear the devices down.
//!
//! Forks P workers and P senders, each with a PRNG stream derived from the
//! seed. For S seconds the workers create devices (TUN/TAP, single and
//! multi-queue, persistent or not), attach and detach queues, read, write,
//! poll, close, set and clear filters (TX filter, classic BPF, eBPF),
//! offloads and virtio-net header sizes, change links (up/down, MTU,
//! txqueuelen, address), move devices between network namespaces, delete
//! links and namespaces, and try `rmmod rtun`; the senders send UDP out
//! through the devices that are up. Then every device is retired and the
//! tool checks that every frame is accounted for (see account.rs) against
//! its own ftrace instance (trace.rs). Prints `seed: N` first, a summary, and
//! `result: PASS` or `result: FAIL`; exits 0 or 1 (2 for usage errors).

mod account;
mod lifecycle;
// The module's drop-reason table, the file the kernel build compiles: the
// reasons' names, order and count come from there. rtunstress uses the
// reasons and the sites' directions, not the rest (errnos, descriptions).
mod rtnl;
#[allow(dead_code)]
#[path = "../../../skb_reason.rs"]
mod skb_reason;
mod sys;
mod trace;
mod worker;

use std::{
    collections::BTreeMap,
    fs,
    process::exit,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use account::{check_device, check_global, is_run_device, DevRecord};
use worker::{Config, Shared, Worker, MAX_PROCS};

const USAGE: &str =
    "usage: rtunstress --seed N --seconds S [--procs P] [--dev PATH] [--trace-kb KB] [--keep]";

struct Args {
    seed: u64,
    seconds: u64,
    procs: usize,
    dev: String,
    trace_kb: u32,
    keep: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!("rtunstress: {msg}\n{USAGE}");
    exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        seed: 0,
        seconds: 0,
        procs: 4,
        dev: "/dev/net/rtun".into(),
        trace_kb: 8192,
        keep: false,
    };
    let (mut have_seed, mut have_secs) = (false, false);
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut num = |what: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{what} needs a number")))
        };
        match k.as_str() {
            "--seed" => {
                a.seed = num("--seed");
                have_seed = true;
            }
            "--seconds" => {
                a.seconds = num("--seconds");
                have_secs = true;
            }
            "--procs" => a.procs = num("--procs") as usize,
            "--trace-kb" => a.trace_kb = num("--trace-kb") as u32,
            "--dev" => a.dev = it.next().unwrap_or_else(|| usage("--dev needs a path")),
            "--keep" => a.keep = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0)
            }
            _ => usage(&format!("unknown argument '{k}'")),
        }
    }
    if !have_seed || !have_secs {
        usage("--seed and --seconds are required");
    }
    if a.procs == 0 || a.procs > MAX_PROCS {
        usage(&format!("--procs must be 1..{MAX_PROCS}"));
    }
    a
}

fn shared_mapping() -> &'static Shared {
    let len = std::mem::size_of::<Shared>();
    // SAFETY: An anonymous shared mapping, zero-filled (all atomics 0), never
    // unmapped: it lives as long as every process of the run.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            eprintln!("rtunstress: mmap: {}", sys::Errno::last());
            exit(1);
        }
        &*(p as *const Shared)
    }
}

/// Forks a child running `f`; the child exits with its result.
fn spawn(f: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: The parent is single-threaded here (the trace reader starts
    // after every fork), so the child may allocate.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("rtunstress: fork: {}", sys::Errno::last());
        exit(1);
    }
    if pid == 0 {
        let rc = f();
        // SAFETY: Leaving the child without running the parent's destructors.
        unsafe { libc::_exit(rc) };
    }
    pid
}

fn wait_go(shared: &Shared) {
    while shared.go.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Where a stuck process is, for the report.
fn where_is(pid: libc::pid_t) -> String {
    let wchan = fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    let state = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = state
        .rsplit(") ")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("?")
        .to_string();
    let stack = fs::read_to_string(format!("/proc/{pid}/stack")).unwrap_or_default();
    format!("pid {pid} state {state} wchan {wchan}\n{stack}")
}

#[derive(Default)]
struct Gathered {
    recs: Vec<DevRecord>,
    ops: BTreeMap<String, (u64, u64)>,
    errs: BTreeMap<String, u64>,
    fatal: Vec<String>,
}

fn gather(dir: &str, name: &str, g: &mut Gathered) {
    let path = format!("{dir}/{name}");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            g.fatal.push(format!("{path}: {e}"));
            return;
        }
    };
    if !text.lines().any(|l| l == "done") {
        g.fatal
            .push(format!("{name}: the process did not finish its report"));
    }
    for line in text.lines() {
        let mut f = line.splitn(2, ' ');
        let kind = f.next().unwrap_or("");
        let rest = f.next().unwrap_or("");
        match kind {
            "dev" => match DevRecord::parse(line) {
                Ok(r) => g.recs.push(r),
                Err(e) => g.fatal.push(format!("{name}: {e}")),
            },
            "op" => {
                let v: Vec<&str> = rest.split_whitespace().collect();
                if v.len() == 3 {
                    let e = g.ops.entry(v[0].to_string()).or_insert((0, 0));
                    e.0 += v[1].parse::<u64>().unwrap_or(0);
                    e.1 += v[2].parse::<u64>().unwrap_or(0);
                }
            }
            "err" | "senderr" => {
                let (n, what) = rest.split_once(' ').unwrap_or((rest, ""));
                let key = if kind == "senderr" {
                    format!("udp send: {what}")
                } else {
                    what.to_string()
                };
                *g.errs.entry(key).or_insert(0) += n.parse::<u64>().unwrap_or(0);
            }
            "fatal" | "lost" => g.fatal.push(format!("{name}: {rest}")),
            _ => {}
        }
    }
}

/// rtun devices still present in the initial namespace.
fn leftover_links() -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir("/sys/class/net") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if is_run_device(&n) {
                v.push(n);
            }
        }
    }
    v
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("lifecycle") {
        lifecycle::main(&argv[2..]);
    }
    let a = parse_args();
    println!("seed: {}", a.seed);
    println!("seconds: {} procs: {} dev: {}", a.seconds, a.procs, a.dev);
    let started = Instant::now();

    // A file held open for the whole run: rmmod must fail all along.
    let pin = match sys::open_dev(&a.dev, 0) {
        Ok(fd) => fd,
        Err(e) => {
            println!("result: FAIL (cannot open {}: {})", a.dev, e);
            exit(1)
        }
    };
    let out_dir = format!("/tmp/rtunstress.{}", std::process::id());
    let _ = fs::remove_dir_all(&out_dir);
    if let Err(e) = fs::create_dir_all(&out_dir) {
        println!("result: FAIL ({out_dir}: {e})");
        exit(1)
    }
    let mut tracer = match trace::Tracer::setup("rtunstress", a.trace_kb) {
        Ok(t) => t,
        Err(e) => {
            println!("result: FAIL (trace instance: {e})");
            exit(1)
        }
    };
    let shared = shared_mapping();

    let mut workers = Vec::new();
    for w in 0..a.procs {
        let cfg = Config {
            seed: a.seed,
            seconds: a.seconds,
            dev: a.dev.clone(),
            out_dir: out_dir.clone(),
        };
        workers.push(spawn(move || {
            wait_go(shared);
            match Worker::new(w, cfg, shared) {
                Ok(wk) => wk.run(),
                Err(e) => {
                    eprintln!("worker {w}: {e}");
                    1
                }
            }
        }));
    }
    let mut senders = Vec::new();
    for s in 0..a.procs {
        let (seed, secs, n, dir) = (a.seed, a.seconds, a.procs, out_dir.clone());
        senders.push(spawn(move || {
            wait_go(shared);
            worker::sender(s, seed, secs, shared, n, &dir)
        }));
    }
    let rtun = trace::module_range(&fs::read_to_string("/proc/modules").unwrap_or_default());
    if let Err(e) = tracer.start(rtun) {
        shared.stop.store(1, Ordering::SeqCst);
        shared.go.store(1, Ordering::SeqCst);
        println!("result: FAIL (trace: {e})");
        exit(1)
    }
    shared.go.store(1, Ordering::SeqCst);

    // Wait, with a watchdog: a process stuck in the kernel is a finding.
    let limit = Duration::from_secs(a.seconds * 3 + 240);
    let mut fatal = Vec::new();
    let mut live: Vec<(libc::pid_t, String)> = workers
        .iter()
        .enumerate()
        .map(|(i, &p)| (p, format!("worker {i}")))
        .collect();
    live.extend(
        senders
            .iter()
            .enumerate()
            .map(|(i, &p)| (p, format!("sender {i}"))),
    );
    let mut workers_left = workers.len();
    while !live.is_empty() {
        let mut i = 0;
        while i < live.len() {
            let mut status = 0;
            // SAFETY: Reaping our own children.
            let r = unsafe { libc::waitpid(live[i].0, &mut status, libc::WNOHANG) };
            if r == live[i].0 {
                let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
                if !ok {
                    fatal.push(format!("{} exited with status {status:#x}", live[i].1));
                }
                if workers.contains(&live[i].0) {
                    workers_left -= 1;
                }
                live.remove(i);
            } else {
                i += 1;
            }
        }
        if workers_left == 0 {
            shared.stop.store(1, Ordering::SeqCst);
        }
        if started.elapsed() > limit {
            for (pid, what) in &live {
                fatal.push(format!("{what} hung:\n{}", where_is(*pid)));
                // SAFETY: Killing our own child.
                unsafe { libc::kill(*pid, libc::SIGKILL) };
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let run_secs = started.elapsed().as_secs_f64();

    if shared.rmmod_ok.load(Ordering::SeqCst) != 0 {
        fatal.push("rmmod rtun succeeded in the middle of the run".into());
    }
    sys::close(pin);
    let finished = tracer.finish();

    let mut g = Gathered::default();
    for w in 0..a.procs {
        gather(&out_dir, &format!("w{w}.txt"), &mut g);
        gather(&out_dir, &format!("s{w}.txt"), &mut g);
    }
    fatal.append(&mut g.fatal);

    // ---- the report ------------------------------------------------------------
    let secs = a.seconds.max(1) as f64;
    let mut total_ops = 0u64;
    let mut line = String::new();
    for (k, (ok, bad)) in &g.ops {
        total_ops += ok + bad;
        line.push_str(&format!(
            " {k}={}({:.1}/s)",
            ok + bad,
            (ok + bad) as f64 / secs
        ));
        if *bad > 0 {
            line.push_str(&format!("[{bad} failed]"));
        }
    }
    println!(
        "ops: total={total_ops} ({:.1}/s over {} s; the run took {run_secs:.1} s)",
        total_ops as f64 / secs,
        a.seconds
    );
    println!("ops by kind:{line}");
    let errs: Vec<String> = g.errs.iter().map(|(k, n)| format!("{k} x{n}")).collect();
    if !errs.is_empty() {
        println!("failed calls: {}", errs.join("; "));
    }
    let zero: Vec<&str> = [
        "create",
        "write",
        "read",
        "set_queue",
        "txfilter",
        "cbpf",
        "ebpf",
        "offload",
        "link_updown",
        "netns_move",
        "rmmod",
        "retired",
    ]
    .into_iter()
    .filter(|k| g.ops.get(*k).map_or(0, |v| v.0) == 0)
    .collect();
    if !zero.is_empty() {
        println!("kinds never done successfully: {}", zero.join(" "));
    }

    let mut bad = Vec::new();
    match &finished {
        Ok((c, l)) => {
            let xmit_total: u64 = c
                .xmit
                .iter()
                .filter(|(n, _)| is_run_device(n))
                .map(|(_, v)| v)
                .sum();
            let read: u64 = g.recs.iter().map(|r| r.read).sum();
            let wok: u64 = g.recs.iter().map(|r| r.write_ok).sum();
            let wfail: u64 = g.recs.iter().map(|r| r.write_fail + r.write_lost).sum();
            let mut by_reason = [0u64; skb_reason::Reason::COUNT];
            for r in &g.recs {
                for (i, n) in r.reasons.iter().enumerate() {
                    by_reason[i] += n;
                }
            }
            let mut hows: BTreeMap<&str, u64> = BTreeMap::new();
            for r in &g.recs {
                *hows.entry(r.how.as_str()).or_insert(0) += 1;
                if r.napi {
                    *hows.entry("(of which IFF_NAPI)").or_insert(0) += 1;
                }
            }
            let hows: Vec<String> = hows.iter().map(|(k, n)| format!("{k}={n}")).collect();
            println!(
                "devices: {} retired with a snapshot, ended by: {}",
                g.recs.len(),
                hows.join(" ")
            );
            println!(
                "frames: {xmit_total} handed to the driver ({:.1}/s), {read} read, {wok} written, {wfail} writes refused",
                xmit_total as f64 / secs
            );
            println!(
                "drops by reason (devices): {}",
                account::format_reasons(&by_reason, &BTreeMap::new())
            );
            println!(
                "drops by reason (traced in rtun): {}",
                account::format_reasons(&c.drops, &BTreeMap::new())
            );
            println!(
                "trace: {} events, {} lost, {} unparsed lines",
                c.events, l, c.unparsed
            );
            if *l != 0 {
                bad.push(format!(
                    "the trace lost {l} events: the accounting cannot be exact (raise --trace-kb)"
                ));
            }
            if c.unparsed != 0 {
                bad.push(format!("{} trace lines could not be parsed", c.unparsed));
            }
            if !c.other_reasons.is_empty() {
                bad.push(format!(
                    "drops in rtun with a reason it does not report: {:?}",
                    c.other_reasons
                ));
            }
            let (mut core_rx, mut core_tx) = (0, 0);
            for r in &g.recs {
                let x = c.xmit.get(&r.name).copied().unwrap_or(0);
                let (rx, tx) = account::core_drops(r, x);
                core_rx += rx;
                core_tx += tx;
                let v = check_device(r, x);
                if !v.is_empty() {
                    println!("device {} (xmit {x}): {}", r.name, r.to_line());
                }
                bad.extend(v);
            }
            println!("drops the core counted on the devices besides the driver's: rx_dropped {core_rx}, tx_dropped {core_tx}");
            bad.extend(check_global(&g.recs, &c.xmit, &c.drops));
            // Nothing vacuous: the run must have moved frames both ways and dropped some.
            if g.recs.len() < a.procs {
                bad.push(format!(
                    "only {} devices were retired with a snapshot",
                    g.recs.len()
                ));
            }
            if xmit_total == 0 || read == 0 || wok == 0 || by_reason.iter().sum::<u64>() == 0 {
                bad.push(format!("too little happened: {xmit_total} frames handed over, {read} read, {wok} written, {} drops", by_reason.iter().sum::<u64>()));
            }
        }
        Err(e) => bad.push(format!("trace: {e}")),
    }
    let left = leftover_links();
    if !left.is_empty() {
        bad.push(format!(
            "devices left in the initial namespace: {}",
            left.join(" ")
        ));
    }
    tracer_cleanup();
    if !a.keep {
        let _ = fs::remove_dir_all(&out_dir);
    }
    bad.extend(fatal);
    if bad.is_empty() {
        println!("result: PASS");
        exit(0)
    }
    for b in &bad {
        println!("FAIL: {b}");
    }
    println!(
        "result: FAIL ({} problems; replay with --seed {} --seconds {} --procs {})",
        bad.len(),
        a.seed,
        a.seconds,
        a.procs
    );
    exit(1)
}

fn tracer_cleanup() {
    let dir = format!("{}/instances/rtunstress", trace::TRACEFS);
    let _ = fs::write(format!("{dir}/events/net/net_dev_start_xmit/enable"), "0");
    let _ = fs::write(format!("{dir}/events/skb/kfree_skb/enable"), "0");
    let _ = fs::remove_dir(&dir);
}
