// SPDX-License-Identifier: GPL-2.0
//! An owned `struct sk_buff`.
//!
//! A [`SkBuff`] leaves the driver in exactly one of three ways: handed to the
//! stack ([`SkBuff::receive`]), delivered ([`SkBuff::consume`], the
//! `consume_skb` tracepoint), or dropped with a named reason
//! ([`SkBuff::drop_reason`], the `kfree_skb` tracepoint). Every path in
//! driver/device.rs and driver/tunfile/ ends in one of the three. One that
//! does not (an early `?`, a forgotten branch) is a driver bug, and still
//! cannot leak: `Drop` frees the skb in [`rtun_skb_unhandled`], with
//! `SKB_DROP_REASON_NOT_SPECIFIED`, and warns once with a backtrace. The
//! trace line then names that function, and the suite's `no_unnamed_drops`
//! and `no_splat_in_dmesg` fail on it. [`SkbList`] and [`SkbQueue`] do the
//! same for every skb they still hold.

use core::{
    ffi::{c_int, c_uint, c_ulong},
    mem::ManuallyDrop,
    ptr::NonNull,
};
use kernel::{
    bindings,
    error::{code::*, Error},
    iov::{IovIterDest, IovIterSource},
    page::PAGE_SIZE,
};

use crate::{abstractions::ffi, abstractions::netdev::NetDev, abstractions::sock::Sock};

// `SkBuff::shinfo` reads `end` as an offset from `head`, which it is only on
// 64-bit kernels (NET_SKBUFF_DATA_USES_OFFSET).
#[cfg(not(CONFIG_64BIT))]
compile_error!("rtun needs a 64-bit kernel (CONFIG_64BIT): skb.rs reads skb->end as an offset from skb->head (NET_SKBUFF_DATA_USES_OFFSET)");

/// A virtio-net header's bytes, as user space reads and writes them: a
/// `struct virtio_net_hdr_v1_hash_tunnel` (24 bytes), of which the basic
/// header is the first 10. The C file checks the size.
pub(crate) const VNET_TNL_HDR_LEN: usize = 24;

/// The bytes of a virtio-net header, unaligned (see [`VNET_TNL_HDR_LEN`]).
pub(crate) type VnetBytes = [u8; VNET_TNL_HDR_LEN];

/// A virtio-net header as the C helpers take it: the bytes, aligned for a
/// `struct virtio_net_hdr_v1_hash_tunnel` (the C file checks that its
/// alignment is at most this).
#[repr(C, align(8))]
struct VnetHdrBuf(VnetBytes);

const _: () = assert!(core::mem::size_of::<VnetHdrBuf>() == VNET_TNL_HDR_LEN);

/// A drop reason as the kernel knows it (`enum skb_drop_reason`): what
/// [`SkBuff::drop_reason`] reports to `skb:kfree_skb`. The kernel's own
/// values implement it; so do a driver's reasons, mapped to the kernel's.
pub(crate) trait DropReason: Copy {
    /// The kernel's value.
    fn raw(self) -> bindings::skb_drop_reason;
}

impl DropReason for bindings::skb_drop_reason {
    #[inline(always)]
    fn raw(self) -> bindings::skb_drop_reason {
        self
    }
}

/// The checksum state of an skb, as a virtio-net header reports it to a
/// reader (`virtio_net_hdr_from_skb`).
pub(crate) enum CsumState {
    /// CHECKSUM_PARTIAL: to be filled in from `start` (relative to `data`,
    /// counting a VLAN tag still in the skb's metadata), at `offset`.
    Partial { start: i32, offset: u16 },
    /// CHECKSUM_UNNECESSARY: verified.
    Unnecessary,
    /// Anything else.
    None,
}

/// The GSO type bits (`SKB_GSO_*`) as the kernel defines them.
pub(crate) mod gso {
    use kernel::bindings;
    pub(crate) const TCPV4: u32 = bindings::SKB_GSO_TCPV4 as u32;
    pub(crate) const DODGY: u32 = bindings::SKB_GSO_DODGY as u32;
    pub(crate) const TCP_ECN: u32 = bindings::SKB_GSO_TCP_ECN as u32;
    pub(crate) const TCP_FIXEDID: u32 = bindings::SKB_GSO_TCP_FIXEDID as u32;
    pub(crate) const TCPV6: u32 = bindings::SKB_GSO_TCPV6 as u32;
    pub(crate) const UDP_L4: u32 = bindings::SKB_GSO_UDP_L4 as u32;
    pub(crate) const UDP_TUNNEL: u32 = bindings::SKB_GSO_UDP_TUNNEL as u32;
    pub(crate) const UDP_TUNNEL_CSUM: u32 = bindings::SKB_GSO_UDP_TUNNEL_CSUM as u32;
    pub(crate) const TCP_FIXEDID_INNER: u32 = bindings::SKB_GSO_TCP_FIXEDID_INNER as u32;
}

