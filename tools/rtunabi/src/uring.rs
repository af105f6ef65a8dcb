// SPDX-License-Identifier: GPL-2.0
//! A minimal io_uring, set up with raw syscalls (`io_uring_setup`, `mmap`,
//! `io_uring_enter`; layouts from include/uapi/linux/io_uring.h of 7.3), for
//! `rtunabi nowait`: it submits `IORING_OP_READ`s and reaps their
//! completions. No SQPOLL, no flags: the kernel issues each read from
//! `io_uring_enter` in this task, with IOCB_NOWAIT, and, if the file says
//! EAGAIN, waits for POLLIN and reads again (or, for a file without
//! FMODE_NOWAIT, asks poll first).

use std::{
    fs, ptr,
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use rtun_common::{sys::Fd, Errno};

const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const IORING_FEAT_SINGLE_MMAP: u32 = 1;
const IORING_ENTER_GETEVENTS: u32 = 1;
/// `enum io_uring_op`: IORING_OP_READ is the 23rd.
pub const IORING_OP_READ: u8 = 22;

#[repr(C)]
#[derive(Default)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

#[repr(C)]
#[derive(Default)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

/// `struct io_uring_params`.
#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

/// `struct io_uring_sqe`, with the fields a read uses.
#[repr(C)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    off: u64,
    addr: u64,
    len: u32,
    rw_flags: u32,
    user_data: u64,
    buf_index: u16,
    personality: u16,
    splice_fd_in: i32,
    addr3: u64,
    pad2: u64,
}

/// `struct io_uring_cqe` (no IORING_SETUP_CQE32).
#[repr(C)]
#[derive(Clone, Copy)]
struct RawCqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

const _: () = assert!(std::mem::size_of::<Params>() == 120);
const _: () = assert!(std::mem::size_of::<Sqe>() == 64);
const _: () = assert!(std::mem::size_of::<RawCqe>() == 16);

/// A completion: the request's `user_data`, its result (bytes, or the errno
/// of the kernel's `-errno`), and the buffer it read into.
pub struct Cqe {
    pub user_data: u64,
    pub res: Result<i32, Errno>,
    pub buf: Vec<u8>,
}

