// SPDX-License-Identifier: GPL-2.0
//! Link changes over rtnetlink, in any namespace, and namespaces made the way
//! `ip netns add` makes them (a bind mount under /run/netns). Spawning
//! /usr/sbin/ip takes about a second in the KASAN guest under TCG, which
//! would leave a few operations per second; a netlink request takes
//! milliseconds.

use std::{ffi::CString, fs};

use rtun_common::net::rtnl_exchange;

use crate::sys::{close, in_netns, Errno};

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_TXQLEN: u16 = 13;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

/// A netlink message under construction.
pub struct Msg(Vec<u8>);

impl Msg {
    pub fn new(ty: u16, flags: u16) -> Msg {
        let mut b = vec![0u8; 16];
        b[4..6].copy_from_slice(&ty.to_ne_bytes());
        b[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        b[8..12].copy_from_slice(&1u32.to_ne_bytes());
        Msg(b)
    }

    /// The fixed header after nlmsghdr (ifinfomsg, ifaddrmsg).
    pub fn raw(mut self, b: &[u8]) -> Msg {
        self.0.extend_from_slice(b);
        self
    }

    pub fn attr(mut self, ty: u16, data: &[u8]) -> Msg {
        self.0
            .extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(data);
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
        self
    }

    pub fn name(self, name: &str) -> Msg {
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        self.attr(IFLA_IFNAME, &n)
    }

    pub fn done(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

/// `struct ifinfomsg` with `flags` and `change`.
fn ifinfo(flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// The error an NLMSG_ERROR answer carries (0: acknowledged).
pub fn parse_ack(b: &[u8]) -> Result<(), Errno> {
    if b.len() < 20 {
        return Err(Errno(libc::EPROTO));
    }
    let ty = u16::from_ne_bytes([b[4], b[5]]);
    if ty != NLMSG_ERROR {
        return Err(Errno(libc::EPROTO));
    }
    let e = i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
    if e == 0 {
        Ok(())
    } else {
        Err(Errno(e.wrapping_neg()))
    }
}

fn talk(msg: &[u8]) -> Result<(), Errno> {
    let mut buf = [0u8; 8192];
    let n = rtnl_exchange(msg, &mut buf).map_err(|(_, e)| e)?;
    parse_ack(&buf[..n])
}

/// Sends `msg` from namespace `ns` (None: the caller's) and waits for the ack.
pub fn request(ns: Option<&str>, home: i32, msg: Vec<u8>) -> Result<(), String> {
    in_netns(ns, home, || talk(&msg))?.map_err(|e| e.to_string())
}

pub enum Link {
    Up(bool),
    Mtu(u32),
    TxQLen(u32),
    Address([u8; 6]),
    /// Into the namespace of this fd.
    NetnsFd(i32),
    Delete,
}

pub fn link_msg(name: &str, op: &Link) -> Vec<u8> {
    let set = || Msg::new(RTM_NEWLINK, 0);
    match op {
        Link::Up(up) => set()
            .raw(&ifinfo(
                if *up { libc::IFF_UP as u32 } else { 0 },
                libc::IFF_UP as u32,
            ))
            .name(name),
        Link::Mtu(m) => set()
            .raw(&ifinfo(0, 0))
            .name(name)
            .attr(IFLA_MTU, &m.to_ne_bytes()),
        Link::TxQLen(q) => set()
            .raw(&ifinfo(0, 0))
            .name(name)
            .attr(IFLA_TXQLEN, &q.to_ne_bytes()),
        Link::Address(a) => set().raw(&ifinfo(0, 0)).name(name).attr(IFLA_ADDRESS, a),
        Link::NetnsFd(fd) => set()
            .raw(&ifinfo(0, 0))
            .name(name)
            .attr(IFLA_NET_NS_FD, &(*fd as u32).to_ne_bytes()),
        Link::Delete => Msg::new(RTM_DELLINK, 0).raw(&ifinfo(0, 0)).name(name),
    }
    .done()
}

pub fn link(ns: Option<&str>, home: i32, name: &str, op: Link) -> Result<(), String> {
    request(ns, home, link_msg(name, &op))
}

/// Moves `name` from `from` into namespace `to` (None: the initial one,
/// whose fd is `home`).
pub fn move_link(
    from: Option<&str>,
    to: Option<&str>,
    home: i32,
    name: &str,
) -> Result<(), String> {
    let fd = match to {
        Some(ns) => open_ns(ns)?,
        None => {
            // SAFETY: dup of an fd we own.
            unsafe { libc::dup(home) }
        }
    };
    let r = link(from, home, name, Link::NetnsFd(fd));
    close(fd);
    r
}

/// An IPv4 address on `name` (initial namespace): `local peer PEER` (TUN) or
/// `local/prefix brd` (TAP).
pub fn addr_msg(
    index: u32,
    local: [u8; 4],
    peer: Option<[u8; 4]>,
    prefix: u8,
    brd: Option<[u8; 4]>,
) -> Vec<u8> {
    let mut ifa = [0u8; 8];
    ifa[0] = libc::AF_INET as u8;
    ifa[1] = prefix;
    ifa[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)
        .raw(&ifa)
        .attr(IFA_LOCAL, &local)
        .attr(IFA_ADDRESS, &peer.unwrap_or(local));
    if let Some(b) = brd {
        m = m.attr(IFA_BROADCAST, &b);
    }
    m.done()
}

pub fn addr_add(
    name: &str,
    local: [u8; 4],
    peer: Option<[u8; 4]>,
    prefix: u8,
    brd: Option<[u8; 4]>,
) -> Result<(), String> {
    let index =
        rtun_common::net::if_index(name).map_err(|e| format!("if_nametoindex {name}: {e}"))?;
    talk(&addr_msg(index, local, peer, prefix, brd)).map_err(|e| e.to_string())
}

fn open_ns(ns: &str) -> Result<i32, String> {
    let c = CString::new(format!("/run/netns/{ns}")).map_err(|e| e.to_string())?;
    // SAFETY: A valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(format!("open /run/netns/{ns}: {}", Errno::last()))
    } else {
        Ok(fd)
    }
}

/// `ip netns add NAME`: a new namespace, kept alive by a bind mount of it on
/// /run/netns/NAME. A child unshares, so the caller stays where it is.
pub fn netns_add(name: &str) -> Result<(), String> {
    let _ = fs::create_dir_all("/run/netns");
    let path = format!("/run/netns/{name}");
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("{path}: {e}"))?;
    let target = CString::new(path.clone()).map_err(|e| e.to_string())?;
    let src = CString::new("/proc/self/ns/net").map_err(|e| e.to_string())?;
    // SAFETY: The child only makes system calls, then _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", Errno::last()));
    }
    if pid == 0 {
        // SAFETY: As above.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNET) < 0 {
                libc::_exit(1);
            }
            if libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ) < 0
            {
                libc::_exit(2);
            }
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: Reaping our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        let _ = fs::remove_file(&path);
        Err(format!("netns add {name}: child status {status:#x}"))
    }
}

