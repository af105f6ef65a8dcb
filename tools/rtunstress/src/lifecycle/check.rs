// SPDX-License-Identifier: GPL-2.0
//! The lifecycle mode's frame accounting: pure logic, unit-tested.
//!
//! The stress's exact per-device accounting (account.rs) takes each device's
//! counters at its retirement, with the device down, drained, and nothing in
//! flight. In the lifecycle mode devices are deleted (link del, last close,
//! namespace deletion) while other threads write to them, read them and send
//! through them, so there is no quiet moment before a device goes, and its
//! counters go with it. What is checked instead:
//!
//! - Over the run, every frame is accounted for in the trace: the frames
//!   handed to the driver (`net:net_dev_xmit` events with a return code other
//!   than NETDEV_TX_BUSY, per device; plus transmits that bypass the qdisc,
//!   which that tracepoint does not see, counted by their sender), less the
//!   frames read, plus the writes that failed after an skb existed, must all
//!   be `skb:kfree_skb` events located in the driver (`lower`). The drops may
//!   exceed that only by what cannot be attributed exactly (`slack`): writes
//!   that failed for memory (with or without an skb), frames written to NAPI
//!   queues and purged from their backlog when the queue went, qdisc-bypass
//!   sends that failed with ENOBUFS (the driver may have taken and dropped
//!   the frame: the sender cannot tell), and frames a netconsole target
//!   sent (netpoll calls the driver directly, untraced; the messages the
//!   console printed during the run bound them).
//! - Transmit-only reasons never exceed the frames handed over and not read.
//! - Each device that lived to the end of the run is retired the stress's
//!   way after the threads stopped (down, drained, snapshot): for rtun its
//!   per-reason counters are checked exactly (account::check_device) when no
//!   untraced transmit touched it; otherwise, and for tun.ko (no per-reason
//!   counters), what holds anyway: frames read = tx_packets, successful
//!   writes = rx_packets, and (rtun) drops at least frames not read.
//!
//! GSO frames are not sent: a driver that segments a GSO frame for a reader
//! without the offload turns one frame handed over into several frames read
//! or dropped, which a count of frames cannot follow.

use crate::account::{check_device, check_packets, DevRecord};

/// The run's totals, over every device, dead or alive.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Frames handed to the driver: traced xmits plus qdisc-bypass sends that succeeded.
    pub handed: u64,
    /// Frames read (all of them, netconsole's included).
    pub read: u64,
    /// Of those, frames a netconsole target sent (never traced as handed over).
    pub read_netpoll: u64,
    /// Writes that failed after the driver made an skb (EIO, EBUSY, EINVAL, EFAULT).
    pub write_fail: u64,
    /// Writes that failed for memory (ENOMEM, EMSGSIZE): an skb or not.
    pub write_lost: u64,
    /// Successful writes to NAPI queues: each may be purged from a backlog.
    pub napi_written: u64,
    /// qdisc-bypass sends that failed with ENOBUFS.
    pub bypass_busy: u64,
    /// Frames netconsole may have sent through the devices (an upper bound).
    pub netpoll_bound: u64,
    /// Drops traced in the driver, every reason.
    pub traced: u64,
    /// Of those, with a transmit-only reason (rtun's reasons only).
    pub tx_only: u64,
}

impl Totals {
    /// Frames handed over and not read (netconsole's reads are of frames
    /// that were never counted as handed over).
    pub fn not_read(&self) -> Option<u64> {
        self.handed
            .checked_sub(self.read.saturating_sub(self.read_netpoll))
    }

    pub fn lower(&self) -> Option<u64> {
        Some(self.not_read()? + self.write_fail)
    }

    pub fn slack(&self) -> u64 {
        self.write_lost + self.napi_written + self.bypass_busy + self.netpoll_bound
    }
}

/// What is wrong with the run's totals.
pub fn check_totals(t: &Totals) -> Vec<String> {
    let mut bad = Vec::new();
    let Some(lower) = t.lower() else {
        bad.push(format!(
            "{} frames read (less {} of netconsole's), but only {} handed to the driver",
            t.read, t.read_netpoll, t.handed
        ));
        return bad;
    };
    if t.traced < lower {
        bad.push(format!(
            "{} frames unaccounted for: handed over and not read {} + writes failed after an skb {} = {lower}, but only {} drops traced in the driver",
            lower - t.traced,
            lower - t.write_fail,
            t.write_fail,
            t.traced
        ));
    }
    let upper = lower + t.slack();
    if t.traced > upper {
        bad.push(format!(
            "{} drops traced in the driver, more than the {lower} frames to account for + {} that cannot be attributed (lost writes {}, NAPI writes {}, bypass ENOBUFS {}, netconsole {})",
            t.traced,
            t.slack(),
            t.write_lost,
            t.napi_written,
            t.bypass_busy,
            t.netpoll_bound
        ));
    }
    let tx_room = lower - t.write_fail + t.bypass_busy + t.netpoll_bound;
    if t.tx_only > tx_room {
        bad.push(format!("{} drops with transmit-only reasons, but only {tx_room} frames handed over and not read (with what cannot be attributed)", t.tx_only));
    }
    bad
}

/// A device that lived to the end: its retirement record, the frames the
/// trace saw handed to it, the qdisc-bypass sends that succeeded and failed
/// on it, and whether a netconsole target ever used it.
pub struct Survivor<'a> {
    pub rec: &'a DevRecord,
    pub traced: u64,
    pub bypass_ok: u64,
    pub bypass_busy: u64,
    pub netpoll: bool,
}

