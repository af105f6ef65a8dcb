// SPDX-License-Identifier: GPL-2.0
//! TUNSETOFFLOAD: the offloads a reader takes through its virtio-net header, and
//! whether a frame needs software segmentation or checksumming before it can be
//! handed to that reader. Pure logic, unit-tested on the host.

pub(crate) const TUN_F_CSUM: u32 = 0x01;
pub(crate) const TUN_F_TSO4: u32 = 0x02;
pub(crate) const TUN_F_TSO6: u32 = 0x04;
pub(crate) const TUN_F_TSO_ECN: u32 = 0x08;
pub(crate) const TUN_F_UFO: u32 = 0x10;
pub(crate) const TUN_F_USO4: u32 = 0x20;
pub(crate) const TUN_F_USO6: u32 = 0x40;
pub(crate) const TUN_F_UDP_TUNNEL_GSO: u32 = 0x080;
pub(crate) const TUN_F_UDP_TUNNEL_GSO_CSUM: u32 = 0x100;

// `skb_shinfo(skb)->gso_type` bits (skb.rs checks them against the bindings).
pub(crate) const GSO_TCPV4: u32 = 1 << 0;
pub(crate) const GSO_DODGY: u32 = 1 << 1;
pub(crate) const GSO_TCP_ECN: u32 = 1 << 2;
pub(crate) const GSO_TCP_FIXEDID: u32 = 1 << 30;
pub(crate) const GSO_TCPV6: u32 = 1 << 4;
pub(crate) const GSO_UDP_L4: u32 = 1 << 17;
pub(crate) const GSO_UDP_TUNNEL: u32 = 1 << 10;
pub(crate) const GSO_UDP_TUNNEL_CSUM: u32 = 1 << 11;
pub(crate) const GSO_TCP_FIXEDID_INNER: u32 = 1 << 31;

/// What a reader takes, as a set of bits: `DevState` keeps it in one atomic,
/// so the transmit path reads it with one load, parsed once by TUNSETOFFLOAD.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Offloads(u32);

const CSUM: u32 = 1 << 0;
const TSO4: u32 = 1 << 1;
const TSO6: u32 = 1 << 2;
const TSO_ECN: u32 = 1 << 3;
const USO: u32 = 1 << 4;
/// UDP-tunnel GSO (GENEVE, VXLAN) with the inner offsets in the header.
const TNL: u32 = 1 << 5;
const TNL_CSUM: u32 = 1 << 6;

impl Offloads {
    /// tun's `set_offload` rules: TSO needs CSUM, ECN needs TSO, USO needs both
    /// USO4 and USO6, UFO is accepted and ignored, UDP-tunnel GSO needs some
    /// plain GSO (and its CSUM variant needs it); any other bit is EINVAL.
    pub(crate) fn parse(arg: u32) -> Option<Offloads> {
        let mut rest = arg;
        let mut o = 0;
        if rest & TUN_F_CSUM != 0 {
            o |= CSUM;
            rest &= !TUN_F_CSUM;
            if rest & (TUN_F_TSO4 | TUN_F_TSO6) != 0 {
                if rest & TUN_F_TSO_ECN != 0 {
                    o |= TSO_ECN;
                    rest &= !TUN_F_TSO_ECN;
                }
                if rest & TUN_F_TSO4 != 0 {
                    o |= TSO4;
                }
                if rest & TUN_F_TSO6 != 0 {
                    o |= TSO6;
                }
                rest &= !(TUN_F_TSO4 | TUN_F_TSO6);
            }
            rest &= !TUN_F_UFO;
            if rest & TUN_F_USO4 != 0 && rest & TUN_F_USO6 != 0 {
                o |= USO;
                rest &= !(TUN_F_USO4 | TUN_F_USO6);
            }
            if o & (TSO4 | TSO6 | USO) != 0 && rest & TUN_F_UDP_TUNNEL_GSO != 0 {
                o |= TNL;
                if rest & TUN_F_UDP_TUNNEL_GSO_CSUM != 0 {
                    o |= TNL_CSUM;
                }
                rest &= !(TUN_F_UDP_TUNNEL_GSO | TUN_F_UDP_TUNNEL_GSO_CSUM);
            }
        }
        (rest == 0).then_some(Offloads(o))
    }

    /// The set as stored (`from_bits` gives it back).
    pub(crate) const fn bits(self) -> u32 {
        self.0
    }

    /// A set stored with `bits`; unknown bits are ignored.
    #[inline(always)]
    pub(crate) const fn from_bits(bits: u32) -> Offloads {
        Offloads(bits & (CSUM | TSO4 | TSO6 | TSO_ECN | USO | TNL | TNL_CSUM))
    }

