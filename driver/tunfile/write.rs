// SPDX-License-Identifier: GPL-2.0
//! `write()`: a frame from the caller's buffer into the stack, with its
//! packet-info and virtio-net headers; every failure a drop site.

use super::*;

/// Linear bytes of a written frame; the rest goes into page fragments, so large
/// frames need no high-order allocation (tun's SKB_MAX_HEAD, rounded down).
const LINEAR_MAX: usize = 3584;

impl TunFile {
    /// A `write()`; `nonblock` (O_NONBLOCK, IOCB_NOWAIT): fail with EAGAIN
    /// instead of waiting for room in the send buffer.
    pub(crate) fn write(&self, from: &mut IovIterSource<'_>, nonblock: bool) -> Result<usize> {
        let dev = self.device()?;
        let state = DevState::of(&dev).ok_or(EBADFD)?;
        let total = from.len();
        let mut len = total;

        // Headers first, as tun does: errors here have no frame to trace yet.
        let mut pi_proto = frame::ETH_P_IP.to_be();
        if !state.has(ioctl::IFF_NO_PI) {
            len = len.checked_sub(ioctl::PI_LEN).ok_or(EINVAL)?;
            let mut pi = [0u8; ioctl::PI_LEN];
            if from.copy_from_iter(&mut pi) != pi.len() {
                return Err(EFAULT);
            }
            pi_proto = frame::pi_decode(pi).1;
        }
        let mut vnet_hdr = None;
        let mut hdr_len = 0;
        let le = state.vnet_little_endian();
        if state.has(ioctl::IFF_VNET_HDR) {
            let sz = state.vnet_hdr_sz();
            if from.len() < sz {
                return Err(EINVAL);
            }
            let tnl = vnet::writer_knows_tunnel(sz);
            let parsed = vnet::parsed_len(tnl);
            let mut hdr: vnet::Raw = [0u8; vnet::TNL_HDR_LEN];
            let fields = hdr.get_mut(..parsed).ok_or(EINVAL)?;
            if from.copy_from_iter(fields) != parsed {
                return Err(EFAULT);
            }
            hdr_len = vnet::fix_hdr_len(&mut hdr, le);
            if hdr_len > from.len() {
                return Err(EINVAL);
            }
            from.advance(sz - parsed);
            len = len.checked_sub(sz).ok_or(EINVAL)?;
            vnet_hdr = Some((hdr, tnl));
        }
        if state.mode() == Mode::Tap && hdr_len != 0 && hdr_len < frame::ETH_HLEN {
            return Err(EINVAL);
        }

        // A queue attached with IFF_NAPI_FRAGS (tun's napi_frags_enabled is
        // the queue's own). A TAP write shorter than an Ethernet header takes
        // the plain path, which refuses it as tun does, before any layout.
        if self.napi.is_frags() && len >= frame::ETH_HLEN {
            return self
                .write_frags(&dev, state, from, len, pi_proto, vnet_hdr.as_ref(), le)
                .map(|()| total);
        }

        // tun's choice of allocation: a TAP frame that fits a page, written
        // without waiting while the send buffer is unlimited, is built in the
        // task's page fragment (tun_can_build_skb); every other frame is
        // charged to the queue's socket, waiting for room unless `nonblock`
        // (tun_alloc_skb).
        let cheap = state.mode() == Mode::Tap && self.sock.sndbuf() == i32::MAX && nonblock;
        let built = if cheap {
            SkBuff::build(&dev, &self.sock, len)
        } else {
            Ok(None)
        };
        let (mut skb, linear) = match built {
            Ok(Some(skb)) => (skb, len),
            Ok(None) => {
                let mut linear = len.min(LINEAR_MAX);
                if (len - linear).div_ceil(PAGE_SIZE) > kernel::bindings::MAX_SKB_FRAGS as usize {
                    // More pages than an skb holds: all of it linear, as tun
                    // lays out a frame without a header length (it succeeds,
                    // or fails for memory like any other write).
                    linear = len;
                }
                match SkBuff::alloc_send(&dev, &self.sock, linear, nonblock) {
                    Ok(mut skb) => {
                        skb.put(linear);
                        (skb, linear)
                    }
                    // tun counts every failed write but EAGAIN in rx_dropped.
                    Err(e) => {
                        if e != EAGAIN {
                            state.count_rx_lost();
                        }
                        return Err(e);
                    }
                }
            }
            Err(_) => {
                state.count_rx_lost();
                return Err(ENOMEM);
            }
        };
        match self.fill(
            &mut skb,
            &dev,
            state,
            from,
            len,
            linear,
            pi_proto,
            vnet_hdr.as_ref(),
            le,
        ) {
            Ok(()) => self.deliver(skb, &dev, state, len, false).map(|()| total),
            Err(site) => Err(Self::drop_written(skb, state, site)),
        }
    }

