// SPDX-License-Identifier: GPL-2.0
//! rtunfuzz: a seeded fuzzer of the user-facing surface of /dev/net/rtun
//! (and, as the control, /dev/net/tun): ioctls with random arguments on fds
//! in every state, frames with random headers and lengths, short and bad
//! reads, polls, and UDP traffic through the devices. Every errno must be one
//! README.md documents for the call; at the end, every frame of every device
//! must be accounted for.
//!
//!   rtunfuzz --seed N --iterations K [--dev PATH] [--tun] [--verbose] [--trace FILE]
//!
//! --tun: apply tun.ko's rules (the default for a path ending in /tun).
//! --verbose: every call on stderr. --trace FILE: every call in FILE, with the
//! drivers' device names normalised, for a line-by-line comparison of two runs.

mod errnos;
mod fuzz;
mod ioctls;
mod sys;

use std::time::Instant;

fn usage() -> ! {
    eprintln!("usage: rtunfuzz --seed N --iterations K [--dev /dev/net/rtun] [--tun] [--verbose] [--trace FILE] [--watch DEV]");
    std::process::exit(2);
}

fn main() {
    let mut seed = None;
    let mut iterations = 1000;
    let mut dev = "/dev/net/rtun".to_string();
    let mut tun = None;
    let mut verbose = false;
    let mut trace = None;
    let mut watch = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).or_else(|| usage()),
            "--iterations" => {
                iterations = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--dev" => dev = args.next().unwrap_or_else(|| usage()),
            "--tun" => tun = Some(true),
            "--verbose" => verbose = true,
            "--trace" => trace = Some(args.next().unwrap_or_else(|| usage())),
            "--watch" => watch = Some(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let seed = seed.unwrap_or_else(|| usage());
    // tun.ko's node is /dev/net/tun: its run is the control.
    let tun = tun.unwrap_or_else(|| dev.ends_with("/tun"));
    let driver = if tun { "tun.ko" } else { "rtun" };
    println!("rtunfuzz: seed={seed} iterations={iterations} dev={dev} driver={driver}");
    let t0 = Instant::now();
    let mut f = fuzz::Fuzzer::new(fuzz::Config {
        seed,
        iterations,
        dev,
        tun,
        verbose,
        trace,
        watch,
    });
    f.run();
    let report = f.finish();
    println!("time: {:.1} s", t0.elapsed().as_secs_f64());
    let mut per_call = std::collections::BTreeMap::<String, u64>::new();
    for ((c, _), n) in &f.hist {
        *per_call.entry(c.clone()).or_default() += n;
    }
    for (c, n) in &per_call {
        println!("calls: {c} {n}");
    }
    for ((c, e), n) in &f.hist {
        println!("errno: {c} {e} {n}");
    }
    for (k, us) in &f.action_us {
        println!("action time: {k} {:.1} s", *us as f64 / 1e6);
    }
    for l in &report {
        println!("{l}");
    }
    for n in &f.notes {
        println!("note: {n}");
    }
    for x in &f.failures {
        println!("FAIL: {x}");
    }
    println!("result: {} failure(s), seed={seed}", f.failures.len());
    std::process::exit(if f.failures.is_empty() { 0 } else { 1 });
}
