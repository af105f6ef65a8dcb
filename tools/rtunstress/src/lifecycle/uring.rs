// SPDX-License-Identifier: GPL-2.0
//! io_uring reads and writes on rtun-common's ring, one at a time:
//! `IORING_OP_READ` and `IORING_OP_WRITE`, each with an
//! `IORING_OP_LINK_TIMEOUT` linked to it (a request that waits is cancelled).
//! One ring per thread; the caller waits for every completion of what it
//! submitted before it submits again, so the ring never holds more than two
//! entries in flight.

use std::time::Instant;

use rtun_common::uring::{
    self, Sqe, IORING_ENTER_GETEVENTS, IORING_OP_LINK_TIMEOUT, IORING_OP_READ, IORING_OP_WRITE,
    IOSQE_IO_LINK,
};

use crate::sys::Errno;

const ENTRIES: u32 = 8;

/// `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// One io_uring instance (rtun-common's ring) and the completions it has
/// posted that [`Ring::wait_for`] has not consumed yet.
///
/// # Invariants
/// At most [`ENTRIES`] requests are in flight (every submit is followed by
/// waiting for all of its completions).
pub struct Ring {
    ring: uring::Ring,
    /// Completions seen and not yet consumed by `wait_for`.
    pending: Vec<uring::Cqe>,
}

impl Ring {
    pub fn new() -> Result<Ring, Errno> {
        Ok(Ring {
            ring: uring::Ring::new(ENTRIES)?,
            pending: Vec::new(),
        })
    }

    /// Queues `sqes` and submits them. It does not wait: io_uring_enter
    /// returns the count submitted even when a signal cut its wait short,
    /// which would hide the signal from [`Ring::wait_for`].
    fn submit(&mut self, sqes: &[Sqe]) -> Result<(), Errno> {
        self.ring.push(sqes)?;
        self.ring.enter(sqes.len() as u32, 0, 0)?;
        Ok(())
    }

    /// Moves what the completion ring holds into `pending`.
    fn reap(&mut self) {
        while let Some(cqe) = self.ring.pop() {
            self.pending.push(cqe);
        }
    }

    /// Waits until the completions of every `user_data` in `ids` are in;
    /// their results, in the order of `ids`. Err: io_uring_enter's errno;
    /// EINTR only once `give_up` has passed (a signal before it, SIGIO for
    /// one, only interrupts the wait, which goes on).
    fn wait_for(&mut self, ids: &[u64], give_up: Instant) -> Result<Vec<i32>, Errno> {
        loop {
            self.reap();
            if ids
                .iter()
                .all(|id| self.pending.iter().any(|c| c.user_data == *id))
            {
                let mut out = Vec::new();
                for id in ids {
                    if let Some(i) = self.pending.iter().position(|c| c.user_data == *id) {
                        out.push(self.pending.remove(i).res);
                    }
                }
                return Ok(out);
            }
            // Wait for one more completion.
            if let Err(e) = self.ring.enter(0, 1, IORING_ENTER_GETEVENTS) {
                if e == Errno(libc::EINTR) && Instant::now() < give_up {
                    continue;
                }
                return Err(e);
            }
        }
    }

    /// Submits `op` (its `user_data` and `user_data + 1` for its timeout)
    /// with an IORING_OP_LINK_TIMEOUT of `timeout_ms` linked to it, and
    /// waits for both completions: `op`'s result (bytes, or its errno); the
    /// outer Err as for [`Ring::read`].
    fn linked(
        &mut self,
        op: Sqe,
        timeout_ms: u64,
        give_up: Instant,
    ) -> Result<Result<usize, Errno>, Errno> {
        let ts = KernelTimespec {
            tv_sec: (timeout_ms / 1000) as i64,
            tv_nsec: ((timeout_ms % 1000) * 1_000_000) as i64,
        };
        let op = Sqe {
            flags: IOSQE_IO_LINK,
            off: u64::MAX,
            ..op
        };
        let timeout = Sqe {
            opcode: IORING_OP_LINK_TIMEOUT,
            fd: -1,
            addr: &ts as *const KernelTimespec as u64,
            len: 1,
            user_data: op.user_data + 1,
            ..Default::default()
        };
        self.submit(&[op, timeout])?;
        let r = self.wait_for(&[op.user_data, timeout.user_data], give_up)?;
        Ok(Errno::from_negative(r[0]).map(|n| n as usize))
    }

    /// A read of up to `buf.len()` bytes from `fd`, cancelled after
    /// `timeout_ms` if it has not completed: the read's result (bytes, or
    /// its errno). The outer Err: the wait itself failed (the buffer then stays lent to
    /// the kernel: the caller must not reuse it, and should drop the ring);
    /// EINTR when a signal came after `give_up` (the caller's timer says
    /// when it gives up waiting).
    pub fn read(
        &mut self,
        fd: i32,
        buf: &mut [u8],
        timeout_ms: u64,
        give_up: Instant,
    ) -> Result<Result<usize, Errno>, Errno> {
        let read = Sqe {
            opcode: IORING_OP_READ,
            fd,
            addr: buf.as_mut_ptr() as u64,
            len: buf.len() as u32,
            user_data: 1,
            ..Default::default()
        };
        self.linked(read, timeout_ms, give_up)
    }

    /// A write of `buf` to `fd`, cancelled after `timeout_ms` if it has not
    /// completed (a file without FMODE_NOWAIT that poll does not find
    /// writable gets its write parked until poll says it is): its result
    /// (bytes, or its errno); the outer Err as for [`Ring::read`].
    pub fn write(
        &mut self,
        fd: i32,
        buf: &[u8],
        timeout_ms: u64,
        give_up: Instant,
    ) -> Result<Result<usize, Errno>, Errno> {
        let w = Sqe {
            opcode: IORING_OP_WRITE,
            fd,
            addr: buf.as_ptr() as u64,
            len: buf.len() as u32,
            user_data: 3,
            ..Default::default()
        };
        self.linked(w, timeout_ms, give_up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_a_pipe() {
        let Ok(mut ring) = Ring::new() else {
            return; // no io_uring on this host (or it is disabled): nothing to test
        };
        let mut fds = [0i32; 2];
        // SAFETY: A pipe into our array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let later = Instant::now() + std::time::Duration::from_secs(5);
        assert_eq!(ring.write(fds[1], b"hello", 1000, later), Ok(Ok(5)));
        let mut buf = [0u8; 16];
        assert_eq!(ring.read(fds[0], &mut buf, 100, later), Ok(Ok(5)));
        assert_eq!(&buf[..5], b"hello");
        // Nothing to read: the linked timeout cancels the read.
        let r = ring.read(fds[0], &mut buf, 20, later).unwrap();
        assert!(
            matches!(r, Err(Errno(libc::ECANCELED | libc::EINTR))),
            "{r:?}"
        );
        crate::sys::close(fds[0]);
        crate::sys::close(fds[1]);
    }
}
