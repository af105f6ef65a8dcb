// SPDX-License-Identifier: GPL-2.0
//! A worker: owns the devices it creates (every fd of them), and does random
//! things to them until the deadline; then retires them all. A sender: sends
//! UDP datagrams out through whatever devices the workers have up.
//!
//! A device is retired the same way whatever ends it: `ip link set down` (the
//! core then hands its driver nothing more, and waits for transmitters in
//! flight), every queue read until it is empty, then the snapshot of its
//! counters (rtnetlink and debugfs) with the tool's own counts, written as one
//! `dev` line; only then does it go (close, `ip link del`, netns deletion, ...).

use std::{
    collections::BTreeMap,
    fs::File,
    io::Write,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use crate::{
    account::DevRecord,
    rtnl::{self, Link},
    sys::*,
};
use rtun_common::{
    net::sockaddr_in,
    prng::{Draw, StreamRng},
};

pub const MAX_PROCS: usize = 32;
pub const SLOTS: usize = 4;

/// Shared between every process of the run (an anonymous shared mapping).
#[repr(C)]
pub struct Shared {
    pub go: AtomicU32,
    pub stop: AtomicU32,
    /// Set when rmmod succeeded mid-run.
    pub rmmod_ok: AtomicU32,
    /// The address each worker's live device slot sends to (0: none).
    pub slots: [AtomicU32; MAX_PROCS * SLOTS],
}

pub struct Config {
    pub seed: u64,
    pub seconds: u64,
    pub dev: String,
    pub out_dir: String,
}

struct Q {
    fd: i32,
    attached: bool,
}

struct Dev {
    name: String,
    slot: usize,
    counter: u32,
    tap: bool,
    flags: u16,
    persist: bool,
    vnet_sz: usize,
    ns: Option<String>,
    up: bool,
    has_addr: bool,
    qs: Vec<Q>,
    rec: DevRecord,
}

impl Dev {
    fn mq(&self) -> bool {
        self.flags & IFF_MULTI_QUEUE != 0
    }
    fn pi(&self) -> bool {
        self.flags & IFF_NO_PI == 0
    }
    fn vnet(&self) -> bool {
        self.flags & IFF_VNET_HDR != 0
    }
    /// 10.(64+w).x.y/30: y+1 is the device's, y+2 the peer, y+3 broadcast.
    fn addr(&self, w: usize, host: u8) -> [u8; 4] {
        let c = self.counter;
        [
            10,
            64 + w as u8,
            ((c >> 6) & 0xff) as u8,
            ((c & 63) * 4) as u8 + host,
        ]
    }
}

/// Operation counts: (done, failed) per kind.
#[derive(Default)]
struct Ops(BTreeMap<&'static str, (u64, u64)>);

impl Ops {
    fn note(&mut self, kind: &'static str, ok: bool) {
        let e = self.0.entry(kind).or_insert((0, 0));
        if ok {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
}

pub struct Worker {
    w: usize,
    rng: StreamRng,
    cfg: Config,
    shared: &'static Shared,
    devs: Vec<Dev>,
    /// Files whose device is gone, or going: (fd, may write). A device in a
    /// namespace being deleted lives on, counted already, until the
    /// namespace's teardown reaches it: its files are not written to.
    zombies: Vec<(i32, bool)>,
    netns: Vec<String>,
    netns_made: u32,
    counter: u32,
    ops: Ops,
    errors: BTreeMap<String, u64>,
    out: File,
    epfd: i32,
    ebpf: Vec<i32>,
    home: i32,
    buf: Vec<u8>,
    bad: *mut u8,
    fatal: Vec<String>,
    /// RTUNSTRESS_VERBOSE=1: every operation on stderr, as it starts.
    verbose: bool,
    t0: Instant,
}

const OPS: [(&str, u32); 24] = [
    ("create", 6),
    ("add_queue", 4),
    ("set_queue", 4),
    ("write", 22),
    ("read", 18),
    ("poll", 5),
    ("epoll", 5),
    ("close_queue", 3),
    ("txfilter", 3),
    ("cbpf", 3),
    ("ebpf", 3),
    ("offload", 3),
    ("vnet_hdr_sz", 2),
    ("persist", 2),
    ("link_updown", 6),
    ("link_mtu", 2),
    ("link_txqlen", 3),
    ("link_address", 2),
    ("netns_move", 2),
    ("netns_back", 1),
    ("netns_del", 1),
    ("link_del", 2),
    ("retire", 3),
    ("rmmod", 2),
];

extern "C" fn on_alarm(_: libc::c_int) {}

impl Worker {
    pub fn new(w: usize, cfg: Config, shared: &'static Shared) -> Result<Worker, String> {
        let rng = StreamRng::derive(cfg.seed, w as u64);
        let path = format!("{}/w{w}.txt", cfg.out_dir);
        let out = File::create(&path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: Creating an epoll instance.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(format!("epoll_create1: {}", Errno::last()));
        }
        let home = own_netns()?;
        // SIGALRM without SA_RESTART: a blocking read gets EINTR when it fires.
        // SAFETY: Installing a handler that does nothing.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut());
        }
        let mut ebpf = Vec::new();
        let mut errors = BTreeMap::new();
        for ret in [0u32, 0xffff, 20] {
            match load_ebpf_returning(ret) {
                Ok(fd) => ebpf.push(fd),
                Err(e) => *errors.entry(format!("bpf_prog_load {}", e)).or_insert(0) += 1,
            }
        }
        Ok(Worker {
            w,
            rng,
            cfg,
            shared,
            devs: Vec::new(),
            zombies: Vec::new(),
            netns: Vec::new(),
            netns_made: 0,
            counter: 0,
            ops: Ops::default(),
            errors,
            out,
            epfd,
            ebpf,
            home,
            buf: vec![0u8; 70000],
            bad: unmapped_region(65536),
            fatal: Vec::new(),
            verbose: std::env::var("RTUNSTRESS_VERBOSE").is_ok_and(|v| v == "1"),
            t0: Instant::now(),
        })
    }

    fn error(&mut self, what: String) {
        *self.errors.entry(what).or_insert(0) += 1;
    }

    fn line(&mut self, s: &str) {
        let _ = writeln!(self.out, "{s}");
        let _ = self.out.flush();
    }

    pub fn run(mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(self.cfg.seconds);
        let weights: Vec<u32> = OPS.iter().map(|o| o.1).collect();
        while Instant::now() < deadline && self.fatal.is_empty() {
            let k = self.rng.weighted(&weights);
            self.op(OPS[k].0);
            if self.rng.chance(1, 4) {
                self.zombie_op();
            }
        }
        // The end: every device retired, every namespace and file gone.
        while !self.devs.is_empty() {
            let how = self.rng.pick(&["close", "linkdel", "persist_del"]);
            self.retire(0, how);
        }
        for ns in std::mem::take(&mut self.netns) {
            let r = rtnl::netns_del(&ns);
            self.ops.note("netns_del", r.is_ok());
            if let Err(e) = r {
                self.fatal.push(format!("netns del {ns} at the end: {e}"));
            }
        }
        for (fd, _) in std::mem::take(&mut self.zombies) {
            close(fd);
        }
        for fd in std::mem::take(&mut self.ebpf) {
            close(fd);
        }
        close(self.epfd);
        let ops: Vec<String> = self
            .ops
            .0
            .iter()
            .map(|(k, (ok, bad))| format!("op {k} {ok} {bad}"))
            .collect();
        for l in ops {
            self.line(&l);
        }
        let errs: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("err {n} {k}"))
            .collect();
        for l in errs {
            self.line(&l);
        }
        let fatal = std::mem::take(&mut self.fatal);
        for f in &fatal {
            self.line(&format!("fatal {f}"));
        }
        self.line("done");
        i32::from(!fatal.is_empty())
    }

    fn op(&mut self, kind: &'static str) {
        if self.verbose {
            eprintln!(
                "w{} {:?} {kind} devs={}",
                self.w,
                self.t0.elapsed(),
                self.devs.len()
            );
        }
        if kind == "create" {
            if self.devs.len() < SLOTS {
                let ok = self.create();
                self.ops.note(kind, ok);
            }
            return;
        }
        if kind == "rmmod" {
            self.rmmod();
            return;
        }
        if kind == "netns_del" {
            if !self.netns.is_empty() {
                let i = self.rng.below(self.netns.len() as u64) as usize;
                let ok = self.netns_del(i);
                self.ops.note(kind, ok);
            }
            return;
        }
        // A device this kind of operation makes sense on; none: nothing done.
        let eligible = |d: &Dev| match kind {
            "add_queue" => d.mq() && d.qs.len() < 4 || d.qs.is_empty(),
            "set_queue" => d.mq() && !d.qs.is_empty(),
            "txfilter" | "cbpf" | "link_address" => d.tap,
            "netns_move" => d.ns.is_none(),
            "netns_back" => d.ns.is_some(),
            "write" | "read" | "poll" | "close_queue" | "offload" | "vnet_hdr_sz" | "persist" => !d.qs.is_empty(),
            _ => true,
        } && (!matches!(kind, "txfilter" | "cbpf") || !d.qs.is_empty());
        let candidates: Vec<usize> = (0..self.devs.len())
            .filter(|&i| eligible(&self.devs[i]))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let d = self.rng.pick(&candidates);
        let ok = match kind {
            "add_queue" => self.add_queue(d),
            "set_queue" => self.set_queue(d),
            "write" => self.write_burst(d),
            "read" => self.read_burst(d),
            "poll" => self.poll(d),
            "epoll" => self.epoll(),
            "close_queue" => self.close_queue(d),
            "txfilter" => self.txfilter(d),
            "cbpf" => self.cbpf(d),
            "ebpf" => self.ebpf(d),
            "offload" => self.offload(d),
            "vnet_hdr_sz" => self.vnet_hdr_sz(d),
            "persist" => self.persist(d),
            "link_updown" => self.link_updown(d),
            "link_mtu" => {
                let mtu = self.rng.pick(&[68u32, 576, 1280, 1500, 9000]);
                self.link(d, "mtu", Link::Mtu(mtu))
            }
            "link_txqlen" => {
                let q = self.rng.pick(&[0u32, 1, 2, 4, 16, 64, 500, 1000]);
                self.link(d, "txqueuelen", Link::TxQLen(q))
            }
            "link_address" => {
                let mut mac = [0x02, self.w as u8, 0, 0, 0, 0];
                for b in &mut mac[2..] {
                    *b = self.rng.below(256) as u8;
                }
                self.link(d, "address", Link::Address(mac))
            }
            "netns_move" => self.netns_move(d),
            "netns_back" => self.netns_back(d),
            "link_del" => {
                self.retire(d, "linkdel");
                true
            }
            "retire" => {
                let how = self.rng.pick(&["close", "persist_del", "persist_reattach"]);
                self.retire(d, how);
                true
            }
            _ => return,
        };
        self.ops.note(kind, ok);
    }

    // ---- devices and queues ----------------------------------------------------

    fn open_queue(&mut self, ns: Option<&str>, name: &str, flags: u16) -> Result<i32, String> {
        let nonblock = self.rng.chance(1, 2);
        let dev = self.cfg.dev.clone();
        let r = in_netns(ns, self.home, || -> Result<i32, Errno> {
            let fd = open_dev(&dev, if nonblock { libc::O_NONBLOCK } else { 0 })?;
            let mut req = IfReq::new(name, flags);
            if let Err(e) = ioctl(fd, TUNSETIFF, &mut req) {
                close(fd);
                return Err(e);
            }
            Ok(fd)
        })?;
        match r {
            Ok(fd) => {
                let mut ev = libc::epoll_event {
                    events: libc::EPOLLIN as u32,
                    u64: fd as u64,
                };
                // SAFETY: Adding an fd we own to our epoll instance.
                unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
                Ok(fd)
            }
            Err(e) => Err(format!("open+TUNSETIFF {}", e)),
        }
    }

    fn free_slot(&self) -> usize {
        (0..SLOTS)
            .find(|s| !self.devs.iter().any(|d| d.slot == *s))
            .unwrap_or(0)
    }

    fn publish(&self, d: usize) {
        let dev = &self.devs[d];
        let target = if dev.up && dev.ns.is_none() && dev.has_addr {
            let a = dev.addr(self.w, if dev.tap { 3 } else { 2 });
            u32::from_be_bytes(a)
        } else {
            0
        };
        self.shared.slots[self.w * SLOTS + dev.slot].store(target, Ordering::SeqCst);
    }

    fn create(&mut self) -> bool {
        let counter = self.counter;
        self.counter += 1;
        let name = format!("rs{}x{}", self.w, counter);
        let tap = self.rng.chance(1, 2);
        let mut flags = if tap { IFF_TAP } else { IFF_TUN };
        if self.rng.chance(1, 2) {
            flags |= IFF_NO_PI;
        }
        if self.rng.chance(1, 2) {
            flags |= IFF_VNET_HDR;
        }
        // Rarer: rtun registers a multi-queue device with all of its 256
        // queues' sysfs entries (then drops 255 when the first queue
        // attaches), which holds RTNL for 8-14 s in the KASAN guest and
        // stalls every other worker meanwhile.
        if self.rng.chance(1, 16) {
            flags |= IFF_MULTI_QUEUE;
        }
        if self.rng.chance(1, 4) {
            flags |= IFF_NAPI;
            if tap && self.rng.chance(1, 3) {
                flags |= IFF_NAPI_FRAGS;
            }
        }
        if self.rng.chance(1, 4) {
            flags |= IFF_BACKPRESSURE;
        }
        // Now and then born in another namespace.
        let ns = if !self.netns.is_empty() && self.rng.chance(1, 6) {
            Some(
                self.rng
                    .pick(&self.netns.iter().map(|s| s.as_str()).collect::<Vec<_>>())
                    .to_string(),
            )
        } else {
            None
        };
        if self.verbose {
            eprintln!(
                "w{} {:?} create {name} flags {flags:#x} ns {ns:?}",
                self.w,
                self.t0.elapsed()
            );
        }
        let fd = match self.open_queue(ns.as_deref(), &name, flags) {
            Ok(fd) => fd,
            Err(e) => {
                self.error(format!("create: {e}"));
                return false;
            }
        };
        let slot = self.free_slot();
        let mut dev = Dev {
            name: name.clone(),
            slot,
            counter,
            tap,
            flags,
            persist: false,
            vnet_sz: 10,
            ns,
            up: false,
            has_addr: false,
            qs: vec![Q { fd, attached: true }],
            rec: DevRecord {
                name,
                napi: flags & IFF_NAPI != 0,
                ..Default::default()
            },
        };
        if self.rng.chance(1, 3) {
            match ioctl_val(fd, TUNSETPERSIST, 1) {
                Ok(_) => dev.persist = true,
                Err(e) => self.error(format!("TUNSETPERSIST 1: {}", e)),
            }
        }
        self.devs.push(dev);
        if self.verbose {
            eprintln!(
                "w{} {:?} created {}",
                self.w,
                self.t0.elapsed(),
                self.devs[self.devs.len() - 1].name
            );
        }
        let d = self.devs.len() - 1;
        if self.rng.chance(2, 3) {
            self.set_up(d, true);
        }
        true
    }

    /// `ip link set up|down`, with the address first if the device has none here.
    fn set_up(&mut self, d: usize, up: bool) -> bool {
        let dev = &self.devs[d];
        let name = dev.name.clone();
        let ns = dev.ns.clone();
        if up && ns.is_none() && !dev.has_addr {
            let local = dev.addr(self.w, 1);
            let r = if dev.tap {
                rtnl::addr_add(&name, local, None, 30, Some(dev.addr(self.w, 3)))
            } else {
                rtnl::addr_add(&name, local, Some(dev.addr(self.w, 2)), 32, None)
            };
            match r {
                Ok(()) => self.devs[d].has_addr = true,
                Err(e) => self.error(format!("addr add: {e}")),
            }
        }
        if self.verbose {
            eprintln!(
                "w{} {:?} {name} addr done, up={up}",
                self.w,
                self.t0.elapsed()
            );
        }
        let r = rtnl::link(ns.as_deref(), self.home, &name, Link::Up(up));
        match r {
            Ok(()) => {
                self.devs[d].up = up;
                self.publish(d);
                true
            }
            Err(e) => {
                self.error(format!("link set {}: {e}", if up { "up" } else { "down" }));
                false
            }
        }
    }

    fn add_queue(&mut self, d: usize) -> bool {
        let dev = &self.devs[d];
        if !(dev.mq() && dev.qs.len() < 4 || dev.qs.is_empty()) {
            return false;
        }
        let (ns, name, flags) = (dev.ns.clone(), dev.name.clone(), dev.flags);
        match self.open_queue(ns.as_deref(), &name, flags) {
            Ok(fd) => {
                self.devs[d].qs.push(Q { fd, attached: true });
                true
            }
            Err(e) => {
                self.error(format!("add_queue: {e}"));
                false
            }
        }
    }

    fn pick_q(&mut self, d: usize) -> Option<usize> {
        let n = self.devs[d].qs.len();
        if n == 0 {
            None
        } else {
            Some(self.rng.below(n as u64) as usize)
        }
    }

    fn set_queue(&mut self, d: usize) -> bool {
        let Some(q) = self.pick_q(d) else {
            return false;
        };
        let attached = self.devs[d].qs[q].attached;
        let mut req = IfReq::new(
            "",
            if attached {
                IFF_DETACH_QUEUE
            } else {
                IFF_ATTACH_QUEUE
            },
        );
        match ioctl(self.devs[d].qs[q].fd, TUNSETQUEUE, &mut req) {
            Ok(_) => {
                self.devs[d].qs[q].attached = !attached;
                true
            }
            Err(e) => {
                self.error(format!(
                    "TUNSETQUEUE {}: {}",
                    if attached { "detach" } else { "attach" },
                    e
                ));
                false
            }
        }
    }

    fn close_queue(&mut self, d: usize) -> bool {
        let dev = &self.devs[d];
        if dev.qs.is_empty() {
            return false;
        }
        if dev.qs.len() == 1 && !dev.persist {
            // The last file of a device that does not persist: it goes with it.
            self.retire(d, "close");
            return true;
        }
        let q = self.pick_q(d).unwrap_or(0);
        let fd = self.devs[d].qs.remove(q).fd;
        close(fd);
        true
    }

    fn persist(&mut self, d: usize) -> bool {
        let Some(q) = self.pick_q(d) else {
            return false;
        };
        let on = !self.devs[d].persist;
        match ioctl_val(
            self.devs[d].qs[q].fd,
            TUNSETPERSIST,
            libc::c_ulong::from(on),
        ) {
            Ok(_) => {
                self.devs[d].persist = on;
                true
            }
            Err(e) => {
                self.error(format!("TUNSETPERSIST: {}", e));
                false
            }
        }
    }

    // ---- filters and offloads -----------------------------------------------------

    fn any_fd(&mut self, d: usize) -> Option<i32> {
        self.pick_q(d).map(|q| self.devs[d].qs[q].fd)
    }

    fn txfilter(&mut self, d: usize) -> bool {
        let Some(fd) = self.any_fd(d) else {
            return false;
        };
        let n = self.rng.below(4) as usize;
        let flags = if self.rng.chance(1, 3) {
            TUN_FLT_ALLMULTI
        } else {
            0
        };
        let mut b = Vec::new();
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&(n as u16).to_ne_bytes());
        for _ in 0..n {
            if self.rng.chance(1, 3) {
                b.extend_from_slice(&[0xff; 6]);
            } else {
                b.extend_from_slice(&[0x02, self.w as u8, 0, 0, 0, self.rng.below(4) as u8]);
            }
        }
        let r = ioctl(fd, TUNSETTXFILTER, &mut b[..]);
        self.result("TUNSETTXFILTER", r)
    }

    fn result(&mut self, what: &str, r: Result<i32, Errno>) -> bool {
        match r {
            Ok(_) => true,
            Err(e) => {
                self.error(format!("{what}: {}", e));
                false
            }
        }
    }

    fn cbpf(&mut self, d: usize) -> bool {
        let Some(fd) = self.any_fd(d) else {
            return false;
        };
        if self.rng.chance(1, 3) {
            let mut fprog = SockFprog {
                len: 0,
                filter: std::ptr::null(),
            };
            let r = ioctl(fd, TUNDETACHFILTER, &mut fprog);
            return self.result("TUNDETACHFILTER", r);
        }
        let prog = cbpf_program(self.rng.below(4));
        let mut fprog = SockFprog {
            len: prog.len() as u16,
            filter: prog.as_ptr(),
        };
        let r = ioctl(fd, TUNATTACHFILTER, &mut fprog);
        self.result("TUNATTACHFILTER", r)
    }

    fn ebpf(&mut self, d: usize) -> bool {
        let Some(fd) = self.any_fd(d) else {
            return false;
        };
        let mut prog: i32 = if self.ebpf.is_empty() || self.rng.chance(1, 3) {
            -1
        } else {
            self.rng.pick(&self.ebpf)
        };
        let r = ioctl(fd, TUNSETFILTEREBPF, &mut prog);
        self.result("TUNSETFILTEREBPF", r)
    }

    fn offload(&mut self, d: usize) -> bool {
        let Some(fd) = self.any_fd(d) else {
            return false;
        };
        // What VMMs negotiate, and now and then any bits (tun refuses some).
        let any = self.rng.below(0x80);
        let bits = self.rng.pick(&[0u64, 0x1, 0x7, 0xf, 0x1f, 0x61, 0x7f, any]);
        let r = ioctl_val(fd, TUNSETOFFLOAD, bits as libc::c_ulong);
        self.result("TUNSETOFFLOAD", r)
    }

    fn vnet_hdr_sz(&mut self, d: usize) -> bool {
        let Some(fd) = self.any_fd(d) else {
            return false;
        };
        let mut sz: i32 = self.rng.pick(&[10, 12, 20, 24, 32, 9]);
        match ioctl(fd, TUNSETVNETHDRSZ, &mut sz) {
            Ok(_) => {
                self.devs[d].vnet_sz = sz as usize;
                true
            }
            Err(e) => {
                self.error(format!("TUNSETVNETHDRSZ {sz}: {}", e));
                false
            }
        }
    }

    // ---- links and namespaces -----------------------------------------------------

    fn link(&mut self, d: usize, what: &str, op: Link) -> bool {
        let (name, ns) = (self.devs[d].name.clone(), self.devs[d].ns.clone());
        match rtnl::link(ns.as_deref(), self.home, &name, op) {
            Ok(()) => true,
            Err(e) => {
                self.error(format!("link set {what}: {e}"));
                false
            }
        }
    }

    fn link_updown(&mut self, d: usize) -> bool {
        let up = !self.devs[d].up;
        self.set_up(d, up)
    }

    fn netns_move(&mut self, d: usize) -> bool {
        if self.devs[d].ns.is_some() {
            return false;
        }
        if self.netns.is_empty() || (self.netns.len() < 2 && self.rng.chance(1, 3)) {
            let ns = format!("rsns{}x{}", self.w, self.netns_made);
            self.netns_made += 1;
            match rtnl::netns_add(&ns) {
                Ok(()) => self.netns.push(ns),
                Err(e) => {
                    self.error(format!("netns add: {e}"));
                    return false;
                }
            }
        }
        let ns = self
            .rng
            .pick(&self.netns.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .to_string();
        let name = self.devs[d].name.clone();
        // Out of the senders' reach first: the move takes the device down.
        self.devs[d].up = false;
        self.publish(d);
        match rtnl::move_link(None, Some(&ns), self.home, &name) {
            Ok(()) => {
                let dev = &mut self.devs[d];
                dev.ns = Some(ns);
                dev.has_addr = false;
                true
            }
            Err(e) => {
                self.error(format!("link set netns: {e}"));
                false
            }
        }
    }

    fn netns_back(&mut self, d: usize) -> bool {
        let Some(ns) = self.devs[d].ns.clone() else {
            return false;
        };
        let name = self.devs[d].name.clone();
        match rtnl::move_link(Some(&ns), None, self.home, &name) {
            Ok(()) => {
                let dev = &mut self.devs[d];
                dev.ns = None;
                dev.up = false;
                dev.has_addr = false;
                true
            }
            Err(e) => {
                self.error(format!("link set netns back: {e}"));
                false
            }
        }
    }

    /// Deletes a namespace with whatever devices are in it: each is retired
    /// (counted) first, and its files stay open as zombies.
    fn netns_del(&mut self, i: usize) -> bool {
        let ns = self.netns[i].clone();
        while let Some(d) = self
            .devs
            .iter()
            .position(|x| x.ns.as_deref() == Some(ns.as_str()))
        {
            self.retire(d, "netns");
        }
        self.netns.remove(i);
        match rtnl::netns_del(&ns) {
            Ok(()) => true,
            Err(e) => {
                self.fatal.push(format!("netns del {ns}: {e}"));
                false
            }
        }
    }

    fn rmmod(&mut self) {
        match delete_module("rtun") {
            Ok(()) => {
                self.shared.rmmod_ok.store(1, Ordering::SeqCst);
                self.fatal
                    .push("rmmod rtun succeeded while files were open".into());
                self.ops.note("rmmod", true);
            }
            Err(Errno(libc::EAGAIN | libc::EBUSY)) => self.ops.note("rmmod", true),
            Err(e) => {
                self.fatal.push(format!(
                    "rmmod rtun failed with {} (expected EAGAIN or EBUSY: in use)",
                    e
                ));
                self.ops.note("rmmod", false);
            }
        }
    }

    // ---- data -------------------------------------------------------------------------

    /// One frame for `d`, and where it is expected to fail if it does: every
    /// frame carries whole, valid headers (PI, virtio-net), so the driver
    /// counts whatever it rejects.
    fn write_one(&mut self, d: usize, fd: i32) {
        let dev = &self.devs[d];
        let mut hdr = Vec::new();
        let kind = self.rng.below(100);
        if dev.pi() {
            // flags, then the protocol (big-endian).
            let proto: u16 = if dev.tap { 0x88b5 } else { 0x0800 };
            hdr.extend_from_slice(&[0, 0]);
            hdr.extend_from_slice(&proto.to_be_bytes());
        }
        if dev.vnet() {
            let mut v = vec![0u8; dev.vnet_sz];
            if kind < 4 {
                v[1] = 0xff; // gso_type nobody knows: DEV_HDR
            }
            hdr.extend_from_slice(&v);
        }
        let bad_vnet = dev.vnet() && kind < 4;
        let mut body: Vec<u8>;
        let id = self.rng.below(65536) as u16;
        if dev.tap {
            if (4..10).contains(&kind) {
                body = vec![0xff; self.rng.range(1, 13) as usize]; // HDR_TRUNC
            } else {
                body = vec![0xff; 6];
                body.extend_from_slice(&[0x02, self.w as u8, 0, 0, 0, 1]);
                if kind < 40 {
                    body.extend_from_slice(&[0x08, 0x00]);
                    let (src, dst) = (dev.addr(self.w, 2), dev.addr(self.w, 1));
                    body.extend(ipv4_udp(src, dst, self.rng.range(0, 1400) as usize, id));
                } else {
                    body.extend_from_slice(&[0x88, 0xb5]);
                    let n = self.rng.pick(&[46usize, 100, 1000, 1486, 3000]);
                    body.resize(14 + n, 0x33);
                }
            }
        } else if (4..10).contains(&kind) && !dev.pi() {
            body = vec![0x00; self.rng.range(1, 40) as usize]; // version 0: UNHANDLED_PROTO
        } else {
            let (src, dst) = (dev.addr(self.w, 2), dev.addr(self.w, 1));
            body = ipv4_udp(src, dst, self.rng.pick(&[0usize, 18, 500, 1472, 2900]), id);
        }
        let bad = (10..14).contains(&kind);
        let r = if bad {
            // The frame itself is unreadable: SKB_UCOPY_FAULT.
            writev(
                fd,
                &[
                    (hdr.as_ptr(), hdr.len()),
                    (self.bad as *const u8, body.len()),
                ],
            )
        } else {
            writev(
                fd,
                &[(hdr.as_ptr(), hdr.len()), (body.as_ptr(), body.len())],
            )
        };
        let rec = &mut self.devs[d].rec;
        match r {
            Ok(_) => rec.write_ok += 1,
            Err(Errno(libc::ENOMEM | libc::EMSGSIZE)) => rec.write_lost += 1,
            Err(Errno(libc::EBADFD)) => self.error("write on a live device: EBADFD".into()),
            Err(e) => {
                rec.write_fail += 1;
                if e == Errno(libc::EBUSY) {
                    rec.write_busy += 1;
                }
                if e == Errno(libc::EINVAL) {
                    rec.write_einval += 1;
                    if bad_vnet {
                        rec.write_bad_vnet += 1;
                    }
                }
                if !matches!(
                    e,
                    Errno(libc::EIO | libc::EINVAL | libc::EFAULT | libc::EBUSY)
                ) {
                    self.error(format!("write: {}", e));
                }
            }
        }
    }

    fn write_burst(&mut self, d: usize) -> bool {
        let Some(q) = self.pick_q(d) else {
            return false;
        };
        let fd = self.devs[d].qs[q].fd;
        for _ in 0..self.rng.range(1, 8) {
            self.write_one(d, fd);
        }
        true
    }

    /// One read from `fd` of `d`: Ok(true) for a frame.
    fn read_one(&mut self, d: usize, fd: i32) -> Result<bool, Errno> {
        let r = match self.rng.below(40) {
            0 => read_bad(fd, self.bad, 2000),
            1 => read(fd, &mut self.buf[..2]),
            2 => read(fd, &mut self.buf[..0]),
            _ => read(fd, &mut self.buf),
        };
        match r {
            Ok(0) => Ok(false),
            Ok(_) => {
                self.devs[d].rec.read += 1;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    fn read_burst(&mut self, d: usize) -> bool {
        let Some(q) = self.pick_q(d) else {
            return false;
        };
        let fd = self.devs[d].qs[q].fd;
        if self.rng.chance(1, 4) {
            // A blocking read, cut short by SIGALRM if nothing comes. The
            // timer repeats until disarmed: one that fired before read()
            // went to sleep (a slow kernel under TCG) fires again.
            set_nonblock(fd, false);
            let every = libc::timeval {
                tv_sec: 0,
                tv_usec: self.rng.range(1000, 30000) as i64,
            };
            let t = libc::itimerval {
                it_interval: every,
                it_value: every,
            };
            // SAFETY: Arming and disarming our own timer.
            unsafe { libc::setitimer(libc::ITIMER_REAL, &t, std::ptr::null_mut()) };
            let r = self.read_one(d, fd);
            let zero: libc::itimerval = unsafe { std::mem::zeroed() };
            // SAFETY: As above.
            unsafe { libc::setitimer(libc::ITIMER_REAL, &zero, std::ptr::null_mut()) };
            set_nonblock(fd, self.rng.chance(1, 2));
            return self.read_result(r);
        }
        set_nonblock(fd, true);
        for _ in 0..self.rng.range(1, 64) {
            match self.read_one(d, fd) {
                Ok(_) => {}
                Err(Errno(libc::EAGAIN)) => break,
                Err(e) => return self.read_result(Err(e)),
            }
        }
        true
    }

    fn read_result(&mut self, r: Result<bool, Errno>) -> bool {
        match r {
            Ok(_) | Err(Errno(libc::EAGAIN)) | Err(Errno(libc::EINTR)) => true,
            // A frame dropped on the reader's side (buffer): counted by the driver.
            Err(Errno(libc::EINVAL)) | Err(Errno(libc::EFAULT)) => true,
            Err(e) => {
                self.error(format!("read: {}", e));
                false
            }
        }
    }

    fn poll(&mut self, d: usize) -> bool {
        let mut pfds: Vec<libc::pollfd> = self.devs[d]
            .qs
            .iter()
            .map(|q| libc::pollfd {
                fd: q.fd,
                events: libc::POLLIN | libc::POLLOUT,
                revents: 0,
            })
            .collect();
        if pfds.is_empty() {
            return false;
        }
        let t = self.rng.range(0, 10) as i32;
        // SAFETY: `pfds` is a valid array.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, t) };
        if n < 0 {
            self.error(format!("poll: {}", Errno::last()));
            return false;
        }
        for p in pfds {
            if p.revents & libc::POLLIN != 0 {
                set_nonblock(p.fd, true);
                let r = self.read_one(d, p.fd);
                self.read_result(r);
            }
        }
        true
    }

    fn epoll(&mut self) -> bool {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 16];
        let t = self.rng.range(0, 10) as i32;
        // SAFETY: `evs` is a valid array.
        let n = unsafe { libc::epoll_wait(self.epfd, evs.as_mut_ptr(), 16, t) };
        if n < 0 {
            let e = Errno::last();
            if e != Errno(libc::EINTR) {
                self.error(format!("epoll_wait: {}", e));
                return false;
            }
            return true;
        }
        for ev in &evs[..n as usize] {
            let fd = ev.u64 as i32;
            let Some(d) = self
                .devs
                .iter()
                .position(|x| x.qs.iter().any(|q| q.fd == fd))
            else {
                continue;
            };
            if ev.events & libc::EPOLLIN as u32 != 0 {
                set_nonblock(fd, true);
                let r = self.read_one(d, fd);
                self.read_result(r);
            }
        }
        true
    }

    /// Something on a file whose device is gone: nothing may come out of it.
    fn zombie_op(&mut self) {
        if self.zombies.is_empty() {
            return;
        }
        let i = self.rng.below(self.zombies.len() as u64) as usize;
        let (fd, may_write) = self.zombies[i];
        match self.rng.below(4) {
            0 => {
                close(fd);
                self.zombies.remove(i);
                self.ops.note("zombie_close", true);
            }
            1 => {
                set_nonblock(fd, true);
                let r = read(fd, &mut self.buf);
                if let Ok(n) = r {
                    if n > 0 {
                        self.fatal
                            .push(format!("read {n} bytes from a file whose device is gone"));
                    }
                }
                self.ops.note("zombie_read", r.is_err());
            }
            2 if may_write => {
                let frame = [0x45u8; 60];
                let r = writev(fd, &[(frame.as_ptr(), frame.len())]);
                match r {
                    Ok(n) => self
                        .fatal
                        .push(format!("wrote {n} bytes to a file whose device is gone")),
                    Err(e) => self.error(format!(
                        "write on a file whose device is gone (expected): {}",
                        e
                    )),
                }
                self.ops.note("zombie_write", r.is_err());
            }
            _ => {
                let mut req = IfReq::new("", 0);
                let r = ioctl(fd, TUNGETIFF, &mut req);
                self.ops.note("zombie_getiff", r.is_err());
            }
        }
    }

    // ---- retirement -------------------------------------------------------------------

    /// Takes device `d` out of the run, counted: down, drained, snapshot, then
    /// gone the way `how` says.
    fn retire(&mut self, d: usize, how: &str) {
        let mut dev = self.devs.remove(d);
        self.shared.slots[self.w * SLOTS + dev.slot].store(0, Ordering::SeqCst);
        let ns = dev.ns.clone();
        let name = dev.name.clone();
        if let Err(e) = rtnl::link(ns.as_deref(), self.home, &name, Link::Up(false)) {
            self.fatal
                .push(format!("{name}: cannot take it down to retire it: {e}"));
        }
        // Drain every queue: after `down` nothing more comes in.
        for q in &dev.qs {
            set_nonblock(q.fd, true);
            for _ in 0..100_000 {
                match read(q.fd, &mut self.buf) {
                    Ok(n) if n > 0 => dev.rec.read += 1,
                    Ok(_) => break,
                    Err(Errno(libc::EINVAL)) | Err(Errno(libc::EFAULT)) => {}
                    Err(_) => break,
                }
            }
        }
        let persist_del = how == "persist_del" || how == "persist_reattach";
        if persist_del {
            // Files first, the device after: it must persist meanwhile.
            if !dev.persist {
                if let Some(q) = dev.qs.first() {
                    match ioctl_val(q.fd, TUNSETPERSIST, 1) {
                        Ok(_) => dev.persist = true,
                        Err(e) => self.fatal.push(format!("{name}: TUNSETPERSIST 1: {}", e)),
                    }
                }
            }
            for q in dev.qs.drain(..) {
                close(q.fd);
            }
        }
        // The snapshot.
        let home = self.home;
        let stats = in_netns(ns.as_deref(), home, || link_stats(&name)).and_then(|r| r);
        let reasons = debugfs_reasons(&name);
        dev.rec.how = how.to_string();
        match (stats, reasons) {
            (Ok(s), Ok(r)) => {
                dev.rec.rx_packets = s.rx_packets;
                dev.rec.tx_packets = s.tx_packets;
                dev.rec.rx_dropped = s.rx_dropped;
                dev.rec.tx_dropped = s.tx_dropped;
                dev.rec.rx_frame_errors = s.rx_frame_errors;
                dev.rec.reasons = r;
                let l = dev.rec.to_line();
                self.line(&l);
            }
            (s, r) => {
                let e = format!("{name}: no snapshot: {:?} {:?}", s.err(), r.err());
                self.line(&format!("lost {name} {e}"));
                self.fatal.push(e);
            }
        }
        // Gone.
        match how {
            "close" => {
                if dev.persist {
                    if let Some(q) = dev.qs.first() {
                        if let Err(e) = ioctl_val(q.fd, TUNSETPERSIST, 0) {
                            self.fatal.push(format!("{name}: TUNSETPERSIST 0: {}", e));
                        }
                    }
                }
                if dev.qs.is_empty() {
                    self.delete_link(&name, ns.as_deref());
                }
                for q in dev.qs.drain(..) {
                    close(q.fd);
                }
            }
            "persist_reattach" if ns.is_none() => {
                // Attach once more, clear persist, close: the device goes with the file.
                match self.open_queue(None, &name, dev.flags) {
                    Ok(fd) => {
                        if let Err(e) = ioctl_val(fd, TUNSETPERSIST, 0) {
                            self.fatal
                                .push(format!("{name}: TUNSETPERSIST 0 after reattaching: {}", e));
                        }
                        close(fd);
                    }
                    Err(e) => {
                        self.error(format!("reattach {e}"));
                        self.delete_link(&name, None);
                    }
                }
            }
            "netns" => {
                // The namespace's deletion takes the device; its files stay open.
                self.zombies.extend(dev.qs.drain(..).map(|q| (q.fd, false)));
            }
            _ => {
                self.delete_link(&name, ns.as_deref());
                self.zombies.extend(dev.qs.drain(..).map(|q| (q.fd, true)));
            }
        }
        self.ops.note("retired", true);
    }

    fn delete_link(&mut self, name: &str, ns: Option<&str>) {
        if let Err(e) = rtnl::link(ns, self.home, name, Link::Delete) {
            self.fatal.push(format!("link del {name}: {e}"));
        }
    }
}

/// A sender: UDP datagrams to whatever the workers have up, in bursts.
pub fn sender(
    s: usize,
    seed: u64,
    seconds: u64,
    shared: &'static Shared,
    nprocs: usize,
    out_dir: &str,
) -> i32 {
    let mut rng = StreamRng::derive(seed, 1000 + s as u64);
    // SAFETY: Plain socket calls.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        eprintln!("sender {s}: socket: {}", Errno::last());
        return 1;
    }
    let one: i32 = 1;
    // SAFETY: Setting an int option.
    unsafe {
        libc::setsockopt(
            sock,
            libc::SOL_SOCKET,
            libc::SO_BROADCAST,
            (&one as *const i32).cast(),
            4,
        )
    };
    let payload = vec![0x42u8; 1400];
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut errs: BTreeMap<String, u64> = BTreeMap::new();
    while Instant::now() < deadline && shared.stop.load(Ordering::SeqCst) == 0 {
        for _ in 0..rng.range(1, 8) {
            let slot = rng.below((nprocs * SLOTS) as u64) as usize;
            let target = shared.slots[slot].load(Ordering::SeqCst);
            if target == 0 {
                continue;
            }
            let len = rng.pick(&[0usize, 18, 100, 512, 1400]);
            let sa = sockaddr_in(target.to_be_bytes(), 9999);
            // SAFETY: A valid buffer and address.
            let r = unsafe {
                libc::sendto(
                    sock,
                    payload.as_ptr().cast(),
                    len,
                    libc::MSG_DONTWAIT,
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                )
            };
            if r < 0 {
                failed += 1;
                *errs.entry(Errno::last().to_string()).or_insert(0) += 1;
            } else {
                sent += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.range(500, 8000)));
    }
    close(sock);
    let mut text = format!("op udp_send {sent} {failed}\n");
    for (e, n) in errs {
        text.push_str(&format!("senderr {n} {e}\n"));
    }
    text.push_str("done\n");
    let _ = std::fs::write(format!("{out_dir}/s{s}.txt"), text);
    0
}
