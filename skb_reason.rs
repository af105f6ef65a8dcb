// SPDX-License-Identifier: GPL-2.0
//! Every place where rust_tun drops a packet: the core drop reason it reports to
//! `skb:kfree_skb`, the counter it bumps, and the errno the writer gets.
//!
//! This file is the single source of truth the README's reason table and the
//! `ethtool -S` strings come from. It is pure data (no kernel types), so the
//! host-side unit tests check it too.

/// The core `enum skb_drop_reason` values this driver reports. The kernel
/// value of each is looked up in skb.rs from the generated bindings: the numbers
/// are not ABI.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reason {
    DevReady,
    TapTxfilter,
    SocketFilter,
    TapFilter,
    Nomem,
    SkbUcopyFault,
    FullRing,
    HdrTrunc,
    DevHdr,
    SkbCsum,
    SkbGsoSeg,
    UnhandledProto,
    QueuePurge,
    /// Passed through from the kernel's socket-filter path.
    Pfmemalloc,
    /// Passed through from the kernel's socket-filter path.
    SecurityHook,
}

impl Reason {
    /// Every reason, in `ethtool -S` order.
    pub(crate) const ALL: [Reason; 15] = [
        Reason::DevReady,
        Reason::TapTxfilter,
        Reason::SocketFilter,
        Reason::TapFilter,
        Reason::Nomem,
        Reason::SkbUcopyFault,
        Reason::FullRing,
        Reason::HdrTrunc,
        Reason::DevHdr,
        Reason::SkbCsum,
        Reason::SkbGsoSeg,
        Reason::UnhandledProto,
        Reason::QueuePurge,
        Reason::Pfmemalloc,
        Reason::SecurityHook,
    ];
    pub(crate) const COUNT: usize = Self::ALL.len();

    /// Every reason's name, in [`Reason::ALL`] order (the `ethtool -S` strings).
    pub(crate) const NAMES: [&'static str; Self::COUNT] = {
        let mut out = [""; Self::COUNT];
        let mut i = 0;
        while i < Self::COUNT {
            out[i] = Self::ALL[i].name();
            i += 1;
        }
        out
    };

    /// The name the tracepoint prints after `reason:`.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Reason::DevReady => "DEV_READY",
            Reason::TapTxfilter => "TAP_TXFILTER",
            Reason::SocketFilter => "SOCKET_FILTER",
            Reason::TapFilter => "TAP_FILTER",
            Reason::Nomem => "NOMEM",
            Reason::SkbUcopyFault => "SKB_UCOPY_FAULT",
            Reason::FullRing => "FULL_RING",
            Reason::HdrTrunc => "HDR_TRUNC",
            Reason::DevHdr => "DEV_HDR",
            Reason::SkbCsum => "SKB_CSUM",
            Reason::SkbGsoSeg => "SKB_GSO_SEG",
            Reason::UnhandledProto => "UNHANDLED_PROTO",
            Reason::QueuePurge => "QUEUE_PURGE",
            Reason::Pfmemalloc => "PFMEMALLOC",
            Reason::SecurityHook => "SECURITY_HOOK",
        }
    }

    /// Position in [`Reason::ALL`] (and in the per-reason counters).
    #[inline(always)]
    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// The errno a writer or reader gets back for a drop, named without kernel types.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Errno {
    Inval,
    Fault,
    Io,
    NoMem,
    Busy,
}

/// Which `rtnl_link_stats64` drop counter a site bumps.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dir {
    /// Frames written by user space towards the stack: `rx_dropped`.
    Rx,
    /// Frames sent by the stack towards the reader: `tx_dropped`.
    Tx,
    /// Frames written with an invalid virtio-net header: `rx_frame_errors`,
    /// where tun counts them.
    RxFrame,
    /// Frames written by user space that tun frees without counting them
    /// anywhere (a write on a detached `IFF_NAPI` queue): no device counter,
    /// only the per-reason one.
    RxUncounted,
}

/// A drop site. The discriminant indexes [`SITES`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Site {
    XmitNoQueue,
    XmitTxFilter,
    XmitSocketFilter,
    XmitSocketFilterPfmemalloc,
    XmitSocketFilterSecurity,
    XmitEbpfFilter,
    XmitTrim,
    XmitOrphanFrags,
    XmitCsum,
    XmitGsoSeg,
    XmitRingFull,
    XmitSegmentsRingFull,
    WriteDown,
    WriteFragAlloc,
    WriteCopy,
    WriteVnetHdr,
    WriteShortEth,
    WriteShortIp,
    WriteNotIp,
    WriteFragsSegment,
    WriteFragsPull,
    WriteNapiDetached,
    ReadCopy,
    ReadVnetHdr,
    ReadShortBuffer,
    DetachPurge,
    RingShrink,
    NapiPurge,
}

pub(crate) struct SiteInfo {
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) site: Site,
    pub(crate) reason: Reason,
    pub(crate) dir: Dir,
    pub(crate) errno: Option<Errno>,
    /// What happened, in the words of the README's table.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) what: &'static str,
}

