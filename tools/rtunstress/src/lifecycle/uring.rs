// SPDX-License-Identifier: GPL-2.0
//! A minimal io_uring over raw system calls (include/uapi/linux/io_uring.h),
//! enough for one read or write at a time: `IORING_OP_READ` and
//! `IORING_OP_WRITE`, each with an `IORING_OP_LINK_TIMEOUT` linked to it (a
//! request that waits is cancelled). One ring per thread; the caller waits for every
//! completion of what it submitted before it submits again, so the ring
//! never holds more than two entries in flight.

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Instant,
};

use crate::sys::Errno;

const IORING_OP_LINK_TIMEOUT: u8 = 15;
const IORING_OP_READ: u8 = 22;
const IORING_OP_WRITE: u8 = 23;
const IOSQE_IO_LINK: u8 = 1 << 2;
const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const ENTRIES: u32 = 8;

#[repr(C)]
#[derive(Default, Clone, Copy)]
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
#[derive(Default, Clone, Copy)]
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

/// `struct io_uring_sqe` (64 bytes), with the fields used here.
#[repr(C)]
#[derive(Default, Clone, Copy)]
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

/// `struct io_uring_cqe` (16 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

/// `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(fd: i32, len: usize, off: i64) -> Result<Map, Errno> {
        // SAFETY: A shared mapping of the ring's own memory at the offset the
        // kernel documents for it; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        Ok(Map { ptr: p.cast(), len })
    }

    /// The u32 the kernel shares at byte `off`.
    fn u32_at(&self, off: u32) -> &AtomicU32 {
        let off = off as usize;
        assert!(off + 4 <= self.len && off.is_multiple_of(4));
        // SAFETY: In bounds and aligned (checked above); the ring's head,
        // tail and mask words are u32s the kernel reads and writes
        // concurrently, so they are accessed atomically only.
        unsafe { &*(self.ptr.add(off) as *const AtomicU32) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: Unmapping our own mapping; nothing refers to it any more.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// One io_uring instance.
///
/// # Invariants
/// `sq`, `cq` and `sqes` map the ring of `fd` with the sizes `params`
/// gave; at most [`ENTRIES`] requests are in flight (every submit is
/// followed by waiting for all of its completions).
pub struct Ring {
    fd: i32,
    sq: Map,
    cq: Map,
    sqes: Map,
    p: Params,
    /// Completions seen and not yet consumed by `wait_for`.
    pending: Vec<Cqe>,
}

impl Ring {
    pub fn new() -> Result<Ring, Errno> {
        let mut p = Params::default();
        // SAFETY: io_uring_setup(2) with a params struct of the kernel's layout.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, ENTRIES, &mut p as *mut Params) };
        if fd < 0 {
            return Err(Errno::last());
        }
        let fd = fd as i32;
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * std::mem::size_of::<Cqe>();
        let sqes_len = p.sq_entries as usize * std::mem::size_of::<Sqe>();
        let maps = (|| {
            Ok((
                Map::new(fd, sq_len, IORING_OFF_SQ_RING)?,
                Map::new(fd, cq_len, IORING_OFF_CQ_RING)?,
                Map::new(fd, sqes_len, IORING_OFF_SQES)?,
            ))
        })();
        match maps {
            Ok((sq, cq, sqes)) => Ok(Ring {
                fd,
                sq,
                cq,
                sqes,
                p,
                pending: Vec::new(),
            }),
            Err(e) => {
                crate::sys::close(fd);
                Err(e)
            }
        }
    }

    /// Queues `sqes` and submits them. It does not wait: io_uring_enter
    /// returns the count submitted even when a signal cut its wait short,
    /// which would hide the signal from [`Ring::wait_for`].
    fn submit(&mut self, sqes: &[Sqe]) -> Result<(), Errno> {
        let mask = self
            .sq
            .u32_at(self.p.sq_off.ring_mask)
            .load(Ordering::Relaxed);
        let tail = self.sq.u32_at(self.p.sq_off.tail).load(Ordering::Relaxed);
        for (i, sqe) in sqes.iter().enumerate() {
            let idx = tail.wrapping_add(i as u32) & mask;
            assert!((idx as usize) < self.p.sq_entries as usize);
            // SAFETY: `idx` is below sq_entries (checked): the slot is in the
            // SQE array we mapped, and the kernel does not read it until the
            // tail below is published.
            unsafe { std::ptr::write((self.sqes.ptr as *mut Sqe).add(idx as usize), *sqe) };
            self.sq
                .u32_at(self.p.sq_off.array + idx * 4)
                .store(idx, Ordering::Relaxed);
        }
        self.sq
            .u32_at(self.p.sq_off.tail)
            .store(tail.wrapping_add(sqes.len() as u32), Ordering::Release);
        let n = sqes.len() as u32;
        // SAFETY: io_uring_enter(2) on our ring: submit, no waiting, no signal mask.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd,
                n,
                0u32,
                0u32,
                std::ptr::null::<u8>(),
                0usize,
            )
        };
        if r < 0 {
            return Err(Errno::last());
        }
        Ok(())
    }

    /// Moves what the completion ring holds into `pending`.
    fn reap(&mut self) {
        let mask = self
            .cq
            .u32_at(self.p.cq_off.ring_mask)
            .load(Ordering::Relaxed);
        let mut head = self.cq.u32_at(self.p.cq_off.head).load(Ordering::Relaxed);
        let tail = self.cq.u32_at(self.p.cq_off.tail).load(Ordering::Acquire);
        while head != tail {
            let idx = (head & mask) as usize;
            assert!(idx < self.p.cq_entries as usize);
            // SAFETY: `idx` is below cq_entries (checked); the entry was
            // published by the kernel before the tail we loaded with Acquire.
            let cqe = unsafe {
                std::ptr::read(
                    (self.cq.ptr.add(self.p.cq_off.cqes as usize) as *const Cqe).add(idx),
                )
            };
            self.pending.push(cqe);
            head = head.wrapping_add(1);
        }
        self.cq
            .u32_at(self.p.cq_off.head)
            .store(head, Ordering::Release);
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
            // SAFETY: io_uring_enter(2): wait for one more completion.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_io_uring_enter,
                    self.fd,
                    0u32,
                    1u32,
                    IORING_ENTER_GETEVENTS,
                    std::ptr::null::<u8>(),
                    0usize,
                )
            };
            if r < 0 {
                let e = Errno::last();
                if e == Errno(libc::EINTR) && Instant::now() < give_up {
                    continue;
                }
                return Err(e);
            }
        }
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
        let ts = KernelTimespec {
            tv_sec: (timeout_ms / 1000) as i64,
            tv_nsec: ((timeout_ms % 1000) * 1_000_000) as i64,
        };
        let read = Sqe {
            opcode: IORING_OP_READ,
            flags: IOSQE_IO_LINK,
            fd,
            off: u64::MAX,
            addr: buf.as_mut_ptr() as u64,
            len: buf.len() as u32,
            user_data: 1,
            ..Default::default()
        };
        let timeout = Sqe {
            opcode: IORING_OP_LINK_TIMEOUT,
            fd: -1,
            addr: &ts as *const KernelTimespec as u64,
            len: 1,
            user_data: 2,
            ..Default::default()
        };
        self.submit(&[read, timeout])?;
        let r = self.wait_for(&[1, 2], give_up)?;
        Ok(Errno::from_negative(r[0]).map(|n| n as usize))
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
        let ts = KernelTimespec {
            tv_sec: (timeout_ms / 1000) as i64,
            tv_nsec: ((timeout_ms % 1000) * 1_000_000) as i64,
        };
        let w = Sqe {
            opcode: IORING_OP_WRITE,
            flags: IOSQE_IO_LINK,
            fd,
            off: u64::MAX,
            addr: buf.as_ptr() as u64,
            len: buf.len() as u32,
            user_data: 3,
            ..Default::default()
        };
        let timeout = Sqe {
            opcode: IORING_OP_LINK_TIMEOUT,
            fd: -1,
            addr: &ts as *const KernelTimespec as u64,
            len: 1,
            user_data: 4,
            ..Default::default()
        };
        self.submit(&[w, timeout])?;
        let r = self.wait_for(&[3, 4], give_up)?;
        Ok(Errno::from_negative(r[0]).map(|n| n as usize))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        crate::sys::close(self.fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_the_kernels() {
        assert_eq!(std::mem::size_of::<Sqe>(), 64);
        assert_eq!(std::mem::size_of::<Cqe>(), 16);
        assert_eq!(std::mem::size_of::<Params>(), 120);
        assert_eq!(std::mem::size_of::<SqOffsets>(), 40);
        assert_eq!(std::mem::size_of::<CqOffsets>(), 40);
    }

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
