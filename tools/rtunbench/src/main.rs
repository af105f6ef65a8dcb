// SPDX-License-Identifier: GPL-2.0
//! rtunbench: rust_tun's benchmark client. The same code drives tun.ko
//! (/dev/net/tun) and rtun.ko (/dev/net/rtun); only the device node differs.
//!
//! Each path runs with the skb:kfree_skb tracepoint off and on, for a fixed
//! time, in rounds that alternate which driver goes first. In a round, the two
//! drivers' runs of a path share a process (`rtunbench pair ...`), killed if it
//! hangs, and take turns in slices (`--slice-ms`), so that both are measured
//! over the same seconds of the host; `--slice-ms 0` gives every run a process
//! of its own (`rtunbench run ...`), one after the other. At the end it
//! prints a table (median, min, max per driver, and the rtun/tun ratio of the
//! medians), one `path=... tracepoint=... tun=... rtun=... ratio=...` line per
//! path and tracepoint state, and CSV between markers for scripts/bench.sh.
//! It is a benchmark: the exit status says whether every run worked, never
//! anything about the numbers.

mod paths;
mod sys;

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{exit, Command, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use paths::{RunCfg, PATHS};

const USAGE: &str = "usage: rtunbench [--quick] [--rounds N] [--duration-ms MS] [--warmup-ms MS]
                 [--paths P,...] [--tracepoint off,on] [--tun-dev PATH] [--rtun-dev PATH]
                 [--csv FILE] [--timeout-s S] [--pin none|TX0,TX1/RX0,RX1[/MAIN]]
                 [--slice-ms MS] [--verbose]
       rtunbench list
       rtunbench run PATH --dev NODE --name IFNAME --net A.B [--warmup-ms MS] [--duration-ms MS] [--pin ...]
       rtunbench pair PATH --dev NODE --name IFNAME --net A.B --dev2 NODE --name2 IFNAME --net2 A.B
                 [--warmup-ms MS] [--duration-ms MS] [--slice-ms MS] [--pin ...]

Defaults: 5 rounds of 1000 ms (after 200 ms of warm-up) per path, driver and
tracepoint state. --quick: 1 round of 100 ms after 20 ms, to check that every
path works. --slice-ms: within a round, the two drivers' runs of a path take
turns in slices of MS (default 100; ABBA order), so that a host slower for a
second slows both; 0: one run after the other, each in one go. --pin: where
the threads run: flow i's sender (or writer) on TX<i>, its reader on RX<i>,
the measuring thread on MAIN (else unpinned), modulo the CPUs usable; default
1,0/0,1/0; none leaves them to the scheduler.";

fn usage_error(msg: &str) -> ! {
    eprintln!("rtunbench: {msg}\n{USAGE}");
    exit(2)
}

fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> T {
    let v = v.unwrap_or_else(|| usage_error(&format!("{flag} needs a value")));
    v.parse()
        .unwrap_or_else(|_| usage_error(&format!("bad value for {flag}: {v}")))
}

fn list(v: Option<String>) -> Vec<String> {
    v.unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

struct Opts {
    rounds: usize,
    dur_ms: u64,
    warm_ms: u64,
    paths: Vec<String>,
    tps: Vec<String>,
    devs: [(String, String); 2],
    csv: Option<String>,
    timeout_s: Option<u64>,
    pin: String,
    slice_ms: u64,
    verbose: bool,
    // `run` and `pair` only (`pair`: [0] is --dev, --name, --net, [1] --dev2 ...)
    dev: [String; 2],
    name: [String; 2],
    net: [[u8; 2]; 2],
    args: Vec<String>,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        rounds: 5,
        dur_ms: 1000,
        warm_ms: 200,
        paths: PATHS.iter().map(|p| p.0.to_string()).collect(),
        tps: vec!["off".into(), "on".into()],
        devs: [
            ("tun".into(), "/dev/net/tun".into()),
            ("rtun".into(), "/dev/net/rtun".into()),
        ],
        csv: None,
        timeout_s: None,
        pin: paths::DEFAULT_PIN.into(),
        slice_ms: 100,
        verbose: false,
        dev: Default::default(),
        name: Default::default(),
        net: [[0, 0]; 2],
        args: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {
                o.rounds = 1;
                o.dur_ms = 100;
                o.warm_ms = 20;
            }
            "--rounds" => o.rounds = num("--rounds", it.next()),
            "--duration-ms" => o.dur_ms = num("--duration-ms", it.next()),
            "--warmup-ms" => o.warm_ms = num("--warmup-ms", it.next()),
            "--paths" => o.paths = list(it.next()),
            "--tracepoint" => o.tps = list(it.next()),
            "--tun-dev" => {
                o.devs[0].1 = it
                    .next()
                    .unwrap_or_else(|| usage_error("--tun-dev needs a path"))
            }
            "--rtun-dev" => {
                o.devs[1].1 = it
                    .next()
                    .unwrap_or_else(|| usage_error("--rtun-dev needs a path"))
            }
            "--csv" => o.csv = it.next(),
            "--timeout-s" => o.timeout_s = Some(num("--timeout-s", it.next())),
            "--pin" => {
                o.pin = it
                    .next()
                    .unwrap_or_else(|| usage_error("--pin needs a placement"))
            }
            "--slice-ms" => o.slice_ms = num("--slice-ms", it.next()),
            "--verbose" => o.verbose = true,
            "--dev" => o.dev[0] = it.next().unwrap_or_default(),
            "--dev2" => o.dev[1] = it.next().unwrap_or_default(),
            "--name" => o.name[0] = it.next().unwrap_or_default(),
            "--name2" => o.name[1] = it.next().unwrap_or_default(),
            "--net" | "--net2" => {
                let v = it.next().unwrap_or_default();
                let p: Vec<u8> = v.split('.').filter_map(|x| x.parse().ok()).collect();
                if p.len() != 2 {
                    usage_error(&format!("{a} wants A.B, got {v}"));
                }
                o.net[usize::from(a == "--net2")] = [p[0], p[1]];
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0)
            }
            s if s.starts_with("--") => usage_error(&format!("unknown option {s}")),
            _ => o.args.push(a),
        }
    }
    for p in &o.paths {
        if !PATHS.iter().any(|k| k.0 == p) {
            usage_error(&format!("unknown path {p} (rtunbench list)"));
        }
    }
    for t in &o.tps {
        if t != "off" && t != "on" {
            usage_error(&format!("--tracepoint takes off and/or on, not {t}"));
        }
    }
    if let Err(e) = paths::parse_pin(&o.pin) {
        usage_error(&e);
    }
    if o.rounds == 0 || o.dur_ms == 0 {
        usage_error("rounds and duration must be positive");
    }
    o
}

