// SPDX-License-Identifier: GPL-2.0
//! tun's ioctls (`__tun_chr_ioctl`): the ones a file answers itself, and
//! the ones on its device.

use super::*;

impl TunFile {
    /// tun's `__tun_chr_ioctl`; `ifreq_len` is 32 for 32-bit callers.
    pub(crate) fn ioctl(
        this: ArcBorrow<'_, TunFile>,
        cmd: u32,
        arg: usize,
        ifreq_len: usize,
    ) -> Result<isize> {
        let user = |len| UserSlice::new(UserPtr::from_addr(arg), len);
        // tun reads the `struct ifreq` of these first, whatever comes next.
        let takes_ifreq = cmd == ioctl::TUNSETIFF
            || cmd == ioctl::TUNSETQUEUE
            || (ioctl::ioc_type(cmd) == ioctl::SOCK_IOC_TYPE && cmd != ioctl::SIOCGSKNS);
        let mut req = if takes_ifreq {
            read_ifreq(arg, ifreq_len)?
        } else {
            IfReq::new([0; ioctl::IFREQ_LEN])
        };
        match cmd {
            ioctl::TUNGETFEATURES => {
                user(4)
                    .writer()
                    .write_slice(&ioctl::supported_features().to_ne_bytes())?;
                return Ok(0);
            }
            ioctl::TUNSETQUEUE => {
                let rtnl = Rtnl::lock();
                this.set_queue(req.flags(), &rtnl)?;
                return Ok(0);
            }
            ioctl::SIOCGSKNS => {
                if !this.net.net_admin() {
                    return Err(EPERM);
                }
                return this.net.open_fd().map(|fd| fd as isize);
            }
            _ => {}
        }

        let rtnl = Rtnl::lock();
        let bound = this.bound();
        match cmd {
            ioctl::TUNSETIFF => {
                if bound.is_some() {
                    return Err(EEXIST);
                }
                Self::set_iff(&Arc::from(this), &mut req, &rtnl)?;
                user(ifreq_len)
                    .writer()
                    .write_slice(req.raw.get(..ifreq_len).ok_or(EINVAL)?)?;
                return Ok(0);
            }
            ioctl::TUNSETIFINDEX => {
                if bound.is_some() {
                    return Err(EPERM);
                }
                let ifindex = read_i32(arg)?;
                if ifindex < 0 {
                    return Err(EINVAL);
                }
                this.ifindex.store(ifindex, Relaxed);
                return Ok(0);
            }
            _ => {}
        }
        let (dev, disabled) = bound.ok_or(EBADFD)?;
        let state = DevState::of(&dev).ok_or(EBADFD)?;
        match cmd {
            ioctl::TUNGETIFF => {
                let mut flags = state.ifr_flags();
                if disabled {
                    flags |= ioctl::IFF_DETACH_QUEUE;
                }
                if !state.has_classic_filter() {
                    flags |= ioctl::IFF_NOFILTER;
                }
                req.set_name(&dev.name());
                req.set_flags(flags);
                user(ifreq_len)
                    .writer()
                    .write_slice(req.raw.get(..ifreq_len).ok_or(EINVAL)?)?;
                Ok(0)
            }
            ioctl::SIOCGIFHWADDR => {
                // Only the family and the address are written, as in tun.
                let mut sa = [0u8; 16];
                ioctl::copy_bytes(&mut sa, &req.raw[ioctl::IFNAMSIZ..]);
                dev.get_hwaddr(&mut sa, &rtnl)?;
                ioctl::copy_bytes(&mut req.raw[ioctl::IFNAMSIZ..], &sa);
                user(ifreq_len)
                    .writer()
                    .write_slice(req.raw.get(..ifreq_len).ok_or(EINVAL)?)?;
                Ok(0)
            }
            ioctl::SIOCSIFHWADDR => {
                // tun: the address must fit in `ifr_hwaddr`.
                if dev.addr_len() > 16 {
                    return Err(EINVAL);
                }
                let mut sa = [0u8; 16];
                ioctl::copy_bytes(&mut sa, &req.raw[ioctl::IFNAMSIZ..]);
                dev.set_hwaddr(&sa, &rtnl)?;
                Ok(0)
            }
            ioctl::TUNGETSNDBUF => {
                user(4)
                    .writer()
                    .write_slice(&this.sock.sndbuf().to_ne_bytes())?;
                Ok(0)
            }
            ioctl::TUNSETSNDBUF => {
                let v = read_i32(arg)?;
                if v <= 0 {
                    return Err(EINVAL);
                }
                state.for_each_active(|q| q.set_sndbuf(v));
                Ok(0)
            }
            _ => Self::device_ioctl(&dev, state, cmd, arg, &rtnl),
        }
    }

