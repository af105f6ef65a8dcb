// SPDX-License-Identifier: GPL-2.0
//! One open file of /dev/net/rtun: a queue of a device once TUNSETIFF binds it.
//! read/write/poll/ioctl logic, in safe Rust over the abstraction files.

use core::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use kernel::{
    error::code::*,
    fs::File,
    iov::{IovIterDest, IovIterSource},
    new_poll_condvar, new_spinlock, new_spinlock_irq,
    page::PAGE_SIZE,
    prelude::*,
    sync::{aref::ARef, poll::PollCondVar, poll::PollTable, Arc, ArcBorrow, SpinLock, SpinLockIrq},
    uaccess::{UserPtr, UserSlice},
};

use crate::{
    cred,
    device::{DevState, Stats, MAX_QUEUES},
    frame,
    ioctl::{self, IfReq, Mode},
    netdev::{self, DevBuilder, NetDev, NetNs, Rtnl},
    ring::Ring,
    bpf::{ClassicFilter, EbpfFilter},
    offload::Offloads,
    txfilter::{self, ETH_ALEN, TUN_FILTER_HDR_LEN},
    skb::{SkBuff, SkbList},
    skb_reason::{Errno, Site},
};

const EPOLLIN: u32 = 0x001;
const EPOLLOUT: u32 = 0x004;
const EPOLLERR: u32 = 0x008;
const EPOLLRDNORM: u32 = 0x040;
const EPOLLWRNORM: u32 = 0x100;

/// Linear bytes of a written frame; the rest goes into page fragments, so large
/// frames need no high-order allocation (tun's SKB_MAX_HEAD, rounded down).
const LINEAR_MAX: usize = 3584;

/// Which device a queue belongs to.
struct Binding {
    dev: Option<ARef<NetDev>>,
    /// Detached with TUNSETQUEUE: bound, but not receiving.
    disabled: bool,
}

#[pin_data]
pub(crate) struct Queue {
    #[pin]
    ring: SpinLockIrq<Ring<SkBuff>>,
    #[pin]
    wait: PollCondVar,
    #[pin]
    binding: SpinLock<Binding>,
    /// The device went away under the reader: a blocked read returns 0.
    shutdown: AtomicBool,
    sndbuf: AtomicI32,
    stats: Stats,
    /// The opener's network namespace, where TUNSETIFF looks names up.
    net: NetNs,
}

/// Maps a drop site's errno to the kernel's.
fn errno(site: Site) -> Error {
    match site.info().errno {
        Some(Errno::Inval) | None => EINVAL,
        Some(Errno::Fault) => EFAULT,
        Some(Errno::Io) => EIO,
        Some(Errno::NoMem) => ENOMEM,
    }
}

