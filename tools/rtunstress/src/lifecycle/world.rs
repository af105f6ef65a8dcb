// SPDX-License-Identifier: GPL-2.0
//! What the threads of a lifecycle run share: the device slots, the queues
//! (files) of each device, every device ever made (for the accounting), the
//! files of dead devices, the namespaces, and each thread's recent
//! operations.
//!
//! Locking: a slot's `ctl` serialises the operations that make, attach to,
//! or end its device (create, TUNSETIFF on it, close of a queue, link del,
//! netns moves and deletion, TUNSETPERSIST, TUNSETQUEUE, netconsole), so
//! that a name always means one device: TUNSETIFF on a name whose device was
//! just deleted would create a new device of that name. Data-path
//! operations never take it: they race with all of those. Order: `ctl`,
//! then `cur`, then a device's `st`; `cur` and `st` are held only to copy
//! what an operation works on (an `Arc` of the device or queue), never
//! across a system call.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::Instant,
};

use crate::sys::close;
use rtun_common::abi::*;

/// A lock that a panicking thread poisoned is still usable: the data are
/// counters and lists that stay consistent at every step.
pub fn lk<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The tool's own counts for one device, kept for the accounting after the
/// device is gone.
#[derive(Default)]
pub struct Counters {
    /// Frames read (every successful read of at least one byte).
    pub read: AtomicU64,
    /// Of those, frames a netconsole target sent.
    pub read_netpoll: AtomicU64,
    pub write_ok: AtomicU64,
    /// Failed writes the driver had an skb for (EIO, EBUSY, EINVAL, EFAULT).
    pub write_fail: AtomicU64,
    pub write_einval: AtomicU64,
    /// Of the failed writes, those refused with EBUSY (a detached IFF_NAPI
    /// queue: a reason, but not in rx_dropped).
    pub write_busy: AtomicU64,
    /// Failed writes for memory (ENOMEM, EMSGSIZE).
    pub write_lost: AtomicU64,
    /// qdisc-bypass sends that succeeded, and that failed with ENOBUFS.
    pub bypass_ok: AtomicU64,
    pub bypass_busy: AtomicU64,
    /// A netconsole target was enabled on the device.
    pub netpoll: AtomicBool,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// What never changes about a device, and its counts.
pub struct DevInfo {
    pub name: String,
    pub slot: usize,
    pub gen: u32,
    /// The TUNSETIFF flags it was made (and is always attached) with.
    pub flags: u16,
    pub c: Counters,
    /// How it ended: "alive", "close", "linkdel", "netns", "survived".
    pub ended: Mutex<&'static str>,
}

impl DevInfo {
    pub fn tap(&self) -> bool {
        self.flags & IFF_TAP != 0
    }
    pub fn pi(&self) -> bool {
        self.flags & IFF_NO_PI == 0
    }
    pub fn vnet(&self) -> bool {
        self.flags & IFF_VNET_HDR != 0
    }
    pub fn mq(&self) -> bool {
        self.flags & IFF_MULTI_QUEUE != 0
    }
    pub fn napi(&self) -> bool {
        self.flags & IFF_NAPI != 0
    }
    /// 10.(100+slot).x.y/30: y+1 is the device's, y+2 the peer, y+3 broadcast.
    pub fn addr(&self, host: u8) -> [u8; 4] {
        let g = self.gen;
        [
            10,
            100 + self.slot as u8,
            ((g >> 6) & 0xff) as u8,
            ((g & 63) * 4) as u8 + host,
        ]
    }
    pub fn end(&self, how: &'static str) {
        *lk(&self.ended) = how;
    }
}

/// A queue: an open file attached (or detached, TUNSETQUEUE) to a device.
/// Closed when the last user lets go: a close racing a read on the same file
/// is the kernel's (the file lives until the read returns), and the fd
/// number is never reused under a thread that still uses it.
pub struct Q {
    pub fd: i32,
    pub nonblock: bool,
    pub attached: AtomicBool,
    pub dev: Arc<DevInfo>,
}

impl Drop for Q {
    fn drop(&mut self) {
        close(self.fd);
    }
}

/// What changes about a device, under its `st` lock.
#[derive(Default)]
pub struct DevSt {
    pub ns: Option<String>,
    pub persist: bool,
    pub up: bool,
    pub has_addr: bool,
    pub qs: Vec<Arc<Q>>,
    /// Its netconsole target, while enabled.
    pub nc: Option<String>,
}

pub struct Dev {
    pub info: Arc<DevInfo>,
    pub st: Mutex<DevSt>,
}

#[derive(Default)]
pub struct Slot {
    pub ctl: Mutex<()>,
    pub cur: Mutex<Option<Arc<Dev>>>,
    pub gens: AtomicU32,
}

/// A file whose device is gone or going: `sure` when the kernel said so
/// (RTM_DELLINK returned), not when its namespace was only unmounted (the
/// namespace's teardown takes it later).
pub struct Zombie {
    pub q: Arc<Q>,
    pub sure: bool,
}

/// One thread's recent operations, for the report of a failing run.
#[derive(Default)]
pub struct Recent {
    pub tid: i32,
    pub ring: VecDeque<String>,
    /// The operation in progress and when it started.
    pub cur: Option<(Instant, String)>,
}

pub const RECENT: usize = 12;

pub struct Cfg {
    pub seed: u64,
    pub max_ops: u64,
    pub dev: String,
    /// Device names: PREFIX<slot>g<gen>.
    pub prefix: String,
    pub threads: usize,
    /// IFF_NAPI_FRAGS may be set (drawn either way: the schedule stays the same).
    pub napi_frags: bool,
    pub verbose: bool,
}

pub struct World {
    pub cfg: Cfg,
    pub t0: Instant,
    pub deadline: Instant,
    pub slots: Vec<Slot>,
    pub all: Mutex<Vec<Arc<DevInfo>>>,
    pub zombies: Mutex<VecDeque<Zombie>>,
    pub netns: Mutex<Vec<String>>,
    pub netns_made: AtomicU32,
    /// Netconsole targets ever made (removed at the end).
    pub nc_targets: Mutex<Vec<String>>,
    pub nc_available: bool,
    pub stop: AtomicBool,
    /// The initial network namespace, to come back to.
    pub home: i32,
    /// eBPF socket filters returning 0 (drop) and 0xffff (pass).
    pub ebpf: Vec<i32>,
    /// eBPF programs returning 0..4, for TUNSETSTEERINGEBPF.
    pub steer: Vec<i32>,
    pub recent: Vec<Mutex<Recent>>,
}

impl World {
    /// The device in slot `s`, if any.
    pub fn dev(&self, s: usize) -> Option<Arc<Dev>> {
        lk(&self.slots[s].cur).clone()
    }

