// SPDX-License-Identifier: GPL-2.0
//! `rtunctl race napi-del --rounds N --seed S`: writers on an IFF_NAPI queue
//! while the device is deleted under them (RTM_DELLINK), round after round.
//! `race napi-frags-del`: the same with IFF_NAPI_FRAGS, each frame written
//! in two segments (so with a page fragment), which GRO gets in the writer's
//! context.
//!
//! Each round creates a TAP device with IFF_NAPI, brings it up, starts four
//! threads that write 60-byte frames to the one file as fast as they can,
//! deletes the device after a seeded random delay of 0-5 ms, and waits for
//! the writers, which stop at their first error. A write may succeed, or fail
//! with the errno of a device on its way out; anything else is reported. The
//! kernel's side of the race (a NAPI instance scheduled after it was freed)
//! shows as a KASAN report or an oops, which the guest test looks for.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use rtun_common::{
    abi::*,
    net,
    prng::{Draw, SeedRng},
    sys::{ioctl, Fd},
    Errno,
};

const WRITERS: usize = 4;

/// Errnos a write may get while its device is being deleted: EBADFD once the
/// file is unbound; EIO while the device is down; EBUSY from a detached
/// NAPI queue (tun's `tfile->detached`); EINVAL (tun's "no device") is not
/// expected but is counted like the rest.
const EXPECTED: &[Errno] = &[Errno(libc::EBADFD), Errno(libc::EIO), Errno(libc::EBUSY)];

pub fn napi_del(dev: &str, rounds: usize, seed: u64, frags: bool) -> i32 {
    let mut rng = SeedRng::new(seed);
    let mut errnos: BTreeMap<String, usize> = BTreeMap::new();
    let mut written = 0usize;
    let mut unexpected = 0usize;
    for round in 0..rounds {
        let fd = match setup(dev, frags) {
            Ok(v) => v,
            Err((step, e)) => {
                println!("round {round}: {step}: {e}");
                return 1;
            }
        };
        let (fd, ifindex) = fd;
        let fd = Arc::new(fd);
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WRITERS)
            .map(|_| {
                let fd = Arc::clone(&fd);
                let stop = Arc::clone(&stop);
                thread::spawn(move || write_until_error(fd.0, &stop, frags))
            })
            .collect();
        thread::sleep(Duration::from_micros(rng.below(5000)));
        if let Err(e) = del_link(ifindex) {
            println!("round {round}: RTM_DELLINK: {e}");
            stop.store(true, Ordering::Relaxed);
            return 1;
        }
        // Writers that never saw an error (all writes done before the
        // deletion, none after) stop here.
        thread::sleep(Duration::from_millis(20));
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let (n, e) = h.join().unwrap_or((0, None));
            written += n;
            if let Some(e) = e {
                *errnos.entry(e.to_string()).or_default() += 1;
                if !EXPECTED.contains(&e) {
                    unexpected += 1;
                }
            }
        }
    }
    let summary: Vec<String> = errnos.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "rounds={rounds} writes_ok={written} first_errors: {}",
        summary.join(" ")
    );
    if unexpected > 0 {
        println!("unexpected errnos: {unexpected}");
        return 1;
    }
    0
}

/// A new up TAP device with IFF_NAPI (and IFF_NAPI_FRAGS with `frags`): its
/// file and ifindex.
fn setup(dev: &str, frags: bool) -> Result<(Fd, u32), (&'static str, Errno)> {
    let fd = Fd(rtun_common::sys::open_dev(dev, 0).map_err(|e| ("open", e))?);
    let flags = IFF_TAP | IFF_NO_PI | IFF_NAPI | if frags { IFF_NAPI_FRAGS } else { 0 };
    let mut req = IfReq::new("", flags);
    ioctl(fd.0, TUNSETIFF, &mut req).map_err(|e| ("TUNSETIFF", e))?;
    let name = req.name();
    // SAFETY: A plain socket for the interface ioctls.
    let s = Fd(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) });
    if s.0 < 0 {
        return Err(("socket", Errno::last()));
    }
    let mut r = IfReq::new(&name, 0);
    ioctl(s.0, libc::SIOCGIFFLAGS, &mut r).map_err(|e| ("SIOCGIFFLAGS", e))?;
    let up = r.flags() | libc::IFF_UP as u16;
    r.set_flags(up);
    ioctl(s.0, libc::SIOCSIFFLAGS, &mut r).map_err(|e| ("SIOCSIFFLAGS up", e))?;
    let ifindex = rtun_common::net::if_index(&name).map_err(|e| ("if_index", e))?;
    Ok((fd, ifindex))
}

/// Writes a 60-byte broadcast frame until a write fails or `stop` is set:
/// the number written and the first errno. With `frags`, in two segments:
/// the Ethernet header, then the rest.
fn write_until_error(fd: i32, stop: &AtomicBool, frags: bool) -> (usize, Option<Errno>) {
    let mut f = vec![0xffu8; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5]);
    f.resize(60, 0);
    let (head, rest) = f.split_at(if frags { 14 } else { f.len() });
    let iov = [
        libc::iovec {
            iov_base: head.as_ptr().cast_mut().cast(),
            iov_len: head.len(),
        },
        libc::iovec {
            iov_base: rest.as_ptr().cast_mut().cast(),
            iov_len: rest.len(),
        },
    ];
    let segs = if frags { 2 } else { 1 };
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: The first `segs` iovecs point into `f`, within its length.
        let r = unsafe { libc::writev(fd, iov.as_ptr(), segs) };
        if r < 0 {
            return (n, Some(Errno::last()));
        }
        n += 1;
    }
    (n, None)
}

/// RTM_DELLINK of `ifindex`, acknowledged.
fn del_link(ifindex: u32) -> Result<(), Errno> {
    // nlmsghdr (16) + ifinfomsg (16).
    let mut m = [0u8; 32];
    m[0..4].copy_from_slice(&32u32.to_ne_bytes());
    m[4..6].copy_from_slice(&libc::RTM_DELLINK.to_ne_bytes());
    m[6..8].copy_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    m[8..12].copy_from_slice(&1u32.to_ne_bytes());
    m[16] = libc::AF_UNSPEC as u8;
    m[20..24].copy_from_slice(&ifindex.to_ne_bytes());
    let mut buf = [0u8; 4096];
    let n = net::rtnl_exchange(&m, &mut buf).map_err(|(_, e)| e)?;
    if n < 36 {
        return Err(Errno(libc::EPROTO));
    }
    // NLMSG_ERROR: an int error code after the header (0: the ack).
    let code = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
    Errno::from_negative(code).map(|_| ())
}