fn main() {
    let o = parse_args();
    match o.args.first().map(String::as_str) {
        None => exit(bench(&o)),
        Some("list") => {
            for (p, what) in PATHS {
                println!("{p:16} {what}");
            }
        }
        Some("run") => exit(run_one(&o)),
        Some("pair") => exit(run_pair(&o)),
        Some(c) => usage_error(&format!("unknown command {c}")),
    }
}

// ---- one run, or a pair (child process) ------------------------------------------------

/// The number of slices each driver's run of a pair takes, and their length,
/// for a measured time of `dur_ms` in slices of about `slice_ms`.
fn slicing(dur_ms: u64, slice_ms: u64) -> (usize, Duration) {
    let n = dur_ms.div_ceil(slice_ms.max(1)).max(1);
    (n as usize, Duration::from_millis(dur_ms) / n as u32)
}

fn run_cfg(o: &Opts, i: usize, turns: Option<(Arc<paths::Turns>, usize)>) -> RunCfg {
    let path = o
        .args
        .get(1)
        .cloned()
        .unwrap_or_else(|| usage_error("run and pair need a PATH"));
    if o.dev[i].is_empty() || o.name[i].is_empty() {
        usage_error("run needs --dev and --name, pair also --dev2 and --name2");
    }
    RunCfg {
        path,
        dev: o.dev[i].clone(),
        name: o.name[i].clone(),
        net: o.net[i],
        warm: Duration::from_millis(o.warm_ms),
        dur: Duration::from_millis(o.dur_ms),
        pin: paths::parse_pin(&o.pin).unwrap_or_else(|e| usage_error(&e)),
        turns,
    }
}

