// SPDX-License-Identifier: GPL-2.0
//! `rtunstress lifecycle`: data path against teardown.
//!
//!     rtunstress lifecycle --seconds N --seed S [--dev PATH] [--threads T]
//!                          [--slots K] [--ops M] [--module NAME] [--keep-module]
//!                          [--no-napi-frags]
//!
//! T threads (default 6) share K device slots (default 6) for N seconds or
//! M operations per thread, whichever ends first. Two threads in three do
//! data-path operations (read, write, poll, epoll, preadv2/pwritev2 with
//! RWF_NOWAIT, io_uring reads and writes, UDP and AF_PACKET transmits,
//! O_ASYNC); the third creates devices across the flag space (TUN/TAP,
//! IFF_NO_PI, IFF_VNET_HDR with offloads, IFF_MULTI_QUEUE, IFF_NAPI and
//! IFF_NAPI_FRAGS, IFF_BACKPRESSURE, persistent), attaches and closes their
//! queues, deletes them (RTM_DELLINK, last close, namespace deletion) and
//! reconfigures them (TUNSETQUEUE, TUNSETPERSIST, txqueuelen, MTU, up/down,
//! filter and steering programs, TUNSETOFFLOAD, netconsole), all while the
//! data threads use them (--no-napi-frags: IFF_NAPI_FRAGS is drawn but not
//! set; the guest test runs tun.ko's control so, see t_stress.sh). Each
//! thread draws its operations from its own
//! stream of the seed, so a seed replays the same choices on either driver
//! (as far as the kernel answers the same way: the threads interleave
//! differently from run to run).
//!
//! After the run, single-threaded: every device still there gets one frame
//! per attached transmit queue (steered, past the qdisc) with every ring
//! empty, which must be taken and read back (a queue stopped with an empty
//! ring refuses it); then it is retired (down, drained, counters), and
//! deleted; every namespace is deleted; the module must unload (`rmmod`,
//! unless --keep-module); no task may stay in D state; the kernel log since
//! the start must hold no splat; and the frames must add up (check.rs).
//!
//! Prints `seed: S` first, the errno of every operation by kind (`errno: OP
//! RESULT COUNT`: the same seed on tun.ko gives the control's), a summary,
//! and `result: PASS` or `result: FAIL`; a failure also prints the last
//! operations of each thread and the command that replays the seed. Exits 0
//! or 1 (2 for usage errors).

mod check;
mod ops;
mod sysx;
mod uring;
mod world;