/// `ip netns del NAME`: the mount goes; the namespace dies with its last user.
pub fn netns_del(name: &str) -> Result<(), String> {
    let path = format!("/run/netns/{name}");
    let c = CString::new(path.clone()).map_err(|e| e.to_string())?;
    // SAFETY: A valid C string.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } < 0 {
        return Err(format!("umount {path}: {}", Errno::last()));
    }
    fs::remove_file(&path).map_err(|e| format!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_well_formed() {
        let m = link_msg("rs0x1", &Link::Mtu(1280));
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWLINK);
        assert_eq!(m.len() % 4, 0);
        // nlmsghdr, ifinfomsg, IFLA_IFNAME "rs0x1\0" (4+6 -> 12), IFLA_MTU (8).
        assert_eq!(m.len(), 16 + 16 + 12 + 8);
        let up = link_msg("a", &Link::Up(true));
        assert_eq!(
            u32::from_ne_bytes(up[24..28].try_into().unwrap()),
            libc::IFF_UP as u32
        );
        assert_eq!(
            u32::from_ne_bytes(up[28..32].try_into().unwrap()),
            libc::IFF_UP as u32
        );
        let del = link_msg("a", &Link::Delete);
        assert_eq!(u16::from_ne_bytes([del[4], del[5]]), RTM_DELLINK);
        let a = addr_msg(7, [10, 0, 0, 1], Some([10, 0, 0, 2]), 32, None);
        assert_eq!(u16::from_ne_bytes([a[4], a[5]]), RTM_NEWADDR);
        assert_eq!(a.len(), 16 + 8 + 8 + 8);
    }

    #[test]
    fn acks() {
        let mut b = vec![0u8; 36];
        b[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(parse_ack(&b), Ok(()));
        b[16..20].copy_from_slice(&(-libc::EBUSY).to_ne_bytes());
        assert_eq!(parse_ack(&b), Err(Errno(libc::EBUSY)));
        assert_eq!(parse_ack(&b[..10]), Err(Errno(libc::EPROTO)));
    }
}
