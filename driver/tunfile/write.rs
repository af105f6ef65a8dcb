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

        // tun's choice of allocation: IFF_NAPI_FRAGS frames are not charged;
        // a TAP frame that fits a page, written without waiting while the send
        // buffer is unlimited, is built in the task's page fragment
        // (tun_can_build_skb); every other frame is charged to the queue's
        // socket, waiting for room unless `nonblock` (tun_alloc_skb).
        let frags_mode = state.has(ioctl::IFF_NAPI_FRAGS) && self.napi.is_added();
        let cheap =
            !frags_mode && state.mode() == Mode::Tap && self.sock.sndbuf() == i32::MAX && nonblock;
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
                let skb = if frags_mode {
                    SkBuff::alloc(&dev, linear).ok_or(ENOMEM)
                } else {
                    SkBuff::alloc_send(&dev, &self.sock, linear, nonblock)
                };
                match skb {
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
            Ok(()) => {
                // tun_get_user: the receive queue is the writer's queue (a
                // detached queue has none: tun records its stale index).
                if let Some(i) = self.txq() {
                    skb.record_rx_queue(i);
                }
                let flow = state.steers_flows().then(|| skb.hash_symmetric());
                if self.napi.is_added() {
                    if let Err(skb) = self.napi.receive(skb) {
                        let site = Site::WriteNapiDetached;
                        state.count_drop(site);
                        skb.drop_reason(site.reason());
                        return Err(errno(site));
                    }
                } else {
                    skb.receive();
                }
                dev.count_rx(len);
                if let Some(hash) = flow {
                    state.flow_update(hash, self);
                }
                Ok(total)
            }
            Err(site) => {
                state.count_drop(site);
                skb.drop_reason(site.reason());
                Err(errno(site))
            }
        }
    }

    /// Builds the frame in `skb` and checks it, in tun's order: copy, the
    /// protocol and network header, the virtio-net header, the Ethernet
    /// header, the link state. On failure, the drop site.
    #[allow(clippy::too_many_arguments)]
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
            Mode::Tap => frame::check_tap(len)?,
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
