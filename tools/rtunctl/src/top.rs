// SPDX-License-Identifier: GPL-2.0
//! `rtunctl top`: a live view of each rtun device's drops, per reason, with
//! their rate since the previous refresh.
//!
//! Everything it reads any user may read: the per-reason counters through the
//! `SIOCETHTOOL` ioctl (`ethtool -S`: [`rtun_common::ethtool`]), the driver's
//! name the same way (`ethtool -i`), and the packet and drop counts from
//! `/sys/class/net/DEV/statistics` (what `ip -s link` shows). Not the debugfs
//! files, which only root can read.
//!
//! The logic (rates, ordering, the text and JSON output) is pure and
//! unit-tested; [`run`] samples and prints.

use std::{
    fmt::Write as _,
    io::Write as _,
    time::{Duration, Instant},
};

use rtun_common::{ethtool::Ethtool, net, Errno};

/// The driver name rtun's devices report to `ethtool -i`.
pub const DRIVER: &str = "rtun";

/// Whether `ethtool -i`'s answer is an rtun device's: driver `rtun`, or
/// `tun` with per-reason counters (rtun loaded with `as_tun=1`; tun.ko's
/// devices have no `ethtool -S` counters).
pub fn is_rtun(info: &rtun_common::ethtool::DrvInfo) -> bool {
    info.driver == DRIVER || (info.driver == "tun" && info.n_stats > 0)
}

/// What the command line asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct TopOpts {
    /// Between refreshes; with `once`, rates over this interval.
    pub interval: Option<Duration>,
    /// Refreshes before exiting; `None`: until interrupted.
    pub count: Option<usize>,
    pub once: bool,
    pub json: bool,
    /// The devices named; none: every rtun device, looked up at each refresh.
    pub devs: Vec<String>,
}

/// The default time between refreshes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// `--interval SECS`: seconds, with decimals, more than 0 and at most a day.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("bad number for --interval: {s}"))?;
    if !(secs > 0.0 && secs <= 86400.0) {
        return Err(format!(
            "--interval must be more than 0 and at most 86400 seconds: {s}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// One reading of one device.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub device: String,
    /// To tell a device from a new one of the same name.
    pub ifindex: u32,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    /// Every counter of `ethtool -S`, one per drop reason, in the driver's order.
    pub drops: Vec<(String, u64)>,
}

/// A reason's line: its count, and its rate if there was an earlier sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub reason: String,
    pub count: u64,
    pub rate: Option<f64>,
}

/// Per second over `secs`, from `prev` to `cur`. A counter that went down
/// was reset (rtun's counters are the device's: a new device of the same
/// name starts from 0), so all of `cur` is new.
pub fn rate(prev: u64, cur: u64, secs: f64) -> f64 {
    let new = if cur >= prev { cur - prev } else { cur };
    if secs > 0.0 {
        new as f64 / secs
    } else {
        0.0
    }
}

/// The reasons of `cur` with a non-zero count, with their rates since `prev`
/// (the same device's earlier sample and the seconds between them, if any;
/// a reason `prev` lacks counted from 0), sorted by rate, then count (both
/// highest first), then name.
pub fn rows(cur: &Sample, prev: Option<(&Sample, f64)>) -> Vec<Row> {
    let mut out: Vec<Row> = cur
        .drops
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(reason, count)| Row {
            reason: reason.clone(),
            count: *count,
            rate: prev.map(|(p, secs)| {
                let before = p
                    .drops
                    .iter()
                    .find(|(r, _)| r == reason)
                    .map_or(0, |(_, n)| *n);
                rate(before, *count, secs)
            }),
        })
        .collect();
    out.sort_by(|a, b| {
        let (ra, rb) = (a.rate.unwrap_or(0.0), b.rate.unwrap_or(0.0));
        rb.total_cmp(&ra)
            .then(b.count.cmp(&a.count))
            .then(a.reason.cmp(&b.reason))
    });
    out
}

