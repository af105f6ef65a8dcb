// SPDX-License-Identifier: GPL-2.0
//! The io_uring reads of `rtunabi nowait`, on rtun-common's ring: it submits
//! `IORING_OP_READ`s and reaps their completions. No SQPOLL, no flags: the
//! kernel issues each read from `io_uring_enter` in this task, with
//! IOCB_NOWAIT, and, if the file says EAGAIN, waits for POLLIN and reads
//! again (or, for a file without FMODE_NOWAIT, asks poll first).

use std::{
    fs, thread,
    time::{Duration, Instant},
};

use rtun_common::{
    uring::{self, Sqe, IORING_ENTER_GETEVENTS, IORING_OP_READ},
    Errno,
};

/// A completion: the request's `user_data`, its result (bytes, or the errno
/// of the kernel's `-errno`), and the buffer it read into.
pub struct Cqe {
    pub user_data: u64,
    pub res: Result<i32, Errno>,
    pub buf: Vec<u8>,
}

/// An io_uring instance and the buffers of its reads.
///
/// # Invariants
/// `bufs` holds the buffer of every submitted read that has not completed.
pub struct Ring {
    ring: uring::Ring,
    bufs: Vec<(u64, Vec<u8>)>,
}

impl Ring {
    /// `io_uring_setup(entries)` and the ring's mappings.
    pub fn new(entries: u32) -> Result<Ring, Errno> {
        Ok(Ring {
            ring: uring::Ring::new(entries)?,
            bufs: Vec::new(),
        })
    }

    /// Queues an IORING_OP_READ of `len` bytes from `fd` (at offset 0, which
    /// a character device ignores) and submits it: `io_uring_enter`'s result
    /// (EBUSY, and nothing submitted, if the SQ ring is full).
    pub fn submit_read(&mut self, fd: i32, len: usize, user_data: u64) -> Result<i32, Errno> {
        let mut buf = vec![0u8; len];
        self.ring.push(&[Sqe {
            opcode: IORING_OP_READ,
            fd,
            off: 0,
            addr: buf.as_mut_ptr() as u64,
            len: len as u32,
            user_data,
            ..Default::default()
        }])?;
        // The kernel writes into `buf` until the read completes: keep it.
        self.bufs.push((user_data, buf));
        self.ring.enter(1, 0, 0)
    }

    /// The next completion if one is posted, without entering the kernel.
    pub fn peek(&mut self) -> Option<Cqe> {
        let raw = self.ring.pop()?;
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
            let _ = self.ring.enter(0, 0, IORING_ENTER_GETEVENTS);
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