    pub fn live_slots(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&s| lk(&self.slots[s].cur).is_some())
            .collect()
    }

    /// Whether `dev` is still the device of its slot (after taking `ctl`).
    pub fn is_current(&self, dev: &Dev) -> bool {
        lk(&self.slots[dev.info.slot].cur)
            .as_ref()
            .is_some_and(|d| Arc::ptr_eq(&d.info, &dev.info))
    }

    /// Ends `dev` (`how`): out of its slot, its files to the zombies.
    pub fn bury(&self, dev: &Dev, how: &'static str, sure: bool) {
        let mut cur = lk(&self.slots[dev.info.slot].cur);
        if cur
            .as_ref()
            .is_some_and(|d| Arc::ptr_eq(&d.info, &dev.info))
        {
            *cur = None;
        }
        drop(cur);
        dev.info.end(how);
        let qs: Vec<Arc<Q>> = {
            let mut st = lk(&dev.st);
            st.nc = None;
            std::mem::take(&mut st.qs)
        };
        let mut z = lk(&self.zombies);
        for q in qs {
            z.push_back(Zombie { q, sure });
        }
        // A bounded number of files stay open: the oldest go.
        while z.len() > 48 {
            z.pop_front();
        }
    }

    pub fn register(&self, info: Arc<DevInfo>) {
        lk(&self.all).push(info);
    }

    pub fn is_run_device(&self, name: &str) -> bool {
        is_lifecycle_name(&self.cfg.prefix, name)
    }
}

/// Is `name` PREFIX<digits>g<digits>?
pub fn is_lifecycle_name(prefix: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    let Some((s, g)) = rest.split_once('g') else {
        return false;
    };
    !s.is_empty()
        && !g.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && g.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_lifecycle_name("rl", "rl0g0"));
        assert!(is_lifecycle_name("tl", "tl5g123"));
        assert!(!is_lifecycle_name("rl", "tl5g123"));
        assert!(!is_lifecycle_name("rl", "rl5g"));
        assert!(!is_lifecycle_name("rl", "rlg5"));
        assert!(!is_lifecycle_name("rl", "rl0x1"));
    }

    #[test]
    fn addresses_are_per_slot_and_generation() {
        let d = DevInfo {
            name: "rl3g65".into(),
            slot: 3,
            gen: 65,
            flags: IFF_TUN,
            c: Counters::default(),
            ended: Mutex::new("alive"),
        };
        assert_eq!(d.addr(1), [10, 103, 1, 5]);
        assert_eq!(d.addr(3), [10, 103, 1, 7]);
    }
}