/// Where `ip_summed` sits in its byte: after `pkt_type:3`, `ignore_df:1`
/// and `dst_pending_confirm:1`, on a little-endian bitfield layout.
const IP_SUMMED_SHIFT: u32 = 5;

/// Checks, at module init, the layout [`SkBuff`] reads inline without a
/// name for it (`ip_summed`, a bitfield); `EINVAL` if the kernel's moved.
pub(crate) fn check_layout() -> kernel::error::Result {
    // SAFETY: Process context (it allocates with GFP_KERNEL).
    kernel::error::to_result(unsafe { ffi::rtun_skb_check_ip_summed(IP_SUMMED_SHIFT) })
}

/// A socket buffer owned by the driver.
///
/// # Invariants
/// The pointer is a valid `sk_buff` that nobody else frees, and that is on no
/// list (`skb->next` is null), so freeing it as a list frees it alone.
#[must_use = "an skb must be consumed, dropped with a reason, or handed on"]
pub(crate) struct SkBuff(NonNull<bindings::sk_buff>);

// SAFETY: An owned skb may move between threads.
unsafe impl Send for SkBuff {}

/// The setup step that failed while building an skb.
pub(crate) struct Failed;

impl SkBuff {
    /// # Safety
    /// `ptr` is a valid skb on no list, whose ownership passes to the
    /// returned value.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::sk_buff) -> Self {
        // SAFETY: The caller passes a valid, hence non-null, pointer.
        // INVARIANT: The caller passes a valid skb on no list, and gives up
        // its ownership.
        SkBuff(unsafe { NonNull::new_unchecked(ptr) })
    }

    fn ptr(&self) -> *mut bindings::sk_buff {
        self.0.as_ptr()
    }

    /// Gives the skb up without freeing it: for the methods that pass it on.
    fn release(self) -> NonNull<bindings::sk_buff> {
        ManuallyDrop::new(self).0
    }

    /// For the filter wrappers in bpf.rs, which run programs over the skb.
    pub(crate) fn as_ptr(&mut self) -> *mut bindings::sk_buff {
        self.0.as_ptr()
    }

    /// tun's `tun_build_skb`: a frame of `len` bytes that fits a page gets its
    /// data in the writing task's page fragment and an skb built around it, a
    /// cheaper allocation than a separate head, charged to `sock` without
    /// waiting for room (`skb_set_owner_w`). `len` bytes of room are put.
    /// `Ok(None)` when the frame does not fit (tun_can_build_skb's test, with
    /// XDP's headroom); `Err` when memory ran out. Process context: may sleep.
    pub(crate) fn build(dev: &NetDev, sock: &Sock, len: usize) -> Result<Option<Self>, Failed> {
        let Ok(len) = u32::try_from(len) else {
            return Ok(None);
        };
        let mut err: c_int = 0;
        // SAFETY: Process context (the helper may sleep in the refill of the
        // calling task's own page fragment); `dev` and `sock` are valid, and
        // the charge keeps `sock` until the skb is freed; `err` receives the
        // outcome.
        let ptr = unsafe { ffi::rtun_build_skb(dev.as_ptr(), sock.as_ptr(), len, &mut err) };
        // INVARIANT: A non-null result is a new skb (so on no list) that the
        // helper gives us.
        match NonNull::new(ptr) {
            Some(skb) => Ok(Some(SkBuff(skb))),
            None if err == 0 => Ok(None),
            None => Err(Failed),
        }
    }

    /// tun's `tun_alloc_skb`: an skb for `dev` with `len` bytes of linear room
    /// after tun's headroom, charged to `sock` (`sock_alloc_send_pskb`) until
    /// freed. While the charged frames fill `sock`'s send buffer, waits for
    /// room (`sk_sndtimeo`), or fails with EAGAIN when `nonblock`; a signal
    /// ends the wait with ERESTARTSYS. Other errors are the kernel's (ENOBUFS
    /// when memory ran out). Process context: may sleep.
    pub(crate) fn alloc_send(
        dev: &NetDev,
        sock: &Sock,
        len: usize,
        nonblock: bool,
    ) -> Result<Self, Error> {
        let len = c_ulong::try_from(len).map_err(|_| EMSGSIZE)?;
        let mut err: c_int = 0;
        // SAFETY: Process context (the allocation may wait for room in
        // `sock`); `dev` and `sock` are valid, and the charge keeps `sock`
        // until the skb is freed; `err` receives the errno.
        let ptr = unsafe {
            ffi::rtun_alloc_send_skb(dev.as_ptr(), sock.as_ptr(), len, nonblock, &mut err)
        };
        let Some(skb) = NonNull::new(ptr) else {
            return Err(if err < 0 {
                Error::from_errno(err)
            } else {
                ENOBUFS
            });
        };
        // INVARIANT: A new skb, on no list, and ours.
        Ok(SkBuff(skb))
    }

    /// Whether the frame is charged to a socket (`skb->sk`).
    pub(crate) fn is_owned(&self) -> bool {
        // SAFETY: The skb is valid.
        unsafe { ffi::rtun_skb_has_owner(self.ptr()) }
    }

    /// Gives back the frame's charge to its socket, if any (`skb_orphan`),
    /// before its size changes.
    pub(crate) fn orphan(&mut self) {
        // SAFETY: The skb is ours; its destructor, if any, uncharges it.
        unsafe { ffi::rtun_skb_orphan(self.ptr()) }
    }

    /// Charges the frame, as it is now, to `sock` until it is freed
    /// (`skb_set_owner_w`, which first gives back any earlier charge).
    pub(crate) fn set_owner_w(&mut self, sock: &Sock) {
        // SAFETY: The skb is ours; `sock` is valid, and the charge keeps its
        // memory until the skb's destructor gives the charge back.
        unsafe { ffi::skb_set_owner_w(self.ptr(), sock.as_ptr()) }
    }

    pub(crate) fn len(&self) -> usize {
        // SAFETY: The skb is valid.
        unsafe { (*self.ptr()).len as usize }
    }

    /// Bytes in the linear part.
    pub(crate) fn headlen(&self) -> usize {
        // SAFETY: The skb is valid.
        unsafe { ((*self.ptr()).len - (*self.ptr()).data_len) as usize }
    }

    pub(crate) fn queue_mapping(&self) -> usize {
        // SAFETY: The skb is valid.
        unsafe { usize::from((*self.ptr()).queue_mapping) }
    }

    /// `skb_record_rx_queue`: the frame came in on receive queue `i`, which
    /// RPS, packet fanout and BPF (`SKF_AD_QUEUE`) then see; `queue_mapping`
    /// holds `i + 1`, 0 being "not recorded". An index without a `u16`
    /// successor is left unrecorded.
    pub(crate) fn record_rx_queue(&mut self, i: usize) {
        let Some(v) = i.checked_add(1).and_then(|v| u16::try_from(v).ok()) else {
            return;
        };
        // SAFETY: The skb is valid and ours: no one else writes its fields.
        unsafe { (*self.ptr()).queue_mapping = v };
    }

    /// `skb->protocol`, in network byte order as stored.
    pub(crate) fn protocol_be(&self) -> u16 {
        // SAFETY: The skb is valid.
        unsafe { ffi::rtun_skb_protocol(self.ptr()) }
    }

    pub(crate) fn set_protocol_be(&mut self, proto: u16) {
        // SAFETY: The skb is valid and ours.
        unsafe { ffi::rtun_skb_set_protocol(self.ptr(), proto) }
    }

    /// The linear bytes.
    pub(crate) fn head(&self) -> &[u8] {
        // SAFETY: `data` is valid for `headlen` bytes while we own the skb.
        unsafe { core::slice::from_raw_parts((*self.ptr()).data, self.headlen()) }
    }

    /// Extends the linear part by `len` bytes; `len` must fit the room given to
    /// [`SkBuff::alloc`].
    pub(crate) fn put(&mut self, len: usize) {
        // The caller allocated at least `len` bytes, which fits in a u32.
        let len = len as u32;
        // SAFETY: The skb is ours and has `len` bytes of tailroom.
        unsafe { bindings::skb_put(self.ptr(), len) };
    }

    /// Appends a fresh page holding `len` bytes (at most a page) as the
    /// next page fragment; fails when the skb has no fragment slot left
    /// (MAX_SKB_FRAGS) or no page can be had. Process context. Never
    /// inlined, so fault injection can target it.
    #[inline(never)]
    pub(crate) fn add_page_frag(&mut self, len: usize) -> Result<(), Failed> {
        // SAFETY: The shared info is valid while the skb is, and ours.
        let index = unsafe { (*self.shinfo()).nr_frags };
        if len > PAGE_SIZE || u32::from(index) >= bindings::MAX_SKB_FRAGS {
            return Err(Failed);
        }
        // SAFETY: Process context.
        let page = unsafe { ffi::rtun_alloc_page() };
        if page.is_null() {
            return Err(Failed);
        }
        // SAFETY: `index` is the skb's next free fragment slot (its
        // `nr_frags`, checked above to be below MAX_SKB_FRAGS), the page is
        // ours to give, and `len` fits in it.
        unsafe { ffi::rtun_skb_add_rx_frag(self.ptr(), c_int::from(index), page, len as c_int) };
        Ok(())
    }

    /// Whether a frame of `len` bytes, the rest of `from`, may be written as
    /// tun's IFF_NAPI_FRAGS frames are: at most `MAX_SKB_FRAGS` + 1 segments
    /// and an Ethernet MTU's worth of bytes (tun_napi_alloc_frags' EMSGSIZE).
    pub(crate) fn fits_frags(from: &mut IovIterSource<'_>, len: usize) -> bool {
        // SAFETY: The iterator is valid; the helper only reads it.
        unsafe { ffi::rtun_iov_fits_frags(from.as_raw(), len) }
    }

    /// Shapes the skb for a frame of `len` bytes, the rest of `from`, as tun
    /// lays out an IFF_NAPI_FRAGS frame: what is left of the iterator's
    /// current segment is linear, and every later segment a page fragment of
    /// its own. Only the shape is set: [`SkBuff::copy_from_iter`] copies the
    /// bytes, and the iterator does not move. EINVAL for a segment that is
    /// empty or larger than a page, or segments that do not add up to `len`;
    /// ENOMEM when memory ran out. The skb must be a fresh one, without
    /// bytes or fragments, neither charged to a socket nor cloned (from
    /// [`crate::abstractions::napi::Napi::frags_skb`]); any other is refused
    /// with EINVAL.
    pub(crate) fn frags_layout(
        &mut self,
        from: &mut IovIterSource<'_>,
        len: usize,
    ) -> Result<(), Error> {
        // SAFETY: The skb is ours; the helper refuses one that is not fresh
        // (bytes, fragments, a socket's charge, a clone), so it only sizes
        // the linear part and fills the fragment slots of an skb nobody else
        // sees or accounts for; the iterator is valid and only read.
        kernel::error::to_result(unsafe {
            ffi::rtun_skb_frags_layout(self.ptr(), from.as_raw(), len)
        })
    }

    /// Makes sure the first `len` bytes are linear (`pskb_may_pull`), which
    /// may reallocate the head; fails if the frame is shorter or memory ran
    /// out. Process context.
    #[inline(always)]
    pub(crate) fn pull_linear(&mut self, len: usize) -> Result<(), Failed> {
        if self.headlen() >= len {
            return Ok(());
        }
        self.pull_linear_slow(len)
    }

    fn pull_linear_slow(&mut self, len: usize) -> Result<(), Failed> {
        let len = c_uint::try_from(len).map_err(|_| Failed)?;
        // SAFETY: The skb is ours; the helper may reallocate its head, which
        // no reference of ours points into (`head` borrows `self`).
        if unsafe { ffi::rtun_pskb_may_pull(self.ptr(), len) } {
            Ok(())
        } else {
            Err(Failed)
        }
    }

    /// Copies `len` bytes from user memory into the skb, from its start.
    pub(crate) fn copy_from_iter(
        &mut self,
        from: &mut IovIterSource<'_>,
        len: usize,
    ) -> Result<(), Failed> {
        let len = c_int::try_from(len).map_err(|_| Failed)?;
        // SAFETY: The skb is ours and sized for `len` bytes; the iterator is valid.
        let ret =
            unsafe { bindings::skb_copy_datagram_from_iter(self.ptr(), 0, from.as_raw(), len) };
        if ret == 0 {
            Ok(())
        } else {
            Err(Failed)
        }
    }

    /// Copies the first `len` bytes of the frame to user memory.
    pub(crate) fn copy_to_iter(&self, to: &mut IovIterDest<'_>, len: usize) -> Result<(), Failed> {
        let len = c_int::try_from(len.min(self.len())).map_err(|_| Failed)?;
        // SAFETY: The skb is valid and holds at least `len` bytes.
        let ret = unsafe { bindings::skb_copy_datagram_iter(self.ptr(), 0, to.as_raw(), len) };
        if ret == 0 {
            Ok(())
        } else {
            Err(Failed)
        }
    }

    /// A received frame's last header steps, as tun takes them: a TAP frame
    /// (`tap`) gets its protocol, MAC header and `pkt_type` from its Ethernet
    /// header, which is then pulled; a TUN frame's MAC header is at the data.
    /// Then the network header is at the data, and the transport header
    /// probed. Fails, changing nothing, for a TAP frame without an Ethernet
    /// header in its linear part.
    #[inline(always)]
    pub(crate) fn finish_rx_headers(&mut self, dev: &NetDev, tap: bool) -> Result<(), Failed> {
        if tap && self.headlen() < bindings::ETH_HLEN as usize {
            return Err(Failed);
        }
        // SAFETY: The skb is ours; `dev` is valid; a TAP frame holds an
        // Ethernet header in its linear part (checked above).
        unsafe { ffi::rtun_skb_rx_headers(self.ptr(), dev.as_ptr(), tap) };
        Ok(())
    }

    pub(crate) fn reset_network_header(&mut self) {
        // SAFETY: The skb is ours.
        unsafe { ffi::rtun_skb_reset_network_header(self.ptr()) }
    }

    /// tun's steps before a frame waits on a ring: zerocopy user fragments
    /// copied into kernel memory (GFP_ATOMIC; the one step that can fail), the
    /// transmit timestamp, and the socket and conntrack references dropped.
    pub(crate) fn detach_for_ring(&mut self) -> Result<(), Failed> {
        // SAFETY: The skb is ours.
        if unsafe { ffi::rtun_skb_detach_for_ring(self.ptr()) } == 0 {
            Ok(())
        } else {
            Err(Failed)
        }
    }

    /// Cuts the frame to `len` bytes (no-op if it is not longer). GFP_ATOMIC.
    #[inline(never)]
    pub(crate) fn trim(&mut self, len: u32) -> Result<(), Failed> {
        // SAFETY: The skb is ours.
        if unsafe { ffi::rtun_pskb_trim(self.ptr(), len) } == 0 {
            Ok(())
        } else {
            Err(Failed)
        }
    }

    /// `skb_shinfo()`: the shared info at `head + end`. 64-bit kernels keep
    /// `end` as an offset from `head` (NET_SKBUFF_DATA_USES_OFFSET, a u32
    /// `sk_buff_data_t`); 32-bit ones as a pointer, which this file refuses
    /// to build for (below), and which the `u32` binding rejects too.
    #[inline(always)]
    fn shinfo(&self) -> *const bindings::skb_shared_info {
        // SAFETY: The skb is valid; reading a field.
        let end: u32 = unsafe { (*self.ptr()).end };
        // SAFETY: The skb is valid; its head buffer holds the shared info
        // `end` bytes in: `end` is an offset from `head` on the 64-bit
        // kernels this file builds for (the `compile_error!` at its top).
        unsafe { (*self.ptr()).head.add(end as usize).cast() }
    }

    /// `skb_is_gso()`: a GSO size is set.
    #[inline(always)]
    pub(crate) fn is_gso(&self) -> bool {
        // SAFETY: The shared info is valid while the skb is.
        unsafe { (*self.shinfo()).gso_size != 0 }
    }

    /// `skb_shinfo()->gso_size`.
    #[inline(always)]
    pub(crate) fn gso_size(&self) -> u16 {
        // SAFETY: The shared info is valid while the skb is.
        unsafe { (*self.shinfo()).gso_size }
    }

    /// `skb->ip_summed` (`CHECKSUM_*`): two bits of the byte at
    /// `PKT_TYPE_OFFSET`, read inline (no call on the transmit path), at the
    /// shift [`check_layout`] verified at module init.
    #[inline(always)]
    fn ip_summed(&self) -> u32 {
        // SAFETY: `rtun_skb_ip_summed_offset` is a constant set at build time.
        let off = unsafe { ffi::rtun_skb_ip_summed_offset };
        let byte = self.ptr().cast::<u8>().wrapping_add(off);
        // SAFETY: The skb is valid and `byte` is inside it; the bitfield is
        // only written by whoever owns the skb, which is us.
        let v = unsafe { byte.read() };
        u32::from(v >> IP_SUMMED_SHIFT) & 3
    }

    /// The checksum state a reader's virtio-net header reports, as
    /// `virtio_net_hdr_from_skb` reads it (tun counts a VLAN tag still in
    /// the skb's metadata in `csum_start`).
    #[inline(always)]
    pub(crate) fn csum_state(&self) -> CsumState {
        let summed = self.ip_summed();
        if summed == bindings::CHECKSUM_PARTIAL {
            // SAFETY: The skb is valid; these read its checksum offsets and
            // VLAN tag.
            let (start, vlan, offset) = unsafe {
                (
                    ffi::rtun_skb_checksum_start_offset(self.ptr()),
                    ffi::rtun_skb_vlan_hlen(self.ptr()),
                    ffi::rtun_skb_csum_offset(self.ptr()),
                )
            };
            CsumState::Partial {
                start: start.wrapping_add(vlan),
                offset,
            }
        } else if summed == bindings::CHECKSUM_UNNECESSARY {
            CsumState::Unnecessary
        } else {
            CsumState::None
        }
    }

    #[inline(always)]
    pub(crate) fn gso_type(&self) -> u32 {
        // SAFETY: The shared info is valid while the skb is.
        unsafe { (*self.shinfo()).gso_type }
    }

    /// `ip_summed == CHECKSUM_PARTIAL`: a checksum is still to be filled in.
    #[inline(always)]
    pub(crate) fn is_csum_partial(&self) -> bool {
        self.ip_summed() == bindings::CHECKSUM_PARTIAL
    }

    /// Fills in a CHECKSUM_PARTIAL checksum in software. May allocate
    /// (GFP_ATOMIC) when the header is shared. Named and never inlined, so
    /// fault injection can target it. The skb comes back either way (taken
    /// by value, so that callers keep it in a register).
    #[inline(never)]
    pub(crate) fn checksum_help(self) -> Result<Self, Self> {
        // `skb_checksum_help` warns and dumps the skb when the checksum does
        // not lie in the linear data, which a filter's trim can cause (or a
        // writer's header, on a frame looped back): such a frame fails here.
        // SAFETY: The skb is valid; these read its checksum offsets.
        let (start, off) = unsafe {
            (
                ffi::rtun_skb_checksum_start_offset(self.ptr()),
                ffi::rtun_skb_csum_offset(self.ptr()),
            )
        };
        let end = usize::try_from(start)
            .ok()
            .and_then(|s| s.checked_add(usize::from(off))?.checked_add(2));
        if end.is_none_or(|end| end > self.headlen()) {
            return Err(self);
        }
        // SAFETY: The skb is ours.
        if unsafe { ffi::skb_checksum_help(self.ptr()) } == 0 {
            Ok(self)
        } else {
            Err(self)
        }
    }

    /// Segments a GSO frame in software, with checksums resolved. On success the
    /// original is consumed and the segments come back; on failure the original
    /// comes back. Named and never inlined, so fault injection can target it.
    #[inline(never)]
    pub(crate) fn gso_segment(self) -> Result<SkbList, SkBuff> {
        // SAFETY: The skb is ours; segmentation leaves it intact.
        let segs = unsafe { ffi::rtun_skb_gso_segment(self.ptr()) };
        if kernel::error::from_err_ptr(segs).is_err() {
            return Err(self);
        }
        // INVARIANT: Either list is ours and null-terminated: the frame
        // alone (on no list, per `SkBuff`'s invariant), or the new segments.
        match NonNull::new(segs) {
            // Nothing to segment: the frame goes as it is.
            None => Ok(SkbList(Some(self.release()))),
            Some(head) => {
                self.consume();
                Ok(SkbList(Some(head)))
            }
        }
    }

    /// Applies a virtio-net header written by user space (GSO and checksum
    /// offload); `tnl` and `tnl_csum` say whether its UDP-tunnel fields count.
    pub(crate) fn apply_vnet_hdr(
        &mut self,
        hdr: &VnetBytes,
        tnl: bool,
        tnl_csum: bool,
        le: bool,
    ) -> Result<(), Failed> {
        // Copied: `hdr` is a byte array, with no alignment of its own.
        let buf = VnetHdrBuf(*hdr);
        // SAFETY: The skb is ours; `buf` is a `struct
        // virtio_net_hdr_v1_hash_tunnel`, aligned (whose prefix is the basic
        // header), and only read.
        let ret = unsafe {
            ffi::rtun_vnet_hdr_to_skb(self.ptr(), (&raw const buf).cast(), tnl, tnl_csum, le)
        };
        if ret == 0 {
            Ok(())
        } else {
            Err(Failed)
        }
    }

    /// Describes the skb in a virtio-net header for a reader, with the
    /// kernel's `virtio_net_hdr_tnl_from_skb`; the tunnel fields only when
    /// `tnl` (the device offers UDP-tunnel GSO).
    pub(crate) fn vnet_hdr_by_kernel(&self, tnl: bool, le: bool) -> Result<VnetBytes, Failed> {
        let mut buf = VnetHdrBuf([0u8; VNET_TNL_HDR_LEN]);
        // SAFETY: The skb is valid; `buf` is a writable, aligned `struct
        // virtio_net_hdr_v1_hash_tunnel`.
        let ret =
            unsafe { ffi::rtun_vnet_hdr_from_skb(self.ptr(), (&raw mut buf).cast(), tnl, le) };
        if ret == 0 {
            Ok(buf.0)
        } else {
            Err(Failed)
        }
    }

    pub(crate) fn set_network_header(&mut self, offset: usize) {
        // The caller passes a small offset into the linear data.
        let offset = offset as c_int;
        // SAFETY: The skb is ours.
        unsafe { ffi::rtun_skb_set_network_header(self.ptr(), offset) }
    }

    /// The flow hash, the same for both directions of a flow.
    pub(crate) fn hash_symmetric(&mut self) -> u32 {
        // SAFETY: The skb is valid for the call.
        unsafe { ffi::rtun_skb_get_hash_symmetric(self.ptr()) }
    }

    /// Gives up ownership, for a kernel function that takes the skb.
    pub(crate) fn into_raw(self) -> *mut bindings::sk_buff {
        self.release().as_ptr()
    }

    /// Hands the frame to the stack as received on its device, processed at
    /// once in the writer's context with BHs off (tun's `tun_rx_batched`
    /// without batching), not through the backlog. Process context.
    pub(crate) fn receive(self) {
        // SAFETY: Ownership passes to the stack; the wrapper disables BHs.
        unsafe { ffi::rtun_netif_receive_skb_bh(self.release().as_ptr()) };
    }

    /// Frees a frame that was delivered.
    pub(crate) fn consume(self) {
        // SAFETY: The skb is ours to free.
        unsafe { bindings::consume_skb(self.release().as_ptr()) }
    }

    /// Frees a dropped frame, reporting `reason` to `skb:kfree_skb`. Called
    /// straight from Rust, so the tracepoint's `location` is in rust_tun.
    #[inline(always)]
    pub(crate) fn drop_reason(self, reason: impl DropReason) {
        // SAFETY: The skb is ours to free; a null socket is allowed.
        unsafe {
            bindings::sk_skb_reason_drop(
                core::ptr::null_mut(),
                self.release().as_ptr(),
                reason.raw(),
            )
        };
        not_a_tail_call();
    }

    /// Drops a frame on the transmit path: reports the error to a zerocopy or
    /// timestamping sender first, as tun does.
    #[inline(always)]
    pub(crate) fn drop_tx(self, reason: impl DropReason) {
        // SAFETY: The skb is ours.
        unsafe { bindings::skb_tx_error(self.ptr()) };
        self.drop_reason(reason);
    }
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        rtun_skb_unhandled(self.0);
    }
}

