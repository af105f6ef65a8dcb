// SPDX-License-Identifier: GPL-2.0
//! One open file of /dev/net/rtun (tun's `tun_file`): a queue of a device
//! once TUNSETIFF binds it. This file holds the object, its life from open to
//! release, and its [`FileOps`]; the operations are split by concern:
//! - `ring.rs`: what transmit puts on the file's ring, IFF_BACKPRESSURE;
//! - `read.rs`, `write.rs`, `poll.rs`: the data path;
//! - `ioctls.rs`: the ioctls; `bind.rs`: TUNSETIFF and TUNSETQUEUE.
//!
//! The behaviour, errnos included, is tun's (drivers/net/tun.c); where rtun
//! differs on purpose, docs/abi.md says so.

mod bind;
mod ioctls;
mod poll;
mod read;
mod ring;
mod write;

use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicUsize,
    Ordering::{AcqRel, Relaxed},
};
use kernel::{
    error::code::*,
    iov::{IovIterDest, IovIterSource},
    page::PAGE_SIZE,
    prelude::*,
    seq_file::SeqFile,
    sync::{aref::ARef, Arc, ArcBorrow},
    uaccess::{UserPtr, UserSlice},
};

use crate::{
    abstractions::bpf::{ClassicFilter, EbpfFilter},
    abstractions::chardev::{read_iter, write_iter, Fasync, FileOps, ReadIterFn, WriteIterFn},
    abstractions::cred::{self, LsmBlob},
    abstractions::napi::Napi,
    abstractions::netdev::{self, DevBuilder, NetDev, NetNs, Rtnl},
    abstractions::skb::{SkBuff, SkbList},
    abstractions::skb_ring::{Full, NewSlots, SkbRing},
    abstractions::sock::Sock,
    abstractions::sync::{new_lock, PollCtx, RawSpinLock, WaitQueue},
    driver::device::{self, DevState, ModeOf, MAX_QUEUES},
    driver::frames,
    logic::frame,
    logic::ioctl::{self, IfReq, Mode},
    logic::offload::Offloads,
    logic::txfilter::{self, ETH_ALEN, TUN_FILTER_HDR_LEN},
    logic::vnet,
    skb_reason::{Errno, Site},
};

use crate::abstractions::sync::poll::{EPOLLERR, EPOLLIN, EPOLLOUT, EPOLLRDNORM, EPOLLWRNORM};

/// Which device a queue belongs to.
struct Binding {
    dev: Option<ARef<NetDev>>,
    /// Detached with TUNSETQUEUE: bound, but not receiving.
    disabled: bool,
}

#[pin_data]
pub(crate) struct TunFile {
    #[pin]
    ring: SkbRing,
    #[pin]
    binding: RawSpinLock<Binding>,
    /// IFF_NAPI: written frames go to GRO through this instance.
    #[pin]
    napi: Napi,
    /// The device went away under the reader: a blocked read fails.
    shutdown: AtomicBool,
    /// tun's per-queue socket: written frames are charged to it against its
    /// `sk_sndbuf` (TUNSETSNDBUF); writers wait for room, and pollers for
    /// EPOLLOUT, on its wait queue (sock.rs).
    sock: Sock,
    /// TUNSETIFINDEX: the index a device created by this file gets.
    ifindex: AtomicI32,
    /// The transmit queue this queue serves while active, or -1 (device.rs
    /// keeps it up to date under its lock).
    txq: AtomicI32,
    /// IFF_BACKPRESSURE: frames read since the transmit queue was stopped
    /// (tun's `cons_cnt`). Counted by the reader after the consumer lock
    /// (a count off by a few wakes the queue a little early or late; an
    /// empty ring always wakes it), reset under both ring locks.
    consumed: AtomicUsize,
    /// O_ASYNC readers get SIGIO when a frame arrives.
    fasync: Fasync,
    /// The opener's network namespace, where TUNSETIFF looks names up.
    net: NetNs,
}

/// Open rtun files: from a successful `TunFile::new` to its `TunFile::release`.
static OPEN_FILES: AtomicUsize = AtomicUsize::new(0);

/// Maps a drop site's errno to the kernel's.
fn errno(site: Site) -> Error {
    match site.info().errno {
        Some(Errno::Inval) | None => EINVAL,
        Some(Errno::Fault) => EFAULT,
        Some(Errno::Io) => EIO,
        Some(Errno::NoMem) => ENOMEM,
        Some(Errno::Busy) => EBUSY,
    }
}

