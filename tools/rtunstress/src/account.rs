// SPDX-License-Identifier: GPL-2.0
//! Frame accounting: what a device's record must satisfy, and the line format
//! the workers hand their records to the parent in. Pure logic, unit-tested.
//!
//! The networking core counts drops of its own in the same `rx_dropped` and
//! `tx_dropped` the driver uses (a written frame of a protocol nobody handles;
//! a frame for a stopped or down `noqueue` device), so those two cannot be
//! compared with the driver's drops directly. The driver's per-reason
//! counters only count the driver's own, and these must add up exactly.
//!
//! Per device, at retirement (down, rings drained, nothing in flight), with
//! `xmit` the frames the stack handed to the driver (the
//! `net:net_dev_start_xmit` tracepoint):
//! - frames the tool read = `tx_packets` (rtun counts a frame when a read
//!   takes it);
//! - writes that succeeded = `rx_packets`;
//! - every frame handed over and not read was dropped by the driver, with a
//!   reason; every failed write too (the tool builds each write so that it
//!   fails after its headers, if it does): the per-reason counters sum to
//!   `(xmit - tx_packets) + failed writes`, plus, on an `IFF_NAPI` device,
//!   written frames purged from a NAPI backlog (`QUEUE_PURGE`; at most its
//!   count), less writes lost before an skb existed (ENOMEM, EMSGSIZE:
//!   `rx_dropped` only, no reason);
//! - `tx_dropped >= xmit - tx_packets` and `rx_dropped + rx_frame_errors >=`
//!   failed writes, less those refused with EBUSY (a detached `IFF_NAPI`
//!   queue: tun and rtun free the frame without counting it in `rx_dropped`;
//!   rtun counts its reason): the excess is the core's;
//! - `rx_frame_errors` = writes refused with EINVAL for their virtio-net
//!   header; `HDR_TRUNC + UNHANDLED_PROTO + rx_frame_errors` = writes refused
//!   with EINVAL; reasons only the transmit path has sum to at most
//!   `xmit - tx_packets`.
//!
//! Over the run: the `skb:kfree_skb` drops located in rtun, by reason, equal the
//! sum of every device's per-reason counters, and every device the
//! tracepoint saw has a record.

use std::collections::BTreeMap;

use crate::skb_reason::{Dir, Reason, SITES};

/// A count per drop reason, in the driver's order (skb_reason.rs's
/// `Reason::ALL`, the `ethtool -S` order).
pub type PerReason = [u64; Reason::COUNT];

/// The reason whose name (the tracepoint's, debugfs's) is `name`: its index
/// in a [`PerReason`].
pub fn reason_index(name: &str) -> Option<usize> {
    Reason::NAMES.iter().position(|r| *r == name)
}

/// `NAME=N` for each reason with a count, in the driver's order.
pub fn nonzero_reasons(counts: &PerReason) -> Vec<String> {
    Reason::NAMES
        .iter()
        .zip(counts)
        .filter(|(_, &n)| n > 0)
        .map(|(r, n)| format!("{r}={n}"))
        .collect()
}

/// The drops a summary prints: [`nonzero_reasons`], then `NAME=N` for each
/// of `other` (reasons by name that skb_reason.rs does not have); `none`
/// without any.
pub fn format_reasons(counts: &PerReason, other: &BTreeMap<String, u64>) -> String {
    let mut v = nonzero_reasons(counts);
    v.extend(other.iter().map(|(r, n)| format!("{r}={n}")));
    if v.is_empty() {
        "none".into()
    } else {
        v.join(" ")
    }
}

/// Per reason: whether every site that reports it drops a frame the stack
/// handed to the driver (it counts in `tx_dropped`, skb_reason.rs's
/// `Dir::Tx`). Those drops are frames handed over and not read: they add up
/// to at most `xmit - tx_packets`.
pub const TX_ONLY: [bool; Reason::COUNT] = {
    let mut out = [true; Reason::COUNT];
    let mut i = 0;
    while i < SITES.len() {
        if !matches!(SITES[i].dir, Dir::Tx) {
            out[SITES[i].reason.index()] = false;
        }
        i += 1;
    }
    out
};

/// The sum of the counts of the [`TX_ONLY`] reasons.
pub fn tx_only(counts: &PerReason) -> u64 {
    counts
        .iter()
        .zip(TX_ONLY)
        .filter(|&(_, tx)| tx)
        .map(|(n, _)| n)
        .sum()
}