impl Queue {
    pub(crate) fn new() -> Result<Arc<Queue>> {
        let net = NetNs::current()?;
        Arc::pin_init(
            try_pin_init!(Queue {
                ring <- new_spinlock_irq!(Ring::empty(), "rtun_ring"),
                wait <- new_poll_condvar!("rtun_wait"),
                binding <- new_spinlock!(Binding { dev: None, disabled: false }, "rtun_binding"),
                shutdown: AtomicBool::new(false),
                sndbuf: AtomicI32::new(i32::MAX),
                stats: Stats::default(),
                net,
            }),
            GFP_KERNEL,
        )
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The device this queue actively serves (EBADFD when unbound or disabled).
    fn device(&self) -> Result<ARef<NetDev>> {
        let b = self.binding.lock();
        match (&b.dev, b.disabled) {
            (Some(dev), false) => Ok(dev.clone()),
            _ => Err(EBADFD),
        }
    }

    // ---- ring (called by device.rs) --------------------------------------------

    /// Xmit side: appends a frame and wakes the reader, or gives the frame back.
    pub(crate) fn push(&self, skb: SkBuff) -> Result<(), SkBuff> {
        self.ring.lock().push(skb)?;
        self.wait.notify_all();
        Ok(())
    }

    /// Xmit side: appends GSO segments, resolving checksums the reader cannot
    /// take. What does not fit comes back as one list, with its drop site.
    pub(crate) fn push_list(&self, mut segs: SkbList, offloads: &Offloads) -> Result<(), (SkbList, Site)> {
        let mut result = Ok(());
        {
            let mut ring = self.ring.lock();
            while let Some(mut seg) = segs.pop() {
                if seg.is_csum_partial() && !offloads.takes_partial_csum() && seg.checksum_help().is_err() {
                    segs.push_front(seg);
                    result = Err(Site::XmitCsum);
                    break;
                }
                if let Err(seg) = ring.push(seg) {
                    segs.push_front(seg);
                    result = Err(Site::XmitSegmentsRingFull);
                    break;
                }
            }
        }
        self.wait.notify_all();
        result.map_err(|site| (segs, site))
    }

    /// Drops every frame left on the ring (the queue no longer receives).
    pub(crate) fn purge(&self, state: &DevState) {
        loop {
            let Some(skb) = self.ring.lock().pop() else { break };
            state.count_drop(Site::DetachPurge);
            skb.drop_reason(Site::DetachPurge.reason());
        }
    }

    /// The device went away: unbind, and wake readers so they return.
    pub(crate) fn shut_down(&self) {
        let old = {
            let mut b = self.binding.lock();
            b.disabled = false;
            b.dev.take()
        };
        drop(old);
        {
            let _ring = self.ring.lock();
            self.shutdown.store(true, Relaxed);
        }
        self.wait.notify_all();
    }

    /// Sizes the ring for `cap` frames, unless it already has a ring.
    fn prepare_ring(&self, cap: usize) -> Result {
        if self.ring.lock().capacity() > 0 {
            return Ok(());
        }
        let ring = Ring::with_capacity(cap.max(1))?;
        let old = core::mem::replace(&mut *self.ring.lock(), ring);
        // `old` had no capacity, hence no frames.
        drop(old);
        Ok(())
    }

    // ---- read -------------------------------------------------------------------

    pub(crate) fn read(&self, to: &mut IovIterDest<'_>, nonblock: bool) -> Result<usize> {
        let dev = self.device()?;
        let state = dev.state().ok_or(EBADFD)?;
        let pi_len = if state.has(ioctl::IFF_NO_PI) { 0 } else { ioctl::PI_LEN };
        let vnet_len = if state.has(ioctl::IFF_VNET_HDR) { state.vnet_hdr_sz() } else { 0 };
        let hdr_len = pi_len + vnet_len;
        let room = to.len();
        if room < hdr_len {
            return Err(EINVAL);
        }
        let Some(skb) = self.dequeue(nonblock)? else {
            return Ok(0);
        };
        let len = skb.len();
        let total = hdr_len.checked_add(len).ok_or(EINVAL)?;
        match Self::put_user(&skb, to, pi_len, vnet_len, room < total) {
            Ok(()) => {
                self.stats.tx(len);
                skb.consume();
                Ok(total.min(room))
            }
            Err(site) => {
                state.count_drop(site);
                skb.drop_reason(site.reason());
                Err(errno(site))
            }
        }
    }

    /// Waits for a frame; `None` once the device is gone.
    fn dequeue(&self, nonblock: bool) -> Result<Option<SkBuff>> {
        let mut ring = self.ring.lock();
        loop {
            if let Some(skb) = ring.pop() {
                return Ok(Some(skb));
            }
            if self.shutdown.load(Relaxed) {
                return Ok(None);
            }
            if nonblock {
                return Err(EAGAIN);
            }
            if self.wait.wait_interruptible(&mut ring) {
                return Err(ERESTARTSYS);
            }
        }
    }

    /// Writes the PI and vnet headers, then as much of the frame as fits.
    fn put_user(skb: &SkBuff, to: &mut IovIterDest<'_>, pi_len: usize, vnet_len: usize, strip: bool) -> Result<(), Site> {
        if pi_len > 0 {
            let flags = if strip { ioctl::TUN_PKT_STRIP } else { 0 };
            let pi = frame::pi_encode(flags, skb.protocol_be());
            if to.copy_to_iter(&pi) != pi.len() {
                return Err(Site::ReadCopy);
            }
        }
        if vnet_len > 0 {
            let hdr = skb.vnet_hdr().map_err(|_| Site::ReadVnetHdr)?;
            if to.copy_to_iter(&hdr) != hdr.len() {
                return Err(Site::ReadCopy);
            }
            to.advance(vnet_len - hdr.len());
        }
        let n = skb.len().min(to.len());
        skb.copy_to_iter(to, n).map_err(|_| Site::ReadCopy)
    }

    // ---- write ------------------------------------------------------------------

    pub(crate) fn write(&self, from: &mut IovIterSource<'_>) -> Result<usize> {
        let dev = self.device()?;
        let state = dev.state().ok_or(EBADFD)?;
        let total = from.len();
        let mut len = total;

        // Headers first, as tun does: errors here have no frame to trace yet.
        let mut pi_proto = None;
        if !state.has(ioctl::IFF_NO_PI) {
            len = len.checked_sub(ioctl::PI_LEN).ok_or(EINVAL)?;
            let mut pi = [0u8; ioctl::PI_LEN];
            if from.copy_from_iter(&mut pi) != pi.len() {
                return Err(EFAULT);
            }
            pi_proto = Some(frame::pi_decode(pi).1);
        }
        let mut vnet = None;
        if state.has(ioctl::IFF_VNET_HDR) {
            let sz = state.vnet_hdr_sz();
            len = len.checked_sub(sz).ok_or(EINVAL)?;
            let mut hdr = [0u8; ioctl::VNET_HDR_LEN];
            if from.copy_from_iter(&mut hdr) != hdr.len() {
                return Err(EFAULT);
            }
            from.advance(sz - hdr.len());
            vnet = Some(hdr);
        }
        if len > frame::MAX_FRAME {
            return Err(EMSGSIZE);
        }

        let linear = len.min(LINEAR_MAX);
        let Some(mut skb) = SkBuff::alloc(&dev, linear) else {
            state.count_rx_lost();
            return Err(ENOMEM);
        };
        skb.put(linear);
        match Self::fill(&mut skb, &dev, state, from, len, linear, pi_proto, vnet.as_ref()) {
            Ok(()) => {
                self.stats.rx(len);
                skb.netif_rx();
                Ok(total)
            }
            Err(site) => {
                state.count_drop(site);
                skb.drop_reason(site.reason());
                Err(errno(site))
            }
        }
    }

    /// Builds the frame in `skb` and checks it; on failure, the drop site.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        skb: &mut SkBuff,
        dev: &NetDev,
        state: &DevState,
        from: &mut IovIterSource<'_>,
        len: usize,
        linear: usize,
        pi_proto: Option<u16>,
        vnet: Option<&[u8; ioctl::VNET_HDR_LEN]>,
    ) -> Result<(), Site> {
        let mut rest = len - linear;
        let mut frag = 0;
        while rest > 0 {
            let chunk = rest.min(PAGE_SIZE);
            skb.add_page_frag(frag, chunk).map_err(|_| Site::WriteFragAlloc)?;
            rest -= chunk;
            frag += 1;
        }
        skb.copy_from_iter(from, len).map_err(|_| Site::WriteCopy)?;
        if let Some(hdr) = vnet {
            skb.apply_vnet_hdr(hdr).map_err(|_| Site::WriteVnetHdr)?;
        }
        match state.mode() {
            Mode::Tun => {
                let proto = match pi_proto {
                    Some(p) => {
                        frame::check_ip_len(u16::from_be(p), len)?;
                        p
                    }
                    None => frame::tun_protocol(skb.head(), len)?.to_be(),
                };
                skb.set_protocol_be(proto);
                skb.reset_mac_header();
            }
            Mode::Tap => {
                frame::check_tap(len)?;
                skb.eth_type_trans(dev);
            }
        }
        skb.reset_network_header();
        skb.probe_transport_header();
        if !dev.is_up() {
            return Err(Site::WriteDown);
        }
        Ok(())
    }