/// Placed right after a call that frees skbs: the tracepoint's `location=`
/// is that call's return address, and a tail call (a jump, with nothing
/// after it) would report the return address of the caller's caller, in
/// another function (seen: RING_SHRINK drops located in `txqlen_changed`).
/// A compiler-only fence emits no instruction, but the call is no longer last.
#[inline(always)]
fn not_a_tail_call() {
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
}

/// `SKB_DROP_REASON_NOT_SPECIFIED`, located in this function, after one
/// warning. `head` may be a list linked through `skb->next`.
#[inline(never)]
#[export_name = "rtun_skb_unhandled"]
fn rtun_skb_unhandled(head: NonNull<bindings::sk_buff>) {
    kernel::do_once_lite! {
        kernel::pr_warn!("rtun: an skb was dropped without a reason (driver bug)\n");
        kernel::warn_on!(true);
    }
    // SAFETY: The caller owned the skb (or list) and gives it up.
    unsafe {
        bindings::kfree_skb_list_reason(
            head.as_ptr(),
            bindings::skb_drop_reason_SKB_DROP_REASON_NOT_SPECIFIED,
        )
    }
}

/// A FIFO of skbs linked through `skb->next` (a NAPI backlog), owned by the
/// driver. Whoever empties it frees the frames; dropping it with frames in it
/// frees them as [`SkBuff`]'s `Drop` does.
///
/// # Invariants
/// `head` and `tail` are both `None`, or `head` is the first and `tail` the
/// last of a null-terminated list of valid skbs linked through `skb->next`,
/// all owned by the queue.
#[must_use = "a queue must be emptied or dropped with a reason"]
pub(crate) struct SkbQueue {
    head: Option<NonNull<bindings::sk_buff>>,
    tail: Option<NonNull<bindings::sk_buff>>,
}

