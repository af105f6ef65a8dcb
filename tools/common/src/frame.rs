// SPDX-License-Identifier: GPL-2.0
//! Building frames and getting them into the kernel through the device's xmit
//! path with a packet socket.

use crate::{net, Errno};

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const PACKET_VNET_HDR: i32 = 15;

/// The PI protocol for a frame: the IP version for TUN, the ethertype for TAP.
pub fn guess_proto(tun: bool, frame: &[u8]) -> u16 {
    if tun {
        match frame.first().map(|b| b >> 4) {
            Some(6) => ETH_P_IPV6,
            _ => ETH_P_IP,
        }
    } else if frame.len() >= 14 {
        u16::from_be_bytes([frame[12], frame[13]])
    } else {
        0
    }
}

/// Broadcast, from 02:00:00:00:00:01, ethertype 0x88b5 (local experimental).
pub fn default_eth_frame() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5]);
    f
}

/// The address of interface `idx` for protocol `proto` (host byte order) on
/// a packet socket, for bind(2) or sendto(2).
pub fn ll_addr(idx: i32, proto: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data: all zeroes is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = proto.to_be();
    sa.sll_ifindex = idx;
    sa
}

fn packet_socket(name: &str, proto: u16, vnet: bool) -> Result<(i32, libc::sockaddr_ll), Errno> {
    let idx = net::if_index(name)? as i32;
    // SAFETY: Plain socket call.
    let fd = Errno::result(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) })?;
    if vnet {
        let one: i32 = 1;
        // SAFETY: An int option.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                PACKET_VNET_HDR,
                (&one as *const i32).cast(),
                4,
            )
        };
        if r < 0 {
            return Err(Errno::last());
        }
    }
    Ok((fd, ll_addr(idx, proto)))
}

/// sendto(2) of `buf` on the packet socket `fd` to `sa`: the bytes sent.
#[inline]
pub fn sendto_ll(fd: i32, sa: &libc::sockaddr_ll, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` and `sa` are valid for the call, of the lengths given.
    let r = unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            0,
            (sa as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    Errno::result(r).map(|n| n as usize)
}

fn send_all(fd: i32, sa: &libc::sockaddr_ll, buf: &[u8], count: usize) -> Result<usize, Errno> {
    for _ in 0..count {
        // ENOBUFS: the frame left the socket and the device dropped it
        // (NET_XMIT_DROP, as tun reports its drops); it was sent all the same.
        match sendto_ll(fd, sa, buf) {
            Err(e) if e != Errno(libc::ENOBUFS) => return Err(e),
            _ => {}
        }
    }
    Ok(count)
}

/// Sends `count` copies of `frame` out through `name`'s xmit path.
pub fn inject(
    name: &str,
    frame: &[u8],
    proto: u16,
    count: usize,
    bypass_qdisc: bool,
) -> Result<usize, Errno> {
    let (fd, sa) = packet_socket(name, proto, false)?;
    if bypass_qdisc {
        // PACKET_QDISC_BYPASS: straight to the driver, so that only the
        // driver can drop (a qdisc would drop past its own limit).
        let one: i32 = 1;
        // SAFETY: An int option on our socket.
        let r =
            unsafe { libc::setsockopt(fd, libc::SOL_PACKET, 20, (&one as *const i32).cast(), 4) };
        if r < 0 {
            let e = Errno::last();
            // SAFETY: Our socket.
            unsafe { libc::close(fd) };
            return Err(e);
        }
    }
    let r = send_all(fd, &sa, frame, count);
    // SAFETY: Our socket.
    unsafe { libc::close(fd) };
    r
}

/// Sends `count` copies of `frame` out through `name`'s xmit path, through
/// the device's qdisc (no PACKET_QDISC_BYPASS), one sendto each: the result
/// of each send. ENOBUFS is the qdisc's (or, without a queue, the driver's)
/// NET_XMIT_DROP.
pub fn inject_each(
    name: &str,
    frame: &[u8],
    proto: u16,
    count: usize,
) -> Result<Vec<Result<(), Errno>>, Errno> {
    let (fd, sa) = packet_socket(name, proto, false)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(sendto_ll(fd, &sa, frame).map(|_| ()));
    }
    // SAFETY: Our socket.
    unsafe { libc::close(fd) };
    Ok(out)
}

/// An Ethernet + IPv4 + TCP frame with `payload` zero bytes, its TCP checksum
/// left for offload (the pseudo-header sum, as CHECKSUM_PARTIAL wants).
pub fn tcp4_frame(payload: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    let tot = (20 + 20 + payload) as u16;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 7, 0, 1, 10, 7, 0, 2,
    ];
    ip[2..4].copy_from_slice(&tot.to_be_bytes());
    let c = net::ip_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&4000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&5000u16.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x18; // PSH, ACK
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    let tcp_len = (20 + payload) as u32;
    let pseudo = [10u32 << 8 | 7, 1, 10 << 8 | 7, 2, 6, tcp_len];
    let mut sum: u32 = pseudo.iter().sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    tcp[16..18].copy_from_slice(&(sum as u16).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    f.resize(f.len() + payload, 0);
    f
}

/// Sends `count` TCP/IPv4 frames of `len` payload bytes whose checksum is left
/// to offload, described by a virtio-net header (PACKET_VNET_HDR). With `mss`
/// > 0 they are GSO frames of that segment size.
pub fn inject_offload(name: &str, mss: u16, len: usize, count: usize) -> Result<usize, Errno> {
    let (fd, sa) = packet_socket(name, ETH_P_IP, true)?;
    let frame = tcp4_frame(len);
    let mut buf = Vec::with_capacity(10 + frame.len());
    buf.push(1); // VIRTIO_NET_HDR_F_NEEDS_CSUM
    buf.push(if mss > 0 { 1 } else { 0 }); // VIRTIO_NET_HDR_GSO_TCPV4 or _NONE
    buf.extend_from_slice(&54u16.to_le_bytes()); // hdr_len
    buf.extend_from_slice(&mss.to_le_bytes()); // gso_size
    buf.extend_from_slice(&34u16.to_le_bytes()); // csum_start
    buf.extend_from_slice(&16u16.to_le_bytes()); // csum_offset
    buf.extend_from_slice(&frame);
    send_all(fd, &sa, &buf, count)
}

/// A packet socket listening to everything on `name`: the stack then clones
/// each frame it transmits there (for this tap) before the driver sees it.
pub fn capture(name: &str) -> Result<i32, Errno> {
    let (fd, mut sa) = packet_socket(name, 0x0003, false)?; // ETH_P_ALL
    sa.sll_protocol = 0x0003u16.to_be();
    // SAFETY: `sa` is a valid sockaddr_ll.
    let r = unsafe {
        libc::bind(
            fd,
            (&sa as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    Errno::result(r).map(|_| fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols() {
        assert_eq!(guess_proto(true, &[0x45]), ETH_P_IP);
        assert_eq!(guess_proto(true, &[0x60]), ETH_P_IPV6);
        assert_eq!(guess_proto(false, &default_eth_frame()), 0x88b5);
    }

    #[test]
    fn tcp_frame_has_a_valid_ip_header() {
        let f = tcp4_frame(100);
        assert_eq!(f.len(), 14 + 20 + 20 + 100);
        assert_eq!(
            net::ip_checksum(&f[14..34]),
            0,
            "IPv4 header checksum verifies"
        );
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 140);
    }
}
