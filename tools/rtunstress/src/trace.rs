// SPDX-License-Identifier: GPL-2.0
//! An ftrace instance of the run's own: `net:net_dev_start_xmit` (or, for
//! the lifecycle mode, `net:net_dev_xmit`, which has the driver's return
//! code) for the run's devices (frames handed to a driver, by device name)
//! and `skb:kfree_skb` (drops, by location and reason). A thread consumes
//! `trace_pipe` while the run goes, so the buffer does not fill; the
//! per-CPU `stats` files tell whether any event was lost all the same.

use std::{
    collections::BTreeMap,
    fs,
    io::Read,
    os::unix::fs::OpenOptionsExt,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use crate::account::{reason_index, PerReason};

pub const TRACEFS: &str = "/sys/kernel/tracing";

/// What the trace says.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// net_dev_start_xmit events per device name (net_dev_xmit events but
    /// those with NETDEV_TX_BUSY, which the qdisc hands over again).
    pub xmit: BTreeMap<String, u64>,
    /// net_dev_xmit events with NETDEV_TX_BUSY.
    pub busy: u64,
    /// kfree_skb events located in the driver, per reason (rtun's order).
    pub drops: PerReason,
    /// kfree_skb events located in the driver with a reason rtun does not report.
    pub other_reasons: BTreeMap<String, u64>,
    pub events: u64,
    pub unparsed: u64,
}

/// The rtun module's text, for kernels that print a location as an address.
pub type Range = Option<(u64, u64)>;

/// Counts one line of trace output, with drops located in rtun.
#[cfg(test)]
pub fn count_line(line: &str, c: &mut Counts, rtun: Range) {
    count_line_in(line, c, "rtun", rtun)
}

const NETDEV_TX_BUSY: i64 = 0x10;

/// Counts one line of trace output, with drops located in `module` (whose
/// text is `range`, for locations printed as addresses).
pub fn count_line_in(line: &str, c: &mut Counts, module: &str, rtun: Range) {
    if let Some(i) = line.find(": net_dev_xmit: dev=") {
        let rest = &line[i + ": net_dev_xmit: dev=".len()..];
        let name = rest.split_whitespace().next().unwrap_or("");
        let rc = rest
            .split_whitespace()
            .find_map(|f| f.strip_prefix("rc="))
            .and_then(|v| v.parse::<i64>().ok());
        c.events += 1;
        match rc {
            Some(NETDEV_TX_BUSY) => c.busy += 1,
            Some(_) => *c.xmit.entry(name.to_string()).or_insert(0) += 1,
            None => c.unparsed += 1,
        }
    } else if let Some(i) = line.find(": net_dev_start_xmit: dev=") {
        let rest = &line[i + ": net_dev_start_xmit: dev=".len()..];
        let name = rest.split_whitespace().next().unwrap_or("");
        *c.xmit.entry(name.to_string()).or_insert(0) += 1;
        c.events += 1;
    } else if let Some(i) = line.find(": kfree_skb: ") {
        c.events += 1;
        let rest = &line[i..];
        let (Some(l), Some(r)) = (rest.find("location="), rest.rfind(" reason: ")) else {
            c.unparsed += 1;
            return;
        };
        if r < l {
            c.unparsed += 1;
            return;
        }
        let location = &rest[l + "location=".len()..r];
        let reason = rest[r + " reason: ".len()..].trim();
        let in_rtun = if location.ends_with(&format!("[{module}]")) {
            true
        } else if let Some(hex) = location.strip_prefix("0x") {
            match (u64::from_str_radix(hex.trim(), 16), rtun) {
                (Ok(a), Some((lo, hi))) => a >= lo && a < hi,
                _ => false,
            }
        } else {
            false
        };
        if in_rtun {
            match reason_index(reason) {
                Some(k) => c.drops[k] += 1,
                None => *c.other_reasons.entry(reason.to_string()).or_insert(0) += 1,
            }
        }
    } else if !line.trim().is_empty() {
        c.unparsed += 1;
    }
}

/// The address range of rtun's module image from /proc/modules ("rtun SIZE
/// ... 0xADDR"), if the kernel shows it.
pub fn module_range(proc_modules: &str) -> Range {
    module_range_of(proc_modules, "rtun")
}

/// [`module_range`] of module `module`.
pub fn module_range_of(proc_modules: &str, module: &str) -> Range {
    for line in proc_modules.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() == Some(&module) && f.len() >= 6 {
            let size: u64 = f[1].parse().ok()?;
            let base = u64::from_str_radix(f[5].trim_start_matches("0x"), 16).ok()?;
            if base == 0 {
                return None;
            }
            return Some((base, base + size));
        }
    }
    None
}

pub struct Tracer {
    dir: String,
    stop: Arc<AtomicBool>,
    reader: Option<thread::JoinHandle<Result<Counts, String>>>,
}

fn write(path: &str, what: &str) -> Result<(), String> {
    fs::write(path, what).map_err(|e| format!("writing '{}' to {path}: {e}", what.trim()))
}

