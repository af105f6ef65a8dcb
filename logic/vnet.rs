// SPDX-License-Identifier: GPL-2.0
//! The virtio-net header in front of frames (IFF_VNET_HDR), as tun handles it:
//! how much of a configured header size carries fields, the `hdr_len` fix-up
//! of a writer's header, the byte order, and the header a reader gets for a
//! frame without UDP-tunnel GSO ([`encode`], the kernel's
//! `virtio_net_hdr_from_skb`). The kernel's own `virtio_net_hdr_tnl_to_skb`
//! and, for UDP-tunnel GSO frames, `virtio_net_hdr_tnl_from_skb` (called
//! through skb.rs) do the rest. Pure logic, unit-tested on the host.

use super::offload::{GSO_TCPV4, GSO_TCPV6, GSO_TCP_ECN, GSO_UDP_L4};

/// `sizeof(struct virtio_net_hdr)`: the smallest header size TUNSETVNETHDRSZ accepts.
pub(crate) const HDR_LEN: usize = 10;
/// `sizeof(struct virtio_net_hdr_v1_hash_tunnel)`: a header with UDP-tunnel offsets.
pub(crate) const TNL_HDR_LEN: usize = 24;

pub(crate) const F_NEEDS_CSUM: u8 = 1;
pub(crate) const F_DATA_VALID: u8 = 2;

const GSO_NONE: u8 = 0;
const GSO_V_TCPV4: u8 = 1;
const GSO_V_TCPV6: u8 = 4;
const GSO_V_UDP_L4: u8 = 5;
const GSO_V_ECN: u8 = 0x80;

/// A header as it travels, sized for the largest layout the driver parses.
pub(crate) type Raw = [u8; TNL_HDR_LEN];

/// The byte order of the legacy header fields. tun uses little endian when
/// TUNSETVNETLE asked for it, or on a little-endian machine unless TUNSETVNETBE
/// (only with CONFIG_TUN_VNET_CROSS_LE) asked for big endian.
pub(crate) fn little_endian(le: bool, be: bool) -> bool {
    le || (!be && cfg!(target_endian = "little"))
}

/// tun guesses from the configured size whether a writer knows the UDP-tunnel
/// fields: a header of at least [`TNL_HDR_LEN`] bytes does.
pub(crate) fn writer_knows_tunnel(sz: usize) -> bool {
    sz >= TNL_HDR_LEN
}

/// How many leading bytes of the header carry fields: the tunnel layout when
/// `tunnel` is on, else the basic one. The rest of a larger header is skipped
/// on write and zeroed on read.
pub(crate) fn parsed_len(tunnel: bool) -> usize {
    if tunnel {
        TNL_HDR_LEN
    } else {
        HDR_LEN
    }
}

#[inline(always)]
fn get16(raw: &Raw, off: usize, le: bool) -> u16 {
    let b = [raw[off], raw[off + 1]];
    if le {
        u16::from_le_bytes(b)
    } else {
        u16::from_be_bytes(b)
    }
}

#[inline(always)]
fn put16(raw: &mut Raw, off: usize, v: u16, le: bool) {
    let b = if le { v.to_le_bytes() } else { v.to_be_bytes() };
    raw[off] = b[0];
    raw[off + 1] = b[1];
}

const OFF_FLAGS: usize = 0;
const OFF_GSO_TYPE: usize = 1;
const OFF_HDR_LEN: usize = 2;
const OFF_GSO_SIZE: usize = 4;
const OFF_CSUM_START: usize = 6;
const OFF_CSUM_OFFSET: usize = 8;