/// The line a run's outcome is reported on: `TAG rate=... count=...`, or
/// `error-TAG why` (the parent reads them back).
fn outcome_line(tag: &str, r: &Result<paths::RunOut, String>) -> String {
    match r {
        Ok(r) => {
            let mut line = format!(
                "{tag} rate={:.3} count={} scale={} secs={:.4}",
                r.rate(),
                r.count,
                r.scale,
                r.secs
            );
            for (k, v) in &r.extras {
                line += &format!(" {k}={v}");
            }
            line
        }
        Err(e) => format!("error-{tag} {e}"),
    }
}

fn run_one(o: &Opts) -> i32 {
    sys::disable_ipv6();
    let r = paths::run(&run_cfg(o, 0, None));
    println!("{}", outcome_line("result", &r));
    i32::from(r.is_err())
}

/// Both drivers' runs of one path, in two threads that take turns.
fn run_pair(o: &Opts) -> i32 {
    sys::disable_ipv6();
    let (n, slice) = slicing(o.dur_ms, o.slice_ms);
    let turns = Arc::new(paths::Turns::new(slice, n));
    let cfgs = [0, 1].map(|i| run_cfg(o, i, Some((turns.clone(), i))));
    // Each run's line as soon as it is done: if the other hangs, the parent
    // still has this one.
    let report = |i: usize, r: &Result<paths::RunOut, String>| {
        let mut line = outcome_line(&format!("result{i}"), r);
        if r.is_ok() && turns.skipped() {
            // The other run failed: some of this one's slices followed each
            // other without the other's in between.
            line += " alone=1";
        }
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    };
    let ok: Vec<bool> = thread::scope(|s| {
        let h: Vec<_> = cfgs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let report = &report;
                s.spawn(move || {
                    let r = paths::run(c);
                    report(i, &r);
                    r.is_ok()
                })
            })
            .collect();
        h.into_iter()
            .enumerate()
            .map(|(i, h)| {
                h.join().unwrap_or_else(|_| {
                    report(i, &Err("the run's thread panicked".into()));
                    false
                })
            })
            .collect()
    });
    i32::from(ok.contains(&false))
}

// ---- the benchmark (parent) ---------------------------------------------------------------

struct Sample {
    round: usize,
    path: String,
    tp: String,
    drv: String,
    /// frames/s, or why the run failed.
    rate: Result<f64, String>,
    /// count=, secs=, and the path's extras, as the child printed them.
    fields: Vec<(String, String)>,
}

