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

// `skb_shinfo(skb)->gso_type` bits (skb.rs checks them against the bindings).
pub(crate) const GSO_TCPV4: u32 = 1 << 0;
pub(crate) const GSO_DODGY: u32 = 1 << 1;
pub(crate) const GSO_TCP_ECN: u32 = 1 << 2;
pub(crate) const GSO_TCP_FIXEDID: u32 = 1 << 30;
pub(crate) const GSO_TCPV6: u32 = 1 << 4;
pub(crate) const GSO_UDP_L4: u32 = 1 << 17;

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Offloads {
    csum: bool,
    tso4: bool,
    tso6: bool,
    tso_ecn: bool,
    uso: bool,
}

impl Offloads {
    /// tun's `set_offload` rules: TSO needs CSUM, ECN needs TSO, USO needs both
    /// USO4 and USO6, UFO is accepted and ignored; any other bit is EINVAL.
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
        }
        (rest == 0).then_some(o)
    }

    /// A CHECKSUM_PARTIAL frame can go out with its checksum unresolved.
    pub(crate) fn takes_partial_csum(&self) -> bool {
        self.csum
    }

    /// A GSO frame of `gso_type` can go out unsegmented.
    pub(crate) fn takes_gso(&self, gso_type: u32) -> bool {
        let t = gso_type & !(GSO_DODGY | GSO_TCP_FIXEDID);
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
}
