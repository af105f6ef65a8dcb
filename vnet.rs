// SPDX-License-Identifier: GPL-2.0
//! The virtio-net header in front of frames (IFF_VNET_HDR), as tun handles it:
//! how much of a configured header size carries fields, the `hdr_len` fix-up
//! of a writer's header, and the byte order. The kernel's own
//! `virtio_net_hdr_tnl_{to,from}_skb` (called through skb.rs) do the rest.
//! Pure logic, unit-tested on the host.

/// `sizeof(struct virtio_net_hdr)`: the smallest header size TUNSETVNETHDRSZ accepts.
pub(crate) const HDR_LEN: usize = 10;
/// `sizeof(struct virtio_net_hdr_v1_hash_tunnel)`: a header with UDP-tunnel offsets.
pub(crate) const TNL_HDR_LEN: usize = 24;

pub(crate) const F_NEEDS_CSUM: u8 = 1;

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
    if tunnel { TNL_HDR_LEN } else { HDR_LEN }
}

fn get16(raw: &Raw, off: usize, le: bool) -> u16 {
    let b = [raw[off], raw[off + 1]];
    if le { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) }
}

fn put16(raw: &mut Raw, off: usize, v: u16, le: bool) {
    let b = if le { v.to_le_bytes() } else { v.to_be_bytes() };
    raw[off] = b[0];
    raw[off + 1] = b[1];
}

const OFF_HDR_LEN: usize = 2;
const OFF_CSUM_START: usize = 6;
const OFF_CSUM_OFFSET: usize = 8;

/// tun's fix-up of a writer's header (`__tun_vnet_hdr_get`): with NEEDS_CSUM,
/// `hdr_len` grows to cover the checksum field. The sum is cut to 16 bits, as
/// the C assignment does. Returns the resulting `hdr_len`.
pub(crate) fn fix_hdr_len(raw: &mut Raw, le: bool) -> usize {
    let mut hdr_len = get16(raw, OFF_HDR_LEN, le);
    if raw[0] & F_NEEDS_CSUM != 0 {
        let need = u32::from(get16(raw, OFF_CSUM_START, le)) + u32::from(get16(raw, OFF_CSUM_OFFSET, le)) + 2;
        hdr_len = need.max(u32::from(hdr_len)) as u16;
        put16(raw, OFF_HDR_LEN, hdr_len, le);
    }
    usize::from(hdr_len)
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
        assert_eq!(get16(&h, OFF_HDR_LEN, true), 52, "written back for the kernel's parser");
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

    #[test]
    fn byte_order_and_sizes() {
        let mut h = hdr(F_NEEDS_CSUM, 0, 0, 0);
        put16(&mut h, OFF_CSUM_START, 0x0100, false);
        assert_eq!(fix_hdr_len(&mut h, false), 0x0102);
        assert!(little_endian(true, true));
        assert_eq!(little_endian(false, false), cfg!(target_endian = "little"));
        assert!(!writer_knows_tunnel(HDR_LEN) && !writer_knows_tunnel(20) && writer_knows_tunnel(24));
        assert_eq!(parsed_len(false), 10);
        assert_eq!(parsed_len(true), 24);
    }
}