const QUEUE_PURGE: usize = Reason::QueuePurge.index();
const HDR_TRUNC: usize = Reason::HdrTrunc.index();
const UNHANDLED_PROTO: usize = Reason::UnhandledProto.index();

/// One device, as its owner saw it and as the driver counted it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DevRecord {
    pub name: String,
    /// How it ended (close, linkdel, netns, ...), for the report.
    pub how: String,
    pub napi: bool,
    /// Frames the tool read (successful reads of at least one byte).
    pub read: u64,
    pub write_ok: u64,
    /// Failed writes the driver counts (the failure came after the headers).
    pub write_fail: u64,
    /// Of those, the ones refused with EINVAL, and with EINVAL for an
    /// invalid virtio-net header.
    pub write_einval: u64,
    pub write_bad_vnet: u64,
    /// Of those, the ones refused with EBUSY (a detached `IFF_NAPI` queue):
    /// a reason, but not in `rx_dropped`.
    pub write_busy: u64,
    /// Failed writes with ENOMEM or EMSGSIZE: `rx_dropped` without a reason
    /// when no skb could be allocated.
    pub write_lost: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_frame_errors: u64,
    pub reasons: PerReason,
}

impl DevRecord {
    pub fn reason_sum(&self) -> u64 {
        self.reasons.iter().sum()
    }

    /// `dev NAME key=value ...`: one line, for the parent.
    pub fn to_line(&self) -> String {
        let mut s = format!(
            "dev {} how={} napi={} read={} write_ok={} write_fail={} write_einval={} write_bad_vnet={} write_busy={} write_lost={} rx_packets={} tx_packets={} rx_dropped={} tx_dropped={} rx_frame_errors={}",
            self.name, self.how, u8::from(self.napi), self.read, self.write_ok, self.write_fail, self.write_einval, self.write_bad_vnet, self.write_busy, self.write_lost,
            self.rx_packets, self.tx_packets, self.rx_dropped, self.tx_dropped, self.rx_frame_errors
        );
        for r in nonzero_reasons(&self.reasons) {
            s.push(' ');
            s.push_str(&r);
        }
        s
    }

    pub fn parse(line: &str) -> Result<DevRecord, String> {
        let mut it = line.split_whitespace();
        if it.next() != Some("dev") {
            return Err(format!("not a device line: {line}"));
        }
        let mut d = DevRecord {
            name: it.next().ok_or("no name")?.to_string(),
            ..Default::default()
        };
        for kv in it {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("bad field '{kv}'"))?;
            if k == "how" {
                d.how = v.to_string();
                continue;
            }
            let n: u64 = v.parse().map_err(|_| format!("bad number in '{kv}'"))?;
            match k {
                "napi" => d.napi = n != 0,
                "read" => d.read = n,
                "write_ok" => d.write_ok = n,
                "write_fail" => d.write_fail = n,
                "write_einval" => d.write_einval = n,
                "write_bad_vnet" => d.write_bad_vnet = n,
                "write_busy" => d.write_busy = n,
                "write_lost" => d.write_lost = n,
                "rx_packets" => d.rx_packets = n,
                "tx_packets" => d.tx_packets = n,
                "rx_dropped" => d.rx_dropped = n,
                "tx_dropped" => d.tx_dropped = n,
                "rx_frame_errors" => d.rx_frame_errors = n,
                _ => match reason_index(k) {
                    Some(i) => d.reasons[i] = n,
                    None => return Err(format!("unknown field '{k}'")),
                },
            }
        }
        Ok(d)
    }
}

/// What is wrong with `rec`'s packet counts: frames read against
/// `tx_packets`, successful writes against `rx_packets` (the first checks of
/// [`check_device`] and of the lifecycle mode's survivors).
pub fn check_packets(rec: &DevRecord) -> Vec<String> {
    let mut bad = Vec::new();
    let n = &rec.name;
    if rec.read != rec.tx_packets {
        bad.push(format!(
            "{n}: frames read {} != tx_packets {}",
            rec.read, rec.tx_packets
        ));
    }
    if rec.write_ok != rec.rx_packets {
        bad.push(format!(
            "{n}: successful writes {} != rx_packets {}",
            rec.write_ok, rec.rx_packets
        ));
    }
    bad
}