impl Sample {
    fn field(&self, k: &str) -> &str {
        self.fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// What a child reported for one run: frames/s or why it failed, and the
/// fields of its line.
type Outcome = (Result<f64, String>, Vec<(String, String)>);

/// The run of driver `d` in a round: the node, a fresh name and /24 (a device
/// left behind by a hung run cannot collide with the next one).
fn run_args(o: &Opts, d: usize, seq: usize, suffix: &str) -> Vec<String> {
    let name = format!("b{}{}", if d == 0 { "t" } else { "r" }, seq);
    let net = [201 + d as u8, (seq % 250) as u8];
    vec![
        format!("--dev{suffix}"),
        o.devs[d].1.clone(),
        format!("--name{suffix}"),
        name,
        format!("--net{suffix}"),
        format!("{}.{}", net[0], net[1]),
    ]
}

/// Runs `rtunbench ARGS` (`run ...` or `pair ...`) and waits for it, at most
/// `timeout`, and reads the outcome of each run `tags` names. The second value
/// is true when the process is stuck in the kernel for good.
fn spawn_runs(o: &Opts, args: &[String], tags: &[&str], timeout: Duration) -> (Vec<Outcome>, bool) {
    let each = |e: String| tags.iter().map(|_| (Err(e.clone()), vec![])).collect();
    let exe = std::env::current_exe().unwrap_or_else(|_| "rtunbench".into());
    let child = Command::new(exe)
        .args(args)
        .args([
            "--warmup-ms",
            &o.warm_ms.to_string(),
            "--duration-ms",
            &o.dur_ms.to_string(),
            "--slice-ms",
            &o.slice_ms.to_string(),
            "--pin",
            &o.pin,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return (each(format!("cannot start the run: {e}")), false),
    };
    let out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    // Line by line, so that the lines of a run that finished are there even
    // if the other run of the pair hangs.
    let out = Arc::new(Mutex::new(String::new()));
    let out_w = out.clone();
    let out_t = thread::spawn(move || {
        if let Some(p) = out_pipe {
            for l in BufReader::new(p).lines().map_while(Result::ok) {
                let mut o = out_w.lock().unwrap_or_else(|p| p.into_inner());
                o.push_str(&l);
                o.push('\n');
            }
        }
    });
    let err_t = thread::spawn(move || {
        let mut s = String::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_string(&mut s);
        }
        s
    });
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if t0.elapsed() < timeout => thread::sleep(Duration::from_millis(10)),
            _ => break None,
        }
    };
    let Some(status) = status else {
        // Where each of its threads is, before it goes.
        let mut where_: Vec<String> = Vec::new();
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", child.id())) {
            for t in tasks.filter_map(Result::ok) {
                let p = t.path();
                let rd = |f: &str| {
                    std::fs::read_to_string(p.join(f))
                        .unwrap_or_default()
                        .trim()
                        .to_string()
                };
                let stack: Vec<String> = rd("stack")
                    .lines()
                    .take(6)
                    .map(|l| l.split_whitespace().last().unwrap_or("").to_string())
                    .collect();
                let mut w = format!(
                    "task {} state {}",
                    t.file_name().to_string_lossy(),
                    rd("stat").split_whitespace().nth(2).unwrap_or("?")
                );
                let wchan = rd("wchan");
                if !wchan.is_empty() && wchan != "0" {
                    w += &format!(" wchan {wchan}");
                }
                if !stack.is_empty() {
                    w += &format!(" stack {}", stack.join(" <- "));
                }
                where_.push(w);
            }
        }
        let _ = child.kill();
        // A process stuck in the kernel cannot be reaped; do not wait for it forever.
        let t1 = Instant::now();
        let mut reaped = false;
        while t1.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = child.try_wait() {
                reaped = true;
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let mut why = format!(
            "hung: no result after {} s; {}",
            timeout.as_secs(),
            where_.join("; ")
        );
        if !reaped {
            why += "; unkillable (stuck in the kernel)";
        }
        // The runs that reported before the hang keep their outcome.
        let out = out.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let got = tags
            .iter()
            .map(|t| parse_outcome(&out, t).unwrap_or_else(|| (Err(why.clone()), vec![])))
            .collect();
        return (got, !reaped);
    };
    let _ = out_t.join();
    let out = out.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let err = err_t.join().unwrap_or_default();
    for l in out.lines().filter(|l| l.starts_with('#')) {
        println!("{l}");
    }
    let got = tags
        .iter()
        .map(|t| {
            parse_outcome(&out, t).unwrap_or_else(|| {
                let mut why = format!("the run ended without a result ({status})");
                if !err.trim().is_empty() {
                    why += &format!(": {}", err.trim().replace('\n', " | "));
                }
                (Err(why), vec![])
            })
        })
        .collect();
    (got, false)
}

/// The outcome of run `tag` in a child's output (`outcome_line`), if there.
fn parse_outcome(out: &str, tag: &str) -> Option<Outcome> {
    let prefix = format!("{tag} ");
    if let Some(l) = out.lines().find(|l| l.starts_with(&prefix)) {
        let fields: Vec<(String, String)> = l
            .split_whitespace()
            .skip(1)
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let rate = fields
            .iter()
            .find(|(k, _)| k == "rate")
            .and_then(|(_, v)| v.parse::<f64>().ok());
        return Some(match rate {
            Some(r) if r > 0.0 => (Ok(r), fields),
            Some(_) => (Err(format!("no frames: {l}")), fields),
            None => (Err(format!("malformed result: {l}")), fields),
        });
    }
    let prefix = format!("error-{tag} ");
    out.lines()
        .find(|l| l.starts_with(&prefix))
        .map(|l| (Err(l[prefix.len()..].to_string()), vec![]))
}

fn stats(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some((med, s[0], s[n - 1]))
}

/// frames/s for humans and for the `path=` lines: whole frames from 100 up.
fn fmt_rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