    /// Commands on the bound device, under RTNL.
    pub(super) fn device_ioctl(
        dev: &NetDev,
        state: &DevState,
        cmd: u32,
        arg: usize,
        rtnl: &Rtnl,
    ) -> Result<isize> {
        let int_out = |v: i32| -> Result<isize> {
            UserSlice::new(UserPtr::from_addr(arg), 4)
                .writer()
                .write_slice(&v.to_ne_bytes())?;
            Ok(0)
        };
        match cmd {
            // tun accepts these and ignores them.
            ioctl::TUNSETNOCSUM | ioctl::TUNSETDEBUG => Ok(0),
            ioctl::TUNSETPERSIST => {
                if state.has(ioctl::IFF_PERSIST) != (arg != 0) {
                    state.set_persist(arg != 0);
                    dev.state_changed(rtnl);
                }
                Ok(0)
            }
            ioctl::TUNSETOWNER => {
                let kuid = cred::make_kuid(arg as u32).ok_or(EINVAL)?;
                state.set_owner(kuid);
                dev.state_changed(rtnl);
                Ok(0)
            }
            ioctl::TUNSETGROUP => {
                let kgid = cred::make_kgid(arg as u32).ok_or(EINVAL)?;
                state.set_group(kgid);
                dev.state_changed(rtnl);
                Ok(0)
            }
            ioctl::TUNSETLINK => {
                if dev.is_up() {
                    return Err(EBUSY);
                }
                let ty = arg as u16;
                dev.set_link_type(ty, ioctl::link_addr_len(ty), rtnl)?;
                Ok(0)
            }
            ioctl::TUNSETCARRIER => {
                state.change_carrier(dev, read_i32(arg)? != 0)?;
                Ok(0)
            }
            ioctl::TUNGETDEVNETNS => {
                if !dev.net_admin() {
                    return Err(EPERM);
                }
                dev.net_open_fd().map(|fd| fd as isize)
            }
            ioctl::TUNGETVNETHDRSZ => int_out(state.vnet_hdr_sz() as i32),
            ioctl::TUNSETVNETHDRSZ => {
                let sz = read_i32(arg)?;
                if sz < vnet::HDR_LEN as i32 {
                    return Err(EINVAL);
                }
                state.set_vnet_hdr_sz(sz as u32);
                Ok(0)
            }
            ioctl::TUNGETVNETLE => int_out(i32::from(state.vnet_le())),
            ioctl::TUNSETVNETLE => {
                state.set_vnet_le(read_i32(arg)? != 0);
                Ok(0)
            }
            // Big-endian headers only with CONFIG_TUN_VNET_CROSS_LE, as in tun.
            ioctl::TUNGETVNETBE if cfg!(CONFIG_TUN_VNET_CROSS_LE) => {
                int_out(i32::from(state.vnet_be()))
            }
            ioctl::TUNSETVNETBE if cfg!(CONFIG_TUN_VNET_CROSS_LE) => {
                state.set_vnet_be(read_i32(arg)? != 0);
                Ok(0)
            }
            ioctl::TUNSETOFFLOAD => {
                // tun's set_offload takes the whole unsigned long: a bit above
                // 31 is unknown, so EINVAL, not cut off.
                let arg = u32::try_from(arg).map_err(|_| EINVAL)?;
                state.set_offloads(dev, arg, rtnl)?;
                Ok(0)
            }
            ioctl::TUNSETFILTEREBPF => {
                state.set_ebpf_filter(read_bpf_fd(arg)?)?;
                Ok(0)
            }
            ioctl::TUNSETSTEERINGEBPF => {
                state.set_steering(read_bpf_fd(arg)?)?;
                Ok(0)
            }
            // The MAC and socket filters apply to TAP devices only, as in tun.
            ioctl::TUNSETTXFILTER if state.mode() == Mode::Tap => {
                let mut hdr = [0u8; TUN_FILTER_HDR_LEN];
                UserSlice::new(UserPtr::from_addr(arg), TUN_FILTER_HDR_LEN)
                    .reader()
                    .read_slice(&mut hdr)?;
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
                state.set_txfilter(filter)?;
                Ok(nexact as isize)
            }
            ioctl::TUNATTACHFILTER if state.mode() == Mode::Tap => {
                let (len, insns) = read_fprog(arg)?;
                let filter = ClassicFilter::new(len, insns)?;
                state.set_classic_filter(Some(filter))?;
                Ok(0)
            }
            ioctl::TUNDETACHFILTER if state.mode() == Mode::Tap => {
                state.set_classic_filter(None)?;
                Ok(0)
            }
            ioctl::TUNGETFILTER if state.mode() == Mode::Tap => {
                let (len, insns) = state.classic_fprog();
                let mut raw = [0u8; FPROG_LEN];
                ioctl::copy_bytes(&mut raw[..2], &len.to_ne_bytes());
                ioctl::copy_bytes(&mut raw[8..], &insns.to_ne_bytes());
                UserSlice::new(UserPtr::from_addr(arg), FPROG_LEN)
                    .writer()
                    .write_slice(&raw)?;
                Ok(0)
            }
            _ => Err(EINVAL),
        }
    }
}