    // ---- poll -------------------------------------------------------------------

    pub(crate) fn poll(&self, file: &File, table: PollTable<'_>) -> u32 {
        table.register_wait(file, &self.wait);
        let Ok(dev) = self.device() else {
            return EPOLLERR;
        };
        if !dev.is_registered() {
            return EPOLLERR;
        }
        let mut mask = 0;
        if !self.ring.lock().is_empty() || self.shutdown.load(Relaxed) {
            mask |= EPOLLIN | EPOLLRDNORM;
        }
        if dev.is_up() {
            mask |= EPOLLOUT | EPOLLWRNORM;
        }
        mask
    }

    // ---- ioctl ------------------------------------------------------------------

    pub(crate) fn ioctl(this: ArcBorrow<'_, Queue>, cmd: u32, arg: usize) -> Result<isize> {
        let user = |len| UserSlice::new(UserPtr::from_addr(arg), len);
        match cmd {
            ioctl::TUNGETFEATURES => {
                user(4).writer().write_slice(&ioctl::supported_features().to_ne_bytes())?;
                Ok(0)
            }
            ioctl::TUNSETIFF => {
                let mut req = read_ifreq(arg)?;
                {
                    let rtnl = Rtnl::lock();
                    Self::set_iff(&Arc::from(this), &mut req, &rtnl)?;
                }
                user(ioctl::IFREQ_LEN).writer().write_slice(&req.raw)?;
                Ok(0)
            }
            ioctl::TUNSETQUEUE => {
                let req = read_ifreq(arg)?;
                let rtnl = Rtnl::lock();
                this.set_queue(req.flags(), &rtnl)?;
                Ok(0)
            }
            ioctl::TUNGETIFF => {
                let mut req = read_ifreq(arg)?;
                {
                    let _rtnl = Rtnl::lock();
                    let dev = this.device()?;
                    let state = dev.state().ok_or(EBADFD)?;
                    req.set_name(&dev.name());
                    req.set_flags(state.ifr_flags());
                }
                user(ioctl::IFREQ_LEN).writer().write_slice(&req.raw)?;
                Ok(0)
            }
            ioctl::TUNGETSNDBUF => {
                user(4).writer().write_slice(&this.sndbuf.load(Relaxed).to_ne_bytes())?;
                Ok(0)
            }
            ioctl::TUNSETSNDBUF => {
                let v = read_i32(arg)?;
                if v <= 0 {
                    return Err(EINVAL);
                }
                this.sndbuf.store(v, Relaxed);
                Ok(0)
            }
            // tun accepts these and ignores them.
            ioctl::TUNSETNOCSUM | ioctl::TUNSETDEBUG => Ok(0),
            _ => {
                let rtnl = Rtnl::lock();
                let dev = this.device()?;
                let state = dev.state().ok_or(EBADFD)?;
                Self::device_ioctl(&dev, state, cmd, arg, &rtnl)
            }
        }
    }