/// tun's fix-up of a writer's header (`__tun_vnet_hdr_get`): with NEEDS_CSUM,
/// `hdr_len` grows to cover the checksum field. The sum is cut to 16 bits, as
/// the C assignment does. Returns the resulting `hdr_len`.
pub(crate) fn fix_hdr_len(raw: &mut Raw, le: bool) -> usize {
    let mut hdr_len = get16(raw, OFF_HDR_LEN, le);
    if raw[0] & F_NEEDS_CSUM != 0 {
        let need = u32::from(get16(raw, OFF_CSUM_START, le))
            + u32::from(get16(raw, OFF_CSUM_OFFSET, le))
            + 2;
        hdr_len = need.max(u32::from(hdr_len)) as u16;
        put16(raw, OFF_HDR_LEN, hdr_len, le);
    }
    usize::from(hdr_len)
}

/// What a reader's header says of a frame's checksum (`skb->ip_summed`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Csum {
    /// CHECKSUM_NONE or CHECKSUM_COMPLETE: nothing.
    None,
    /// CHECKSUM_UNNECESSARY: DATA_VALID.
    Valid,
    /// CHECKSUM_PARTIAL, with `skb_checksum_start_offset()` (plus the VLAN
    /// header tun counts in) and `csum_offset`: NEEDS_CSUM.
    Partial { start: i32, offset: u16 },
}

/// What `virtio_net_hdr_from_skb` reads of a frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FrameInfo {
    /// `skb_shinfo()->gso_size`: 0 unless GSO.
    pub(crate) gso_size: u16,
    /// `skb_shinfo()->gso_type`, without UDP-tunnel bits (those frames go to
    /// the kernel's `virtio_net_hdr_tnl_from_skb`).
    pub(crate) gso_type: u32,
    /// `skb_headlen()`.
    pub(crate) headlen: u32,
    pub(crate) csum: Csum,
}