/// What is wrong with `rec`, given the frames the tracepoint saw handed to
/// its driver. Empty when every frame is accounted for.
pub fn check_device(rec: &DevRecord, xmit: u64) -> Vec<String> {
    let mut bad = check_packets(rec);
    let n = &rec.name;
    let Some(tx_drops) = xmit.checked_sub(rec.tx_packets) else {
        bad.push(format!(
            "{n}: tx_packets {} > frames handed to the driver {xmit}",
            rec.tx_packets
        ));
        return bad;
    };
    let sum = rec.reason_sum();
    let expected = tx_drops + rec.write_fail;
    // Lost writes count in rx_dropped with no reason, unless the allocation
    // that failed was a page for a frame that already had an skb (NOMEM).
    let lo = expected;
    let hi = expected
        + rec.write_lost
        + if rec.napi {
            rec.reasons[QUEUE_PURGE]
        } else {
            0
        };
    if sum < lo || sum > hi {
        bad.push(format!(
            "{n}: per-reason counters sum to {sum}; frames handed over and not read {tx_drops} + failed writes {} = {expected}{}",
            rec.write_fail,
            if rec.napi { format!(" (+ up to QUEUE_PURGE {} on this NAPI device)", rec.reasons[QUEUE_PURGE]) } else { String::new() }
        ));
    }
    if rec.tx_dropped < tx_drops {
        bad.push(format!(
            "{n}: tx_dropped {} < frames handed over and not read {tx_drops}",
            rec.tx_dropped
        ));
    }
    let counted_writes = rec.write_fail.saturating_sub(rec.write_busy) + rec.write_lost;
    if rec.rx_dropped + rec.rx_frame_errors < counted_writes {
        bad.push(format!(
            "{n}: rx_dropped {} + rx_frame_errors {} < failed writes not refused with EBUSY {counted_writes}",
            rec.rx_dropped, rec.rx_frame_errors
        ));
    }
    if rec.rx_frame_errors != rec.write_bad_vnet {
        bad.push(format!(
            "{n}: rx_frame_errors {} != writes refused for their virtio-net header {}",
            rec.rx_frame_errors, rec.write_bad_vnet
        ));
    }
    let einval = rec.reasons[HDR_TRUNC] + rec.reasons[UNHANDLED_PROTO] + rec.rx_frame_errors;
    if einval != rec.write_einval {
        bad.push(format!(
            "{n}: HDR_TRUNC {} + UNHANDLED_PROTO {} + rx_frame_errors {} != writes refused with EINVAL {}",
            rec.reasons[HDR_TRUNC], rec.reasons[UNHANDLED_PROTO], rec.rx_frame_errors, rec.write_einval
        ));
    }
    let tx_only = tx_only(&rec.reasons);
    if tx_only > tx_drops {
        bad.push(format!("{n}: {tx_only} drops with transmit-only reasons, but only {tx_drops} frames handed over and not read"));
    }
    bad
}

/// The drops the core counted in the device's rx/tx_dropped on top of the
/// driver's: (rx, tx).
pub fn core_drops(rec: &DevRecord, xmit: u64) -> (u64, u64) {
    let tx = rec
        .tx_dropped
        .saturating_sub(xmit.saturating_sub(rec.tx_packets));
    let rx = (rec.rx_dropped + rec.rx_frame_errors)
        .saturating_sub(rec.write_fail.saturating_sub(rec.write_busy) + rec.write_lost);
    (rx, tx)
}

/// Is `name` one of the run's device names (`rs<worker>x<counter>`)?
pub fn is_run_device(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("rs") else {
        return false;
    };
    let Some((w, c)) = rest.split_once('x') else {
        return false;
    };
    !w.is_empty()
        && !c.is_empty()
        && w.bytes().all(|b| b.is_ascii_digit())
        && c.bytes().all(|b| b.is_ascii_digit())
}