use std::{
    collections::{BTreeMap, VecDeque},
    fs,
    process::exit,
    sync::{atomic::Ordering, Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{
    account::{format_reasons, tx_only, DevRecord, PerReason},
    rtnl::{self, Link},
    sys::*,
    trace,
};
use check::{check_survivor, check_totals, Survivor, Totals};
use ops::{Role, Th};
use world::*;

const USAGE: &str = "usage: rtunstress lifecycle --seconds N --seed S [--dev PATH] [--threads T] [--slots K] [--ops M] [--module NAME] [--keep-module] [--no-napi-frags] [--stall SECONDS] [--trace-kb KB]";

const INSTANCE: &str = "rtunlife";

/// ops.rs's io_uring write timeout, for the report.
const URING_WRITE_TIMEOUT_S: u64 = 1;

struct Args {
    seed: u64,
    seconds: u64,
    dev: String,
    module: Option<String>,
    threads: usize,
    slots: usize,
    ops: u64,
    keep_module: bool,
    napi_frags: bool,
    stall: u64,
    trace_kb: u32,
}

fn usage(msg: &str) -> ! {
    eprintln!("rtunstress lifecycle: {msg}\n{USAGE}");
    exit(2)
}

fn parse(args: &[String]) -> Args {
    let mut a = Args {
        seed: 0,
        seconds: 0,
        dev: "/dev/net/rtun".into(),
        module: None,
        threads: 6,
        slots: 6,
        ops: u64::MAX,
        keep_module: false,
        napi_frags: true,
        stall: 90,
        trace_kb: 8192,
    };
    let (mut have_seed, mut have_secs) = (false, false);
    let mut it = args.iter();
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
            "--threads" => a.threads = num("--threads") as usize,
            "--slots" => a.slots = num("--slots") as usize,
            "--ops" => a.ops = num("--ops"),
            "--stall" => a.stall = num("--stall"),
            "--trace-kb" => a.trace_kb = num("--trace-kb") as u32,
            "--dev" => {
                a.dev = it
                    .next()
                    .cloned()
                    .unwrap_or_else(|| usage("--dev needs a path"))
            }
            "--module" => {
                a.module = Some(
                    it.next()
                        .cloned()
                        .unwrap_or_else(|| usage("--module needs a name")),
                )
            }
            "--keep-module" => a.keep_module = true,
            "--no-napi-frags" => a.napi_frags = false,
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
    if !(2..=32).contains(&a.threads) {
        usage("--threads must be 2..32");
    }
    if !(1..=16).contains(&a.slots) {
        usage("--slots must be 1..16");
    }
    a
}

pub fn main(args: &[String]) -> ! {
    let a = parse(args);
    exit(run(a))
}

/// The module behind a device node: `tun` for /dev/net/tun, `rtun` for /dev/net/rtun.
fn module_of(dev: &str) -> String {
    dev.rsplit('/').next().unwrap_or("rtun").to_string()
}

fn cleanup_leftovers(prefix: &str) {
    if let Ok(rd) = fs::read_dir("/run/netns") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&format!("{prefix}ns")) {
                let _ = rtnl::netns_del(&n);
            }
        }
    }
    if let Ok(rd) = fs::read_dir(sysx::NETCONSOLE) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&format!("{prefix}nc")) {
                let _ = sysx::netconsole_remove(&n);
            }
        }
    }
}

fn leftover_links(prefix: &str) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir("/sys/class/net") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if is_lifecycle_name(prefix, &n) {
                v.push(n);
            }
        }
    }
    v
}

fn console_loglevel() -> u8 {
    fs::read_to_string("/proc/sys/kernel/printk")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(4)
}