const fn s(
    site: Site,
    reason: Reason,
    dir: Dir,
    errno: Option<Errno>,
    what: &'static str,
) -> SiteInfo {
    SiteInfo {
        site,
        reason,
        dir,
        errno,
        what,
    }
}

/// The table: one row per drop site, in [`Site`] order.
pub(crate) const SITES: [SiteInfo; 28] = [
    s(
        Site::XmitNoQueue,
        Reason::DevReady,
        Dir::Tx,
        None,
        "xmit on a queue with no reader attached",
    ),
    s(
        Site::XmitTxFilter,
        Reason::TapTxfilter,
        Dir::Tx,
        None,
        "the TUNSETTXFILTER MAC/multicast filter rejects the destination",
    ),
    s(
        Site::XmitSocketFilter,
        Reason::SocketFilter,
        Dir::Tx,
        None,
        "the TUNATTACHFILTER classic BPF filter returns 0",
    ),
    s(
        Site::XmitSocketFilterPfmemalloc,
        Reason::Pfmemalloc,
        Dir::Tx,
        None,
        "the socket-filter path refuses an skb from pfmemalloc reserves",
    ),
    s(
        Site::XmitSocketFilterSecurity,
        Reason::SecurityHook,
        Dir::Tx,
        None,
        "the socket-filter path's security hook refuses the frame",
    ),
    s(
        Site::XmitEbpfFilter,
        Reason::TapFilter,
        Dir::Tx,
        None,
        "the TUNSETFILTEREBPF program returns 0",
    ),
    s(
        Site::XmitTrim,
        Reason::Nomem,
        Dir::Tx,
        None,
        "trimming the frame to the length a filter returned failed",
    ),
    s(
        Site::XmitOrphanFrags,
        Reason::SkbUcopyFault,
        Dir::Tx,
        None,
        "xmit could not copy zerocopy user fragments",
    ),
    s(
        Site::XmitCsum,
        Reason::SkbCsum,
        Dir::Tx,
        None,
        "resolving CHECKSUM_PARTIAL for a reader without checksum offload failed",
    ),
    s(
        Site::XmitGsoSeg,
        Reason::SkbGsoSeg,
        Dir::Tx,
        None,
        "segmenting a GSO frame for a reader without that offload failed",
    ),
    s(
        Site::XmitRingFull,
        Reason::FullRing,
        Dir::Tx,
        None,
        "xmit found the reader's ring full",
    ),
    s(
        Site::XmitSegmentsRingFull,
        Reason::FullRing,
        Dir::Tx,
        None,
        "segments of a GSO frame that no longer fit the ring (one reason, whole list)",
    ),
    s(
        Site::WriteDown,
        Reason::DevReady,
        Dir::Rx,
        Some(Errno::Io),
        "write while the interface is down",
    ),
    s(
        Site::WriteFragAlloc,
        Reason::Nomem,
        Dir::Rx,
        Some(Errno::NoMem),
        "write could not allocate a page for a large frame, or a fragment of an IFF_NAPI_FRAGS frame",
    ),
    s(
        Site::WriteCopy,
        Reason::SkbUcopyFault,
        Dir::Rx,
        Some(Errno::Fault),
        "write could not copy the frame from user memory",
    ),
    s(
        Site::WriteVnetHdr,
        Reason::DevHdr,
        Dir::RxFrame,
        Some(Errno::Inval),
        "write carried an invalid virtio-net header",
    ),
    s(
        Site::WriteShortEth,
        Reason::HdrTrunc,
        Dir::Rx,
        Some(Errno::Inval),
        "TAP write shorter than an Ethernet header",
    ),
    s(
        Site::WriteShortIp,
        Reason::HdrTrunc,
        Dir::Rx,
        Some(Errno::Inval),
        "TUN write without PI and without a single byte of IP header",
    ),
    s(
        Site::WriteNotIp,
        Reason::UnhandledProto,
        Dir::Rx,
        Some(Errno::Inval),
        "TUN write without PI whose IP version is neither 4 nor 6",
    ),
    s(
        Site::WriteFragsSegment,
        Reason::DevHdr,
        Dir::Rx,
        Some(Errno::Inval),
        "IFF_NAPI_FRAGS write whose segments cannot lay out its frame: one past the first empty or larger than a page, or several that are not iovecs",
    ),
    s(
        Site::WriteFragsPull,
        Reason::HdrTrunc,
        Dir::Rx,
        Some(Errno::NoMem),
        "IFF_NAPI_FRAGS TAP write whose Ethernet header could not be pulled into the linear part",
    ),
    s(
        Site::WriteNapiDetached,
        Reason::DevReady,
        Dir::RxUncounted,
        Some(Errno::Busy),
        "write on a detached IFF_NAPI or IFF_NAPI_FRAGS queue, whose NAPI instance is disabled (or, IFF_NAPI_FRAGS, owned by a poll)",
    ),
    s(
        Site::ReadCopy,
        Reason::SkbUcopyFault,
        Dir::Tx,
        Some(Errno::Fault),
        "read could not copy the frame to user memory",
    ),
    s(
        Site::ReadVnetHdr,
        Reason::DevHdr,
        Dir::Tx,
        Some(Errno::Inval),
        "read could not describe the frame in a virtio-net header",
    ),
    s(
        Site::ReadShortBuffer,
        Reason::DevHdr,
        Dir::Tx,
        Some(Errno::Inval),
        "the reader's buffer cannot hold the PI or virtio-net header (tun drops the frame too)",
    ),
    s(
        Site::DetachPurge,
        Reason::QueuePurge,
        Dir::Tx,
        None,
        "frames left on a queue's ring when it detaches",
    ),
    s(
        Site::RingShrink,
        Reason::QueuePurge,
        Dir::Tx,
        None,
        "frames that no longer fit when a smaller txqueuelen resizes the ring",
    ),
    s(
        Site::NapiPurge,
        Reason::QueuePurge,
        Dir::Rx,
        None,
        "written frames still waiting for NAPI when an IFF_NAPI queue detaches",
    ),
];