// SAFETY: An owned queue may move between threads.
unsafe impl Send for SkbQueue {}

impl SkbQueue {
    pub(crate) const fn new() -> Self {
        // INVARIANT: Empty: both `None`.
        SkbQueue {
            head: None,
            tail: None,
        }
    }

    pub(crate) fn push_back(&mut self, skb: SkBuff) {
        let p = skb.release();
        // SAFETY: `skb` is ours and on no list; `tail` is an skb of this queue.
        // INVARIANT: `p` ends the list (its `next` is null), after the old
        // tail, or as the only skb.
        unsafe {
            ffi::rtun_skb_set_next(p.as_ptr(), core::ptr::null_mut());
            match self.tail {
                Some(t) => ffi::rtun_skb_set_next(t.as_ptr(), p.as_ptr()),
                None => self.head = Some(p),
            }
        }
        self.tail = Some(p);
    }

    pub(crate) fn pop_front(&mut self) -> Option<SkBuff> {
        // The rest stays in this queue: the list must not free it.
        // INVARIANT: The queue's list, null-terminated and owned, lent to
        // `list` (which never frees it) and taken back just after.
        let mut list = ManuallyDrop::new(SkbList(self.head.take()));
        let skb = list.pop();
        self.head = list.0;
        if self.head.is_none() {
            self.tail = None;
        }
        skb
    }