struct ThreadResult {
    errnos: BTreeMap<(&'static str, String), u64>,
    ops: u64,
    skipped: u64,
    fatal: Vec<String>,
}

fn run(a: Args) -> i32 {
    let module = a.module.clone().unwrap_or_else(|| module_of(&a.dev));
    let prefix = if module == "rtun" {
        "rl".to_string()
    } else if module == "tun" {
        "tl".to_string()
    } else {
        format!("{}l", module.chars().next().unwrap_or('x'))
    };
    println!("seed: {}", a.seed);
    println!(
        "lifecycle: dev {} module {module} seconds {} threads {} slots {} ops {} (devices {prefix}<slot>g<gen>)",
        a.dev,
        a.seconds,
        a.threads,
        a.slots,
        if a.ops == u64::MAX { "unbounded".to_string() } else { a.ops.to_string() }
    );
    let replay = format!(
        "rtunstress lifecycle --seed {} --seconds {} --dev {} --threads {} --slots {}{}{}",
        a.seed,
        a.seconds,
        a.dev,
        a.threads,
        a.slots,
        if a.ops == u64::MAX {
            String::new()
        } else {
            format!(" --ops {}", a.ops)
        },
        if a.napi_frags { "" } else { " --no-napi-frags" }
    );
    let modules = fs::read_to_string("/proc/modules").unwrap_or_default();
    if !modules
        .lines()
        .any(|l| l.split_whitespace().next() == Some(module.as_str()))
    {
        println!("result: FAIL (module {module} is not loaded)");
        return 1;
    }
    sysx::install_handlers();
    sysx::raise_nofile();
    cleanup_leftovers(&prefix);
    let mut kmsg = match sysx::Kmsg::start() {
        Ok(k) => k,
        Err(e) => {
            println!("result: FAIL (/dev/kmsg: {})", e);
            return 1;
        }
    };
    let home = match own_netns() {
        Ok(fd) => fd,
        Err(e) => {
            println!("result: FAIL ({e})");
            return 1;
        }
    };
    let mut setup_notes = Vec::new();
    let mut ebpf = Vec::new();
    for ret in [0u32, 0xffff] {
        match load_ebpf_returning(ret) {
            Ok(fd) => ebpf.push(fd),
            Err(e) => setup_notes.push(format!("bpf_prog_load: {}", e)),
        }
    }
    let mut steer = Vec::new();
    for ret in 0..ops::MAX_QUEUES as u32 {
        match load_ebpf_returning(ret) {
            Ok(fd) => steer.push(fd),
            Err(e) => setup_notes.push(format!("bpf_prog_load (steering): {}", e)),
        }
    }
    let nc_available = sysx::netconsole_available();
    if !nc_available {
        setup_notes.push("no netconsole in configfs: no netpoll transmits".into());
    }
    for n in &setup_notes {
        println!("note: {n}");
    }
    let mut tracer = match trace::Tracer::setup_with(
        INSTANCE,
        a.trace_kb,
        "net_dev_xmit",
        &format!("{prefix}*"),
    ) {
        Ok(t) => t,
        Err(e) => {
            println!("result: FAIL (trace instance: {e})");
            return 1;
        }
    };
    let range = trace::module_range_of(&modules, &module);
    if let Err(e) = tracer.start_in(&module, range) {
        println!("result: FAIL (trace: {e})");
        return 1;
    }

    let t0 = Instant::now();
    let w = World {
        cfg: Cfg {
            seed: a.seed,
            max_ops: a.ops,
            dev: a.dev.clone(),
            prefix: prefix.clone(),
            threads: a.threads,
            napi_frags: a.napi_frags,
            verbose: std::env::var("RTUNSTRESS_VERBOSE").is_ok_and(|v| v == "1"),
        },
        t0,
        deadline: t0 + Duration::from_secs(a.seconds),
        slots: (0..a.slots).map(|_| Slot::default()).collect(),
        all: Mutex::new(Vec::new()),
        zombies: Mutex::new(VecDeque::new()),
        netns: Mutex::new(Vec::new()),
        netns_made: 0.into(),
        nc_targets: Mutex::new(Vec::new()),
        nc_available,
        stop: false.into(),
        home,
        ebpf,
        steer,
        recent: (0..=a.threads)
            .map(|_| Mutex::new(Recent::default()))
            .collect(),
    };
    let mut bad: Vec<String> = Vec::new();

    // ---- the run ------------------------------------------------------------------
    let results: Vec<ThreadResult> = std::thread::scope(|sc| {
        let w = &w;
        let handles: Vec<_> = (0..a.threads)
            .map(|t| {
                sc.spawn(move || {
                    let role = if t % 3 == 2 {
                        Role::Teardown
                    } else {
                        Role::Data
                    };
                    match Th::new(w, t, role) {
                        Ok(mut th) => {
                            th.run();
                            ThreadResult {
                                errnos: th.errnos,
                                ops: th.ops,
                                skipped: th.skipped,
                                fatal: th.fatal,
                            }
                        }
                        Err(e) => ThreadResult {
                            errnos: BTreeMap::new(),
                            ops: 0,
                            skipped: 0,
                            fatal: vec![format!("thread {t}: {e}")],
                        },
                    }
                })
            })
            .collect();
        // The watchdog: an operation that does not return is a finding.
        let mut stalled: Option<Instant> = None;
        while handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(Duration::from_millis(100));
            for (t, r) in w.recent.iter().enumerate().take(a.threads) {
                let r = lk(r);
                if let Some((since, what)) = &r.cur {
                    if since.elapsed() > Duration::from_secs(a.stall) && stalled.is_none() {
                        let tid = r.tid as u32;
                        let msg = format!(
                            "thread {t} (tid {tid}) has been in '{what}' for {} s: {}",
                            since.elapsed().as_secs(),
                            sysx::task_where(std::process::id(), tid).trim_end()
                        );
                        println!("FAIL: {msg}");
                        stalled = Some(Instant::now());
                        w.stop.store(true, Ordering::Relaxed);
                    }
                }
            }
            if let Some(s) = stalled {
                if s.elapsed() > Duration::from_secs(30) {
                    // A thread that does not come back: report what there is
                    // and leave (the process cannot finish while it hangs).
                    print_recent(w);
                    println!("replay: {replay}");
                    println!(
                        "result: FAIL (a thread is stuck in the kernel; seed {})",
                        a.seed
                    );
                    // SAFETY: Leaving at once; the stuck thread keeps the process
                    // around until the kernel lets it go.
                    unsafe { libc::_exit(1) };
                }
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| ThreadResult {
                    errnos: BTreeMap::new(),
                    ops: 0,
                    skipped: 0,
                    fatal: vec!["a thread panicked".into()],
                })
            })
            .collect()
    });
    let run_secs = t0.elapsed().as_secs_f64();
    let mut errnos: BTreeMap<(&'static str, String), u64> = BTreeMap::new();
    let (mut total_ops, mut skipped) = (0, 0);
    for r in &results {
        for (k, n) in &r.errnos {
            *errnos.entry(k.clone()).or_insert(0) += n;
        }
        total_ops += r.ops;
        skipped += r.skipped;
        bad.extend(r.fatal.iter().cloned());
    }

    // ---- the end phase ------------------------------------------------------------
    let mut end = match Th::new(&w, a.threads, Role::End) {
        Ok(t) => t,
        Err(e) => {
            println!("result: FAIL (end phase: {e})");
            return 1;
        }
    };
    let nc_used = lk(&w.nc_targets).len();
    for target in lk(&w.nc_targets).clone() {
        if std::path::Path::new(&format!("{}/{target}", sysx::NETCONSOLE)).exists() {
            if let Err(e) = sysx::netconsole_remove(&target) {
                bad.push(format!("netconsole target {target}: {e}"));
            }
        }
    }
    let per_reason = module == "rtun";
    let mut survivors: Vec<DevRecord> = Vec::new();
    for s in 0..a.slots {
        let Some(dev) = w.dev(s) else { continue };
        bad.extend(end.probe(&dev));
        match retire(&mut end, &dev, per_reason) {
            Ok(rec) => survivors.push(rec),
            Err(e) => bad.push(e),
        }
        // Gone: the files closed (persist off first), or the link deleted.
        let (ns, qs, persist) = {
            let mut st = lk(&dev.st);
            (st.ns.clone(), std::mem::take(&mut st.qs), st.persist)
        };
        if persist {
            if let Some(q) = qs.first() {
                if let Err(e) = ioctl_val(q.fd, TUNSETPERSIST, 0) {
                    bad.push(format!(
                        "{}: TUNSETPERSIST 0 at the end: {}",
                        dev.info.name, e
                    ));
                }
            }
        }
        let had_files = !qs.is_empty();
        drop(qs);
        if !had_files {
            if let Err(e) = rtnl::link(ns.as_deref(), home, &dev.info.name, Link::Delete) {
                bad.push(format!("{}: RTM_DELLINK at the end: {e}", dev.info.name));
            }
        }
        dev.info.end("survived");
        *lk(&w.slots[s].cur) = None;
    }
    end.close_all();
    for ns in std::mem::take(&mut *lk(&w.netns)) {
        if let Err(e) = rtnl::netns_del(&ns) {
            bad.push(format!("netns del {ns} at the end: {e}"));
        }
    }
    for fd in w.ebpf.iter().chain(&w.steer) {
        close(*fd);
    }
    let mut left = leftover_links(&prefix);
    let t_left = Instant::now();
    while !left.is_empty() && t_left.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        left = leftover_links(&prefix);
    }
    if !left.is_empty() {
        bad.push(format!(
            "devices left in the initial namespace: {}",
            left.join(" ")
        ));
    }

    let rmmod = if a.keep_module {
        "kept".to_string()
    } else {
        let t = Instant::now();
        loop {
            match delete_module(&module) {
                Ok(()) => break format!("ok after {:.1} s", t.elapsed().as_secs_f64()),
                Err(e)
                    if matches!(e, Errno(libc::EAGAIN | libc::EBUSY))
                        && t.elapsed() < Duration::from_secs(30) =>
                {
                    std::thread::sleep(Duration::from_millis(200))
                }
                Err(e) => {
                    let refcnt = fs::read_to_string(format!("/sys/module/{module}/refcnt"))
                        .unwrap_or_default();
                    bad.push(format!(
                        "rmmod {module}: {} after {:.0} s (refcnt {})",
                        e,
                        t.elapsed().as_secs_f64(),
                        refcnt.trim()
                    ));
                    break format!("failed: {}", e);
                }
            }
        }
    };
    // No task stays in uninterruptible sleep: the same task in D in every
    // scan, a second apart for 10 s (a namespace's cleanup may wait for
    // grace periods a few seconds in the KASAN guest).
    let mut stuck = sysx::tasks_in_d();
    for _ in 0..10 {
        if stuck.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        let now = sysx::tasks_in_d();
        stuck.retain(|t| now.contains(t));
    }
    for (pid, tid, comm) in &stuck {
        bad.push(format!(
            "task {comm} (pid {pid} tid {tid}) in D state for 10 s after the run: {}",
            sysx::task_where(*pid, *tid).trim_end().replace('\n', " | ")
        ));
    }
    std::thread::sleep(Duration::from_millis(300));
    let finished = tracer.finish();
    trace::remove_instance(INSTANCE);

    // The kernel log since the start.
    let loglevel = console_loglevel();
    let records = kmsg.read();
    let printed = records.iter().filter(|(l, _)| *l < loglevel).count() as u64;
    let splats: Vec<&String> = records
        .iter()
        .map(|(_, t)| t)
        .filter(|t| sysx::is_splat(t))
        .collect();
    if !splats.is_empty() {
        bad.push(format!(
            "{} kernel log lines of splats since the start; the first: {}",
            splats.len(),
            splats
                .iter()
                .take(12)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }

    // ---- the report ---------------------------------------------------------------
    let secs = a.seconds.max(1) as f64;
    println!("ops: total={total_ops} ({:.1}/s over {} s; the run took {run_secs:.1} s) skipped={skipped}", total_ops as f64 / secs, a.seconds);
    for ((op, res), n) in &errnos {
        println!("errno: {op} {res} {n}");
    }
    // What differs from tun.ko without failing the run: EOPNOTSUPP for
    // RWF_NOWAIT (the branch `nowait` gives rtun FMODE_NOWAIT), and its
    // consequence for io_uring writes.
    let count = |op: &str, res: &str| {
        errnos
            .iter()
            .filter(|((o, r), _)| *o == op && r == res)
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let parked = count("uring_write", "ECANCELED");
    if parked > 0 {
        println!("finding: {parked} io_uring writes were still waiting after {URING_WRITE_TIMEOUT_S} s and were cancelled: without FMODE_NOWAIT io_uring parks a write until poll finds the file writable, which a down or deleted device never is (tun.ko answers at once, EIO or EBADFD)");
    }
    let nowait = count("nowait_read", "EOPNOTSUPP") + count("nowait_write", "EOPNOTSUPP");
    if nowait > 0 {
        println!("finding: {nowait} preadv2/pwritev2 with RWF_NOWAIT failed with EOPNOTSUPP (tun.ko: EAGAIN or the frame)");
    }
    let all = lk(&w.all).clone();
    let mut ended: BTreeMap<&str, u64> = BTreeMap::new();
    let mut flags_seen: BTreeMap<&str, u64> = BTreeMap::new();
    for d in &all {
        *ended.entry(*lk(&d.ended)).or_insert(0) += 1;
        for (bit, name) in [
            (IFF_TAP, "TAP"),
            (IFF_NO_PI, "NO_PI"),
            (IFF_VNET_HDR, "VNET_HDR"),
            (IFF_MULTI_QUEUE, "MULTI_QUEUE"),
            (IFF_NAPI, "NAPI"),
            (IFF_NAPI_FRAGS, "NAPI_FRAGS"),
            (IFF_BACKPRESSURE, "BACKPRESSURE"),
        ] {
            if d.flags & bit != 0 {
                *flags_seen.entry(name).or_insert(0) += 1;
            }
        }
    }
    let fmt = |m: &BTreeMap<&str, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "devices: {} made ({}), ended by: {}",
        all.len(),
        fmt(&flags_seen),
        fmt(&ended)
    );
    println!(
        "sigio: {} signals; netconsole targets: {nc_used}; rmmod {module}: {rmmod}",
        sysx::SIGIO_COUNT.load(Ordering::Relaxed)
    );
    match &finished {
        Ok((c, lost)) => {
            let mut t = Totals::default();
            let names: std::collections::BTreeSet<&str> =
                all.iter().map(|d| d.name.as_str()).collect();
            for (n, x) in &c.xmit {
                if w.is_run_device(n) {
                    t.handed += x;
                    if !names.contains(n.as_str()) {
                        bad.push(format!(
                            "{n}: {x} frames handed to the driver, but the run never made it"
                        ));
                    }
                }
            }
            let traced_xmit = t.handed;
            let mut bypass_ok = 0;
            for d in &all {
                let g = |x: &std::sync::atomic::AtomicU64| Counters::get(x);
                bypass_ok += g(&d.c.bypass_ok);
                t.read += g(&d.c.read);
                t.read_netpoll += g(&d.c.read_netpoll);
                t.write_fail += g(&d.c.write_fail);
                t.write_lost += g(&d.c.write_lost);
                t.bypass_busy += g(&d.c.bypass_busy);
                if d.napi() {
                    t.napi_written += g(&d.c.write_ok);
                }
            }
            t.handed += bypass_ok;
            // Every message printed on the consoles while a target was up
            // may have gone out through each target once.
            t.netpoll_bound = if nc_used > 0 {
                printed * nc_used as u64
            } else {
                0
            };
            let other: u64 = c.other_reasons.values().sum();
            t.traced = c.drops.iter().sum::<u64>() + other;
            t.tx_only = tx_only(&c.drops);
            let writes_ok: u64 = all.iter().map(|d| Counters::get(&d.c.write_ok)).sum();
            println!(
                "frames: {} handed to the driver ({traced_xmit} traced, {bypass_ok} past the qdisc), {} read ({} of netconsole's), {writes_ok} written, {} writes failed after an skb, {} for memory",
                t.handed, t.read, t.read_netpoll, t.write_fail, t.write_lost
            );
            println!(
                "accounting: drops traced in {module} {} = lower bound {} + {} of up to {} that cannot be attributed (NAPI writes {}, bypass ENOBUFS {}, netconsole {}, lost writes {})",
                t.traced,
                t.lower().map_or("?".into(), |v| v.to_string()),
                t.traced as i128 - t.lower().unwrap_or(0) as i128,
                t.slack(),
                t.napi_written,
                t.bypass_busy,
                t.netpoll_bound,
                t.write_lost
            );
            println!(
                "drops by reason (traced in {module}): {}",
                format_reasons(&c.drops, &c.other_reasons)
            );
            println!(
                "trace: {} events, {} lost, {} unparsed, {} NETDEV_TX_BUSY",
                c.events, lost, c.unparsed, c.busy
            );
            if *lost != 0 {
                bad.push(format!(
                    "the trace lost {lost} events: the accounting cannot hold (raise --trace-kb)"
                ));
            }
            if c.unparsed != 0 {
                bad.push(format!("{} trace lines could not be parsed", c.unparsed));
            }
            if per_reason && !c.other_reasons.is_empty() {
                bad.push(format!(
                    "drops in {module} with a reason it does not report: {:?}",
                    c.other_reasons
                ));
            }
            bad.extend(check_totals(&t));
            for rec in &survivors {
                let Some(d) = all.iter().find(|d| d.name == rec.name) else {
                    continue;
                };
                let s = Survivor {
                    rec,
                    traced: c.xmit.get(&rec.name).copied().unwrap_or(0),
                    bypass_ok: Counters::get(&d.c.bypass_ok),
                    bypass_busy: Counters::get(&d.c.bypass_busy),
                    netpoll: d.c.netpoll.load(Ordering::Relaxed),
                };
                let v = check_survivor(&s, per_reason);
                if !v.is_empty() {
                    println!(
                        "device {} (traced xmit {}, bypass {}/{}): {}",
                        rec.name,
                        s.traced,
                        s.bypass_ok,
                        s.bypass_busy,
                        rec.to_line()
                    );
                }
                bad.extend(v);
            }
            println!(
                "survivors: {} devices lived to the end and were checked one by one",
                survivors.len()
            );
            if total_ops == 0 || t.handed == 0 || t.read == 0 || writes_ok == 0 {
                bad.push(format!("too little happened: {total_ops} operations, {} frames handed over, {} read, {writes_ok} written", t.handed, t.read));
            }
        }
        Err(e) => bad.push(format!("trace: {e}")),
    }
    if bad.is_empty() {
        println!("result: PASS");
        return 0;
    }
    for b in &bad {
        println!("FAIL: {b}");
    }
    println!("the run's devices:");
    for d in &all {
        println!(
            "  {} flags {:#06x} ended: {}",
            d.name,
            d.flags,
            lk(&d.ended)
        );
    }
    print_recent(&w);
    println!("replay: {replay}");
    println!("result: FAIL ({} problems; seed {})", bad.len(), a.seed);
    1
}

fn print_recent(w: &World) {
    println!("last operations per thread (oldest first):");
    for (t, r) in w.recent.iter().enumerate() {
        let r = lk(r);
        let who = if t == w.cfg.threads {
            "end".to_string()
        } else {
            format!("t{t}")
        };
        for l in &r.ring {
            println!("  {who}: {l}");
        }
        if let Some((since, what)) = &r.cur {
            println!(
                "  {who}: {what} ... still running after {:.1} s",
                since.elapsed().as_secs_f64()
            );
        }
    }
}

/// Retires `dev` the stress's way: down, drained, its counters once they no
/// longer move (a queue closed just before may still have frames to purge
/// after a grace period).
fn retire(th: &mut Th, dev: &Arc<Dev>, per_reason: bool) -> Result<DevRecord, String> {
    let d = dev.info.clone();
    let (ns, qs) = {
        let st = lk(&dev.st);
        (st.ns.clone(), st.qs.clone())
    };
    rtnl::link(ns.as_deref(), th.w.home, &d.name, Link::Up(false))
        .map_err(|e| format!("{}: down to retire it: {e}", d.name))?;
    lk(&dev.st).up = false;
    let mut last: Option<(LinkStats, PerReason)> = None;
    for _ in 0..20 {
        for q in &qs {
            th.drain(q);
        }
        let stats = in_netns(ns.as_deref(), th.w.home, || link_stats(&d.name))
            .and_then(|r| r)
            .map_err(|e| format!("{}: counters: {e}", d.name))?;
        let reasons = if per_reason {
            debugfs_reasons(&d.name).map_err(|e| format!("{}: {e}", d.name))?
        } else {
            [0; crate::skb_reason::Reason::COUNT]
        };
        if last
            .as_ref()
            .is_some_and(|(s, r)| *s == stats && *r == reasons)
        {
            break;
        }
        last = Some((stats, reasons));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (s, reasons) = last.ok_or_else(|| format!("{}: no counters", d.name))?;
    let g = |x: &std::sync::atomic::AtomicU64| Counters::get(x);
    Ok(DevRecord {
        name: d.name.clone(),
        how: "survived".into(),
        napi: d.napi(),
        read: g(&d.c.read),
        write_ok: g(&d.c.write_ok),
        write_fail: g(&d.c.write_fail),
        write_einval: g(&d.c.write_einval),
        write_bad_vnet: 0,
        write_busy: g(&d.c.write_busy),
        write_lost: g(&d.c.write_lost),
        rx_packets: s.rx_packets,
        tx_packets: s.tx_packets,
        rx_dropped: s.rx_dropped,
        tx_dropped: s.tx_dropped,
        rx_frame_errors: s.rx_frame_errors,
        reasons,
    })
}
