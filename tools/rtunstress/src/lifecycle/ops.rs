// SPDX-License-Identifier: GPL-2.0
//! The threads of a lifecycle run and what they do. A data thread reads,
//! writes (write, pwritev2 with RWF_NOWAIT, io_uring), polls, epolls, sends
//! UDP datagrams and AF_PACKET frames through the devices and toggles
//! O_ASYNC; a teardown thread creates devices across the flag space,
//! attaches and closes queues (TUNSETIFF, TUNSETQUEUE, close), deletes them
//! (RTM_DELLINK, the last close, namespace deletion), moves them between
//! namespaces, and reconfigures them (persist, txqueuelen, MTU, up/down,
//! filters and steering programs, offloads, netconsole). Each thread draws
//! from its own stream of the seed.

use std::{
    collections::BTreeMap,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use super::{
    sysx::{self, ThreadTimer},
    uring::Ring,
    world::*,
};
use crate::{
    rtnl::{self, Link},
    sys::*,
};
use rtun_common::{
    net::sockaddr_in,
    prng::{Draw, StreamRng},
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Data,
    Teardown,
    /// The main thread after the run: the end phase.
    End,
}

/// An operation's outcome, for the errno table and the recent-ops ring.
pub enum Out {
    Ok(String),
    Err(Errno, String),
    /// A failure without an errno (a namespace could not be entered, ...).
    Fail(String),
    /// Nothing to do it on.
    Skip,
}

const DATA_OPS: [(&str, u32); 12] = [
    ("write", 18),
    ("read", 16),
    ("poll", 5),
    ("epoll", 4),
    ("nowait_read", 6),
    ("nowait_write", 3),
    ("uring_read", 4),
    ("uring_write", 3),
    ("udp_send", 12),
    ("packet_send", 8),
    ("fasync", 3),
    ("zombie", 3),
];

const TEARDOWN_OPS: [(&str, u32); 17] = [
    ("create", 10),
    ("attach", 5),
    ("close_queue", 7),
    ("set_queue", 7),
    ("link_del", 4),
    ("netns_move", 4),
    ("netns_del", 2),
    ("persist", 3),
    ("txqlen", 4),
    ("mtu", 3),
    ("updown", 6),
    ("cbpf", 3),
    ("ebpf_filter", 2),
    ("steering", 4),
    ("offload", 4),
    ("txfilter", 2),
    ("netconsole", 3),
];

pub const MAX_QUEUES: usize = 4;

/// How long an io_uring request may take after its own timeout before it
/// counts as one that cannot be cancelled. Long: the completion of a
/// request may have to close the last reference to a file, whose release
/// takes RTNL, which a device's creation or a netconsole target's setup can
/// hold for seconds in the KASAN guest.
const URING_GIVE_UP_MS: u64 = 60_000;

/// An io_uring write's own timeout.
const URING_WRITE_TIMEOUT_MS: u64 = 1000;

/// A thread of the run.
pub struct Th<'w> {
    pub w: &'w World,
    pub t: usize,
    pub role: Role,
    rng: StreamRng,
    timer: ThreadTimer,
    uring: Option<Ring>,
    buf: Vec<u8>,
    udp: i32,
    tid: i32,
    /// (operation, result) -> count.
    pub errnos: BTreeMap<(&'static str, String), u64>,
    pub ops: u64,
    pub skipped: u64,
    /// Findings of this thread (a frame from a deleted device, ...).
    pub fatal: Vec<String>,
}

/// The errno's name, with the few that rtun_common's table lacks and the
/// lifecycle operations meet (io_uring's cancellations, restarts).
fn errno_str(e: Errno) -> String {
    match e.0 {
        libc::ECANCELED => "ECANCELED".into(),
        libc::ETIME => "ETIME".into(),
        libc::EALREADY => "EALREADY".into(),
        libc::ERESTART => "ERESTART".into(),
        512 => "ERESTARTSYS".into(),
        _ => e.to_string(),
    }
}

impl<'w> Th<'w> {
    pub fn new(w: &'w World, t: usize, role: Role) -> Result<Th<'w>, String> {
        let timer = ThreadTimer::new().map_err(|e| format!("timer_create: {}", e))?;
        // SAFETY: A UDP socket with SO_BROADCAST (an int option on the stack).
        let udp = unsafe {
            let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            if s >= 0 {
                let one: i32 = 1;
                libc::setsockopt(
                    s,
                    libc::SOL_SOCKET,
                    libc::SO_BROADCAST,
                    (&one as *const i32).cast(),
                    4,
                );
            }
            s
        };
        lk(&w.recent[t]).tid = sysx::gettid();
        Ok(Th {
            w,
            t,
            role,
            rng: StreamRng::derive(w.cfg.seed, 0x11fe_0000 + t as u64),
            timer,
            uring: None,
            buf: vec![0u8; 70000],
            udp,
            tid: sysx::gettid(),
            errnos: BTreeMap::new(),
            ops: 0,
            skipped: 0,
            fatal: Vec::new(),
        })
    }

    pub fn note(&mut self, op: &'static str, r: &str) {
        *self.errnos.entry((op, r.to_string())).or_insert(0) += 1;
    }

    fn note_res<T>(&mut self, op: &'static str, r: &Result<T, Errno>) {
        let s = match r {
            Ok(_) => "OK".to_string(),
            Err(e) => errno_str(*e),
        };
        self.note(op, &s);
    }

    fn begin(&self, op: &str) {
        let s = format!("+{:.3}s {op}", self.w.t0.elapsed().as_secs_f64());
        if self.w.cfg.verbose {
            eprintln!("t{} {s}", self.t);
        }
        lk(&self.w.recent[self.t]).cur = Some((Instant::now(), s));
    }

    fn end(&mut self, op: &'static str, out: Out) {
        let mut r = lk(&self.w.recent[self.t]);
        let (start, took) = r
            .cur
            .take()
            .map(|c| (c.1, c.0.elapsed().as_secs_f64() * 1000.0))
            .unwrap_or_default();
        let (res, detail) = match &out {
            Out::Ok(d) => ("OK".to_string(), d.clone()),
            Out::Err(e, d) => (errno_str(*e), d.clone()),
            Out::Fail(d) => ("FAIL".to_string(), d.clone()),
            Out::Skip => ("skip".to_string(), String::new()),
        };
        r.ring
            .push_back(format!("{start} {detail} -> {res} ({took:.0} ms)"));
        while r.ring.len() > RECENT {
            r.ring.pop_front();
        }
        drop(r);
        if let Out::Skip = out {
            self.skipped += 1;
        } else {
            self.ops += 1;
            self.note(op, &res);
        }
    }

    /// The thread's run: operations until the deadline, the op budget, or stop.
    pub fn run(&mut self) {
        let table: &[(&str, u32)] = if self.role == Role::Data {
            &DATA_OPS
        } else {
            &TEARDOWN_OPS
        };
        let weights: Vec<u32> = table.iter().map(|o| o.1).collect();
        while Instant::now() < self.w.deadline
            && !self.w.stop.load(Ordering::Relaxed)
            && self.ops < self.w.cfg.max_ops
        {
            let op = table[self.rng.weighted(&weights)].0;
            self.begin(op);
            let out = self.op(op);
            let skip = matches!(out, Out::Skip);
            self.end(op, out);
            if skip {
                // Nothing to do it on (no device yet, every slot taken):
                // leave the CPUs to the threads that have something to do.
                std::thread::sleep(Duration::from_millis(2));
            }
            if !self.fatal.is_empty() {
                self.w.stop.store(true, Ordering::Relaxed);
            }
        }
    }

    fn op(&mut self, op: &'static str) -> Out {
        if op == "create" {
            return self.create();
        }
        if op == "netns_del" {
            return self.netns_del();
        }
        if op == "zombie" {
            return self.zombie();
        }
        let live = self.w.live_slots();
        if live.is_empty() {
            return Out::Skip;
        }
        let s = self.rng.pick(&live);
        let Some(dev) = self.w.dev(s) else {
            return Out::Skip;
        };
        match op {
            "write" => self.write_op(&dev),
            "read" => self.read_op(&dev),
            "poll" => self.poll_op(&dev),
            "epoll" => self.epoll_op(&dev),
            "nowait_read" => self.nowait_read(&dev),
            "nowait_write" => self.nowait_write(&dev),
            "uring_read" => self.uring_read(&dev),
            "uring_write" => self.uring_write(&dev),
            "udp_send" => self.udp_send(&dev),
            "packet_send" => self.packet_op(&dev),
            "fasync" => self.fasync_op(&dev),
            "attach" => self.attach(&dev),
            "close_queue" => self.close_queue(&dev),
            "set_queue" => self.set_queue(&dev),
            "link_del" => self.link_del(&dev),
            "netns_move" => self.netns_move(&dev),
            "persist" => self.persist(&dev),
            "txqlen" => {
                let n = self.rng.pick(&[0u32, 1, 2, 8, 64, 500, 1000]);
                self.link(&dev, "txqueuelen", Link::TxQLen(n))
            }
            "mtu" => {
                let n = self.rng.pick(&[68u32, 576, 1280, 1500, 9000]);
                self.link(&dev, "mtu", Link::Mtu(n))
            }
            "updown" => {
                let up = !lk(&dev.st).up;
                match self.set_up(&dev, up) {
                    Ok(()) => Out::Ok(format!(
                        "{} {}",
                        dev.info.name,
                        if up { "up" } else { "down" }
                    )),
                    Err(e) => Out::Fail(format!("{} {e}", dev.info.name)),
                }
            }
            "cbpf" => self.cbpf(&dev),
            "ebpf_filter" => self.ebpf_filter(&dev),
            "steering" => self.steering(&dev),
            "offload" => self.offload(&dev),
            "txfilter" => self.txfilter(&dev),
            "netconsole" => self.netconsole(&dev),
            _ => Out::Skip,
        }
    }

    // ---- helpers ------------------------------------------------------------------

    fn pick_q(&mut self, dev: &Dev) -> Option<Arc<Q>> {
        let st = lk(&dev.st);
        if st.qs.is_empty() {
            return None;
        }
        let i = self.rng.below(st.qs.len() as u64) as usize;
        Some(st.qs[i].clone())
    }

    fn ns_of(dev: &Dev) -> Option<String> {
        lk(&dev.st).ns.clone()
    }

    /// A valid frame for `d`: (PI and virtio-net headers, the frame).
    pub fn frame(&mut self, d: &DevInfo) -> (Vec<u8>, Vec<u8>) {
        let mut hdr = Vec::new();
        if d.pi() {
            let proto: u16 = if d.tap() { 0x88b5 } else { 0x0800 };
            hdr.extend_from_slice(&[0, 0]);
            hdr.extend_from_slice(&proto.to_be_bytes());
        }
        if d.vnet() {
            hdr.extend_from_slice(&[0u8; 10]);
        }
        let id = self.rng.below(65536) as u16;
        let body = if d.tap() {
            let mut b = vec![0xff; 6];
            b.extend_from_slice(&[0x02, d.slot as u8, (d.gen & 0xff) as u8, 0, 0, 1]);
            if self.rng.chance(1, 2) {
                b.extend_from_slice(&[0x08, 0x00]);
                b.extend(ipv4_udp(
                    d.addr(2),
                    d.addr(1),
                    self.rng.range(0, 1400) as usize,
                    id,
                ));
            } else {
                b.extend_from_slice(&[0x88, 0xb5]);
                b.resize(14 + self.rng.pick(&[46usize, 100, 1000, 1486]), 0x33);
            }
            b
        } else {
            ipv4_udp(
                d.addr(2),
                d.addr(1),
                self.rng.pick(&[0usize, 18, 500, 1472]),
                id,
            )
        };
        (hdr, body)
    }

    /// Counts a write's result on its device.
    pub fn count_write(&mut self, d: &DevInfo, r: Result<usize, Errno>) {
        let c = &d.c;
        match r {
            Ok(_) => Counters::add(&c.write_ok, 1),
            Err(Errno(libc::ENOMEM)) | Err(Errno(libc::EMSGSIZE)) => {
                Counters::add(&c.write_lost, 1)
            }
            // No skb was made: no device, would block, interrupted, not tried.
            Err(Errno(libc::EBADFD))
            | Err(Errno(libc::EAGAIN))
            | Err(Errno(libc::EINTR))
            | Err(Errno(libc::ECANCELED))
            | Err(Errno(libc::EOPNOTSUPP))
            | Err(Errno(libc::ERESTART)) => {}
            Err(e) => {
                Counters::add(&c.write_fail, 1);
                if e == Errno(libc::EINVAL) {
                    Counters::add(&c.write_einval, 1);
                }
                if e == Errno(libc::EBUSY) {
                    Counters::add(&c.write_busy, 1);
                }
            }
        }
    }

    /// Counts a read's result on its device; whether it was a frame.
    pub fn count_read(&mut self, d: &DevInfo, r: &Result<usize, Errno>, buf_len: usize) -> bool {
        if let Ok(n) = *r {
            if n > 0 {
                Counters::add(&d.c.read, 1);
                if sysx::is_netconsole_frame(&self.buf[..n.min(buf_len)]) {
                    Counters::add(&d.c.read_netpoll, 1);
                }
                return true;
            }
        }
        false
    }

    /// One read from `q`; a blocking file's read is cut short after `us`.
    pub fn read_q(&mut self, q: &Q, us: u64) -> Result<usize, Errno> {
        if !q.nonblock {
            self.timer.arm(us);
        }
        let len = self.buf.len();
        let r = read(q.fd, &mut self.buf);
        if !q.nonblock {
            self.timer.disarm();
        }
        self.count_read(&q.dev, &r, len);
        r
    }

    // ---- data path -------------------------------------------------------------------

    fn write_op(&mut self, dev: &Dev) -> Out {
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let n = self.rng.range(1, 6);
        let (mut ok, mut last) = (0, None);
        for _ in 0..n {
            let (hdr, body) = self.frame(&q.dev);
            let r = writev(
                q.fd,
                &[(hdr.as_ptr(), hdr.len()), (body.as_ptr(), body.len())],
            );
            self.count_write(&q.dev, r);
            match r {
                Ok(_) => ok += 1,
                Err(e) => last = Some(e),
            }
        }
        let d = format!("{} fd {} x{n}", q.dev.name, q.fd);
        // Every write that did not count in `ok` left its errno in `last`.
        match last {
            None => Out::Ok(d),
            Some(e) => Out::Err(e, format!("{d} ({ok} ok)")),
        }
    }

    fn read_op(&mut self, dev: &Dev) -> Out {
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let d = format!(
            "{} fd {}{}",
            q.dev.name,
            q.fd,
            if q.nonblock { "" } else { " blocking" }
        );
        if !q.nonblock {
            let us = self.rng.range(2000, 30000);
            return match self.read_q(&q, us) {
                Ok(n) => Out::Ok(format!("{d} {n} bytes")),
                Err(e) => Out::Err(e, d),
            };
        }
        let mut frames = 0;
        for _ in 0..self.rng.range(1, 32) {
            match self.read_q(&q, 0) {
                Ok(_) => frames += 1,
                Err(Errno(libc::EAGAIN)) => break,
                Err(e) => return Out::Err(e, format!("{d} after {frames} frames")),
            }
        }
        Out::Ok(format!("{d} {frames} frames"))
    }

    fn poll_op(&mut self, dev: &Dev) -> Out {
        let qs: Vec<Arc<Q>> = lk(&dev.st).qs.clone();
        if qs.is_empty() {
            return Out::Skip;
        }
        let mut pfds: Vec<libc::pollfd> = qs
            .iter()
            .map(|q| libc::pollfd {
                fd: q.fd,
                events: libc::POLLIN | libc::POLLOUT,
                revents: 0,
            })
            .collect();
        let t = self.rng.range(0, 10) as i32;
        // SAFETY: `pfds` is a valid array of pollfds.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, t) };
        if n < 0 {
            return Out::Err(Errno::last(), dev.info.name.clone());
        }
        let mut got = 0;
        for (p, q) in pfds.iter().zip(&qs) {
            if p.revents & libc::POLLIN != 0 && self.read_q(q, 20_000).is_ok() {
                got += 1;
            }
        }
        Out::Ok(format!(
            "{} {} queues, {n} ready, {got} frames",
            dev.info.name,
            qs.len()
        ))
    }

    fn epoll_op(&mut self, dev: &Dev) -> Out {
        let qs: Vec<Arc<Q>> = lk(&dev.st).qs.clone();
        if qs.is_empty() {
            return Out::Skip;
        }
        // SAFETY: A fresh epoll instance, closed below.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Out::Err(Errno::last(), "epoll_create1".into());
        }
        let et = if self.rng.chance(1, 3) {
            libc::EPOLLET as u32
        } else {
            0
        };
        for (i, q) in qs.iter().enumerate() {
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32 | libc::EPOLLOUT as u32 | et,
                u64: i as u64,
            };
            // SAFETY: Adding an fd we hold to our epoll instance.
            unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, q.fd, &mut ev) };
        }
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 8];
        let t = self.rng.range(0, 10) as i32;
        // SAFETY: `evs` is a valid array.
        let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), 8, t) };
        let e = Errno::last();
        let mut got = 0;
        for ev in &evs[..n.max(0) as usize] {
            let Some(q) = qs.get(ev.u64 as usize) else {
                continue;
            };
            if ev.events & libc::EPOLLIN as u32 != 0 && self.read_q(q, 20_000).is_ok() {
                got += 1;
            }
        }
        close(ep);
        if n < 0 {
            return Out::Err(e, dev.info.name.clone());
        }
        Out::Ok(format!("{} {n} ready, {got} frames", dev.info.name))
    }

    fn nowait_read(&mut self, dev: &Dev) -> Out {
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let len = self.buf.len();
        let r = sysx::preadv2(q.fd, &mut self.buf, sysx::RWF_NOWAIT);
        self.count_read(&q.dev, &r, len);
        match r {
            Ok(n) => Out::Ok(format!("{} fd {} {n} bytes", q.dev.name, q.fd)),
            Err(e) => Out::Err(e, format!("{} fd {}", q.dev.name, q.fd)),
        }
    }

    fn nowait_write(&mut self, dev: &Dev) -> Out {
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let (hdr, body) = self.frame(&q.dev);
        let r = sysx::pwritev2(q.fd, &[&hdr, &body], sysx::RWF_NOWAIT);
        self.count_write(&q.dev, r);
        match r {
            Ok(n) => Out::Ok(format!("{} fd {} {n} bytes", q.dev.name, q.fd)),
            Err(e) => Out::Err(e, format!("{} fd {}", q.dev.name, q.fd)),
        }
    }

    fn ring(&mut self) -> Result<&mut Ring, Errno> {
        if self.uring.is_none() {
            self.uring = Some(Ring::new()?);
        }
        self.uring.as_mut().ok_or(Errno(libc::ENOSYS))
    }

    /// A wait for io_uring completions that did not end within
    /// [`URING_GIVE_UP_MS`] after the request's own timeout: the request
    /// could not be cancelled.
    /// Where this thread's io_uring requests are: its io-wq workers
    /// ("iou-wrk-TID"), their wchan and kernel stack.
    fn uring_workers(&self) -> String {
        let me = std::process::id();
        let mut workers = String::new();
        if let Ok(rd) = std::fs::read_dir(format!("/proc/{me}/task")) {
            for e in rd.flatten() {
                let tid: u32 = e.file_name().to_string_lossy().parse().unwrap_or(0);
                let comm = std::fs::read_to_string(format!("/proc/{me}/task/{tid}/comm"))
                    .unwrap_or_default();
                if comm.trim() == format!("iou-wrk-{}", self.tid) {
                    workers.push_str(&format!(
                        " [{}: {}]",
                        comm.trim(),
                        sysx::task_where(me, tid).replace('\n', " | ")
                    ));
                }
            }
        }
        if workers.is_empty() {
            " none".into()
        } else {
            workers
        }
    }

    fn uring_stuck(&mut self, what: String) -> Out {
        let workers = self.uring_workers();
        // The buffer stays lent to the kernel: a fresh one for us, the old
        // one leaked; the ring is closed (which cancels what it can).
        std::mem::forget(std::mem::replace(&mut self.buf, vec![0u8; 70000]));
        self.uring = None;
        self.fatal.push(format!("{what}: the io_uring request did not complete within {} s of its timeout (it cannot be cancelled); io-wq:{workers}", URING_GIVE_UP_MS / 1000));
        Out::Fail(what)
    }

    fn uring_read(&mut self, dev: &Dev) -> Out {
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let ms = self.rng.range(2, 30);
        let what = format!("{} fd {} timeout {ms} ms", q.dev.name, q.fd);
        let mut buf = std::mem::take(&mut self.buf);
        let give_up = Instant::now() + Duration::from_millis(ms + URING_GIVE_UP_MS);
        self.timer.arm((ms + URING_GIVE_UP_MS + 100) * 1000);
        let r = match self.ring() {
            Ok(ring) => ring.read(q.fd, &mut buf, ms, give_up),
            Err(e) => Err(e),
        };
        self.timer.disarm();
        match r {
            Err(Errno(libc::EINTR)) => {
                self.buf = buf;
                self.uring_stuck(what)
            }
            Err(e) => {
                self.buf = buf;
                self.note("uring_setup", &errno_str(e));
                Out::Err(e, what)
            }
            Ok(r) => {
                self.buf = buf;
                let len = self.buf.len();
                self.count_read(&q.dev, &r, len);
                match r {
                    Ok(n) => Out::Ok(format!("{what} {n} bytes")),
                    Err(e) => Out::Err(e, what),
                }
            }
        }
    }

    fn uring_write(&mut self, dev: &Dev) -> Out {
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let (mut frame, body) = self.frame(&q.dev);
        frame.extend_from_slice(&body);
        let what = format!("{} fd {} {} bytes", q.dev.name, q.fd, frame.len());
        // tun.ko writes at once (FMODE_NOWAIT: the nonblocking attempt gets
        // EIO on a down device); a file without FMODE_NOWAIT has its write
        // parked until poll finds it writable, which a deleted device never
        // is: a write still parked after a second is cancelled (ECANCELED).
        let give_up =
            Instant::now() + Duration::from_millis(URING_WRITE_TIMEOUT_MS + URING_GIVE_UP_MS);
        self.timer
            .arm((URING_WRITE_TIMEOUT_MS + URING_GIVE_UP_MS + 100) * 1000);
        let r = match self.ring() {
            Ok(ring) => ring.write(q.fd, &frame, URING_WRITE_TIMEOUT_MS, give_up),
            Err(e) => Err(e),
        };
        self.timer.disarm();
        match r {
            Err(Errno(libc::EINTR)) => {
                let workers = self.uring_workers();
                // The frame's buffer is lent to the kernel.
                std::mem::forget(frame);
                self.uring = None;
                self.fatal.push(format!(
                    "{what}: an io_uring write did not complete within {} s; io-wq:{workers}",
                    URING_GIVE_UP_MS / 1000
                ));
                Out::Fail(what)
            }
            Err(e) => {
                self.note("uring_setup", &errno_str(e));
                Out::Err(e, what)
            }
            Ok(r) => {
                self.count_write(&q.dev, r);
                match r {
                    Ok(_) => Out::Ok(what),
                    Err(e) => Out::Err(e, what),
                }
            }
        }
    }

    fn udp_send(&mut self, dev: &Dev) -> Out {
        let (ok, d) = {
            let st = lk(&dev.st);
            (st.ns.is_none() && st.up && st.has_addr, &dev.info)
        };
        if !ok || self.udp < 0 {
            return Out::Skip;
        }
        let target = d.addr(if d.tap() { 3 } else { 2 });
        let n = self.rng.range(1, 8);
        let (mut sent, mut last) = (0, None);
        for _ in 0..n {
            let len = self.rng.pick(&[0usize, 18, 100, 512, 1400]);
            let payload = [0x42u8; 1400];
            let sa = sockaddr_in(target, 9999);
            // SAFETY: A valid buffer and address.
            let r = unsafe {
                libc::sendto(
                    self.udp,
                    payload.as_ptr().cast(),
                    len,
                    libc::MSG_DONTWAIT,
                    (&sa as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                )
            };
            if r < 0 {
                let e = Errno::last();
                last = Some(e);
                self.note("udp_sendto", &errno_str(e));
            } else {
                sent += 1;
                self.note("udp_sendto", "OK");
            }
        }
        let what = format!("{} x{n}", d.name);
        match last {
            None => Out::Ok(what),
            Some(e) => Out::Err(e, format!("{what} ({sent} sent)")),
        }
    }

    /// A frame for an AF_PACKET send through `d`, and its protocol.
    fn packet_frame(&mut self, d: &DevInfo, marker: &[u8]) -> (Vec<u8>, u16) {
        if d.tap() {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[0x02, 0xee, d.slot as u8, (d.gen & 0xff) as u8, 0, 2]);
            f.extend_from_slice(&[0x88, 0xb5]);
            f.extend_from_slice(marker);
            let n = self.rng.pick(&[60usize, 200, 1000]);
            f.resize(n.max(f.len()), 0x44);
            (f, 0x88b5)
        } else {
            let mut p = ipv4_udp(
                d.addr(1),
                d.addr(2),
                marker.len() + self.rng.pick(&[0usize, 100, 900]),
                self.rng.below(65536) as u16,
            );
            p[28..28 + marker.len()].copy_from_slice(marker);
            (p, 0x0800)
        }
    }

    fn packet_op(&mut self, dev: &Dev) -> Out {
        let ns = Self::ns_of(dev);
        let bypass = self.rng.chance(1, 2);
        let (f, proto) = self.packet_frame(&dev.info, b"rtunstress-packet");
        let r = sysx::packet_send(
            ns.as_deref(),
            self.w.home,
            &dev.info.name,
            proto,
            bypass,
            &f,
        );
        if bypass {
            match r {
                Ok(()) => Counters::add(&dev.info.c.bypass_ok, 1),
                Err(Errno(libc::ENOBUFS)) => Counters::add(&dev.info.c.bypass_busy, 1),
                Err(_) => {}
            }
        }
        let op = if bypass {
            "packet_bypass"
        } else {
            "packet_qdisc"
        };
        self.note_res(op, &r);
        let what = format!("{} {op} {} bytes", dev.info.name, f.len());
        match r {
            Ok(()) => Out::Ok(what),
            Err(e) => Out::Err(e, what),
        }
    }

    fn fasync_op(&mut self, dev: &Dev) -> Out {
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let on = self.rng.chance(2, 3);
        let r = sysx::fasync(q.fd, on, self.tid);
        let what = format!(
            "{} fd {} O_ASYNC {}",
            q.dev.name,
            q.fd,
            if on { "on" } else { "off" }
        );
        match r {
            Ok(()) => Out::Ok(what),
            Err(e) => Out::Err(e, what),
        }
    }

    /// Something on a file whose device is gone or going.
    fn zombie(&mut self) -> Out {
        let z = {
            let zs = lk(&self.w.zombies);
            if zs.is_empty() {
                return Out::Skip;
            }
            let i = self.rng.below(zs.len() as u64) as usize;
            zs.get(i).map(|z| (z.q.clone(), z.sure))
        };
        let Some((q, sure)) = z else { return Out::Skip };
        let what = format!(
            "{} fd {}{}",
            q.dev.name,
            q.fd,
            if sure {
                " (deleted)"
            } else {
                " (namespace deleted)"
            }
        );
        match self.rng.below(3) {
            0 => {
                let r = self.read_q(&q, 5000);
                if let (true, Ok(n)) = (sure, r) {
                    if n > 0 {
                        self.fatal.push(format!(
                            "{what}: read {n} bytes from a queue whose device was deleted"
                        ));
                    }
                }
                match r {
                    Ok(n) => Out::Ok(format!("{what} read {n}")),
                    Err(e) => Out::Err(e, format!("{what} read")),
                }
            }
            1 => {
                let (hdr, body) = self.frame(&q.dev);
                let r = writev(
                    q.fd,
                    &[(hdr.as_ptr(), hdr.len()), (body.as_ptr(), body.len())],
                );
                self.count_write(&q.dev, r);
                if let (true, Ok(n)) = (sure, r) {
                    self.fatal.push(format!(
                        "{what}: wrote {n} bytes to a queue whose device was deleted"
                    ));
                }
                match r {
                    Ok(n) => Out::Ok(format!("{what} wrote {n}")),
                    Err(e) => Out::Err(e, format!("{what} write")),
                }
            }
            _ => {
                let mut req = IfReq::new("", 0);
                match ioctl(q.fd, TUNGETIFF, &mut req) {
                    Ok(_) => Out::Ok(format!("{what} TUNGETIFF {}", req.name())),
                    Err(e) => Out::Err(e, format!("{what} TUNGETIFF")),
                }
            }
        }
    }

    // ---- devices and queues ------------------------------------------------------------

    /// A new file attached to `name` in `ns` with `flags` (TUNSETIFF).
    fn open_queue(
        &mut self,
        ns: Option<&str>,
        name: &str,
        flags: u16,
    ) -> Result<(i32, bool), String> {
        let nonblock = self.rng.chance(1, 2);
        let path = self.w.cfg.dev.clone();
        let r = in_netns(ns, self.w.home, || -> Result<i32, Errno> {
            let fd = open_dev(&path, if nonblock { libc::O_NONBLOCK } else { 0 })?;
            let mut req = IfReq::new(name, flags);
            if let Err(e) = ioctl(fd, TUNSETIFF, &mut req) {
                close(fd);
                return Err(e);
            }
            Ok(fd)
        })?;
        match r {
            Ok(fd) => Ok((fd, nonblock)),
            Err(e) => Err(errno_str(e)),
        }
    }

    fn create(&mut self) -> Out {
        let empty: Vec<usize> = (0..self.w.slots.len())
            .filter(|&s| self.w.dev(s).is_none())
            .collect();
        if empty.is_empty() {
            return Out::Skip;
        }
        let s = self.rng.pick(&empty);
        let slot = &self.w.slots[s];
        let _ctl = lk(&slot.ctl);
        if self.w.dev(s).is_some() {
            return Out::Skip;
        }
        let gen = slot.gens.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}{s}g{gen}", self.w.cfg.prefix);
        // The flag space, per device, from the seed.
        let tap = self.rng.chance(1, 2);
        let mut flags = if tap { IFF_TAP } else { IFF_TUN };
        if self.rng.chance(1, 2) {
            flags |= IFF_NO_PI;
        }
        if self.rng.chance(1, 2) {
            flags |= IFF_VNET_HDR;
        }
        if self.rng.chance(1, 3) {
            flags |= IFF_MULTI_QUEUE;
        }
        if self.rng.chance(1, 3) {
            flags |= IFF_NAPI;
            if tap && self.rng.chance(1, 2) && self.w.cfg.napi_frags {
                flags |= IFF_NAPI_FRAGS;
            }
        }
        if self.rng.chance(1, 2) {
            flags |= IFF_BACKPRESSURE;
        }
        let persist = self.rng.chance(1, 3);
        let nets = lk(&self.w.netns).clone();
        let ns = if !nets.is_empty() && self.rng.chance(1, 8) {
            Some(
                self.rng
                    .pick(&nets.iter().map(|s| s.as_str()).collect::<Vec<_>>())
                    .to_string(),
            )
        } else {
            None
        };
        let what = format!(
            "{name} flags {flags:#06x}{}{}",
            if persist { " persist" } else { "" },
            ns.as_deref()
                .map(|n| format!(" in {n}"))
                .unwrap_or_default()
        );
        let (fd, nonblock) = match self.open_queue(ns.as_deref(), &name, flags) {
            Ok(x) => x,
            Err(e) => return Out::Fail(format!("{what}: TUNSETIFF {e}")),
        };
        let info = Arc::new(DevInfo {
            name: name.clone(),
            slot: s,
            gen,
            flags,
            c: Counters::default(),
            ended: std::sync::Mutex::new("alive"),
        });
        self.w.register(info.clone());
        let mut st = DevSt {
            ns: ns.clone(),
            ..Default::default()
        };
        st.qs.push(Arc::new(Q {
            fd,
            nonblock,
            attached: true.into(),
            dev: info.clone(),
        }));
        if persist {
            match ioctl_val(fd, TUNSETPERSIST, 1) {
                Ok(_) => st.persist = true,
                Err(e) => self.note("create_persist", &errno_str(e)),
            }
        }
        if flags & IFF_MULTI_QUEUE != 0 {
            for _ in 0..self.rng.range(0, 3) {
                match self.open_queue(ns.as_deref(), &name, flags) {
                    Ok((fd, nb)) => st.qs.push(Arc::new(Q {
                        fd,
                        nonblock: nb,
                        attached: true.into(),
                        dev: info.clone(),
                    })),
                    Err(e) => self.note("create_queue", &e),
                }
            }
        }
        if flags & IFF_VNET_HDR != 0 && self.rng.chance(1, 2) {
            let bits = self.rng.pick(&[0x1u64, 0x7, 0x1f, 0x61]);
            let r = ioctl_val(fd, TUNSETOFFLOAD, bits as libc::c_ulong);
            self.note_res("create_offload", &r);
        }
        let dev = Arc::new(Dev {
            info,
            st: std::sync::Mutex::new(st),
        });
        if self.rng.chance(3, 4) {
            if let Err(e) = self.set_up(&dev, true) {
                self.note("create_up", &e);
            }
        }
        *lk(&slot.cur) = Some(dev);
        Out::Ok(what)
    }

    /// `ip link set up|down`, with the device's address first if it is in
    /// the initial namespace without one.
    pub fn set_up(&mut self, dev: &Dev, up: bool) -> Result<(), String> {
        let (ns, has_addr) = {
            let st = lk(&dev.st);
            (st.ns.clone(), st.has_addr)
        };
        let d = &dev.info;
        if up && ns.is_none() && !has_addr {
            let local = d.addr(1);
            let r = if d.tap() {
                rtnl::addr_add(&d.name, local, None, 30, Some(d.addr(3)))
            } else {
                rtnl::addr_add(&d.name, local, Some(d.addr(2)), 32, None)
            };
            match r {
                Ok(()) => {
                    let mut st = lk(&dev.st);
                    if st.ns.is_none() {
                        st.has_addr = true;
                    }
                }
                Err(e) => self.note("addr_add", &e),
            }
        }
        rtnl::link(ns.as_deref(), self.w.home, &d.name, Link::Up(up))?;
        lk(&dev.st).up = up;
        Ok(())
    }

    fn attach(&mut self, dev: &Dev) -> Out {
        let _ctl = lk(&self.w.slots[dev.info.slot].ctl);
        if !self.w.is_current(dev) {
            return Out::Skip;
        }
        let (ns, n, persist) = {
            let st = lk(&dev.st);
            (st.ns.clone(), st.qs.len(), st.persist)
        };
        let d = dev.info.clone();
        // A second queue: multi-queue devices take up to four; a persistent
        // single-queue device takes one, and refuses a second (EBUSY).
        let fits = if d.mq() {
            n < MAX_QUEUES
        } else {
            n == 0 && persist || self.rng.chance(1, 4)
        };
        if !fits {
            return Out::Skip;
        }
        match self.open_queue(ns.as_deref(), &d.name, d.flags) {
            Ok((fd, nonblock)) => {
                lk(&dev.st).qs.push(Arc::new(Q {
                    fd,
                    nonblock,
                    attached: true.into(),
                    dev: d.clone(),
                }));
                Out::Ok(format!("{} queue {n} fd {fd}", d.name))
            }
            Err(e) => Out::Fail(format!("{} queue {n}: TUNSETIFF {e}", d.name)),
        }
    }

    fn close_queue(&mut self, dev: &Dev) -> Out {
        let _ctl = lk(&self.w.slots[dev.info.slot].ctl);
        if !self.w.is_current(dev) {
            return Out::Skip;
        }
        let (q, last) = {
            let mut st = lk(&dev.st);
            if st.qs.is_empty() {
                return Out::Skip;
            }
            let i = self.rng.below(st.qs.len() as u64) as usize;
            let q = st.qs.remove(i);
            (q, st.qs.is_empty() && !st.persist)
        };
        let what = format!(
            "{} fd {}{}",
            dev.info.name,
            q.fd,
            if last {
                " (the last: the device goes)"
            } else {
                ""
            }
        );
        if last {
            self.w.bury(dev, "close", true);
        }
        // Closed now, or by the last thread still using it.
        drop(q);
        Out::Ok(what)
    }

    fn set_queue(&mut self, dev: &Dev) -> Out {
        if !dev.info.mq() {
            return Out::Skip;
        }
        let _ctl = lk(&self.w.slots[dev.info.slot].ctl);
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let attached = q.attached.load(Ordering::Relaxed);
        let mut req = IfReq::new(
            "",
            if attached {
                IFF_DETACH_QUEUE
            } else {
                IFF_ATTACH_QUEUE
            },
        );
        let what = format!(
            "{} fd {} {}",
            dev.info.name,
            q.fd,
            if attached { "detach" } else { "attach" }
        );
        match ioctl(q.fd, TUNSETQUEUE, &mut req) {
            Ok(_) => {
                q.attached.store(!attached, Ordering::Relaxed);
                Out::Ok(what)
            }
            Err(e) => Out::Err(e, what),
        }
    }

    fn link_del(&mut self, dev: &Dev) -> Out {
        let _ctl = lk(&self.w.slots[dev.info.slot].ctl);
        if !self.w.is_current(dev) {
            return Out::Skip;
        }
        let ns = Self::ns_of(dev);
        match rtnl::link(ns.as_deref(), self.w.home, &dev.info.name, Link::Delete) {
            Ok(()) => {
                self.w.bury(dev, "linkdel", true);
                Out::Ok(dev.info.name.clone())
            }
            Err(e) => Out::Fail(format!("{} RTM_DELLINK {e}", dev.info.name)),
        }
    }

    fn netns_move(&mut self, dev: &Dev) -> Out {
        let _ctl = lk(&self.w.slots[dev.info.slot].ctl);
        if !self.w.is_current(dev) {
            return Out::Skip;
        }
        let from = Self::ns_of(dev);
        let mut nets = lk(&self.w.netns).clone();
        if nets.len() < 3 && (nets.is_empty() || self.rng.chance(1, 3)) {
            let name = format!(
                "{}ns{}",
                self.w.cfg.prefix,
                self.w.netns_made.fetch_add(1, Ordering::Relaxed)
            );
            match rtnl::netns_add(&name) {
                Ok(()) => {
                    lk(&self.w.netns).push(name.clone());
                    nets.push(name);
                }
                Err(e) => return Out::Fail(format!("netns add: {e}")),
            }
        }
        // Anywhere but where it is: another namespace, or home.
        let mut choices: Vec<Option<String>> = nets.into_iter().map(Some).collect();
        choices.push(None);
        choices.retain(|c| *c != from);
        if choices.is_empty() {
            return Out::Skip;
        }
        let to = choices.remove(self.rng.below(choices.len() as u64) as usize);
        let what = format!(
            "{} {} -> {}",
            dev.info.name,
            from.as_deref().unwrap_or("init"),
            to.as_deref().unwrap_or("init")
        );
        match rtnl::move_link(from.as_deref(), to.as_deref(), self.w.home, &dev.info.name) {
            Ok(()) => {
                let mut st = lk(&dev.st);
                st.ns = to;
                st.up = false;
                st.has_addr = false;
                st.nc = None;
                Out::Ok(what)
            }
            Err(e) => Out::Fail(format!("{what}: {e}")),
        }
    }

    /// Deletes a namespace with whatever devices are in it, traffic or not.
    fn netns_del(&mut self) -> Out {
        let nets = lk(&self.w.netns).clone();
        if nets.is_empty() {
            return Out::Skip;
        }
        let ns = self
            .rng
            .pick(&nets.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .to_string();
        // Every slot's ctl, in order: no device moves in or out meanwhile.
        let guards: Vec<_> = self.w.slots.iter().map(|s| lk(&s.ctl)).collect();
        let inside: Vec<Arc<Dev>> = (0..self.w.slots.len())
            .filter_map(|s| self.w.dev(s))
            .filter(|d| lk(&d.st).ns.as_deref() == Some(ns.as_str()))
            .collect();
        let names: Vec<String> = inside.iter().map(|d| d.info.name.clone()).collect();
        let r = rtnl::netns_del(&ns);
        if r.is_ok() {
            lk(&self.w.netns).retain(|n| *n != ns);
            for d in &inside {
                self.w.bury(d, "netns", false);
            }
        }
        drop(guards);
        match r {
            Ok(()) => Out::Ok(format!("{ns} with [{}]", names.join(" "))),
            Err(e) => Out::Fail(format!("{ns}: {e}")),
        }
    }

    fn persist(&mut self, dev: &Dev) -> Out {
        let _ctl = lk(&self.w.slots[dev.info.slot].ctl);
        if !self.w.is_current(dev) {
            return Out::Skip;
        }
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let on = !lk(&dev.st).persist;
        let what = format!("{} TUNSETPERSIST {}", dev.info.name, u8::from(on));
        match ioctl_val(q.fd, TUNSETPERSIST, libc::c_ulong::from(on)) {
            Ok(_) => {
                lk(&dev.st).persist = on;
                Out::Ok(what)
            }
            Err(e) => Out::Err(e, what),
        }
    }

    fn link(&mut self, dev: &Dev, what: &str, op: Link) -> Out {
        let ns = Self::ns_of(dev);
        let w = format!("{} {what}", dev.info.name);
        match rtnl::link(ns.as_deref(), self.w.home, &dev.info.name, op) {
            Ok(()) => Out::Ok(w),
            Err(e) => Out::Fail(format!("{w}: {e}")),
        }
    }

    fn ioctl_out(what: String, r: Result<i32, Errno>) -> Out {
        match r {
            Ok(_) => Out::Ok(what),
            Err(e) => Out::Err(e, what),
        }
    }

    fn cbpf(&mut self, dev: &Dev) -> Out {
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        if self.rng.chance(1, 3) {
            let mut fprog = SockFprog {
                len: 0,
                filter: std::ptr::null(),
            };
            let r = ioctl(q.fd, TUNDETACHFILTER, &mut fprog);
            return Self::ioctl_out(format!("{} TUNDETACHFILTER", dev.info.name), r);
        }
        let which = self.rng.below(4);
        let prog = cbpf_program(which);
        let mut fprog = SockFprog {
            len: prog.len() as u16,
            filter: prog.as_ptr(),
        };
        let r = ioctl(q.fd, TUNATTACHFILTER, &mut fprog);
        Self::ioctl_out(format!("{} TUNATTACHFILTER {which}", dev.info.name), r)
    }

    fn ebpf_filter(&mut self, dev: &Dev) -> Out {
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let mut prog: i32 = if self.w.ebpf.is_empty() || self.rng.chance(1, 2) {
            -1
        } else {
            self.rng.pick(&self.w.ebpf)
        };
        let r = ioctl(q.fd, TUNSETFILTEREBPF, &mut prog);
        Self::ioctl_out(format!("{} TUNSETFILTEREBPF {prog}", dev.info.name), r)
    }

    fn steering(&mut self, dev: &Dev) -> Out {
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let mut prog: i32 = if self.w.steer.is_empty() || self.rng.chance(1, 3) {
            -1
        } else {
            self.rng.pick(&self.w.steer)
        };
        let r = ioctl(q.fd, TUNSETSTEERINGEBPF, &mut prog);
        Self::ioctl_out(format!("{} TUNSETSTEERINGEBPF {prog}", dev.info.name), r)
    }

    fn offload(&mut self, dev: &Dev) -> Out {
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let any = self.rng.below(0x80);
        let bits = self.rng.pick(&[0u64, 0x1, 0x7, 0xf, 0x1f, 0x61, 0x7f, any]);
        let r = ioctl_val(q.fd, TUNSETOFFLOAD, bits as libc::c_ulong);
        Self::ioctl_out(format!("{} TUNSETOFFLOAD {bits:#x}", dev.info.name), r)
    }

    fn txfilter(&mut self, dev: &Dev) -> Out {
        if !dev.info.tap() {
            return Out::Skip;
        }
        let Some(q) = self.pick_q(dev) else {
            return Out::Skip;
        };
        let n = self.rng.below(3) as usize;
        let mut b = Vec::new();
        b.extend_from_slice(
            &(if self.rng.chance(1, 3) {
                TUN_FLT_ALLMULTI
            } else {
                0
            })
            .to_ne_bytes(),
        );
        b.extend_from_slice(&(n as u16).to_ne_bytes());
        for _ in 0..n {
            b.extend_from_slice(&[0xff; 6]);
        }
        let r = ioctl(q.fd, TUNSETTXFILTER, &mut b[..]);
        Self::ioctl_out(format!("{} TUNSETTXFILTER {n}", dev.info.name), r)
    }

    /// Netconsole on the device (netpoll calls its transmit with IRQs off),
    /// messages through it, or the target gone again.
    fn netconsole(&mut self, dev: &Dev) -> Out {
        if !self.w.nc_available {
            return Out::Skip;
        }
        let _ctl = lk(&self.w.slots[dev.info.slot].ctl);
        if !self.w.is_current(dev) {
            return Out::Skip;
        }
        let (ok, nc) = {
            let st = lk(&dev.st);
            (st.ns.is_none() && st.up && st.has_addr, st.nc.clone())
        };
        let d = dev.info.clone();
        let n = self.rng.range(1, 5);
        match nc {
            Some(target) if self.rng.chance(1, 3) => {
                lk(&dev.st).nc = None;
                match sysx::netconsole_remove(&target) {
                    Ok(()) => Out::Ok(format!("{} netconsole {target} removed", d.name)),
                    Err(e) => Out::Fail(format!("{} netconsole {target}: {e}", d.name)),
                }
            }
            Some(target) => {
                let r = self.kmsg(n, &d.name);
                let what = format!("{} netconsole {target}: {n} messages", d.name);
                match r {
                    Ok(()) => Out::Ok(what),
                    Err(e) => Out::Err(e, what),
                }
            }
            None if ok => {
                let target = format!("{}nc{}g{}", self.w.cfg.prefix, d.slot, d.gen);
                d.c.netpoll.store(true, Ordering::Relaxed);
                lk(&self.w.nc_targets).push(target.clone());
                match sysx::netconsole_enable(&target, &d.name, d.addr(1)) {
                    Ok(()) => {
                        lk(&dev.st).nc = Some(target.clone());
                        let r = self.kmsg(n, &d.name);
                        let what = format!("{} netconsole {target} enabled, {n} messages", d.name);
                        match r {
                            Ok(()) => Out::Ok(what),
                            Err(e) => Out::Err(e, what),
                        }
                    }
                    Err(e) => Out::Fail(format!("{} netconsole {target}: {e}", d.name)),
                }
            }
            None => Out::Skip,
        }
    }

    fn kmsg(&mut self, n: u64, name: &str) -> Result<(), Errno> {
        for i in 0..n {
            sysx::kmsg_write(
                3,
                &format!("rtunstress lifecycle: netpoll message {i} for {name}"),
            )?;
        }
        Ok(())
    }

    // ---- the end phase (single-threaded) --------------------------------------------

    /// Reads `q` until it is empty (the file is made non-blocking: nobody
    /// else uses it any more).
    pub fn drain(&mut self, q: &Q) -> u64 {
        set_nonblock(q.fd, true);
        let mut n = 0;
        for _ in 0..100_000 {
            let len = self.buf.len();
            let r = read(q.fd, &mut self.buf);
            self.count_read(&q.dev, &r, len);
            match r {
                Ok(k) if k > 0 => n += 1,
                Ok(_) => break,
                Err(Errno(libc::EINVAL)) | Err(Errno(libc::EFAULT)) => {}
                Err(_) => break,
            }
        }
        n
    }

    /// Sends a frame to each attached queue of `dev` in turn (steered with
    /// TUNSETSTEERINGEBPF, past the qdisc), its rings all empty and its
    /// filters off, and reads each back. A queue that refuses the frame
    /// (ENOBUFS: stopped, or the frame dropped) is a transmit queue stopped
    /// with an empty ring. The failures.
    pub fn probe(&mut self, dev: &Dev) -> Vec<String> {
        let d = dev.info.clone();
        let (ns, qs, up) = {
            let st = lk(&dev.st);
            (st.ns.clone(), st.qs.clone(), st.up)
        };
        let attached = qs
            .iter()
            .filter(|q| q.attached.load(Ordering::Relaxed))
            .count();
        if attached == 0 || qs.is_empty() {
            return Vec::new();
        }
        let mut bad = Vec::new();
        let fd = qs[0].fd;
        // Nothing that drops on purpose: filters off, a ring of 500.
        let mut fprog = SockFprog {
            len: 0,
            filter: std::ptr::null(),
        };
        let _ = ioctl(fd, TUNDETACHFILTER, &mut fprog);
        let mut none: i32 = -1;
        let _ = ioctl(fd, TUNSETFILTEREBPF, &mut none);
        if d.tap() {
            let mut b = [0u8; 4];
            let _ = ioctl(fd, TUNSETTXFILTER, &mut b[..]);
        }
        // Nothing else is changed: a txqueuelen or MTU change, a down and
        // up, could wake a stopped queue and hide what the probe looks for.
        if !up {
            if let Err(e) = rtnl::link(ns.as_deref(), self.w.home, &d.name, Link::Up(true)) {
                return vec![format!("{}: up before the probe: {e}", d.name)];
            }
            lk(&dev.st).up = true;
        }
        for q in &qs {
            self.drain(q);
        }
        let mut sent = 0;
        for i in 0..attached.min(self.w.steer.len()) {
            let mut prog = self.w.steer[i];
            if let Err(e) = ioctl(fd, TUNSETSTEERINGEBPF, &mut prog) {
                bad.push(format!(
                    "{}: TUNSETSTEERINGEBPF for the probe: {}",
                    d.name, e
                ));
                break;
            }
            let marker = format!("rtunstress-probe-{i}");
            let (mut f, proto) = self.packet_frame(&d, marker.as_bytes());
            // Small: under any MTU the run may have left (68 at least).
            f.truncate(if d.tap() { 60 } else { 28 + marker.len() });
            if !d.tap() {
                let n = f.len() as u16;
                f[2..4].copy_from_slice(&n.to_be_bytes());
                f[24..26].copy_from_slice(&(n - 20).to_be_bytes());
                f[10..12].copy_from_slice(&[0, 0]);
                let c = rtun_common::net::ip_checksum(&f[..20]);
                f[10..12].copy_from_slice(&c.to_be_bytes());
            }
            let dropped = |th: &Self| {
                in_netns(ns.as_deref(), th.w.home, || link_stats(&d.name))
                    .ok()
                    .and_then(|r| r.ok())
                    .map(|s| s.tx_dropped)
            };
            let before = dropped(self);
            match sysx::packet_send(ns.as_deref(), self.w.home, &d.name, proto, true, &f) {
                Ok(()) => {
                    Counters::add(&d.c.bypass_ok, 1);
                    sent += 1;
                }
                Err(Errno(libc::ENOBUFS)) => {
                    Counters::add(&d.c.bypass_busy, 1);
                    // Past the qdisc, ENOBUFS is a stopped transmit queue, a
                    // device without carrier, or a drop by the driver (a
                    // ring of txqueuelen 0 holds nothing), which tx_dropped
                    // counts.
                    let after = dropped(self);
                    if before.is_some() && after > before {
                        self.note("probe", "dropped by the driver");
                        continue;
                    }
                    let carrier = if ns.is_none() {
                        rtun_common::net::sysfs_net(&d.name, "carrier")
                            .unwrap_or_else(|e| e.to_string())
                    } else {
                        "?".into()
                    };
                    bad.push(format!(
                        "{} (flags {:#06x}, {attached} of {} queues attached, carrier {carrier}): transmit queue {i} refuses a frame while every ring is empty, and the driver did not drop it: the queue is stopped",
                        d.name,
                        d.flags,
                        qs.len()
                    ));
                }
                Err(e) => bad.push(format!("{}: the probe to queue {i}: {}", d.name, e)),
            }
        }
        let mut none: i32 = -1;
        let _ = ioctl(fd, TUNSETSTEERINGEBPF, &mut none);
        // Every probe sent comes back on some queue.
        let deadline = Instant::now() + Duration::from_millis(1000);
        let mut back = 0;
        while back < sent && Instant::now() < deadline {
            for q in &qs {
                set_nonblock(q.fd, true);
                let len = self.buf.len();
                let r = read(q.fd, &mut self.buf);
                if self.count_read(&q.dev, &r, len) {
                    if let Ok(n) = r {
                        if self.buf[..n].windows(17).any(|w| w == b"rtunstress-probe-") {
                            back += 1;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if back < sent {
            bad.push(format!(
                "{}: {sent} probes taken by the driver, {back} read back",
                d.name
            ));
        }
        bad
    }

    /// Closes the rest of the run's files.
    pub fn close_all(&mut self) {
        let zs: Vec<Zombie> = lk(&self.w.zombies).drain(..).collect();
        for z in &zs {
            // A namespace's device may still hold frames: read, counted.
            if !z.sure {
                self.drain(&z.q);
            }
        }
        drop(zs);
        self.uring = None;
        if self.udp >= 0 {
            close(self.udp);
            self.udp = -1;
        }
    }
}