    #[inline(always)]
    fn has(&self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    /// A CHECKSUM_PARTIAL frame can go out with its checksum unresolved.
    #[inline(always)]
    pub(crate) fn takes_partial_csum(&self) -> bool {
        self.has(CSUM)
    }

    /// The offloads the device advertises for them (tun's `set_features`).
    pub(crate) fn features(&self) -> Features {
        Features {
            hw_csum: self.has(CSUM),
            tso: self.has(TSO4),
            tso6: self.has(TSO6),
            tso_ecn: self.has(TSO_ECN),
            gso_udp_l4: self.has(USO),
            gso_udp_tunnel: self.has(TNL),
            gso_udp_tunnel_csum: self.has(TNL_CSUM),
        }
    }

    /// A GSO frame of `gso_type` can go out unsegmented.
    #[inline(always)]
    pub(crate) fn takes_gso(&self, gso_type: u32) -> bool {
        let mut t = gso_type & !(GSO_DODGY | GSO_TCP_FIXEDID | GSO_TCP_FIXEDID_INNER);
        let tunnel = t & (GSO_UDP_TUNNEL | GSO_UDP_TUNNEL_CSUM);
        if tunnel != 0 {
            if !self.has(TNL) || (tunnel & GSO_UDP_TUNNEL_CSUM != 0 && !self.has(TNL_CSUM)) {
                return false;
            }
            t &= !tunnel;
        }
        if t & GSO_TCP_ECN != 0 && !self.has(TSO_ECN) {
            return false;
        }
        match t & !GSO_TCP_ECN {
            GSO_TCPV4 => self.has(TSO4),
            GSO_TCPV6 => self.has(TSO6),
            GSO_UDP_L4 => self.has(USO),
            _ => false,
        }
    }
}

/// The device offloads a reader's negotiation turns on: the `NETIF_F_*`
/// features that tun's TUN_USER_FEATURES covers (netdev.rs maps them to bits).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Features {
    pub(crate) hw_csum: bool,
    pub(crate) tso: bool,
    pub(crate) tso6: bool,
    pub(crate) tso_ecn: bool,
    pub(crate) gso_udp_l4: bool,
    pub(crate) gso_udp_tunnel: bool,
    pub(crate) gso_udp_tunnel_csum: bool,
}

impl Features {
    /// Everything a reader may negotiate (tun's TUN_USER_FEATURES).
    pub(crate) const ALL: Features = Features {
        hw_csum: true,
        tso: true,
        tso6: true,
        tso_ecn: true,
        gso_udp_l4: true,
        gso_udp_tunnel: true,
        gso_udp_tunnel_csum: true,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_negotiated_takes_nothing() {
        assert_eq!(Offloads::parse(0), Some(Offloads::default()));
        let o = Offloads::default();
        assert!(!o.takes_partial_csum());
        assert!(!o.takes_gso(GSO_TCPV4));
    }

    #[test]
    fn tso_without_csum_is_invalid() {
        assert_eq!(Offloads::parse(TUN_F_TSO4), None);
        assert_eq!(Offloads::parse(0x80), None);
    }

    #[test]
    fn tso4_takes_tcpv4_only() {
        let o = Offloads::parse(TUN_F_CSUM | TUN_F_TSO4).unwrap_or_default();
        assert!(o.takes_partial_csum());
        assert!(o.takes_gso(GSO_TCPV4 | GSO_DODGY));
        assert!(!o.takes_gso(GSO_TCPV6));
        assert!(!o.takes_gso(GSO_TCPV4 | GSO_TCP_ECN));
        assert!(!o.takes_gso(GSO_UDP_L4));
    }

    #[test]
    fn ecn_and_uso() {
        let o = Offloads::parse(TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6)
            .unwrap_or_default();
        assert!(o.takes_gso(GSO_TCPV6 | GSO_TCP_ECN));
        assert!(o.takes_gso(GSO_UDP_L4));
        assert_eq!(
            Offloads::parse(TUN_F_CSUM | TUN_F_USO4),
            None,
            "USO4 alone is not accepted"
        );
        assert!(
            Offloads::parse(TUN_F_CSUM | TUN_F_UFO).is_some(),
            "UFO is accepted and ignored"
        );
    }

    #[test]
    fn udp_tunnel_needs_plain_gso() {
        assert_eq!(Offloads::parse(TUN_F_CSUM | TUN_F_UDP_TUNNEL_GSO), None);
        assert_eq!(
            Offloads::parse(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_UDP_TUNNEL_GSO_CSUM),
            None,
            "the CSUM variant alone is not accepted"
        );
        let o = Offloads::parse(TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6 | TUN_F_UDP_TUNNEL_GSO)
            .unwrap_or_default();
        assert!(o.takes_gso(GSO_UDP_L4 | GSO_UDP_TUNNEL));
        assert!(!o.takes_gso(GSO_UDP_L4 | GSO_UDP_TUNNEL_CSUM));
        assert!(
            !o.takes_gso(GSO_TCPV4 | GSO_UDP_TUNNEL),
            "the inner type must be taken too"
        );
        let o = Offloads::parse(
            TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6 | TUN_F_UDP_TUNNEL_GSO | TUN_F_UDP_TUNNEL_GSO_CSUM,
        )
        .unwrap_or_default();
        assert!(o.takes_gso(GSO_UDP_L4 | GSO_UDP_TUNNEL_CSUM | GSO_DODGY));
        assert!(o.features().gso_udp_tunnel_csum);
    }

    #[test]
    fn bits_round_trip() {
        for arg in 0..0x200 {
            if let Some(o) = Offloads::parse(arg) {
                assert_eq!(Offloads::from_bits(o.bits()), o, "{arg:#x}");
            }
        }
        assert_eq!(Offloads::from_bits(0), Offloads::default());
    }

    #[test]
    fn features_follow_the_negotiation() {
        assert_eq!(Offloads::default().features(), Features::default());
        let f = Offloads::parse(TUN_F_CSUM | TUN_F_TSO4)
            .unwrap_or_default()
            .features();
        assert!(f.hw_csum && f.tso && !f.tso6 && !f.gso_udp_l4);
    }
}