/// What is wrong with a survivor's counters. `per_reason`: the driver has
/// per-reason counters (rtun), so the exact check applies when nothing
/// untraced touched the device.
pub fn check_survivor(s: &Survivor, per_reason: bool) -> Vec<String> {
    let handed = s.traced + s.bypass_ok;
    if per_reason && s.bypass_busy == 0 && !s.netpoll {
        return check_device(s.rec, handed);
    }
    let r = s.rec;
    let n = &r.name;
    let mut bad = check_packets(r);
    // Netconsole's frames are read without having been counted as handed
    // over. tun.ko does not count the frames it purges from a ring (a queue
    // closed or detached) in tx_dropped: the bound is rtun's only.
    if !s.netpoll {
        match handed.checked_sub(r.read) {
            None => bad.push(format!(
                "{n}: {} frames read, only {handed} handed over",
                r.read
            )),
            Some(not_read) => {
                if per_reason && r.tx_dropped < not_read {
                    bad.push(format!(
                        "{n}: tx_dropped {} < frames handed over and not read {not_read}",
                        r.tx_dropped
                    ));
                }
                if per_reason && r.reason_sum() < not_read + r.write_fail {
                    bad.push(format!("{n}: per-reason counters sum to {} < frames handed over and not read {not_read} + failed writes {}", r.reason_sum(), r.write_fail));
                }
            }
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{account::tx_only, skb_reason::Reason};

    fn balanced() -> Totals {
        // 1000 handed over, 900 read (10 of them netconsole's): 110 not read;
        // 20 writes failed after an skb: 130 drops.
        Totals {
            handed: 1000,
            read: 900,
            read_netpoll: 10,
            write_fail: 20,
            traced: 130,
            tx_only: 40,
            ..Default::default()
        }
    }

    #[test]
    fn a_balanced_run_passes() {
        assert_eq!(check_totals(&balanced()), Vec::<String>::new());
        assert_eq!(balanced().lower(), Some(130));
    }

    #[test]
    fn a_frame_freed_without_a_trace_is_caught() {
        let mut t = balanced();
        t.traced -= 1;
        let v = check_totals(&t);
        assert_eq!(v.len(), 1);
        assert!(v[0].starts_with("1 frames unaccounted for"), "{v:?}");
    }

    #[test]
    fn extra_drops_need_slack() {
        let mut t = balanced();
        t.traced += 3;
        assert_eq!(check_totals(&t).len(), 1, "a drop counted twice");
        t.napi_written = 2;
        assert_eq!(
            check_totals(&t).len(),
            1,
            "two NAPI writes cannot explain three drops"
        );
        t.bypass_busy = 1;
        assert_eq!(check_totals(&t), Vec::<String>::new());
    }

    #[test]
    fn more_read_than_handed_is_caught() {
        let t = Totals {
            handed: 10,
            read: 12,
            ..Default::default()
        };
        assert_eq!(check_totals(&t).len(), 1);
        let t = Totals {
            handed: 10,
            read: 12,
            read_netpoll: 2,
            ..Default::default()
        };
        assert_eq!(
            check_totals(&t),
            Vec::<String>::new(),
            "netconsole frames are read without being handed over"
        );
    }

    #[test]
    fn transmit_only_reasons_are_bounded() {
        let mut t = balanced();
        t.tx_only = 111;
        assert_eq!(check_totals(&t).len(), 1);
        let mut d = [0u64; Reason::COUNT];
        d[Reason::FullRing.index()] = 5;
        d[Reason::HdrTrunc.index()] = 3; // written frames
        d[Reason::QueuePurge.index()] = 2; // either way
        assert_eq!(tx_only(&d), 5);
    }

    fn rec() -> DevRecord {
        let mut r = DevRecord {
            name: "rl0g1".into(),
            how: "survived".into(),
            read: 90,
            tx_packets: 90,
            write_ok: 40,
            rx_packets: 40,
            tx_dropped: 10,
            ..Default::default()
        };
        r.reasons[Reason::FullRing.index()] = 10;
        r
    }

    fn survivor(
        rec: &DevRecord,
        traced: u64,
        bypass_ok: u64,
        bypass_busy: u64,
        netpoll: bool,
    ) -> Survivor<'_> {
        Survivor {
            rec,
            traced,
            bypass_ok,
            bypass_busy,
            netpoll,
        }
    }

    #[test]
    fn survivors_exact_and_relaxed() {
        let r = rec();
        let s = survivor(&r, 100, 0, 0, false);
        assert_eq!(check_survivor(&s, true), Vec::<String>::new());
        let s = survivor(&r, 99, 1, 0, false);
        assert_eq!(
            check_survivor(&s, true),
            Vec::<String>::new(),
            "bypass sends count as handed over"
        );
        let s = survivor(&r, 101, 0, 0, false);
        assert!(
            !check_survivor(&s, true).is_empty(),
            "a frame neither read nor dropped"
        );
        // With an ENOBUFS bypass send, the exact sum cannot hold: the lower bound does.
        let s = survivor(&r, 99, 0, 1, false);
        assert_eq!(check_survivor(&s, true), Vec::<String>::new());
        let s = survivor(&r, 101, 0, 1, false);
        assert_eq!(
            check_survivor(&s, true).len(),
            2,
            "tx_dropped and the reasons fall short"
        );
        // tun.ko: no per-reason counters, and purged frames are not in tx_dropped.
        let s = survivor(&r, 100, 0, 0, false);
        assert_eq!(check_survivor(&s, false), Vec::<String>::new());
        let s = survivor(&r, 130, 0, 0, false);
        assert_eq!(check_survivor(&s, false), Vec::<String>::new());
        let s = survivor(&r, 80, 0, 0, false);
        assert_eq!(
            check_survivor(&s, false).len(),
            1,
            "more read than handed over"
        );
        let mut r2 = rec();
        r2.rx_packets = 41;
        let s = survivor(&r2, 100, 0, 0, true);
        assert_eq!(check_survivor(&s, false).len(), 1);
    }
}