/// The checks over the whole run: every traced device has a record, and the
/// traced rtun drops per reason equal the devices' counters.
pub fn check_global(
    recs: &[DevRecord],
    xmit: &BTreeMap<String, u64>,
    traced: &PerReason,
) -> Vec<String> {
    let mut bad = Vec::new();
    let mut names = BTreeMap::new();
    for r in recs {
        if names.insert(r.name.as_str(), ()).is_some() {
            bad.push(format!("{}: two records", r.name));
        }
    }
    for (name, n) in xmit {
        if is_run_device(name) && !names.contains_key(name.as_str()) {
            bad.push(format!(
                "{name}: {n} frames handed to the driver, but no record of the device"
            ));
        }
    }
    for (i, r) in Reason::NAMES.iter().enumerate() {
        let counted: u64 = recs.iter().map(|d| d.reasons[i]).sum();
        if counted != traced[i] {
            bad.push(format!(
                "{r}: {} drops traced in rtun, the devices counted {counted}",
                traced[i]
            ));
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV_READY: usize = Reason::DevReady.index();
    const TAP_FILTER: usize = Reason::TapFilter.index();
    const NOMEM: usize = Reason::Nomem.index();
    const FULL_RING: usize = Reason::FullRing.index();
    const DEV_HDR: usize = Reason::DevHdr.index();

    fn good() -> DevRecord {
        // 100 frames handed over: 90 read, 8 FULL_RING, 2 QUEUE_PURGE.
        // 44 writes: 40 taken, 2 HDR_TRUNC, 1 DEV_HDR (EINVAL), 1 DEV_READY (EIO).
        let mut d = DevRecord {
            name: "rs0x1".into(),
            how: "close".into(),
            read: 90,
            write_ok: 40,
            write_fail: 4,
            write_einval: 3,
            write_bad_vnet: 1,
            rx_packets: 40,
            tx_packets: 90,
            rx_dropped: 3,
            tx_dropped: 10,
            rx_frame_errors: 1,
            ..Default::default()
        };
        d.reasons[FULL_RING] = 8;
        d.reasons[QUEUE_PURGE] = 2;
        d.reasons[HDR_TRUNC] = 2;
        d.reasons[DEV_HDR] = 1;
        d.reasons[DEV_READY] = 1;
        d
    }

    #[test]
    fn line_round_trip() {
        let d = good();
        assert_eq!(DevRecord::parse(&d.to_line()).unwrap(), d);
        assert!(DevRecord::parse("dev x nonsense=1").is_err());
        assert!(DevRecord::parse("op x").is_err());
    }

    #[test]
    fn balanced_device_passes() {
        assert_eq!(check_device(&good(), 100), Vec::<String>::new());
        assert_eq!(core_drops(&good(), 100), (0, 0));
    }

    #[test]
    fn the_cores_own_drops_are_tolerated_and_reported() {
        let mut d = good();
        d.rx_dropped += 5; // written frames of a protocol nobody handles
        d.tx_dropped += 2; // a stopped noqueue device
        assert_eq!(check_device(&d, 100), Vec::<String>::new());
        assert_eq!(core_drops(&d, 100), (5, 2));
    }

    #[test]
    fn each_imbalance_is_caught() {
        assert_eq!(
            check_device(&good(), 101).len(),
            2,
            "a frame handed over but never accounted"
        );
        assert_eq!(
            check_device(&good(), 99).len(),
            1,
            "a drop with no frame handed over"
        );
        let mut d = good();
        d.read = 89;
        assert_eq!(
            check_device(&d, 100).len(),
            1,
            "a frame counted as read that the tool did not get"
        );
        let mut d = good();
        d.rx_packets = 41;
        assert_eq!(check_device(&d, 100).len(), 1);
        let mut d = good();
        d.reasons[DEV_READY] += 1;
        assert_eq!(check_device(&d, 100).len(), 1, "a drop counted twice");
        let mut d = good();
        d.reasons[FULL_RING] -= 1;
        assert_eq!(check_device(&d, 100).len(), 1, "a drop without its reason");
        let mut d = good();
        d.reasons[HDR_TRUNC] -= 1;
        d.reasons[DEV_READY] += 1;
        assert_eq!(
            check_device(&d, 100).len(),
            1,
            "a short write counted under another reason"
        );
        let mut d = good();
        d.rx_frame_errors = 0;
        d.rx_dropped += 1;
        assert!(
            !check_device(&d, 100).is_empty(),
            "a bad virtio-net header counted elsewhere"
        );
        let mut d = good();
        d.reasons[HDR_TRUNC] -= 1;
        d.reasons[FULL_RING] += 1;
        assert_eq!(
            check_device(&d, 100).len(),
            1,
            "a short write's drop counted as a full ring"
        );
    }

    #[test]
    fn napi_purges_may_add_rx_drops_up_to_queue_purge() {
        let mut d = good();
        d.napi = true;
        // One written frame purged from the NAPI backlog: rx_dropped and
        // QUEUE_PURGE one higher.
        d.rx_dropped += 1;
        d.reasons[QUEUE_PURGE] += 1;
        assert_eq!(check_device(&d, 100), Vec::<String>::new());
        d.napi = false;
        assert_eq!(check_device(&d, 100).len(), 1);
        let mut d = good();
        d.napi = true;
        d.rx_dropped += 5;
        d.reasons[TAP_FILTER] += 5;
        assert!(
            !check_device(&d, 100).is_empty(),
            "more than QUEUE_PURGE allows"
        );
    }

    #[test]
    fn busy_writes_have_a_reason_but_no_rx_dropped() {
        // A write refused with EBUSY on a detached IFF_NAPI queue: DEV_READY
        // one higher, rx_dropped not (as tun).
        let mut d = good();
        d.napi = true;
        d.write_fail += 1;
        d.write_busy = 1;
        d.reasons[DEV_READY] += 1;
        assert_eq!(check_device(&d, 100), Vec::<String>::new());
        assert_eq!(core_drops(&d, 100), (0, 0));
        d.write_busy = 0;
        assert_eq!(
            check_device(&d, 100).len(),
            1,
            "an EBUSY write not known as one"
        );
    }

    #[test]
    fn lost_writes_have_no_reason() {
        let mut d = good();
        d.write_lost = 2;
        d.rx_dropped += 2;
        assert_eq!(check_device(&d, 100), Vec::<String>::new());
        d.reasons[NOMEM] += 1; // one of them was a NOMEM with an skb
        assert_eq!(check_device(&d, 100), Vec::<String>::new());
    }

    #[test]
    fn global_sums_and_names() {
        let a = good();
        let mut b = good();
        b.name = "rs1x0".into();
        let mut traced = [0u64; Reason::COUNT];
        for (i, t) in traced.iter_mut().enumerate() {
            *t = a.reasons[i] + b.reasons[i];
        }
        let mut xmit = BTreeMap::new();
        xmit.insert("rs0x1".to_string(), 100);
        xmit.insert("rs1x0".to_string(), 100);
        xmit.insert("rtap9".to_string(), 5);
        let recs = [a.clone(), b];
        assert_eq!(check_global(&recs, &xmit, &traced), Vec::<String>::new());
        xmit.insert("rs2x7".to_string(), 1);
        assert_eq!(check_global(&recs, &xmit, &traced).len(), 1);
        xmit.remove("rs2x7");
        traced[FULL_RING] += 1;
        assert_eq!(check_global(&recs, &xmit, &traced).len(), 1);
        traced[FULL_RING] -= 1;
        assert!(!check_global(&[a.clone(), a], &xmit, &traced).is_empty());
    }

    #[test]
    fn transmit_only_reasons_come_from_the_drop_sites() {
        // A reason some write or NAPI purge reports is not transmit-only.
        for r in [
            Reason::DevReady,
            Reason::HdrTrunc,
            Reason::DevHdr,
            Reason::QueuePurge,
        ] {
            assert!(!TX_ONLY[r.index()], "{}", r.name());
        }
        for r in [Reason::FullRing, Reason::TapTxfilter, Reason::SkbCsum] {
            assert!(TX_ONLY[r.index()], "{}", r.name());
        }
        let mut c = [1u64; Reason::COUNT];
        c[FULL_RING] = 10;
        assert_eq!(
            tx_only(&c),
            TX_ONLY.iter().filter(|&&t| t).count() as u64 + 9
        );
        assert_eq!(nonzero_reasons(&[0; Reason::COUNT]), Vec::<String>::new());
        assert_eq!(reason_index("FULL_RING"), Some(FULL_RING));
        assert_eq!(reason_index("NOT_A_REASON"), None);
    }

    #[test]
    fn run_device_names() {
        assert!(is_run_device("rs0x0"));
        assert!(is_run_device("rs12x345"));
        assert!(!is_run_device("rsx1"));
        assert!(!is_run_device("rs1x"));
        assert!(!is_run_device("rtun0"));
        assert!(!is_run_device("rs1y2"));
    }
}
