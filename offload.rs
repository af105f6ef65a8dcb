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

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Offloads {
    csum: bool,
    tso4: bool,
    tso6: bool,
    tso_ecn: bool,
    uso: bool,
    /// UDP-tunnel GSO (GENEVE, VXLAN) with the inner offsets in the header.
    tnl: bool,
    tnl_csum: bool,
}

impl Offloads {
    /// tun's `set_offload` rules: TSO needs CSUM, ECN needs TSO, USO needs both
    /// USO4 and USO6, UFO is accepted and ignored, UDP-tunnel GSO needs some
    /// plain GSO (and its CSUM variant needs it); any other bit is EINVAL.
    pub(crate) fn parse(arg: u32) -> Option<Offloads> {
        let mut rest = arg;
        let mut o = Offloads::default();
        if rest & TUN_F_CSUM != 0 {
            o.csum = true;
            rest &= !TUN_F_CSUM;
            if rest & (TUN_F_TSO4 | TUN_F_TSO6) != 0 {
                if rest & TUN_F_TSO_ECN != 0 {
                    o.tso_ecn = true;
                    rest &= !TUN_F_TSO_ECN;
                }
                o.tso4 = rest & TUN_F_TSO4 != 0;
                o.tso6 = rest & TUN_F_TSO6 != 0;
                rest &= !(TUN_F_TSO4 | TUN_F_TSO6);
            }
            rest &= !TUN_F_UFO;
            if rest & TUN_F_USO4 != 0 && rest & TUN_F_USO6 != 0 {
                o.uso = true;
                rest &= !(TUN_F_USO4 | TUN_F_USO6);
            }
            if (o.tso4 || o.tso6 || o.uso) && rest & TUN_F_UDP_TUNNEL_GSO != 0 {
                o.tnl = true;
                o.tnl_csum = rest & TUN_F_UDP_TUNNEL_GSO_CSUM != 0;
                rest &= !(TUN_F_UDP_TUNNEL_GSO | TUN_F_UDP_TUNNEL_GSO_CSUM);
            }
        }
        (rest == 0).then_some(o)
    }

    /// A CHECKSUM_PARTIAL frame can go out with its checksum unresolved.
    pub(crate) fn takes_partial_csum(&self) -> bool {
        self.csum
    }

    /// The offloads the device advertises for them (tun's `set_features`).
    pub(crate) fn features(&self) -> Features {
        Features {
            hw_csum: self.csum,
            tso: self.tso4,
            tso6: self.tso6,
            tso_ecn: self.tso_ecn,
            gso_udp_l4: self.uso,
            gso_udp_tunnel: self.tnl,
            gso_udp_tunnel_csum: self.tnl_csum,
        }
    }

    /// A GSO frame of `gso_type` can go out unsegmented.
    pub(crate) fn takes_gso(&self, gso_type: u32) -> bool {
        let mut t = gso_type & !(GSO_DODGY | GSO_TCP_FIXEDID | GSO_TCP_FIXEDID_INNER);
        let tunnel = t & (GSO_UDP_TUNNEL | GSO_UDP_TUNNEL_CSUM);
        if tunnel != 0 {
            if !self.tnl || (tunnel & GSO_UDP_TUNNEL_CSUM != 0 && !self.tnl_csum) {
                return false;
            }
            t &= !tunnel;
        }
        if t & GSO_TCP_ECN != 0 && !self.tso_ecn {
            return false;
        }
        match t & !GSO_TCP_ECN {
            GSO_TCPV4 => self.tso4,
            GSO_TCPV6 => self.tso6,
            GSO_UDP_L4 => self.uso,
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
        let o = Offloads::parse(TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6).unwrap_or_default();
        assert!(o.takes_gso(GSO_TCPV6 | GSO_TCP_ECN));
        assert!(o.takes_gso(GSO_UDP_L4));
        assert_eq!(Offloads::parse(TUN_F_CSUM | TUN_F_USO4), None, "USO4 alone is not accepted");
        assert!(Offloads::parse(TUN_F_CSUM | TUN_F_UFO).is_some(), "UFO is accepted and ignored");
    }

    #[test]
    fn udp_tunnel_needs_plain_gso() {
        assert_eq!(Offloads::parse(TUN_F_CSUM | TUN_F_UDP_TUNNEL_GSO), None);
        assert_eq!(Offloads::parse(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_UDP_TUNNEL_GSO_CSUM), None,
                   "the CSUM variant alone is not accepted");
        let o = Offloads::parse(TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6 | TUN_F_UDP_TUNNEL_GSO).unwrap_or_default();
        assert!(o.takes_gso(GSO_UDP_L4 | GSO_UDP_TUNNEL));
        assert!(!o.takes_gso(GSO_UDP_L4 | GSO_UDP_TUNNEL_CSUM));
        assert!(!o.takes_gso(GSO_TCPV4 | GSO_UDP_TUNNEL), "the inner type must be taken too");
        let o = Offloads::parse(TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6 | TUN_F_UDP_TUNNEL_GSO
                                | TUN_F_UDP_TUNNEL_GSO_CSUM).unwrap_or_default();
        assert!(o.takes_gso(GSO_UDP_L4 | GSO_UDP_TUNNEL_CSUM | GSO_DODGY));
        assert!(o.features().gso_udp_tunnel_csum);
    }

    #[test]
    fn features_follow_the_negotiation() {
        assert_eq!(Offloads::default().features(), Features::default());
        let f = Offloads::parse(TUN_F_CSUM | TUN_F_TSO4).unwrap_or_default().features();
        assert!(f.hw_csum && f.tso && !f.tso6 && !f.gso_udp_l4);
    }
}