    /// Commands on the bound device.
    fn device_ioctl(dev: &NetDev, state: &DevState, cmd: u32, arg: usize, rtnl: &Rtnl) -> Result<isize> {
        match cmd {
            ioctl::TUNSETPERSIST => {
                state.set_persist(arg != 0);
                Ok(0)
            }
            ioctl::TUNSETOWNER => {
                let kuid = cred::make_kuid(u32::try_from(arg).map_err(|_| EINVAL)?).ok_or(EINVAL)?;
                state.set_owner(kuid);
                Ok(0)
            }
            ioctl::TUNSETGROUP => {
                let kgid = cred::make_kgid(u32::try_from(arg).map_err(|_| EINVAL)?).ok_or(EINVAL)?;
                state.set_group(kgid);
                Ok(0)
            }
            ioctl::TUNSETCARRIER => {
                dev.set_carrier(read_i32(arg)? != 0);
                dev.state_changed(rtnl);
                Ok(0)
            }
            ioctl::TUNGETVNETHDRSZ => {
                let sz = state.vnet_hdr_sz() as i32;
                UserSlice::new(UserPtr::from_addr(arg), 4).writer().write_slice(&sz.to_ne_bytes())?;
                Ok(0)
            }
            ioctl::TUNSETVNETHDRSZ => {
                let sz = read_i32(arg)?;
                let sz = u32::try_from(sz).map_err(|_| EINVAL)?;
                if (sz as usize) < ioctl::VNET_HDR_LEN || sz as usize > PAGE_SIZE {
                    return Err(EINVAL);
                }
                state.set_vnet_hdr_sz(sz);
                Ok(0)
            }
            ioctl::TUNSETOFFLOAD => {
                let o = Offloads::parse(u32::try_from(arg).map_err(|_| EINVAL)?).ok_or(EINVAL)?;
                state.set_offloads(o);
                Ok(0)
            }
            ioctl::TUNSETFILTEREBPF => {
                let fd = read_i32(arg)?;
                let prog = if fd == -1 { None } else { Some(EbpfFilter::from_fd(u32::try_from(fd).map_err(|_| EBADF)?)?) };
                drop(state.set_ebpf_filter(prog));
                Ok(0)
            }
            // The MAC and socket filters apply to TAP devices only, as in tun.
            ioctl::TUNSETTXFILTER if state.mode() == Mode::Tap => {
                let mut hdr = [0u8; TUN_FILTER_HDR_LEN];
                UserSlice::new(UserPtr::from_addr(arg), TUN_FILTER_HDR_LEN).reader().read_slice(&mut hdr)?;
                let flags = u16::from_ne_bytes([hdr[0], hdr[1]]);
                let count = u16::from_ne_bytes([hdr[2], hdr[3]]);
                let addrs = arg.checked_add(TUN_FILTER_HDR_LEN).ok_or(EFAULT)?;
                let addrs_len = usize::from(count).checked_mul(ETH_ALEN).ok_or(EINVAL)?;
                let mut reader = UserSlice::new(UserPtr::from_addr(addrs), addrs_len).reader();
                let mut b = txfilter::Builder::new(flags);
                for _ in 0..count {
                    let mut a = [0u8; ETH_ALEN];
                    reader.read_slice(&mut a)?;
                    b.add(a);
                }
                let (filter, nexact) = b.finish();
                state.set_txfilter(filter);
                Ok(nexact as isize)
            }
            ioctl::TUNATTACHFILTER if state.mode() == Mode::Tap => {
                let (len, insns) = read_fprog(arg)?;
                let filter = ClassicFilter::new(len, insns)?;
                drop(state.set_classic_filter(Some(filter)));
                Ok(0)
            }
            ioctl::TUNDETACHFILTER if state.mode() == Mode::Tap => {
                drop(state.set_classic_filter(None));
                Ok(0)
            }
            ioctl::TUNGETFILTER if state.mode() == Mode::Tap => {
                let (len, insns) = state.classic_fprog();
                let mut raw = [0u8; FPROG_LEN];
                ioctl::copy_bytes(&mut raw[..2], &len.to_ne_bytes());
                ioctl::copy_bytes(&mut raw[8..], &insns.to_ne_bytes());
                UserSlice::new(UserPtr::from_addr(arg), FPROG_LEN).writer().write_slice(&raw)?;
                Ok(0)
            }
            _ => Err(EINVAL),
        }
    }

