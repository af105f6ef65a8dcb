// SPDX-License-Identifier: GPL-2.0
//! Header checks on frames written by user space. Pure functions over bytes,
//! shared with the host-side unit tests.

use crate::skb_reason::Site;

pub(crate) const ETH_HLEN: usize = 14;
pub(crate) const ETH_P_IP: u16 = 0x0800;
pub(crate) const ETH_P_IPV6: u16 = 0x86dd;
const IPV4_MIN_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;

/// The largest frame a write may carry, not counting the PI and vnet headers.
pub(crate) const MAX_FRAME: usize = 65535 + ETH_HLEN;

/// A TAP frame must carry at least an Ethernet header.
pub(crate) fn check_tap(len: usize) -> Result<(), Site> {
    if len < ETH_HLEN {
        Err(Site::WriteShortEth)
    } else {
        Ok(())
    }
}

/// The protocol of a TUN frame written without a PI header: the IP version in
/// the first nibble decides, and the frame must hold that version's header.
/// `head` is the start of the frame, `len` its full length.
pub(crate) fn tun_protocol(head: &[u8], len: usize) -> Result<u16, Site> {
    let Some(first) = head.first() else {
        return Err(Site::WriteShortIp);
    };
    let (proto, min) = match first >> 4 {
        4 => (ETH_P_IP, IPV4_MIN_HLEN),
        6 => (ETH_P_IPV6, IPV6_HLEN),
        _ => return Err(Site::WriteNotIp),
    };
    if len < min {
        return Err(Site::WriteShortIp);
    }
    Ok(proto)
}

/// A frame whose protocol was given (PI header) must still hold that
/// protocol's header when it is IPv4 or IPv6.
pub(crate) fn check_ip_len(proto: u16, len: usize) -> Result<(), Site> {
    match proto {
        ETH_P_IP if len < IPV4_MIN_HLEN => Err(Site::WriteShortIp),
        ETH_P_IPV6 if len < IPV6_HLEN => Err(Site::WriteShortIp),
        _ => Ok(()),
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
    (u16::from_ne_bytes([pi[0], pi[1]]), u16::from_ne_bytes([pi[2], pi[3]]))
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
    fn tun_version_and_length() {
        assert_eq!(tun_protocol(&[], 0), Err(Site::WriteShortIp));
        assert_eq!(tun_protocol(&[0x45], 19), Err(Site::WriteShortIp));
        assert_eq!(tun_protocol(&[0x45], 20), Ok(ETH_P_IP));
        assert_eq!(tun_protocol(&[0x60], 39), Err(Site::WriteShortIp));
        assert_eq!(tun_protocol(&[0x60], 40), Ok(ETH_P_IPV6));
        assert_eq!(tun_protocol(&[0x20], 100), Err(Site::WriteNotIp));
    }

    #[test]
    fn given_protocol_still_needs_its_header() {
        assert_eq!(check_ip_len(ETH_P_IP, 19), Err(Site::WriteShortIp));
        assert_eq!(check_ip_len(ETH_P_IP, 20), Ok(()));
        assert_eq!(check_ip_len(ETH_P_IPV6, 39), Err(Site::WriteShortIp));
        assert_eq!(check_ip_len(0x88b5, 1), Ok(()));
    }

    #[test]
    fn pi_round_trip_keeps_wire_order() {
        let pi = pi_encode(0x0001, ETH_P_IP.to_be());
        assert_eq!(&pi[2..], &[0x08, 0x00]);
        assert_eq!(pi_decode(pi), (0x0001, ETH_P_IP.to_be()));
    }
}