    /// An IFF_NAPI_FRAGS write (TAP only), as tun builds it: an skb from the
    /// queue's NAPI instance, shaped after the write's segments (the rest of
    /// the current one linear, each later one a page fragment), filled and
    /// checked as any frame, then handed to GRO in this context. Inlined,
    /// as every step of `write()`: a drop's traced location is then
    /// `rtun_file_write`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn write_frags(
        &self,
        dev: &NetDev,
        state: &DevState,
        from: &mut IovIterSource<'_>,
        len: usize,
        pi_proto: u16,
        vnet_hdr: Option<&(vnet::Raw, bool)>,
        le: bool,
    ) -> Result {
        // tun_napi_alloc_frags' limits come first, and fail counted, as its
        // allocation failures do.
        if !SkBuff::fits_frags(from, len) {
            state.count_rx_lost();
            return Err(EMSGSIZE);
        }
        let mut skb = match self.napi.frags_skb() {
            Ok(skb) => skb,
            Err(e) => {
                if e == ENOMEM {
                    state.count_rx_lost();
                }
                return Err(e);
            }
        };
        if let Err(e) = skb.frags_layout(from, len) {
            let site = if e == ENOMEM {
                Site::WriteFragAlloc
            } else {
                Site::WriteFragsSegment
            };
            return Err(Self::drop_written(skb, state, site));
        }
        match self.fill(&mut skb, dev, state, from, len, len, pi_proto, vnet_hdr, le) {
            Ok(()) => self.deliver(skb, dev, state, len, true),
            Err(site) => Err(Self::drop_written(skb, state, site)),
        }
    }

    /// A written frame that passed every check, into the stack: through the
    /// queue's NAPI instance (GRO in this context with `frags`, or its
    /// backlog and poll), or straight in; then counted, and its flow noted.
    #[inline(always)]
    fn deliver(
        &self,
        mut skb: SkBuff,
        dev: &NetDev,
        state: &DevState,
        len: usize,
        frags: bool,
    ) -> Result {
        // tun_get_user: the receive queue is the writer's queue (a detached
        // queue has none: tun records its stale index).
        if let Some(i) = self.txq() {
            skb.record_rx_queue(i);
        }
        let flow = state.steers_flows().then(|| skb.hash_symmetric());
        let refused = if frags {
            self.napi.gro_frags(skb).err()
        } else if self.napi.is_added() {
            self.napi.receive(skb).err().map(|skb| (skb, EBUSY))
        } else {
            skb.receive();
            None
        };
        if let Some((skb, e)) = refused {
            // The device went down after `fill` found it up (IFF_NAPI_FRAGS
            // checks again where the frame is delivered).
            let site = if e == EIO {
                Site::WriteDown
            } else {
                Site::WriteNapiDetached
            };
            return Err(Self::drop_written(skb, state, site));
        }
        dev.count_rx(len);
        if let Some(hash) = flow {
            state.flow_update(hash, self);
        }
        Ok(())
    }

    /// Drops a written frame at `site`, counted as the site says; the errno
    /// for the writer.
    #[inline(always)]
    fn drop_written(skb: SkBuff, state: &DevState, site: Site) -> Error {
        state.count_drop(site);
        skb.drop_reason(site.reason());
        errno(site)
    }

    /// Builds the frame in `skb` and checks it, in tun's order: copy, the
    /// protocol and network header, the virtio-net header, the Ethernet
    /// header, the link state. On failure, the drop site.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn fill(
        &self,
        skb: &mut SkBuff,
        dev: &NetDev,
        state: &DevState,
        from: &mut IovIterSource<'_>,
        len: usize,
        linear: usize,
        pi_proto: u16,
        vnet_hdr: Option<&(vnet::Raw, bool)>,
        le: bool,
    ) -> Result<(), Site> {
        let mut rest = len - linear;
        if rest > 0 {
            // The charge follows the frame's size: given back before the
            // fragments grow it, taken again for the whole frame after.
            let charged = skb.is_owned();
            skb.orphan();
            while rest > 0 {
                let chunk = rest.min(PAGE_SIZE);
                skb.add_page_frag(chunk).map_err(|_| Site::WriteFragAlloc)?;
                rest -= chunk;
            }
            if charged {
                skb.set_owner_w(&self.sock);
            }
        }
        skb.copy_from_iter(from, len).map_err(|_| Site::WriteCopy)?;
        match state.mode() {
            Mode::Tun => {
                let proto = if state.has(ioctl::IFF_NO_PI) {
                    frame::tun_protocol(skb.head())?.to_be()
                } else {
                    pi_proto
                };
                skb.set_protocol_be(proto);
            }
            Mode::Tap => {
                frame::check_tap(len)?;
                // An IFF_NAPI_FRAGS frame's first segment may hold less than
                // the Ethernet header: tun pulls it into the linear part.
                skb.pull_linear(frame::ETH_HLEN)
                    .map_err(|_| Site::WriteFragsPull)?;
            }
        }
        if let Some((hdr, tnl)) = vnet_hdr {
            // The virtio-net header's offsets are checked against the
            // network header: at the data (TUN) or after the Ethernet header
            // (TAP). Without one, nothing reads it before it is reset below.
            match state.mode() {
                Mode::Tun => skb.reset_network_header(),
                Mode::Tap => skb.set_network_header(frame::ETH_HLEN),
            }
            skb.apply_vnet_hdr(hdr, *tnl, *tnl, le)
                .map_err(|_| Site::WriteVnetHdr)?;
        }
        // A TAP frame's Ethernet header is linear (check_tap, LINEAR_MAX).
        skb.finish_rx_headers(dev, state.mode() == Mode::Tap)
            .map_err(|_| Site::WriteShortEth)?;
        if !dev.is_up() {
            return Err(Site::WriteDown);
        }
        Ok(())
    }
}