    /// TUNSETIFF: create a device, or attach to an existing one by name.
    fn set_iff(this: &Arc<Queue>, req: &mut IfReq, rtnl: &Rtnl) -> Result {
        if this.binding.lock().dev.is_some() {
            return Err(EINVAL);
        }
        let flags = req.flags();
        let mode = Mode::from_flags(flags).ok_or(EINVAL)?;
        if flags & (ioctl::IFF_NAPI | ioctl::IFF_NAPI_FRAGS) != 0 {
            return Err(EINVAL);
        }
        let multi = flags & ioctl::IFF_MULTI_QUEUE != 0;
        let (name, empty) = req.name();
        let existing = if empty { None } else { netdev::find(&this.net, &name, rtnl) };

        let dev = match existing {
            Some(dev) => {
                if flags & ioctl::IFF_TUN_EXCL != 0 {
                    return Err(EBUSY);
                }
                if dev.mode() != Some(mode) {
                    return Err(EINVAL);
                }
                let state = dev.state().ok_or(EINVAL)?;
                if multi != state.has(ioctl::IFF_MULTI_QUEUE) {
                    return Err(EINVAL);
                }
                if !state.permitted(&dev) {
                    return Err(EPERM);
                }
                this.prepare_ring(dev.tx_queue_len())?;
                state.attach(&dev, this, rtnl)?;
                state.set_features(flags);
                dev
            }
            None => {
                if !this.net.net_admin() {
                    return Err(EPERM);
                }
                let template = if empty { mode.default_template() } else { &name[..] };
                let mut tname = [0u8; ioctl::IFNAMSIZ];
                let template = template.split(|&b| b == 0).next().unwrap_or(&[]);
                ioctl::copy_bytes(&mut tname[..ioctl::IFNAMSIZ - 1], template);
                let mut builder = DevBuilder::new(&tname, if multi { MAX_QUEUES } else { 1 })?;
                builder.set_net(&this.net);
                match mode {
                    Mode::Tun => builder.setup_tun(),
                    Mode::Tap => builder.setup_tap(),
                }
                this.prepare_ring(builder.tx_queue_len())?;
                let dev = builder.register(mode, DevState::new(mode, flags)?, rtnl)?;
                let state = dev.state().ok_or(EINVAL)?;
                if let Err(e) = state.attach(&dev, this, rtnl) {
                    dev.unregister(rtnl);
                    return Err(e);
                }
                state.add_debugfs(&dev);
                dev
            }
        };
        dev.set_carrier(flags & ioctl::IFF_NO_CARRIER == 0);
        dev.state_changed(rtnl);
        req.set_name(&dev.name());
        this.shutdown.store(false, Relaxed);
        *this.binding.lock() = Binding { dev: Some(dev), disabled: false };
        Ok(())
    }