    /// Hands the frames over as a list (for one `kfree_skb_list_reason`).
    pub(crate) fn into_list(self) -> SkbList {
        // INVARIANT: The queue's list, null-terminated; its ownership passes
        // over, and the queue is not dropped.
        SkbList(ManuallyDrop::new(self).head)
    }
}

impl Drop for SkbQueue {
    fn drop(&mut self) {
        if let Some(head) = self.head {
            rtun_skb_unhandled(head);
        }
    }
}

/// Writes `n` zero bytes to user memory; returns how many were written.
pub(crate) fn zero_iter(to: &mut IovIterDest<'_>, n: usize) -> usize {
    // SAFETY: The iterator is valid; `iov_iter_zero` stops at its end.
    unsafe { bindings::iov_iter_zero(n, to.as_raw()) }
}

/// A list of skbs linked through `skb->next`, owned by the driver (GSO segments).
///
/// # Invariants
/// `None`, or the first of a null-terminated list of valid skbs linked
/// through `skb->next`, all owned by this value.
#[must_use = "a list must be emptied or dropped with a reason"]
pub(crate) struct SkbList(Option<NonNull<bindings::sk_buff>>);

// SAFETY: An owned list may move between threads.
unsafe impl Send for SkbList {}

impl SkbList {
    pub(crate) const fn empty() -> Self {
        // INVARIANT: No list.
        SkbList(None)
    }