/// `s` as a JSON string, quoted and escaped.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// One refresh of one device as a JSON object on one line: `device`,
/// `rx_packets`, `tx_packets`, `rx_dropped`, `tx_dropped`, `drops` (reason:
/// count, the non-zero ones), `rates` (reason: per second, the same reasons;
/// `null` without an earlier sample) and `interval` (the seconds the rates
/// cover, or `null`). Keys of `drops` and `rates` in the order of [`rows`].
pub fn json_line(s: &Sample, rows: &[Row], interval: Option<f64>) -> String {
    let drops: Vec<String> = rows
        .iter()
        .map(|r| format!("{}:{}", json_str(&r.reason), r.count))
        .collect();
    let rates = match interval {
        Some(_) => format!(
            "{{{}}}",
            rows.iter()
                .map(|r| format!("{}:{:.3}", json_str(&r.reason), r.rate.unwrap_or(0.0)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        None => "null".into(),
    };
    let interval = interval.map_or("null".into(), |s| format!("{s:.3}"));
    format!(
        "{{\"device\":{},\"rx_packets\":{},\"tx_packets\":{},\"rx_dropped\":{},\"tx_dropped\":{},\"drops\":{{{}}},\"rates\":{},\"interval\":{}}}",
        json_str(&s.device),
        s.rx_packets,
        s.tx_packets,
        s.rx_dropped,
        s.tx_dropped,
        drops.join(","),
        rates,
        interval
    )
}

/// One refresh of one device for a person: a line of packet and drop totals
/// (with packet rates after an earlier sample), then a line per reason.
pub fn text_block(s: &Sample, prev: Option<(&Sample, f64)>, rows: &[Row]) -> String {
    let per_s = |f: fn(&Sample) -> u64| match prev {
        Some((p, secs)) => format!(" ({:.1}/s)", rate(f(p), f(s), secs)),
        None => String::new(),
    };
    let mut o = format!(
        "{}: rx {}{} tx {}{} packets, rx_dropped {} tx_dropped {}\n",
        s.device,
        s.rx_packets,
        per_s(|s| s.rx_packets),
        s.tx_packets,
        per_s(|s| s.tx_packets),
        s.rx_dropped,
        s.tx_dropped
    );
    if rows.is_empty() {
        o.push_str("  no drops\n");
        return o;
    }
    let _ = writeln!(o, "  {:<16} {:>12} {:>10}", "REASON", "COUNT", "PER SEC");
    for r in rows {
        let rate = r.rate.map_or("-".into(), |x| format!("{x:.1}"));
        let _ = writeln!(o, "  {:<16} {:>12} {:>10}", r.reason, r.count, rate);
    }
    o
}

/// The header of a refresh in text; `more`: later refreshes will have rates.
pub fn text_header(n: usize, interval: Option<f64>, more: bool, when: &str) -> String {
    if n == 0 {
        return format!("rtunctl top: no rtun devices ({when})\n");
    }
    let over = match interval {
        Some(s) => format!("rates over {s:.1} s"),
        None if more => "totals, no rates yet".into(),
        None => "totals".into(),
    };
    let devs = if n == 1 { "device" } else { "devices" };
    format!("rtunctl top: {n} rtun {devs}, {over} ({when})\n")
}

// ---- sampling -------------------------------------------------------------------

/// Why a device cannot be shown.
#[derive(Debug, PartialEq)]
pub enum DevError {
    /// The errno of the lookup, the ioctl or sysfs (ENODEV: no such device).
    Errno(Errno),
    /// A device of another driver (its name).
    NotRtun(String),
}

fn statistic(dev: &str, what: &str) -> Result<u64, Errno> {
    let v = net::sysfs_net(dev, &format!("statistics/{what}"))?;
    v.parse().map_err(|_| Errno(libc::EINVAL))
}

/// Reads `dev`, which must be an rtun device.
pub fn sample(et: &Ethtool, dev: &str) -> Result<Sample, DevError> {
    let ifindex = net::if_index(dev).map_err(DevError::Errno)?;
    let info = match et.drvinfo(dev) {
        Ok(i) => i,
        // A driver that does not answer `ethtool -i` (loopback) is not rtun.
        Err(Errno(libc::EOPNOTSUPP)) => return Err(DevError::NotRtun(String::new())),
        Err(e) => return Err(DevError::Errno(e)),
    };
    if !is_rtun(&info) {
        return Err(DevError::NotRtun(info.driver));
    }
    let drops = et.stats(dev).map_err(DevError::Errno)?;
    let st = |w| statistic(dev, w).map_err(DevError::Errno);
    Ok(Sample {
        device: dev.to_string(),
        ifindex,
        rx_packets: st("rx_packets")?,
        tx_packets: st("tx_packets")?,
        rx_dropped: st("rx_dropped")?,
        tx_dropped: st("tx_dropped")?,
        drops,
    })
}

/// The rtun devices of this network namespace, by name: those whose driver
/// (`ethtool -i`) is rtun.
pub fn rtun_devices(et: &Ethtool) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.retain(|n| et.drvinfo(n).is_ok_and(|i| is_rtun(&i)));
    out.sort();
    out
}

/// The devices of one refresh: those named (each must be an rtun device),
/// or every rtun device. A named device that fails stops the command the
/// first time, with its errno; later, while the view runs, it is left out
/// (it may come back).
fn take_samples(et: &Ethtool, o: &TopOpts, first: bool) -> Result<Vec<(Sample, Instant)>, Errno> {
    let named = !o.devs.is_empty();
    let devs = if named {
        o.devs.clone()
    } else {
        rtun_devices(et)
    };
    let mut out = Vec::new();
    for d in &devs {
        match sample(et, d) {
            Ok(s) => out.push((s, Instant::now())),
            Err(_) if !named || !first => {}
            Err(DevError::Errno(e)) => {
                eprintln!("rtunctl: top: {d}: {e}");
                return Err(e);
            }
            Err(DevError::NotRtun(drv)) => {
                let drv = if drv.is_empty() { "none".into() } else { drv };
                eprintln!("rtunctl: top: {d} is not an rtun device (its driver: {drv})");
                return Err(Errno(libc::EOPNOTSUPP));
            }
        }
    }
    Ok(out)
}

/// The wall-clock time of day, UTC, as `HH:MM:SS`.
fn clock() -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{:02}:{:02}:{:02} UTC", s / 3600 % 24, s / 60 % 60, s % 60)
}

fn stdout_is_tty() -> bool {
    // SAFETY: isatty(3) on fd 1.
    unsafe { libc::isatty(1) == 1 }
}

/// Runs the view. Ok when every refresh was printed (or stdout was closed),
/// the errno of a named device that could not be read at the first refresh.
pub fn run(o: &TopOpts) -> Result<(), Errno> {
    let et = Ethtool::open()?;
    let clear = !o.json && !o.once && stdout_is_tty();
    let interval = o.interval.unwrap_or(DEFAULT_INTERVAL);
    let refreshes = if o.once { Some(1) } else { o.count };
    let mut prev: Vec<(Sample, Instant)> = Vec::new();
    if o.once && o.interval.is_some() {
        // One refresh, with rates over the interval.
        prev = take_samples(&et, o, true)?;
        std::thread::sleep(interval);
    }
    let mut done = 0usize;
    loop {
        let cur = take_samples(&et, o, done == 0 && prev.is_empty())?;
        let mut out = String::new();
        if clear {
            out.push_str("\x1b[H\x1b[2J");
        }
        let mut secs_any = None;
        let mut blocks = Vec::new();
        for (s, at) in &cur {
            let before = prev
                .iter()
                .find(|(p, _)| p.device == s.device && p.ifindex == s.ifindex)
                .map(|(p, t)| (p, at.duration_since(*t).as_secs_f64()));
            let r = rows(s, before);
            let secs = before.map(|(_, t)| t);
            secs_any = secs_any.or(secs);
            blocks.push(if o.json {
                json_line(s, &r, secs) + "\n"
            } else {
                text_block(s, before, &r)
            });
        }
        if !o.json {
            let more = refreshes.is_none_or(|n| done + 1 < n);
            out.push_str(&text_header(cur.len(), secs_any, more, &clock()));
        }
        for b in blocks {
            out.push_str(&b);
        }
        if !o.json && !clear && refreshes != Some(1) {
            out.push('\n');
        }
        let mut so = std::io::stdout().lock();
        if so
            .write_all(out.as_bytes())
            .and_then(|_| so.flush())
            .is_err()
        {
            // The reader went away (a closed pipe): nothing more to show.
            return Ok(());
        }
        drop(so);
        done += 1;
        if refreshes.is_some_and(|n| done >= n) {
            return Ok(());
        }
        prev = cur;
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtun_devices_by_driver_and_counters() {
        let info = |driver: &str, n_stats| rtun_common::ethtool::DrvInfo {
            driver: driver.into(),
            version: String::new(),
            bus_info: "tap".into(),
            n_stats,
        };
        assert!(is_rtun(&info("rtun", 15)));
        // rtun loaded with as_tun=1 says tun, and has its counters.
        assert!(is_rtun(&info("tun", 15)));
        // tun.ko has none.
        assert!(!is_rtun(&info("tun", 0)));
        assert!(!is_rtun(&info("veth", 3)));
    }

    fn sample(drops: &[(&str, u64)]) -> Sample {
        Sample {
            device: "rt0".into(),
            ifindex: 7,
            rx_packets: 10,
            tx_packets: 20,
            rx_dropped: 3,
            tx_dropped: 6,
            drops: drops.iter().map(|(r, n)| (r.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["0", "-1", "abc", "", "nan", "inf", "86401"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_per_second() {
        assert_eq!(rate(10, 30, 2.0), 10.0);
        assert_eq!(rate(5, 5, 1.0), 0.0);
        // A counter that went down was reset: all of it is new.
        assert_eq!(rate(100, 4, 2.0), 2.0);
        assert_eq!(rate(0, 4, 0.0), 0.0);
    }

    #[test]
    fn rows_are_the_nonzero_reasons_sorted_by_rate() {
        let prev = sample(&[("DEV_READY", 3), ("FULL_RING", 0), ("HDR_TRUNC", 100)]);
        let cur = sample(&[
            ("DEV_READY", 13),
            ("FULL_RING", 4),
            ("HDR_TRUNC", 100),
            ("NOMEM", 0),
            ("QUEUE_PURGE", 2),
        ]);
        let r = rows(&cur, Some((&prev, 2.0)));
        let got: Vec<(&str, u64, Option<f64>)> = r
            .iter()
            .map(|r| (r.reason.as_str(), r.count, r.rate))
            .collect();
        assert_eq!(
            got,
            vec![
                ("DEV_READY", 13, Some(5.0)),
                ("FULL_RING", 4, Some(2.0)),
                // Not in prev: from 0.
                ("QUEUE_PURGE", 2, Some(1.0)),
                // Same rate (none): by count.
                ("HDR_TRUNC", 100, Some(0.0)),
            ]
        );
        // Without an earlier sample: by count, then name.
        let cur = sample(&[("B", 5), ("A", 5), ("C", 9), ("D", 0)]);
        let names: Vec<String> = rows(&cur, None).into_iter().map(|r| r.reason).collect();
        assert_eq!(names, vec!["C", "A", "B"]);
        assert!(rows(&cur, None).iter().all(|r| r.rate.is_none()));
        assert!(rows(&sample(&[("A", 0)]), None).is_empty());
    }

    #[test]
    fn json_of_a_refresh() {
        let cur = sample(&[("DEV_READY", 3), ("FULL_RING", 6), ("NOMEM", 0)]);
        assert_eq!(
            json_line(&cur, &rows(&cur, None), None),
            "{\"device\":\"rt0\",\"rx_packets\":10,\"tx_packets\":20,\"rx_dropped\":3,\
             \"tx_dropped\":6,\"drops\":{\"FULL_RING\":6,\"DEV_READY\":3},\"rates\":null,\
             \"interval\":null}"
        );
        let prev = sample(&[("DEV_READY", 3), ("FULL_RING", 2)]);
        assert_eq!(
            json_line(&cur, &rows(&cur, Some((&prev, 0.5))), Some(0.5)),
            "{\"device\":\"rt0\",\"rx_packets\":10,\"tx_packets\":20,\"rx_dropped\":3,\
             \"tx_dropped\":6,\"drops\":{\"FULL_RING\":6,\"DEV_READY\":3},\
             \"rates\":{\"FULL_RING\":8.000,\"DEV_READY\":0.000},\"interval\":0.500}"
        );
        let none = sample(&[("NOMEM", 0)]);
        assert!(json_line(&none, &[], Some(1.0)).contains("\"drops\":{},\"rates\":{},"));
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_str("rt0"), "\"rt0\"");
        assert_eq!(json_str("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(json_str("x\u{1}\n"), "\"x\\u0001\\n\"");
    }

    #[test]
    fn text_of_a_refresh() {
        let prev = sample(&[("FULL_RING", 2)]);
        let mut cur = sample(&[("DEV_READY", 3), ("FULL_RING", 6)]);
        cur.tx_packets = 30;
        let t = text_block(&cur, Some((&prev, 2.0)), &rows(&cur, Some((&prev, 2.0))));
        assert_eq!(
            t,
            "rt0: rx 10 (0.0/s) tx 30 (5.0/s) packets, rx_dropped 3 tx_dropped 6\n\
             \x20 REASON                  COUNT    PER SEC\n\
             \x20 FULL_RING                   6        2.0\n\
             \x20 DEV_READY                   3        1.5\n"
        );
        let t = text_block(&cur, None, &rows(&cur, None));
        assert!(t.starts_with("rt0: rx 10 tx 30 packets,"), "{t}");
        assert!(
            t.contains("  FULL_RING                   6          -\n"),
            "{t}"
        );
        let quiet = sample(&[("NOMEM", 0)]);
        assert!(text_block(&quiet, None, &[]).ends_with("  no drops\n"));
        assert_eq!(
            text_header(1, None, true, "12:00:00 UTC"),
            "rtunctl top: 1 rtun device, totals, no rates yet (12:00:00 UTC)\n"
        );
        assert!(text_header(2, Some(1.0), true, "t").contains("2 rtun devices, rates over 1.0 s"));
        assert_eq!(
            text_header(1, None, false, "t"),
            "rtunctl top: 1 rtun device, totals (t)\n"
        );
        assert_eq!(
            text_header(0, None, true, "t"),
            "rtunctl top: no rtun devices (t)\n"
        );
    }
}