    /// TUNSETQUEUE: disable or re-enable this queue of a multi-queue device.
    fn set_queue(&self, flags: u16, rtnl: &Rtnl) -> Result {
        let (dev, disabled) = {
            let b = self.binding.lock();
            (b.dev.clone().ok_or(EINVAL)?, b.disabled)
        };
        let state = dev.state().ok_or(EINVAL)?;
        if !state.has(ioctl::IFF_MULTI_QUEUE) {
            return Err(EINVAL);
        }
        if flags & ioctl::IFF_ATTACH_QUEUE != 0 {
            if !disabled {
                return Err(EINVAL);
            }
            if !state.permitted(&dev) {
                return Err(EPERM);
            }
            state.enable(&dev, self, rtnl)?;
            self.binding.lock().disabled = false;
        } else if flags & ioctl::IFF_DETACH_QUEUE != 0 {
            if disabled {
                return Err(EINVAL);
            }
            state.disable(&dev, self, rtnl)?;
            self.binding.lock().disabled = true;
        } else {
            return Err(EINVAL);
        }
        dev.state_changed(rtnl);
        Ok(())
    }

    /// The file is closing.
    pub(crate) fn release(this: Arc<Queue>) {
        let rtnl = Rtnl::lock();
        let dev = {
            let mut b = this.binding.lock();
            b.disabled = false;
            b.dev.take()
        };
        if let Some(dev) = dev {
            if let Some(state) = dev.state() {
                state.detach(&dev, &this, &rtnl);
            }
            // Give the device reference back before RTNL: unlocking runs the
            // unregistration, which waits for it.
            drop(dev);
        }
        drop(rtnl);
    }
}

fn read_ifreq(arg: usize) -> Result<IfReq> {
    let mut raw = [0u8; ioctl::IFREQ_LEN];
    UserSlice::new(UserPtr::from_addr(arg), ioctl::IFREQ_LEN).reader().read_slice(&mut raw)?;
    Ok(IfReq::new(raw))
}

/// `sizeof(struct sock_fprog)` on 64-bit: a u16 length, padding, a pointer.
const FPROG_LEN: usize = 16;

/// Reads a user `struct sock_fprog`: (instruction count, user pointer).
fn read_fprog(arg: usize) -> Result<(u16, usize)> {
    let mut raw = [0u8; FPROG_LEN];
    UserSlice::new(UserPtr::from_addr(arg), FPROG_LEN).reader().read_slice(&mut raw)?;
    let len = u16::from_ne_bytes([raw[0], raw[1]]);
    let mut p = [0u8; 8];
    ioctl::copy_bytes(&mut p, &raw[8..]);
    Ok((len, usize::from_ne_bytes(p)))
}

fn read_i32(arg: usize) -> Result<i32> {
    let mut raw = [0u8; 4];
    UserSlice::new(UserPtr::from_addr(arg), 4).reader().read_slice(&mut raw)?;
    Ok(i32::from_ne_bytes(raw))
}