fn read_trim(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn bench(o: &Opts) -> i32 {
    for (drv, node) in &o.devs {
        if !std::path::Path::new(node).exists() {
            eprintln!("rtunbench: {node} ({drv}) does not exist: load the module first");
            return 2;
        }
    }
    if o.tps.iter().any(|t| t == "on") {
        if let Err(e) = sys::tracefs() {
            eprintln!("rtunbench: {e}");
            return 2;
        }
    }
    sys::disable_ipv6();
    // A pair runs both drivers; after each turn (a warm-up or a slice) it
    // settles and waits up to QUIET_MAX.
    let (slices, slice) = slicing(o.dur_ms, o.slice_ms);
    let timeout = if o.slice_ms > 0 {
        2 * (Duration::from_millis(o.warm_ms + o.dur_ms)
            + (paths::QUIET_MAX + 2 * paths::SETTLE) * (slices as u32 + 1))
    } else {
        Duration::from_millis(o.warm_ms + o.dur_ms)
    } + Duration::from_secs(o.timeout_s.unwrap_or(60));
    println!(
        "# rtunbench: {} round(s), {} ms per run after {} ms of warm-up; kernel {}; {} CPUs",
        o.rounds,
        o.dur_ms,
        o.warm_ms,
        read_trim("/proc/sys/kernel/osrelease"),
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    if o.slice_ms > 0 {
        println!(
            "# interleaved: in a round, both drivers' runs of a path share a process and take turns, {slices} slice(s) of {} ms each, ABBA (--slice-ms {}; 0: one run after the other)",
            slice.as_millis(),
            o.slice_ms
        );
    } else {
        println!(
            "# one run after the other (--slice-ms 0): each driver's run in a process of its own"
        );
    }
    println!(
        "# drivers: {}",
        o.devs
            .iter()
            .map(|(d, n)| format!("{d}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    match paths::parse_pin(&o.pin) {
        Ok(Some(p)) => println!(
            "# placement --pin {p}: write_*, xmit_udp_*, drop_*, tso64k_*: sender or writer on CPU {}, reader on CPU {}; mq2_udp: flow i's sender on CPU {},{}, its reader on {},{}; measuring thread {} (indexes, modulo their count, into the CPUs usable: {}; cpu_ROLE= in a run's line: the CPU each thread ended on)",
            p.tx[0],
            p.rx[0],
            p.tx[0],
            p.tx[1],
            p.rx[0],
            p.rx[1],
            p.main.map(|m| format!("on CPU {m}")).unwrap_or_else(|| "unpinned".into()),
            sys::allowed_cpus().map(|c| format!("{c:?}")).unwrap_or_else(|e| e)
        ),
        _ => println!("# placement --pin none: the scheduler places every thread (cpu_ROLE= in a run's line: the CPU each thread ended on)"),
    }
    let t_start = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut seq: usize = 0;
    for round in 0..o.rounds {
        // Alternate which driver goes first.
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        for path in &o.paths {
            for tp in &o.tps {
                if let Err(e) = sys::set_kfree_skb_tracepoint(tp == "on") {
                    if tp == "on" {
                        eprintln!("rtunbench: {e}");
                        return 2;
                    }
                }
                // Both drivers in one process, taking turns (the first in
                // `order` goes first), or one process per driver in turn.
                let mut runs: Vec<(usize, Outcome)> = Vec::new();
                let mut stuck = false;
                if o.slice_ms > 0 {
                    seq += 1;
                    let mut args = vec!["pair".to_string(), path.clone()];
                    args.extend(run_args(o, order[0], seq, ""));
                    args.extend(run_args(o, order[1], seq, "2"));
                    let (out, s) = spawn_runs(o, &args, &["result0", "result1"], timeout);
                    runs.extend(order.iter().copied().zip(out));
                    stuck = s;
                } else {
                    for &d in &order {
                        seq += 1;
                        let mut args = vec!["run".to_string(), path.clone()];
                        args.extend(run_args(o, d, seq, ""));
                        let (out, s) = spawn_runs(o, &args, &["result"], timeout);
                        runs.extend(out.into_iter().map(|r| (d, r)));
                        stuck = s;
                        if stuck {
                            break;
                        }
                    }
                }
                for (d, (rate, fields)) in runs {
                    let drv = &o.devs[d].0;
                    let s = Sample {
                        round,
                        path: path.clone(),
                        tp: tp.clone(),
                        drv: drv.clone(),
                        rate,
                        fields,
                    };
                    let detail: String = s
                        .fields
                        .iter()
                        .filter(|(k, _)| k != "rate")
                        .map(|(k, v)| format!(" {k}={v}"))
                        .collect();
                    match &s.rate {
                        Ok(r) => println!(
                            "# round {}/{} {path} tracepoint={tp} {drv}: {} frames/s{detail}",
                            round + 1,
                            o.rounds,
                            fmt_rate(*r)
                        ),
                        Err(e) => println!(
                            "# round {}/{} {path} tracepoint={tp} {drv}: FAILED: {e}",
                            round + 1,
                            o.rounds
                        ),
                    }
                    samples.push(s);
                }
                let _ = std::io::stdout().flush();
                if stuck {
                    // It likely holds locks every later run needs: stop here.
                    println!("# a run is stuck in the kernel: no more runs; the report covers those done");
                    let _ = sys::set_kfree_skb_tracepoint(false);
                    return report(o, &samples, t_start.elapsed());
                }
            }
        }
    }
    let _ = sys::set_kfree_skb_tracepoint(false);
    report(o, &samples, t_start.elapsed())
}

fn report(o: &Opts, samples: &[Sample], took: Duration) -> i32 {
    let rates = |path: &str, tp: &str, drv: &str| -> Vec<f64> {
        samples
            .iter()
            .filter(|s| s.path == path && s.tp == tp && s.drv == drv)
            .filter_map(|s| s.rate.as_ref().ok().copied())
            .collect()
    };
    let (tun, rtun) = (o.devs[0].0.as_str(), o.devs[1].0.as_str());
    let cell = |st: Option<(f64, f64, f64)>| match st {
        Some((m, lo, hi)) => [fmt_rate(m), fmt_rate(lo), fmt_rate(hi)],
        None => ["FAIL".into(), "-".into(), "-".into()],
    };
    let mut rows = Vec::new();
    println!();
    println!(
        "frames/s per path (tso64k_*: 64 KiB frames/s delivered), {} round(s) of {} ms.",
        o.rounds, o.dur_ms
    );
    println!("rtun/tun: ratio of the medians; paired: median over the rounds of rtun/tun within a round.");
    println!();
    println!("| path | tracepoint | tun median | tun min | tun max | rtun median | rtun min | rtun max | rtun/tun | paired |");
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for path in &o.paths {
        for tp in &o.tps {
            let (a, b) = (stats(&rates(path, tp, tun)), stats(&rates(path, tp, rtun)));
            let ratio = match (a, b) {
                (Some((ma, _, _)), Some((mb, _, _))) => Some(mb / ma),
                _ => None,
            };
            // The two drivers' runs of one round take turns (or, with
            // --slice-ms 0, are back to back), so they saw
            // about the same host: the median of the per-round ratios is less
            // sensitive to a loaded host than the ratio of the medians.
            let paired: Vec<f64> = (0..o.rounds)
                .filter_map(|r| {
                    let get = |drv: &str| {
                        samples
                            .iter()
                            .find(|s| {
                                s.round == r && &s.path == path && &s.tp == tp && s.drv == drv
                            })
                            .and_then(|s| s.rate.as_ref().ok().copied())
                    };
                    Some(get(rtun)? / get(tun)?)
                })
                .collect();
            let paired = stats(&paired).map(|x| x.0);
            let (ca, cb) = (cell(a), cell(b));
            let rs = ratio
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "-".into());
            let ps = paired
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "-".into());
            println!(
                "| {path} | {tp} | {} | {} | {} | {} | {} | {} | {rs} | {ps} |",
                ca[0], ca[1], ca[2], cb[0], cb[1], cb[2]
            );
            rows.push((path.clone(), tp.clone(), a, b, ratio, paired));
        }
    }
    println!();
    for (path, tp, a, b, ratio, _) in &rows {
        println!(
            "path={path} tracepoint={tp} tun={} rtun={} ratio={:.3}",
            fmt_rate(a.map(|x| x.0).unwrap_or(0.0)),
            fmt_rate(b.map(|x| x.0).unwrap_or(0.0)),
            ratio.unwrap_or(0.0)
        );
    }
    // What each queue carried: the two flows are steered apart on purpose.
    if o.paths.iter().any(|p| p == "mq2_udp") {
        println!();
        println!("mq2_udp: frames read per queue, summed over the rounds");
        for tp in &o.tps {
            let mut line = format!("  tracepoint={tp}");
            for (drv, _) in &o.devs {
                let sum = |k: &str| -> u64 {
                    samples
                        .iter()
                        .filter(|s| s.path == "mq2_udp" && &s.tp == tp && &s.drv == drv)
                        .filter_map(|s| s.field(k).parse::<u64>().ok())
                        .sum()
                };
                line += &format!("  {drv}: q0={} q1={}", sum("q0"), sum("q1"));
            }
            println!("{line}");
        }
    }
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.rate.is_err()).collect();
    if !failed.is_empty() {
        println!();
        println!("{} run(s) failed:", failed.len());
        for s in &failed {
            println!(
                "FAILED driver={} path={} tracepoint={} round={}: {}",
                s.drv,
                s.path,
                s.tp,
                s.round + 1,
                s.rate.as_ref().err().map(String::as_str).unwrap_or("")
            );
        }
    }
    println!();
    println!("# {} runs in {:.0} s", samples.len(), took.as_secs_f64());

    let mut csv = String::from("path,tracepoint,rounds,tun_median,tun_min,tun_max,rtun_median,rtun_min,rtun_max,ratio,paired_ratio\n");
    for (path, tp, a, b, ratio, paired) in &rows {
        let f = |x: Option<(f64, f64, f64)>| match x {
            Some((m, lo, hi)) => format!("{m:.1},{lo:.1},{hi:.1}"),
            None => ",,".into(),
        };
        let r4 = |x: &Option<f64>| x.map(|r| format!("{r:.4}")).unwrap_or_default();
        csv += &format!(
            "{path},{tp},{},{},{},{},{}\n",
            o.rounds,
            f(*a),
            f(*b),
            r4(ratio),
            r4(paired)
        );
    }
    let mut raw =
        String::from("round,path,tracepoint,driver,frames_per_s,count,secs,extras,error\n");
    for s in samples {
        let extras: Vec<String> = s
            .fields
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "rate" | "count" | "secs" | "scale"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        raw += &format!(
            "{},{},{},{},{},{},{},{},\"{}\"\n",
            s.round + 1,
            s.path,
            s.tp,
            s.drv,
            s.rate
                .as_ref()
                .map(|r| format!("{r:.1}"))
                .unwrap_or_default(),
            s.field("count"),
            s.field("secs"),
            extras.join(" "),
            s.rate
                .as_ref()
                .err()
                .map(|e| e.replace('"', "'"))
                .unwrap_or_default()
        );
    }
    println!("RTUNBENCH-CSV-BEGIN");
    print!("{csv}");
    println!("RTUNBENCH-CSV-END");
    println!("RTUNBENCH-SAMPLES-BEGIN");
    print!("{raw}");
    println!("RTUNBENCH-SAMPLES-END");
    if let Some(p) = &o.csv {
        if let Err(e) = std::fs::write(p, &csv) {
            eprintln!("rtunbench: {p}: {e}");
        }
    }
    i32::from(!failed.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_back() {
        let ok = Ok(paths::RunOut {
            count: 300,
            scale: 1.0,
            secs: 1.5,
            extras: vec![("sent".into(), 7)],
        });
        let out = format!(
            "# a comment\n{}\n{}\n",
            outcome_line("result1", &ok),
            outcome_line("result0", &Err("setup failed: EPERM".into()))
        );
        let (rate, fields) = parse_outcome(&out, "result1").unwrap_or((Err("none".into()), vec![]));
        assert_eq!(rate, Ok(200.0));
        assert!(fields.contains(&("sent".into(), "7".into())));
        let (rate, _) = parse_outcome(&out, "result0").unwrap_or((Ok(0.0), vec![]));
        assert_eq!(rate, Err("setup failed: EPERM".into()));
        assert!(
            parse_outcome(&out, "result").is_none(),
            "a tag is matched whole"
        );
        let zero = outcome_line(
            "result",
            &Ok(paths::RunOut {
                count: 0,
                scale: 1.0,
                secs: 1.0,
                extras: vec![],
            }),
        );
        let got = parse_outcome(&zero, "result").map(|o| o.0.is_err());
        assert_eq!(got, Some(true), "no frames is a failure");
    }

    #[test]
    fn slices_cover_the_duration() {
        assert_eq!(slicing(1000, 100), (10, Duration::from_millis(100)));
        assert_eq!(slicing(100, 100), (1, Duration::from_millis(100)));
        assert_eq!(slicing(1000, 300), (4, Duration::from_millis(250)));
        assert_eq!(slicing(50, 100), (1, Duration::from_millis(50)));
    }
}
