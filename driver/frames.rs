// SPDX-License-Identifier: GPL-2.0
//! Where the pure formats meet the kernel's skb: the driver's drop reasons as
//! the kernel's values, the socket filter's verdicts as drop sites, and a
//! reader's virtio-net header from an skb. The build-time checks here tie
//! logic/'s copies of kernel constants to the kernel's own.

use kernel::bindings;

use crate::{
    abstractions::skb::{self, gso, CsumState, DropReason, Failed, SkBuff},
    logic::{offload, vnet},
    skb_reason::{Reason, Site},
};

// The GSO type bits offload.rs decides on are the kernel's.
const _: () = {
    assert!(offload::GSO_TCPV4 == gso::TCPV4);
    assert!(offload::GSO_DODGY == gso::DODGY);
    assert!(offload::GSO_TCP_ECN == gso::TCP_ECN);
    assert!(offload::GSO_TCP_FIXEDID == gso::TCP_FIXEDID);
    assert!(offload::GSO_TCPV6 == gso::TCPV6);
    assert!(offload::GSO_UDP_L4 == gso::UDP_L4);
    assert!(offload::GSO_UDP_TUNNEL == gso::UDP_TUNNEL);
    assert!(offload::GSO_UDP_TUNNEL_CSUM == gso::UDP_TUNNEL_CSUM);
    assert!(offload::GSO_TCP_FIXEDID_INNER == gso::TCP_FIXEDID_INNER);
};

// vnet.rs's header is the one the skb helpers read and write.
const _: () = assert!(vnet::TNL_HDR_LEN == skb::VNET_TNL_HDR_LEN);

/// The kernel's value for each reason, indexed by [`Reason::index`]: one
/// load on the drop path.
const RAW_REASONS: [bindings::skb_drop_reason; Reason::COUNT] = {
    let mut t = [0; Reason::COUNT];
    let mut i = 0;
    while i < Reason::COUNT {
        t[i] = raw_reason_of(Reason::ALL[i]);
        i += 1;
    }
    t
};

/// The kernel's value for each reason, from the generated bindings.
const fn raw_reason_of(r: Reason) -> bindings::skb_drop_reason {
    match r {
        Reason::DevReady => bindings::skb_drop_reason_SKB_DROP_REASON_DEV_READY,
        Reason::TapTxfilter => bindings::skb_drop_reason_SKB_DROP_REASON_TAP_TXFILTER,
        Reason::SocketFilter => bindings::skb_drop_reason_SKB_DROP_REASON_SOCKET_FILTER,
        Reason::TapFilter => bindings::skb_drop_reason_SKB_DROP_REASON_TAP_FILTER,
        Reason::Nomem => bindings::skb_drop_reason_SKB_DROP_REASON_NOMEM,
        Reason::SkbUcopyFault => bindings::skb_drop_reason_SKB_DROP_REASON_SKB_UCOPY_FAULT,
        Reason::FullRing => bindings::skb_drop_reason_SKB_DROP_REASON_FULL_RING,
        Reason::HdrTrunc => bindings::skb_drop_reason_SKB_DROP_REASON_HDR_TRUNC,
        Reason::DevHdr => bindings::skb_drop_reason_SKB_DROP_REASON_DEV_HDR,
        Reason::SkbCsum => bindings::skb_drop_reason_SKB_DROP_REASON_SKB_CSUM,
        Reason::SkbGsoSeg => bindings::skb_drop_reason_SKB_DROP_REASON_SKB_GSO_SEG,
        Reason::UnhandledProto => bindings::skb_drop_reason_SKB_DROP_REASON_UNHANDLED_PROTO,
        Reason::QueuePurge => bindings::skb_drop_reason_SKB_DROP_REASON_QUEUE_PURGE,
        Reason::Pfmemalloc => bindings::skb_drop_reason_SKB_DROP_REASON_PFMEMALLOC,
        Reason::SecurityHook => bindings::skb_drop_reason_SKB_DROP_REASON_SECURITY_HOOK,
    }
}

impl DropReason for Reason {
    #[inline(always)]
    fn raw(self) -> bindings::skb_drop_reason {
        // `index()` is below COUNT for every reason: no bounds check remains.
        RAW_REASONS
            .get(self.index())
            .copied()
            .unwrap_or(bindings::skb_drop_reason_SKB_DROP_REASON_DEV_READY)
    }
}

/// The drop site for a reason returned by the kernel's socket-filter path.
pub(crate) fn socket_filter_site(raw: bindings::skb_drop_reason) -> Site {
    if raw == bindings::skb_drop_reason_SKB_DROP_REASON_PFMEMALLOC {
        Site::XmitSocketFilterPfmemalloc
    } else if raw == bindings::skb_drop_reason_SKB_DROP_REASON_SECURITY_HOOK {
        Site::XmitSocketFilterSecurity
    } else {
        Site::XmitSocketFilter
    }
}

/// Describes `skb` in a virtio-net header for a reader; the tunnel fields
/// only when `tnl` (the device offers UDP-tunnel GSO). A frame without
/// UDP-tunnel GSO is described inline ([`vnet::encode`], the kernel's
/// `virtio_net_hdr_from_skb`, which is what `virtio_net_hdr_tnl_from_skb`
/// does for it), the others by the kernel.
#[inline(always)]
pub(crate) fn vnet_hdr(skb: &SkBuff, tnl: bool, le: bool) -> Result<vnet::Raw, Failed> {
    let gso_type = skb.gso_type();
    if gso_type & (offload::GSO_UDP_TUNNEL | offload::GSO_UDP_TUNNEL_CSUM) != 0 {
        return skb.vnet_hdr_by_kernel(tnl, le);
    }
    let csum = match skb.csum_state() {
        CsumState::Partial { start, offset } => vnet::Csum::Partial { start, offset },
        CsumState::Unnecessary => vnet::Csum::Valid,
        CsumState::None => vnet::Csum::None,
    };
    let info = vnet::FrameInfo {
        gso_size: skb.gso_size(),
        gso_type,
        // `len - data_len`, both u32.
        headlen: skb.headlen() as u32,
        csum,
    };
    vnet::encode(&info, le).map_err(|()| Failed)
}