    /// Takes the first skb off the list.
    pub(crate) fn pop(&mut self) -> Option<SkBuff> {
        let head = self.0?;
        // SAFETY: `head` is a valid skb of the list we own.
        unsafe {
            self.0 = NonNull::new(ffi::rtun_skb_next(head.as_ptr()));
            ffi::rtun_skb_mark_not_on_list(head.as_ptr());
        }
        // INVARIANT: `head` is off the list now (its `next` cleared) and ours;
        // the list keeps the rest, still null-terminated.
        Some(SkBuff(head))
    }

    /// Puts `skb` back at the head of the list.
    pub(crate) fn push_front(&mut self, skb: SkBuff) {
        let next = self.0.map_or(core::ptr::null_mut(), NonNull::as_ptr);
        // SAFETY: Both are skbs we own; `skb` is on no other list.
        // INVARIANT: `skb` heads the list, which ends where it did.
        unsafe { ffi::rtun_skb_set_next(skb.ptr(), next) };
        self.0 = Some(skb.release());
    }

    /// Number of skbs on the list.
    pub(crate) fn count(&self) -> usize {
        let mut n = 0;
        let mut p = self.0;
        while let Some(skb) = p {
            n += 1;
            // SAFETY: Every element of the list is a valid skb we own.
            p = NonNull::new(unsafe { ffi::rtun_skb_next(skb.as_ptr()) });
        }
        n
    }

    /// Frees the whole list with one reason (`kfree_skb_list_reason`).
    #[inline(always)]
    pub(crate) fn drop_reason(self, reason: impl DropReason) {
        if let Some(head) = ManuallyDrop::new(self).0 {
            // SAFETY: The list is ours to free.
            unsafe { bindings::kfree_skb_list_reason(head.as_ptr(), reason.raw()) };
            not_a_tail_call();
        }
    }
}

impl Drop for SkbList {
    fn drop(&mut self) {
        if let Some(head) = self.0 {
            rtun_skb_unhandled(head);
        }
    }
}