/// A shared mapping of the ring fd, unmapped on drop.
struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(fd: i32, len: usize, off: i64) -> Result<Map, Errno> {
        // SAFETY: A new shared mapping of the ring fd at an offset io_uring
        // defines; nothing else is at the address the kernel picks.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                off,
            )
        };
        if p == libc::MAP_FAILED {
            Err(Errno::last())
        } else {
            Ok(Map { ptr: p.cast(), len })
        }
    }

    /// The `u32` at byte offset `off`, which the kernel also reads and
    /// writes. `off` comes from the kernel's `io_uring_params` for this
    /// mapping, so it is inside it and 4-byte aligned.
    fn word(&self, off: u32) -> &AtomicU32 {
        // SAFETY: Every caller passes a ring offset from the kernel's
        // io_uring_params for this mapping: inside it and 4-byte aligned. The
        // mapping lives as long as `self`; the kernel accesses it atomically too.
        unsafe { &*self.ptr.add(off as usize).cast::<AtomicU32>() }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: Our own mapping, of this length; nothing refers to it after.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// An io_uring instance.
///
/// # Invariants
/// `sq`, `cq` and `sqes` are mappings of `fd` of the lengths its
/// `io_uring_params` gave, so the offsets in `p` lie inside them; `bufs`
/// holds the buffer of every submitted request that has not completed.
pub struct Ring {
    // Declared first, so that the ring is closed before its mappings go.
    fd: Fd,
    p: Params,
    sq: Map,
    cq: Option<Map>,
    sqes: Map,
    bufs: Vec<(u64, Vec<u8>)>,
}

impl Ring {
    /// `io_uring_setup(entries)` and the three mappings (two with
    /// IORING_FEAT_SINGLE_MMAP).
    pub fn new(entries: u32) -> Result<Ring, Errno> {
        let mut p = Params::default();
        // SAFETY: `p` is a writable io_uring_params.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, &mut p as *mut Params) };
        let fd = Fd(Errno::result(fd)? as i32);
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * std::mem::size_of::<RawCqe>();
        let single = p.features & IORING_FEAT_SINGLE_MMAP != 0;
        let sq = Map::new(
            fd.0,
            if single { sq_len.max(cq_len) } else { sq_len },
            IORING_OFF_SQ_RING,
        )?;
        let cq = if single {
            None
        } else {
            Some(Map::new(fd.0, cq_len, IORING_OFF_CQ_RING)?)
        };
        let sqes = Map::new(
            fd.0,
            p.sq_entries as usize * std::mem::size_of::<Sqe>(),
            IORING_OFF_SQES,
        )?;
        Ok(Ring {
            fd,
            p,
            sq,
            cq,
            sqes,
            bufs: Vec::new(),
        })
    }

    fn cq(&self) -> &Map {
        self.cq.as_ref().unwrap_or(&self.sq)
    }

    /// Queues an IORING_OP_READ of `len` bytes from `fd` (at offset 0, which
    /// a character device ignores) and submits it: `io_uring_enter`'s result.
    pub fn submit_read(&mut self, fd: i32, len: usize, user_data: u64) -> Result<i32, Errno> {
        let mut buf = vec![0u8; len];
        let tail = self.sq.word(self.p.sq_off.tail).load(Ordering::Relaxed);
        let head = self.sq.word(self.p.sq_off.head).load(Ordering::Acquire);
        if tail.wrapping_sub(head) >= self.p.sq_entries {
            return Err(Errno(libc::EBUSY));
        }
        let idx = tail
            & self
                .sq
                .word(self.p.sq_off.ring_mask)
                .load(Ordering::Relaxed);
        let sqe = Sqe {
            opcode: IORING_OP_READ,
            flags: 0,
            ioprio: 0,
            fd,
            off: 0,
            addr: buf.as_mut_ptr() as u64,
            len: len as u32,
            rw_flags: 0,
            user_data,
            buf_index: 0,
            personality: 0,
            splice_fd_in: 0,
            addr3: 0,
            pad2: 0,
        };
        // SAFETY: `idx` is below sq_entries (masked), so the slot is inside the
        // SQE array; the kernel does not read it until the tail moves past it.
        unsafe { self.sqes.ptr.cast::<Sqe>().add(idx as usize).write(sqe) };
        // The SQ ring's index array: slot `idx` holds SQE `idx`.
        // SAFETY: The array has sq_entries u32s at sq_off.array, inside the
        // mapping (type invariant), and slot `idx` is ours until the tail moves.
        unsafe {
            self.sq
                .ptr
                .add(self.p.sq_off.array as usize)
                .cast::<u32>()
                .add(idx as usize)
                .write(idx)
        };
        self.sq
            .word(self.p.sq_off.tail)
            .store(tail.wrapping_add(1), Ordering::Release);
        // The kernel writes into `buf` until the read completes: keep it.
        self.bufs.push((user_data, buf));
        self.enter(1, 0)
    }

    fn enter(&self, to_submit: u32, flags: u32) -> Result<i32, Errno> {
        // SAFETY: io_uring_enter on our ring, without a signal mask.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd.0,
                to_submit,
                0u32,
                flags,
                ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        Errno::result(r).map(|r| r as i32)
    }

    /// The next completion if one is posted, without entering the kernel.
    pub fn peek(&mut self) -> Option<Cqe> {
        let cq = self.cq();
        let head = cq.word(self.p.cq_off.head).load(Ordering::Relaxed);
        let tail = cq.word(self.p.cq_off.tail).load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        let idx = head & cq.word(self.p.cq_off.ring_mask).load(Ordering::Relaxed);
        // SAFETY: `idx` is below cq_entries (masked), so the CQE is inside the
        // mapping (type invariant); the kernel posted it before moving the tail.
        let raw = unsafe {
            cq.ptr
                .add(self.p.cq_off.cqes as usize)
                .cast::<RawCqe>()
                .add(idx as usize)
                .read()
        };
        cq.word(self.p.cq_off.head)
            .store(head.wrapping_add(1), Ordering::Release);
        let pos = self.bufs.iter().position(|(u, _)| *u == raw.user_data);
        let mut buf = pos.map(|i| self.bufs.swap_remove(i).1).unwrap_or_default();
        let res = Errno::from_negative(raw.res);
        buf.truncate(res.map_or(0, |n| n as usize));
        Some(Cqe {
            user_data: raw.user_data,
            res,
            buf,
        })
    }

    /// Waits up to `ms` for a completion, entering the kernel every 10 ms
    /// (IORING_ENTER_GETEVENTS, which also runs the task's pending io_uring
    /// work).
    pub fn wait(&mut self, ms: u64) -> Option<Cqe> {
        let t0 = Instant::now();
        loop {
            if let Some(c) = self.peek() {
                return Some(c);
            }
            if t0.elapsed() >= Duration::from_millis(ms) {
                return None;
            }
            let _ = self.enter(0, IORING_ENTER_GETEVENTS);
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // A request still pending when the ring closes is cancelled by the
        // kernel's exit work, which may run after this returns: its buffer is
        // left allocated rather than freed under it.
        for (_, b) in self.bufs.drain(..) {
            std::mem::forget(b);
        }
    }
}

/// How many io-wq workers (`iou-wrk-PID` threads, which run requests that
/// would block) this process has.
pub fn iowq_workers() -> usize {
    let Ok(d) = fs::read_dir("/proc/self/task") else {
        return 0;
    };
    d.filter_map(Result::ok)
        .filter(|e| {
            fs::read_to_string(e.path().join("comm"))
                .map(|c| c.starts_with("iou-wrk"))
                .unwrap_or(false)
        })
        .count()
}
