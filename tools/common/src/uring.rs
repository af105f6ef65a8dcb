// SPDX-License-Identifier: GPL-2.0
//! A minimal io_uring over raw system calls (`io_uring_setup`, `mmap`,
//! `io_uring_enter`; layouts from include/uapi/linux/io_uring.h of 7.3): the
//! ring, its mappings, queueing submission entries and taking completions.
//! No SQPOLL, no setup flags. The tools build their own requests on it:
//! rtunabi's reads (`rtunabi nowait`), rtunstress's reads and writes with a
//! linked timeout.

use std::{
    ptr,
    sync::atomic::{AtomicU32, Ordering},
};

use crate::{sys::Fd, Errno};

const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const IORING_FEAT_SINGLE_MMAP: u32 = 1;

/// `enum io_uring_op`'s values for the requests the tools make.
pub const IORING_OP_LINK_TIMEOUT: u8 = 15;
pub const IORING_OP_READ: u8 = 22;
pub const IORING_OP_WRITE: u8 = 23;
/// `IOSQE_IO_LINK`: the next entry runs after this one (a linked timeout
/// cancels it).
pub const IOSQE_IO_LINK: u8 = 1 << 2;
/// `io_uring_enter` flag: wait for `min_complete` completions (and run the
/// task's pending io_uring work).
pub const IORING_ENTER_GETEVENTS: u32 = 1;

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

/// `struct io_uring_sqe` (64 bytes), with the fields reads, writes and
/// timeouts use.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct Sqe {
    pub opcode: u8,
    pub flags: u8,
    pub ioprio: u16,
    pub fd: i32,
    pub off: u64,
    pub addr: u64,
    pub len: u32,
    pub rw_flags: u32,
    pub user_data: u64,
    pub buf_index: u16,
    pub personality: u16,
    pub splice_fd_in: i32,
    pub addr3: u64,
    pub pad2: u64,
}

/// `struct io_uring_cqe` (16 bytes; no IORING_SETUP_CQE32).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Cqe {
    pub user_data: u64,
    /// The result in the kernel's encoding: a count, or minus the errno
    /// ([`Errno::from_negative`]).
    pub res: i32,
    pub flags: u32,
}

const _: () = assert!(std::mem::size_of::<SqOffsets>() == 40);
const _: () = assert!(std::mem::size_of::<CqOffsets>() == 40);
const _: () = assert!(std::mem::size_of::<Params>() == 120);
const _: () = assert!(std::mem::size_of::<Sqe>() == 64);
const _: () = assert!(std::mem::size_of::<Cqe>() == 16);