/// The kernel's `virtio_net_hdr_from_skb(skb, hdr, le, true, vlan_hlen)`, as
/// tun calls it for a reader: the basic header's fields in the first
/// [`HDR_LEN`] bytes, the rest zero. Err for a GSO type the header cannot
/// say (the kernel's -EINVAL).
#[inline(always)]
pub(crate) fn encode(f: &FrameInfo, le: bool) -> Result<Raw, ()> {
    let mut h = [0u8; TNL_HDR_LEN];
    if f.gso_size != 0 {
        // The C assignments cut these to 16 bits.
        put16(&mut h, OFF_HDR_LEN, f.headlen as u16, le);
        put16(&mut h, OFF_GSO_SIZE, f.gso_size, le);
        let mut t = if f.gso_type & GSO_TCPV4 != 0 {
            GSO_V_TCPV4
        } else if f.gso_type & GSO_TCPV6 != 0 {
            GSO_V_TCPV6
        } else if f.gso_type & GSO_UDP_L4 != 0 {
            GSO_V_UDP_L4
        } else {
            return Err(());
        };
        if f.gso_type & GSO_TCP_ECN != 0 {
            t |= GSO_V_ECN;
        }
        h[OFF_GSO_TYPE] = t;
    } else {
        h[OFF_GSO_TYPE] = GSO_NONE;
    }
    match f.csum {
        Csum::Partial { start, offset } => {
            h[OFF_FLAGS] = F_NEEDS_CSUM;
            put16(&mut h, OFF_CSUM_START, start as u16, le);
            put16(&mut h, OFF_CSUM_OFFSET, offset, le);
        }
        Csum::Valid => h[OFF_FLAGS] = F_DATA_VALID,
        Csum::None => {}
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(flags: u8, hdr_len: u16, csum_start: u16, csum_offset: u16) -> Raw {
        let mut raw = [0u8; TNL_HDR_LEN];
        raw[0] = flags;
        put16(&mut raw, OFF_HDR_LEN, hdr_len, true);
        put16(&mut raw, OFF_CSUM_START, csum_start, true);
        put16(&mut raw, OFF_CSUM_OFFSET, csum_offset, true);
        raw
    }

    #[test]
    fn needs_csum_extends_hdr_len() {
        let mut h = hdr(F_NEEDS_CSUM, 14, 34, 16);
        assert_eq!(fix_hdr_len(&mut h, true), 52);
        assert_eq!(
            get16(&h, OFF_HDR_LEN, true),
            52,
            "written back for the kernel's parser"
        );
        let mut h = hdr(F_NEEDS_CSUM, 100, 34, 16);
        assert_eq!(fix_hdr_len(&mut h, true), 100);
    }

    #[test]
    fn without_needs_csum_hdr_len_is_kept() {
        let mut h = hdr(0x02, 7, 1000, 1000);
        assert_eq!(fix_hdr_len(&mut h, true), 7);
    }

    #[test]
    fn the_sum_wraps_at_16_bits_as_in_c() {
        let mut h = hdr(F_NEEDS_CSUM, 0, 0xffff, 1);
        assert_eq!(fix_hdr_len(&mut h, true), 2);
    }

    fn info(gso_size: u16, gso_type: u32, csum: Csum) -> FrameInfo {
        FrameInfo {
            gso_size,
            gso_type,
            headlen: 66,
            csum,
        }
    }

    #[test]
    fn encodes_tso_with_partial_csum() {
        let f = info(
            1448,
            GSO_TCPV4 | crate::logic::offload::GSO_DODGY,
            Csum::Partial {
                start: 34,
                offset: 16,
            },
        );
        let raw = encode(&f, true).unwrap_or([0xaa; TNL_HDR_LEN]);
        assert_eq!(&raw[..HDR_LEN], &[1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0]);
        assert_eq!(
            &raw[HDR_LEN..],
            &[0; TNL_HDR_LEN - HDR_LEN],
            "the rest is zero"
        );
        let raw = encode(&f, false).unwrap_or([0xaa; TNL_HDR_LEN]);
        assert_eq!(&raw[..HDR_LEN], &[1, 1, 0, 66, 0x05, 0xa8, 0, 34, 0, 16]);
    }

    #[test]
    fn encodes_gso_types_ecn_and_checksums() {
        let bad = [0xffu8; TNL_HDR_LEN];
        let raw = encode(&info(100, GSO_TCPV6 | GSO_TCP_ECN, Csum::None), true).unwrap_or(bad);
        assert_eq!(raw[..2], [0, 0x84]);
        let raw = encode(&info(100, GSO_UDP_L4, Csum::Valid), true).unwrap_or(bad);
        assert_eq!(raw[..2], [F_DATA_VALID, 5]);
        assert_eq!(
            encode(
                &info(100, crate::logic::offload::GSO_DODGY, Csum::None),
                true
            ),
            Err(())
        );
        // Not GSO: the type, hdr_len and gso_size stay 0 whatever gso_type says.
        assert_eq!(
            encode(&info(0, GSO_TCPV4, Csum::None), true),
            Ok([0; TNL_HDR_LEN])
        );
        // csum_start is cut to 16 bits, as the C assignment does.
        let raw = encode(
            &info(
                0,
                0,
                Csum::Partial {
                    start: 0x1_0002,
                    offset: 6,
                },
            ),
            true,
        )
        .unwrap_or(bad);
        assert_eq!(&raw[..HDR_LEN], &[1, 0, 0, 0, 0, 0, 2, 0, 6, 0]);
    }

    #[test]
    fn byte_order_and_sizes() {
        let mut h = hdr(F_NEEDS_CSUM, 0, 0, 0);
        put16(&mut h, OFF_CSUM_START, 0x0100, false);
        assert_eq!(fix_hdr_len(&mut h, false), 0x0102);
        assert!(little_endian(true, true));
        assert_eq!(little_endian(false, false), cfg!(target_endian = "little"));
        assert!(
            !writer_knows_tunnel(HDR_LEN) && !writer_knows_tunnel(20) && writer_knows_tunnel(24)
        );
        assert_eq!(parsed_len(false), 10);
        assert_eq!(parsed_len(true), 24);
    }
}