impl Tracer {
    /// Creates (afresh) the instance `name`, with `kb` KiB per CPU, tracing
    /// net_dev_start_xmit for the stress's devices (`rs*`).
    pub fn setup(name: &str, kb: u32) -> Result<Tracer, String> {
        Tracer::setup_with(name, kb, "net_dev_start_xmit", "rs*")
    }

    /// [`Tracer::setup`] with the xmit event `xmit` (net_dev_start_xmit or
    /// net_dev_xmit) for the devices whose names match `glob`.
    pub fn setup_with(name: &str, kb: u32, xmit: &str, glob: &str) -> Result<Tracer, String> {
        let dir = format!("{TRACEFS}/instances/{name}");
        if fs::metadata(&dir).is_ok() {
            let _ = fs::write(format!("{dir}/tracing_on"), "0");
            fs::remove_dir(&dir).map_err(|e| format!("removing the old {dir}: {e}"))?;
        }
        fs::create_dir(&dir).map_err(|e| format!("creating {dir}: {e} (is tracefs mounted?)"))?;
        write(&format!("{dir}/tracing_on"), "0")?;
        write(&format!("{dir}/buffer_size_kb"), &kb.to_string())?;
        write(
            &format!("{dir}/events/net/{xmit}/filter"),
            &format!("name ~ \"{glob}\""),
        )?;
        write(&format!("{dir}/events/net/{xmit}/enable"), "1")?;
        write(&format!("{dir}/events/skb/kfree_skb/enable"), "1")?;
        Ok(Tracer {
            dir,
            stop: Arc::new(AtomicBool::new(false)),
            reader: None,
        })
    }

    /// Turns the instance on and starts consuming it (drops located in rtun).
    pub fn start(&mut self, rtun: Range) -> Result<(), String> {
        self.start_in("rtun", rtun)
    }

    /// [`Tracer::start`] for drops located in `module`.
    pub fn start_in(&mut self, module: &str, rtun: Range) -> Result<(), String> {
        let pipe = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(format!("{}/trace_pipe", self.dir))
            .map_err(|e| format!("opening trace_pipe: {e}"))?;
        write(&format!("{}/tracing_on", self.dir), "1")?;
        let stop = self.stop.clone();
        let module = module.to_string();
        self.reader = Some(thread::spawn(move || consume(pipe, stop, &module, rtun)));
        Ok(())
    }

    /// Stops recording, reads what is left, and returns the counts and the
    /// number of events the buffer lost.
    pub fn finish(mut self) -> Result<(Counts, u64), String> {
        write(&format!("{}/tracing_on", self.dir), "0")?;
        self.stop.store(true, Ordering::SeqCst);
        let counts = match self.reader.take() {
            Some(h) => h
                .join()
                .map_err(|_| "the trace reader panicked".to_string())??,
            None => return Err("the trace was never started".into()),
        };
        let lost = self.lost_events()?;
        Ok((counts, lost))
    }

    /// Events the ring buffer lost (overrun or dropped), summed over CPUs.
    pub fn lost_events(&self) -> Result<u64, String> {
        let mut lost = 0;
        let cpus =
            fs::read_dir(format!("{}/per_cpu", self.dir)).map_err(|e| format!("per_cpu: {e}"))?;
        for cpu in cpus.flatten() {
            let stats =
                fs::read_to_string(cpu.path().join("stats")).map_err(|e| format!("stats: {e}"))?;
            lost += lost_in_stats(&stats);
        }
        Ok(lost)
    }
}

