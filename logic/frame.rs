// SPDX-License-Identifier: GPL-2.0
//! Header checks on frames written by user space. Pure functions over bytes,
//! shared with the host-side unit tests.

use crate::skb_reason::Site;

pub(crate) const ETH_HLEN: usize = 14;
pub(crate) const ETH_P_IP: u16 = 0x0800;
pub(crate) const ETH_P_IPV6: u16 = 0x86dd;

/// A TAP frame must carry at least an Ethernet header.
pub(crate) fn check_tap(len: usize) -> Result<(), Site> {
    if len < ETH_HLEN {
        Err(Site::WriteShortEth)
    } else {
        Ok(())
    }
}

/// The protocol of a TUN frame written without a PI header, from the IP
/// version in its first nibble, as tun decides it. Like tun, it does not check
/// the IP header's length: the stack drops short packets itself.
pub(crate) fn tun_protocol(head: &[u8]) -> Result<u16, Site> {
    let Some(first) = head.first() else {
        return Err(Site::WriteShortIp);
    };
    match first >> 4 {
        4 => Ok(ETH_P_IP),
        6 => Ok(ETH_P_IPV6),
        _ => Err(Site::WriteNotIp),
    }
}

/// `struct tun_pi` as it travels: flags and protocol, both as written (the
/// protocol is big-endian on the wire and kept that way).
pub(crate) fn pi_encode(flags: u16, proto_be: u16) -> [u8; 4] {
    let f = flags.to_ne_bytes();
    let p = proto_be.to_ne_bytes();
    [f[0], f[1], p[0], p[1]]
}

pub(crate) fn pi_decode(pi: [u8; 4]) -> (u16, u16) {
    (
        u16::from_ne_bytes([pi[0], pi[1]]),
        u16::from_ne_bytes([pi[2], pi[3]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_needs_an_ethernet_header() {
        assert_eq!(check_tap(13), Err(Site::WriteShortEth));
        assert_eq!(check_tap(14), Ok(()));
    }

    #[test]
    fn tun_version_decides_and_length_is_not_checked() {
        assert_eq!(tun_protocol(&[]), Err(Site::WriteShortIp));
        assert_eq!(
            tun_protocol(&[0x45]),
            Ok(ETH_P_IP),
            "a short IPv4 frame is the stack's to drop"
        );
        assert_eq!(tun_protocol(&[0x60]), Ok(ETH_P_IPV6));
        assert_eq!(tun_protocol(&[0x20]), Err(Site::WriteNotIp));
    }

    #[test]
    fn pi_round_trip_keeps_wire_order() {
        let pi = pi_encode(0x0001, ETH_P_IP.to_be());
        assert_eq!(&pi[2..], &[0x08, 0x00]);
        assert_eq!(pi_decode(pi), (0x0001, ETH_P_IP.to_be()));
    }
}
