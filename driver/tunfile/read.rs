// SPDX-License-Identifier: GPL-2.0
//! `read()`: a frame off the ring, with its packet-info and virtio-net
//! headers, into the caller's buffer.

use super::*;

impl TunFile {
    pub(crate) fn read(&self, to: &mut IovIterDest<'_>, nonblock: bool) -> Result<usize> {
        let dev = self.device()?;
        let state = DevState::of(&dev).ok_or(EBADFD)?;
        let room = to.len();
        // tun leaves the ring alone for an empty read.
        if room == 0 {
            return Ok(0);
        }
        let bp = state.has(ioctl::IFF_BACKPRESSURE).then_some(&*dev);
        let skb = self.dequeue(nonblock, bp)?;
        let pi_len = if state.has(ioctl::IFF_NO_PI) {
            0
        } else {
            ioctl::PI_LEN
        };
        let vnet_sz = if state.has(ioctl::IFF_VNET_HDR) {
            state.vnet_hdr_sz()
        } else {
            0
        };
        let len = skb.len();
        let total = len
            .checked_add(pi_len)
            .and_then(|t| t.checked_add(vnet_sz))
            .ok_or(EINVAL)?;
        match Self::put_user(&skb, &dev, state, to, pi_len, vnet_sz, room < total) {
            Ok(()) => {
                dev.count_tx(len);
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

    /// Waits for a frame. A reader blocked when the device goes away gets
    /// EFAULT, as in tun.
    pub(super) fn dequeue(&self, nonblock: bool, bp: Option<&NetDev>) -> Result<SkBuff> {
        if let Some(skb) = self.pop(bp) {
            return Ok(skb);
        }
        if nonblock {
            return Err(EAGAIN);
        }
        let got = self.wait().wait_interruptible(|| {
            if let Some(skb) = self.pop(bp) {
                return Some(Ok(skb));
            }
            self.shutdown.load(Relaxed).then_some(Err(EFAULT))
        });
        got.unwrap_or(Err(ERESTARTSYS))
    }

    #[inline(always)]
    pub(super) fn pop(&self, bp: Option<&NetDev>) -> Option<SkBuff> {
        let c = self.ring.consume()?;
        if let Some(dev) = bp {
            // Pairs with the barrier after `push` stops the transmit queue:
            // either it sees the room made here, or this sees it stopped
            // (tun's `__tun_wake_queue`, which has it under BACKPRESSURE only).
            core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
            self.consumed_one(c.capacity, c.now_empty, dev);
        }
        Some(c.skb)
    }

    /// tun's `tun_put_user`: the PI header, the virtio-net header (its unused
    /// tail zeroed), then as much of the frame as fits.
    pub(super) fn put_user(
        skb: &SkBuff,
        dev: &NetDev,
        state: &DevState,
        to: &mut IovIterDest<'_>,
        pi_len: usize,
        vnet_sz: usize,
        strip: bool,
    ) -> Result<(), Site> {
        if pi_len > 0 {
            if to.len() < pi_len {
                return Err(Site::ReadShortBuffer);
            }
            let flags = if strip { ioctl::TUN_PKT_STRIP } else { 0 };
            let pi = frame::pi_encode(flags, skb.protocol_be());
            if to.copy_to_iter(&pi) != pi.len() {
                return Err(Site::ReadCopy);
            }
        }
        if vnet_sz > 0 {
            let tnl = device::has_udp_tunnel(dev.features());
            let hdr = frames::vnet_hdr(skb, tnl, state.vnet_little_endian())
                .map_err(|_| Site::ReadVnetHdr)?;
            if to.len() < vnet_sz {
                return Err(Site::ReadShortBuffer);
            }
            let parsed = vnet::parsed_len(tnl);
            let fields = hdr.get(..parsed).ok_or(Site::ReadVnetHdr)?;
            if to.copy_to_iter(fields) != parsed {
                return Err(Site::ReadCopy);
            }
            // A header smaller than the offloads need cannot be written whole.
            // (Nothing to zero for a header of just the fields: no call.)
            let rest = vnet_sz.checked_sub(parsed).ok_or(Site::ReadCopy)?;
            if rest > 0 && crate::abstractions::skb::zero_iter(to, rest) != rest {
                return Err(Site::ReadCopy);
            }
        }
        let n = skb.len().min(to.len());
        skb.copy_to_iter(to, n).map_err(|_| Site::ReadCopy)
    }
}
