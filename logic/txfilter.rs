// SPDX-License-Identifier: GPL-2.0
//! TUNSETTXFILTER: which destination MAC addresses a TAP device's reader wants.
//! tun's semantics: the first 8 addresses match exactly; further addresses must
//! be multicast and go into a 64-bit hash; a unicast one there leaves the filter
//! disabled; TUN_FLT_ALLMULTI accepts every multicast frame; a count of 0
//! disables the filter. Pure logic, unit-tested on the host.

pub(crate) const ETH_ALEN: usize = 6;
pub(crate) const FLT_EXACT_COUNT: usize = 8;
pub(crate) const TUN_FLT_ALLMULTI: u16 = 0x0001;
/// `sizeof(struct tun_filter)`: flags and count, before the addresses.
pub(crate) const TUN_FILTER_HDR_LEN: usize = 4;

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct TxFilter {
    /// Exact addresses in use; 0 means the filter is off.
    count: usize,
    mask: [u32; 2],
    addr: [[u8; ETH_ALEN]; FLT_EXACT_COUNT],
}

/// `ether_crc()`: the bit-reversed little-endian CRC-32 of the address.
fn ether_crc(addr: &[u8; ETH_ALEN]) -> u32 {
    let mut crc: u32 = !0;
    for &b in addr {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc.reverse_bits()
}

fn hash_bit(addr: &[u8; ETH_ALEN]) -> (usize, u32) {
    let n = (ether_crc(addr) >> 26) as usize;
    (n >> 5, 1u32 << (n & 31))
}

fn is_multicast(addr: &[u8]) -> bool {
    addr.first().is_some_and(|b| b & 1 != 0)
}

impl TxFilter {
    pub(crate) fn is_on(&self) -> bool {
        self.count != 0
    }

    /// The filter for `flags` and `addrs`, and what the ioctl returns (the
    /// number of exact addresses, or 0 when the filter stays off).
    #[cfg(test)]
    pub(crate) fn build(flags: u16, addrs: &[[u8; ETH_ALEN]]) -> (TxFilter, usize) {
        let mut b = Builder::new(flags);
        for a in addrs {
            b.add(*a);
        }
        b.finish()
    }

    /// Whether a frame starting with `frame` (its Ethernet header) passes.
    pub(crate) fn accepts(&self, frame: &[u8]) -> bool {
        if self.count == 0 {
            return true;
        }
        let Some(dst) = frame.get(..ETH_ALEN) else {
            return false;
        };
        if self.addr.iter().take(self.count).any(|a| a[..] == *dst) {
            return true;
        }
        if is_multicast(dst) {
            let mut d = [0u8; ETH_ALEN];
            for (o, b) in d.iter_mut().zip(dst) {
                *o = *b;
            }
            let (word, bit) = hash_bit(&d);
            return self.mask.get(word).is_some_and(|w| w & bit != 0);
        }
        false
    }
}

/// Builds a [`TxFilter`] one address at a time, as they are read from user
/// memory, so a large count needs no allocation.
pub(crate) struct Builder {
    f: TxFilter,
    flags: u16,
    n: usize,
    disabled: bool,
}

impl Builder {
    pub(crate) fn new(flags: u16) -> Self {
        Builder {
            f: TxFilter::default(),
            flags,
            n: 0,
            disabled: false,
        }
    }

    pub(crate) fn add(&mut self, a: [u8; ETH_ALEN]) {
        if let Some(slot) = self.f.addr.get_mut(self.n) {
            *slot = a;
        } else if !is_multicast(&a) {
            // A unicast address beyond the exact list leaves the filter off.
            self.disabled = true;
        } else {
            let (word, bit) = hash_bit(&a);
            if let Some(w) = self.f.mask.get_mut(word) {
                *w |= bit;
            }
        }
        self.n = self.n.saturating_add(1);
    }

    pub(crate) fn finish(mut self) -> (TxFilter, usize) {
        if self.n == 0 || self.disabled {
            return (TxFilter::default(), 0);
        }
        if self.flags & TUN_FLT_ALLMULTI != 0 {
            self.f.mask = [!0, !0];
        }
        self.f.count = self.n.min(FLT_EXACT_COUNT);
        (self.f, self.f.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
    const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
    const MCAST: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01];
    const MCAST2: [u8; 6] = [0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01];

    fn frame(dst: [u8; 6]) -> [u8; 14] {
        let mut f = [0u8; 14];
        f[..6].copy_from_slice(&dst);
        f
    }

    #[test]
    fn ether_crc_matches_the_kernels() {
        // bitrev32(crc32_le(~0, addr, 6)), computed independently.
        assert_eq!(ether_crc(&MCAST), 0x7fa3_2d9b);
        assert_eq!(ether_crc(&[0xff; 6]), 0xff48_647d);
        assert_eq!(ether_crc(&MCAST2) >> 26, 50);
    }

    #[test]
    fn empty_filter_accepts_everything() {
        let (f, n) = TxFilter::build(TUN_FLT_ALLMULTI, &[]);
        assert_eq!(n, 0);
        assert!(!f.is_on());
        assert!(f.accepts(&frame(B)));
    }

    #[test]
    fn exact_addresses_match() {
        let (f, n) = TxFilter::build(0, &[A]);
        assert_eq!(n, 1);
        assert!(f.accepts(&frame(A)));
        assert!(!f.accepts(&frame(B)));
        assert!(!f.accepts(&frame(MCAST)));
        assert!(
            !f.accepts(&[0x02, 0]),
            "a frame too short for a MAC is rejected"
        );
    }

    #[test]
    fn allmulti_accepts_any_multicast() {
        let (f, _) = TxFilter::build(TUN_FLT_ALLMULTI, &[A]);
        assert!(f.accepts(&frame(MCAST)));
        assert!(f.accepts(&frame([0xff; 6])));
        assert!(!f.accepts(&frame(B)));
    }

    #[test]
    fn hashed_multicast_beyond_the_exact_list() {
        let mut addrs = [[0x02, 0, 0, 0, 0, 0]; 9];
        for (i, a) in addrs.iter_mut().enumerate() {
            a[5] = i as u8;
        }
        addrs[8] = MCAST;
        let (f, n) = TxFilter::build(0, &addrs);
        assert_eq!(n, 8);
        assert!(f.accepts(&frame(MCAST)));
        assert!(!f.accepts(&frame(MCAST2)), "different hash bucket");
    }

    #[test]
    fn unicast_beyond_the_exact_list_disables() {
        let mut addrs = [A; 9];
        addrs[8] = B;
        let (f, n) = TxFilter::build(0, &addrs);
        assert_eq!(n, 0);
        assert!(!f.is_on());
        assert!(f.accepts(&frame(B)));
    }
}