impl Site {
    #[inline(always)]
    pub(crate) const fn info(self) -> &'static SiteInfo {
        &SITES[self as usize]
    }
    #[inline(always)]
    pub(crate) const fn reason(self) -> Reason {
        self.info().reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_site_order() {
        for (i, row) in SITES.iter().enumerate() {
            assert_eq!(row.site as usize, i, "row {i} is {:?}", row.site);
        }
    }

    #[test]
    fn every_reason_has_a_site_and_an_index() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(SITES.iter().any(|s| s.reason == *r), "{r:?} has no site");
        }
    }

    #[test]
    fn names_are_the_kernels_and_unique() {
        for (i, a) in Reason::ALL.iter().enumerate() {
            let n = a.name();
            assert!(
                n.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{n}"
            );
            // The generic reason, spelled in two halves so that a grep of the
            // module sources for it only ever finds real uses.
            assert_ne!(n, concat!("NOT_", "SPECIFIED"));
            for b in &Reason::ALL[i + 1..] {
                assert_ne!(n, b.name());
            }
        }
    }

    #[test]
    fn writer_sites_return_an_errno_and_count_rx() {
        for row in SITES.iter() {
            let is_write = format!("{:?}", row.site).starts_with("Write");
            if is_write {
                assert!(row.errno.is_some(), "{:?}", row.site);
                assert_ne!(row.dir, Dir::Tx, "{:?}", row.site);
            } else if row.site != Site::NapiPurge {
                assert_eq!(row.dir, Dir::Tx, "{:?}", row.site);
            }
        }
    }

    #[test]
    fn only_tuns_uncounted_drop_is_uncounted() {
        // tun_get_user frees a write on a detached IFF_NAPI queue without
        // dev_core_stats_rx_dropped_inc (EBUSY, `goto free_skb`).
        for row in SITES.iter() {
            assert_eq!(
                row.dir == Dir::RxUncounted,
                row.site == Site::WriteNapiDetached,
                "{:?}",
                row.site
            );
        }
    }

    #[test]
    fn seed_reasons_keep_their_sites() {
        assert_eq!(Site::XmitNoQueue.reason(), Reason::DevReady);
        assert_eq!(Site::WriteDown.reason(), Reason::DevReady);
        assert_eq!(Site::XmitRingFull.reason(), Reason::FullRing);
        assert_eq!(Site::WriteShortEth.reason(), Reason::HdrTrunc);
        assert_eq!(Site::WriteCopy.reason(), Reason::SkbUcopyFault);
        assert_eq!(Site::WriteFragAlloc.reason(), Reason::Nomem);
        assert_eq!(Site::XmitTxFilter.reason(), Reason::TapTxfilter);
        assert_eq!(Site::XmitSocketFilter.reason(), Reason::SocketFilter);
        assert_eq!(Site::XmitEbpfFilter.reason(), Reason::TapFilter);
        assert_eq!(Site::XmitTrim.reason(), Reason::Nomem);
        assert_eq!(Site::XmitCsum.reason(), Reason::SkbCsum);
        assert_eq!(Site::XmitGsoSeg.reason(), Reason::SkbGsoSeg);
        assert_eq!(Site::XmitSegmentsRingFull.reason(), Reason::FullRing);
        assert_eq!(Site::WriteVnetHdr.reason(), Reason::DevHdr);
    }

    #[test]
    fn the_readme_documents_every_reason() {
        let readme = include_str!("docs/drop-reasons.md");
        for r in Reason::ALL {
            assert!(
                readme.contains(&format!("`{}`", r.name())),
                "docs/drop-reasons.md lacks {}",
                r.name()
            );
        }
    }

    #[test]
    fn the_seed_series_reasons_are_all_emitted() {
        let seed = [
            "DEV_READY",
            "TAP_TXFILTER",
            "SOCKET_FILTER",
            "TAP_FILTER",
            "NOMEM",
            "SKB_UCOPY_FAULT",
            "FULL_RING",
            "HDR_TRUNC",
            "DEV_HDR",
            "SKB_CSUM",
            "SKB_GSO_SEG",
        ];
        for name in seed {
            assert!(
                SITES.iter().any(|s| s.reason.name() == name),
                "{name} has no drop site"
            );
        }
    }
}