/// Reads the caller's `struct ifreq` (`len` bytes: 40, or 32 from 32-bit code).
pub(super) fn read_ifreq(arg: usize, len: usize) -> Result<IfReq> {
    let mut raw = [0u8; ioctl::IFREQ_LEN];
    let part = raw.get_mut(..len).ok_or(EINVAL)?;
    UserSlice::new(UserPtr::from_addr(arg), len)
        .reader()
        .read_slice(part)?;
    Ok(IfReq::new(raw))
}

/// `sizeof(struct sock_fprog)` on 64-bit: a u16 length, padding, a pointer.
pub(super) const FPROG_LEN: usize = 16;

/// Reads a user `struct sock_fprog`: (instruction count, user pointer).
pub(super) fn read_fprog(arg: usize) -> Result<(u16, usize)> {
    let mut raw = [0u8; FPROG_LEN];
    UserSlice::new(UserPtr::from_addr(arg), FPROG_LEN)
        .reader()
        .read_slice(&mut raw)?;
    let len = u16::from_ne_bytes([raw[0], raw[1]]);
    let mut p = [0u8; 8];
    ioctl::copy_bytes(&mut p, &raw[8..]);
    Ok((len, usize::from_ne_bytes(p)))
}

pub(super) fn read_i32(arg: usize) -> Result<i32> {
    let mut raw = [0u8; 4];
    UserSlice::new(UserPtr::from_addr(arg), 4)
        .reader()
        .read_slice(&mut raw)?;
    Ok(i32::from_ne_bytes(raw))
}

/// A BPF program fd from user memory: -1 clears, anything else must be a
/// socket-filter program.
pub(super) fn read_bpf_fd(arg: usize) -> Result<Option<EbpfFilter>> {
    let fd = read_i32(arg)?;
    if fd == -1 {
        return Ok(None);
    }
    Ok(Some(EbpfFilter::from_fd(
        u32::try_from(fd).map_err(|_| EBADF)?,
    )?))
}