/// The `overrun:` and `dropped events:` figures of a per-CPU `stats` file.
pub fn lost_in_stats(stats: &str) -> u64 {
    let mut lost = 0;
    for line in stats.lines() {
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim();
            if k == "overrun" || k == "dropped events" || k == "commit overrun" {
                lost += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    lost
}

fn consume(
    mut pipe: fs::File,
    stop: Arc<AtomicBool>,
    module: &str,
    rtun: Range,
) -> Result<Counts, String> {
    let mut c = Counts::default();
    let mut buf = vec![0u8; 1 << 16];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
                    let text = String::from_utf8_lossy(&pending[..end]).into_owned();
                    for line in text.lines() {
                        count_line_in(line, &mut c, module, rtun);
                    }
                    pending.drain(..=end);
                }
            }
            Err(e)
                if e.raw_os_error() == Some(libc::EAGAIN)
                    || e.raw_os_error() == Some(libc::EINTR) =>
            {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("reading trace_pipe: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&pending).into_owned();
    for line in text.lines() {
        count_line_in(line, &mut c, module, rtun);
    }
    Ok(c)
}

/// Turns off and removes the instance `name` (whatever it traced).
pub fn remove_instance(name: &str) {
    let dir = format!("{TRACEFS}/instances/{name}");
    let _ = fs::write(format!("{dir}/tracing_on"), "0");
    for ev in [
        "net/net_dev_start_xmit",
        "net/net_dev_xmit",
        "skb/kfree_skb",
    ] {
        let _ = fs::write(format!("{dir}/events/{ev}/enable"), "0");
    }
    let _ = fs::remove_dir(&dir);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skb_reason::Reason;

    const XMIT: &str = "          ping-42      [001] b..2.   101.000001: net_dev_start_xmit: dev=rs0x3 queue_mapping=0 skbaddr=00000000deadbeef vlan_tagged=0 vlan_proto=0x0000 vlan_tci=0x0000 protocol=0x0800 ip_summed=0 len=84 data_len=0 network_offset=14 transport_offset_valid=1 transport_offset=34 tx_flags=0 gso_size=0 gso_segs=0 gso_type=0x0";
    const DROP: &str = "          <idle>-0       [000] ..s1.   101.5: kfree_skb: skbaddr=0000000012345678 rx_sk=0000000000000000 protocol=34997 location=rtun_ndo_start_xmit+0x1ed/0x43d [rtun] reason: FULL_RING";
    const OTHER: &str = "  sh-1 [000] ..... 1.0: kfree_skb: skbaddr=00000000 rx_sk=0000000000000000 protocol=2048 location=ip_rcv_core+0x1/0x2 reason: OTHERHOST";

    #[test]
    fn counts_xmit_by_device_and_rtun_drops_by_reason() {
        let mut c = Counts::default();
        count_line(XMIT, &mut c, None);
        count_line(XMIT, &mut c, None);
        count_line(DROP, &mut c, None);
        count_line(OTHER, &mut c, None);
        assert_eq!(c.xmit.get("rs0x3"), Some(&2));
        assert_eq!(c.drops[Reason::FullRing.index()], 1);
        assert_eq!(
            c.drops.iter().sum::<u64>(),
            1,
            "a drop outside rtun is not rtun's"
        );
        assert_eq!(c.events, 4);
        assert_eq!(c.unparsed, 0);
    }

    #[test]
    fn net_dev_xmit_counts_all_but_busy_and_drops_are_per_module() {
        let mut c = Counts::default();
        let ok =
            "  udp-9 [000] b..2. 5.0: net_dev_xmit: dev=rl0g1 skbaddr=00000000deadbeef len=84 rc=0";
        let drop =
            "  udp-9 [000] b..2. 5.0: net_dev_xmit: dev=rl0g1 skbaddr=00000000deadbeef len=84 rc=1";
        let busy = "  udp-9 [000] b..2. 5.0: net_dev_xmit: dev=rl0g1 skbaddr=00000000deadbeef len=84 rc=16";
        for l in [ok, drop, busy] {
            count_line_in(l, &mut c, "tun", None);
        }
        assert_eq!(c.xmit.get("rl0g1"), Some(&2));
        assert_eq!(c.busy, 1);
        let tun_drop = DROP
            .replace("[rtun]", "[tun]")
            .replace("rtun_ndo", "tun_net");
        count_line_in(&tun_drop, &mut c, "tun", None);
        count_line_in(DROP, &mut c, "tun", None);
        assert_eq!(
            c.drops[Reason::FullRing.index()],
            1,
            "only the drop located in tun counts"
        );
        assert_eq!(c.unparsed, 0);
    }

    #[test]
    fn raw_addresses_resolve_through_the_module_range() {
        let mut c = Counts::default();
        let raw = "x-1 [000] ..... 1.0: kfree_skb: skbaddr=0 rx_sk=0 protocol=0 location=0xffffffffc0001234 reason: QUEUE_PURGE";
        count_line(
            raw,
            &mut c,
            Some((0xffff_ffff_c000_0000, 0xffff_ffff_c002_0000)),
        );
        count_line(
            raw,
            &mut c,
            Some((0xffff_ffff_c100_0000, 0xffff_ffff_c102_0000)),
        );
        assert_eq!(c.drops[Reason::QueuePurge.index()], 1);
    }

    #[test]
    fn unknown_rtun_reasons_are_kept_apart() {
        let mut c = Counts::default();
        count_line(&DROP.replace("FULL_RING", "NOT_SPECIFIED"), &mut c, None);
        assert_eq!(c.other_reasons.get("NOT_SPECIFIED"), Some(&1));
        assert_eq!(c.drops.iter().sum::<u64>(), 0);
    }

    #[test]
    fn module_range_from_proc_modules() {
        let m = "tun 61440 0 - Live 0xffffffffc0100000\nrtun 137952 1 - Live 0xffffffffc0000000\n";
        assert_eq!(
            module_range(m),
            Some((0xffff_ffff_c000_0000, 0xffff_ffff_c000_0000 + 137_952))
        );
        assert_eq!(module_range("rtun 1 0 - Live 0x0000000000000000\n"), None);
        assert_eq!(module_range(""), None);
    }

    #[test]
    fn lost_events_in_stats() {
        let s = "entries: 10\noverrun: 3\ncommit overrun: 0\nbytes: 100\noldest event ts: 1.0\nnow ts: 2.0\ndropped events: 2\nread events: 7\n";
        assert_eq!(lost_in_stats(s), 5);
        assert_eq!(lost_in_stats("overrun: 0\ndropped events: 0\n"), 0);
    }
}