impl TunFile {
    /// A new file's queue; [`TunFile::release`] ends it.
    pub(crate) fn new() -> Result<Arc<TunFile>> {
        let net = NetNs::current()?;
        let sock = Sock::new()?;
        let fasync = Fasync::new(sock.new_ref());
        let q = Arc::pin_init(
            try_pin_init!(TunFile {
                ring <- SkbRing::new(),
                binding <- new_lock!(
                    RawSpinLock,
                    Binding { dev: None, disabled: false },
                    "rtun_binding",
                ),
                napi <- Napi::new(),
                shutdown: AtomicBool::new(false),
                sock,
                ifindex: AtomicI32::new(0),
                txq: AtomicI32::new(-1),
                consumed: AtomicUsize::new(0),
                fasync,
                net,
            }),
            GFP_KERNEL,
        )?;
        OPEN_FILES.fetch_add(1, Relaxed);
        Ok(q)
    }

    /// Where readers, writers waiting for room and pollers wait: the
    /// socket's queue, as in tun.
    fn wait(&self) -> &WaitQueue {
        self.sock.wait()
    }

    pub(crate) fn fasync(&self) -> &Fasync {
        &self.fasync
    }

    /// TUNSETSNDBUF (tun_set_sndbuf): this queue's send buffer.
    pub(crate) fn set_sndbuf(&self, v: i32) {
        self.sock.set_sndbuf(v);
    }

    /// The device this queue is bound to, receiving or not (EBADFD when
    /// unbound): tun keeps a detached queue's file working.
    #[inline(always)]
    fn device(&self) -> Result<ARef<NetDev>> {
        self.binding.lock().dev.clone().ok_or(EBADFD)
    }

    fn bound(&self) -> Option<(ARef<NetDev>, bool)> {
        let b = self.binding.lock();
        b.dev.clone().map(|d| (d, b.disabled))
    }

    /// The file is closing. The last open rtun file to close waits for what
    /// closes deferred (`rcu::drain_deferred`), so that nothing pins the
    /// module once no file is open.
    pub(crate) fn release(this: Arc<TunFile>) {
        Self::detach_on_release(this);
        // Release: what this close deferred (`rcu`'s pending count) is
        // seen by whichever close ends up last; acquire: the last one sees
        // what every other close deferred.
        if OPEN_FILES.fetch_sub(1, AcqRel) == 1 {
            crate::abstractions::rcu::drain_deferred();
        }
    }

    fn detach_on_release(this: Arc<TunFile>) {
        let rtnl = Rtnl::lock();
        let dev = {
            let mut b = this.binding.lock();
            b.disabled = false;
            b.dev.take()
        };
        if let Some(dev) = dev {
            if let Some(state) = DevState::of(&dev) {
                state.detach(&dev, &this, &rtnl).defer();
            }
            // Give the device reference back before RTNL: unlocking runs the
            // unregistration, which waits for it.
            drop(dev);
        }
        drop(rtnl);
    }

    /// The name of the bound device, for `/proc/<pid>/fdinfo` (empty if none).
    pub(crate) fn iff_name(&self) -> [u8; ioctl::IFNAMSIZ] {
        let _rtnl = Rtnl::lock();
        self.device().map_or([0; ioctl::IFNAMSIZ], |d| d.name())
    }
}

impl FileOps for TunFile {
    type OwnerModule = crate::RustTun;

    fn open() -> Result<Arc<Self>> {
        TunFile::new()
    }

    #[inline(never)]
    #[export_name = "rtun_file_release"]
    fn release(this: Arc<Self>) {
        TunFile::release(this)
    }

    // The read and write paths drop frames: readable names for the trace's
    // `location=`, as the other drop sites have. Each path is one function
    // under its name.
    const READ_ITER: Option<ReadIterFn> = read_iter!(TunFile, TunFile::read, "rtun_file_read");
    const WRITE_ITER: Option<WriteIterFn> = write_iter!(TunFile, TunFile::write, "rtun_file_write");

    fn poll(&self, poll: &PollCtx<'_>) -> u32 {
        TunFile::poll(self, poll)
    }

    #[inline(never)]
    #[export_name = "rtun_file_ioctl"]
    fn ioctl(this: ArcBorrow<'_, Self>, cmd: u32, arg: usize, compat: bool) -> Result<isize> {
        // tun reads a 32-bit caller's `struct compat_ifreq`, whose fields it
        // uses are laid out the same.
        let ifreq_len = if compat {
            ioctl::COMPAT_IFREQ_LEN
        } else {
            ioctl::IFREQ_LEN
        };
        TunFile::ioctl(this, cmd, arg, ifreq_len)
    }

    fn fasync(&self) -> &Fasync {
        TunFile::fasync(self)
    }

    /// The `iff:` line tun prints, which `ip tuntap` reads to tell which
    /// process holds which device.
    fn show_fdinfo(&self, seq: &SeqFile) {
        let name = self.iff_name();
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        let name = core::str::from_utf8(name.get(..len).unwrap_or(&[])).unwrap_or("");
        kernel::seq_print!(seq, "iff:\t{}\n", name);
    }
}