/// A shared mapping of the ring fd, unmapped on drop.
struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(fd: i32, len: usize, off: i64) -> Result<Map, Errno> {
        // SAFETY: A new shared mapping of the ring fd at an offset io_uring
        // defines; nothing else is at the address the kernel picks. The
        // result is checked below.
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

    /// The `u32` the kernel shares at byte `off` (a head, tail or mask word,
    /// or a slot of the SQ ring's index array).
    fn word(&self, off: u32) -> &AtomicU32 {
        let off = off as usize;
        assert!(off + 4 <= self.len && off.is_multiple_of(4));
        // SAFETY: In bounds and 4-byte aligned (checked above; the mapping is
        // page aligned), and it lives as long as `self`. The kernel reads and
        // writes these words concurrently, so they are accessed atomically
        // only.
        unsafe { &*self.ptr.add(off).cast::<AtomicU32>() }
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
/// `sq`, `cq` (or `sq` with IORING_FEAT_SINGLE_MMAP) and `sqes` are mappings
/// of `fd` of the lengths its `io_uring_params` `p` gave: the SQ ring's index
/// array (`sq_entries` `u32`s at `sq_off.array`) lies in `sq`, the CQE array
/// (`cq_entries` [`Cqe`]s at `cq_off.cqes`) in `cq`, and `sq_entries`
/// [`Sqe`]s in `sqes`.
pub struct Ring {
    // Declared first, so that the ring is closed before its mappings go.
    fd: Fd,
    p: Params,
    sq: Map,
    cq: Option<Map>,
    sqes: Map,
}

impl Ring {
    /// `io_uring_setup(entries)` and the three mappings (two with
    /// IORING_FEAT_SINGLE_MMAP).
    pub fn new(entries: u32) -> Result<Ring, Errno> {
        let mut p = Params::default();
        // SAFETY: `p` is a writable io_uring_params of the kernel's layout.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, &mut p as *mut Params) };
        // Closed on every error below.
        let fd = Fd(Errno::result(fd)? as i32);
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * std::mem::size_of::<Cqe>();
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
        })
    }

    fn cq(&self) -> &Map {
        self.cq.as_ref().unwrap_or(&self.sq)
    }

    /// Queues `sqes` (in order, one slot each) without submitting them: the
    /// caller's next [`Ring::enter`] does. EBUSY, and nothing queued, if the
    /// SQ ring has no room for all of them. What an entry points at (a
    /// buffer, a timespec) must stay valid until its completion is taken.
    pub fn push(&mut self, sqes: &[Sqe]) -> Result<(), Errno> {
        let tail = self.sq.word(self.p.sq_off.tail).load(Ordering::Relaxed);
        let head = self.sq.word(self.p.sq_off.head).load(Ordering::Acquire);
        let free = self.p.sq_entries.saturating_sub(tail.wrapping_sub(head));
        if sqes.len() > free as usize {
            return Err(Errno(libc::EBUSY));
        }
        let mask = self
            .sq
            .word(self.p.sq_off.ring_mask)
            .load(Ordering::Relaxed);
        for (i, sqe) in sqes.iter().enumerate() {
            let idx = tail.wrapping_add(i as u32) & mask;
            assert!(idx < self.p.sq_entries);
            // SAFETY: `idx` is below sq_entries (checked), so the slot is
            // inside the SQE array (type invariant); the kernel does not read
            // it until the tail below moves past it.
            unsafe { self.sqes.ptr.cast::<Sqe>().add(idx as usize).write(*sqe) };
            // The SQ ring's index array: slot `idx` holds SQE `idx`.
            self.sq
                .word(self.p.sq_off.array + idx * 4)
                .store(idx, Ordering::Relaxed);
        }
        self.sq
            .word(self.p.sq_off.tail)
            .store(tail.wrapping_add(sqes.len() as u32), Ordering::Release);
        Ok(())
    }

    /// `io_uring_enter(to_submit, min_complete, flags)` on this ring, without
    /// a signal mask: its result (how many entries it submitted).
    pub fn enter(&self, to_submit: u32, min_complete: u32, flags: u32) -> Result<i32, Errno> {
        // SAFETY: io_uring_enter on our ring, without a signal mask (a null
        // pointer and size 0).
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd.0,
                to_submit,
                min_complete,
                flags,
                ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        Errno::result(r).map(|r| r as i32)
    }

    /// Takes the next completion if one is posted, without entering the
    /// kernel.
    pub fn pop(&mut self) -> Option<Cqe> {
        let cq = self.cq();
        let head = cq.word(self.p.cq_off.head).load(Ordering::Relaxed);
        let tail = cq.word(self.p.cq_off.tail).load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        let idx = head & cq.word(self.p.cq_off.ring_mask).load(Ordering::Relaxed);
        assert!(idx < self.p.cq_entries);
        // SAFETY: `idx` is below cq_entries (checked), so the CQE is inside
        // the mapping (type invariant); the kernel posted it before the tail
        // we loaded with Acquire.
        let cqe = unsafe {
            cq.ptr
                .add(self.p.cq_off.cqes as usize)
                .cast::<Cqe>()
                .add(idx as usize)
                .read()
        };
        cq.word(self.p.cq_off.head)
            .store(head.wrapping_add(1), Ordering::Release);
        Some(cqe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_pipe() {
        let Ok(mut ring) = Ring::new(4) else {
            return; // no io_uring on this host (or it is disabled): nothing to test
        };
        let mut fds = [0i32; 2];
        // SAFETY: A pipe into our array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (r, w) = (Fd(fds[0]), Fd(fds[1]));
        // SAFETY: Five bytes from a static string.
        assert_eq!(unsafe { libc::write(w.0, b"hello".as_ptr().cast(), 5) }, 5);
        let mut buf = [0u8; 16];
        let read = Sqe {
            opcode: IORING_OP_READ,
            fd: r.0,
            addr: buf.as_mut_ptr() as u64,
            len: buf.len() as u32,
            user_data: 7,
            ..Default::default()
        };
        assert_eq!(ring.push(&[read; 5]), Err(Errno(libc::EBUSY)));
        assert!(ring.pop().is_none());
        ring.push(&[read]).unwrap();
        assert_eq!(ring.enter(1, 1, IORING_ENTER_GETEVENTS), Ok(1));
        let c = ring.pop().expect("a completion");
        assert_eq!((c.user_data, c.res), (7, 5));
        assert_eq!(&buf[..5], b"hello");
        assert!(ring.pop().is_none());
    }
}
