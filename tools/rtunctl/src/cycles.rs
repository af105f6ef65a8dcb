// SPDX-License-Identifier: GPL-2.0
//! `rtunctl cycles`: insmod/rmmod cycles with live devices, in one process
//! (tests/guest/t_lifecycle.sh). Under TCG with KASAN every exec costs about
//! 0.2-0.5 s, more than the kernel's own work of a cycle; doing the cycles
//! here keeps 100 of them affordable.
//!
//! Each cycle: finit_module(MODULE); /dev/net/rtun must be there. Persistent
//! devices, their creating files closed: lct0 (TUN, up, 10.77.1.1 peer
//! 10.77.1.2), lcp0 (TAP, moved into the namespace NETNS with RTM_NEWLINK
//! IFLA_NET_NS_FD, up there with 10.77.0.1); every --extra-every K cycles also
//! lcq0 (TAP created from a file opened inside NETNS) and lcm0 (multi-queue
//! TAP, up, in init_net). Then delete_module("rtun", O_NONBLOCK), which must
//! succeed and delete them all: afterwards /dev/net/rtun and /sys/module/rtun
//! must be gone, and neither init_net (/sys/class/net) nor NETNS
//! (/proc/thread-self/net/dev, read from inside it) may list an lc* device.
//!
//! Output: `cycle N: WHAT` for the first failure (exit 1), else
//! `cycles=N devices=D seconds=S`.

use std::{fs, os::fd::AsRawFd, path::Path, process::exit, time::Instant};

use rtun_common::{
    abi::*,
    net,
    sys::{delete_module, ioctl, ioctl_val, open_dev},
    Errno,
};

fn check(c: usize, what: &str, r: Result<(), String>) {
    if let Err(e) = r {
        println!("cycle {c}: {what}: {e}");
        exit(1);
    }
}

fn errs(e: Errno) -> String {
    format!("errno={e}")
}

fn setns(fd: i32) -> Result<(), String> {
    // SAFETY: setns on a namespace fd we hold; this process is single-threaded.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } < 0 {
        Err(errs(Errno::last()))
    } else {
        Ok(())
    }
}

/// Creates a persistent device and closes its file.
fn create(name: &str, flags: u16) -> Result<(), String> {
    let fd = open_dev("/dev/net/rtun", 0).map_err(|e| format!("open /dev/net/rtun {}", errs(e)))?;
    let mut req = IfReq::new(name, flags);
    let r = ioctl(fd, TUNSETIFF, &mut req).and_then(|_| ioctl_val(fd, TUNSETPERSIST, 1));
    // SAFETY: Our fd.
    unsafe { libc::close(fd) };
    r.map(|_| ())
        .map_err(|e| format!("create {name} {}", errs(e)))
}

fn sockaddr_in(a: [u8; 4]) -> libc::sockaddr {
    let sin = net::sockaddr_in(a, 0);
    // SAFETY: sockaddr_in and sockaddr have the same size; plain bytes.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// Brings `name` up with an IPv4 address (and a peer), with the classic ioctls,
/// in the calling thread's namespace.
fn up_with_address(name: &str, addr: [u8; 4], peer: Option<[u8; 4]>) -> Result<(), String> {
    // SAFETY: A plain socket.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(errs(Errno::last()));
    }
    let run = || -> Result<(), String> {
        // SAFETY: An all-zero ifreq is valid.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, b) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
            *d = b as libc::c_char;
        }
        ifr.ifr_ifru.ifru_addr = sockaddr_in(addr);
        ioctl(s, libc::SIOCSIFADDR, &mut ifr)
            .map_err(|e| format!("SIOCSIFADDR {name} {}", errs(e)))?;
        if let Some(p) = peer {
            ifr.ifr_ifru.ifru_dstaddr = sockaddr_in(p);
            ioctl(s, libc::SIOCSIFDSTADDR, &mut ifr)
                .map_err(|e| format!("SIOCSIFDSTADDR {name} {}", errs(e)))?;
        }
        ioctl(s, libc::SIOCGIFFLAGS, &mut ifr)
            .map_err(|e| format!("SIOCGIFFLAGS {name} {}", errs(e)))?;
        // SAFETY: SIOCGIFFLAGS filled in the flags.
        unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as i16 };
        ioctl(s, libc::SIOCSIFFLAGS, &mut ifr)
            .map_err(|e| format!("SIOCSIFFLAGS {name} {}", errs(e)))?;
        Ok(())
    };
    let r = run();
    // SAFETY: Our socket.
    unsafe { libc::close(s) };
    r
}

/// RTM_NEWLINK with IFLA_NET_NS_FD: moves `name` into the namespace `nsfd`.
fn move_to_netns(name: &str, nsfd: i32) -> Result<(), String> {
    let index = net::if_index(name).map_err(|e| format!("if_nametoindex {name} {}", errs(e)))?;
    // nlmsghdr (16) + ifinfomsg (16) + rtattr IFLA_NET_NS_FD u32 (8).
    let mut m = Vec::with_capacity(40);
    m.extend_from_slice(&40u32.to_ne_bytes());
    m.extend_from_slice(&(libc::RTM_NEWLINK).to_ne_bytes());
    m.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    m.extend_from_slice(&(index as i32).to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&8u16.to_ne_bytes());
    m.extend_from_slice(&(libc::IFLA_NET_NS_FD).to_ne_bytes());
    m.extend_from_slice(&(nsfd as u32).to_ne_bytes());
    let mut buf = [0u8; 1024];
    let r = net::rtnl_exchange(&m, &mut buf).map_err(|(step, e)| match step {
        "socket" => errs(e),
        _ => format!("RTM_NEWLINK {}", errs(e)),
    })?;
    if r < 20 {
        return Err(format!("RTM_NEWLINK {}", errs(Errno(libc::EPROTO))));
    }
    // NLMSG_ERROR: the errno follows the 16-byte header (0: the ack).
    let err = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
    Errno::from_negative(err)
        .map(|_| ())
        .map_err(|e| format!("RTM_NEWLINK {name} {}", errs(e)))
}

/// lc* devices in /proc/thread-self/net/dev: the calling thread's namespace.
fn lc_in_proc() -> Vec<String> {
    fs::read_to_string("/proc/thread-self/net/dev")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.trim_start()
                .split(':')
                .next()
                .filter(|n| n.starts_with("lc"))
                .map(String::from)
        })
        .collect()
}

fn lc_in_sysfs() -> Vec<String> {
    fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("lc"))
                .collect()
        })
        .unwrap_or_default()
}

pub fn run(module: &str, netns: &str, count: usize, extra_every: usize) {
    let ko = fs::File::open(module).unwrap_or_else(|e| {
        println!("open {module}: {e}");
        exit(1)
    });
    let init = fs::File::open("/proc/self/ns/net").unwrap_or_else(|e| {
        println!("open /proc/self/ns/net: {e}");
        exit(1)
    });
    let other = fs::File::open(netns).unwrap_or_else(|e| {
        println!("open {netns}: {e}");
        exit(1)
    });
    let (init, other) = (init.as_raw_fd(), other.as_raw_fd());
    // No IPv6 autoconfiguration traffic through the devices in NETNS (its
    // sysctl files are those of the namespace of the task that opens them).
    check(0, "setns", setns(other));
    for conf in ["all", "default"] {
        let _ = fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6"), "1");
    }
    check(0, "setns", setns(init));
    let t0 = Instant::now();
    let mut devices = 0;
    for c in 0..count {
        // SAFETY: finit_module with our fd and empty parameters.
        let r = unsafe { libc::syscall(libc::SYS_finit_module, ko.as_raw_fd(), c"".as_ptr(), 0) };
        check(
            c,
            "insmod",
            if r < 0 {
                Err(errs(Errno::last()))
            } else {
                Ok(())
            },
        );
        check(
            c,
            "/dev/net/rtun after insmod",
            match fs::metadata("/dev/net/rtun") {
                Ok(m) if std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type()) => Ok(()),
                Ok(_) => Err("not a character device".into()),
                Err(e) => Err(e.to_string()),
            },
        );
        check(
            c,
            "lct0",
            create("lct0", IFF_TUN | IFF_NO_PI)
                .and_then(|_| up_with_address("lct0", [10, 77, 1, 1], Some([10, 77, 1, 2]))),
        );
        check(
            c,
            "lcp0",
            create("lcp0", IFF_TAP | IFF_NO_PI).and_then(|_| move_to_netns("lcp0", other)),
        );
        check(
            c,
            "lcp0 in the namespace",
            setns(other).and_then(|_| up_with_address("lcp0", [10, 77, 0, 1], None)),
        );
        devices += 2;
        if extra_every > 0 && c % extra_every == 0 {
            check(
                c,
                "lcq0 from inside the namespace",
                create("lcq0", IFF_TAP | IFF_NO_PI),
            );
            check(c, "back to init_net", setns(init));
            check(
                c,
                "lcm0",
                create("lcm0", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE)
                    .and_then(|_| up_with_address("lcm0", [10, 77, 2, 1], None)),
            );
            devices += 2;
        } else {
            check(c, "back to init_net", setns(init));
        }
        if c == 0 {
            check(c, "setns", setns(other));
            let there = lc_in_proc();
            check(c, "setns", setns(init));
            println!(
                "cycle 0: init_net: {} netns: {}",
                lc_in_sysfs().join(" "),
                there.join(" ")
            );
            let refs = fs::read_to_string("/sys/module/rtun/refcnt").unwrap_or_default();
            check(
                c,
                "refcnt with only persistent devices",
                if refs.trim() == "0" {
                    Ok(())
                } else {
                    Err(refs.trim().to_string())
                },
            );
        }
        check(
            c,
            "rmmod with persistent devices and no open file",
            delete_module("rtun").map_err(errs),
        );
        for p in ["/dev/net/rtun", "/sys/module/rtun"] {
            check(
                c,
                "after rmmod",
                if Path::new(p).exists() {
                    Err(format!("{p} still there"))
                } else {
                    Ok(())
                },
            );
        }
        let left = lc_in_sysfs();
        check(
            c,
            "after rmmod",
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("left in init_net: {}", left.join(" ")))
            },
        );
        check(c, "setns", setns(other));
        let left = lc_in_proc();
        check(c, "setns", setns(init));
        check(
            c,
            "after rmmod",
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("left in {netns}: {}", left.join(" ")))
            },
        );
    }
    println!(
        "cycles={count} devices={devices} seconds={:.1}",
        t0.elapsed().as_secs_f64()
    );
}

/// `rtunctl close-rmmod MODULE.ko [persist] --dev PATH --count N`: N rounds
/// of: load MODULE.ko if it is not loaded, open PATH, TUNSETIFF (a new TAP,
/// lcx%d), with `persist` TUNSETPERSIST 1, close, and at once
/// delete_module(O_NONBLOCK), as `rmmod` right after the close. With no file
/// open, nothing should hold the module: the first try must succeed, as on
/// tun.ko (tests/guest/t_lifecycle.sh). A refused first try is printed with
/// its errno and the module's refcnt, then retried every 2 ms for up to 5 s.
///
/// Output: a `round N: ...` line for each refused first try, then
/// `rounds=N first_try_ok=K`; exit status 1 only if a setup step failed or
/// the module could not be removed at all.
pub fn close_rmmod(ko_path: &str, dev: &str, persist: bool, rounds: usize) {
    let module = Path::new(ko_path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ko = fs::File::open(ko_path).unwrap_or_else(|e| {
        println!("open {ko_path}: {e}");
        exit(1)
    });
    let refcnt_path = format!("/sys/module/{module}/refcnt");
    let mut first_ok = 0;
    for round in 0..rounds {
        if !Path::new(&format!("/sys/module/{module}")).exists() {
            // SAFETY: finit_module with our fd and empty parameters.
            let r =
                unsafe { libc::syscall(libc::SYS_finit_module, ko.as_raw_fd(), c"".as_ptr(), 0) };
            check(
                round,
                "insmod",
                if r < 0 {
                    Err(errs(Errno::last()))
                } else {
                    Ok(())
                },
            );
        }
        let t0 = Instant::now();
        while !Path::new(dev).exists() && t0.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let fd = open_dev(dev, 0).unwrap_or_else(|e| {
            println!("cycle {round}: open {dev}: {}", errs(e));
            exit(1)
        });
        let mut req = IfReq::new("lcx%d", IFF_TAP | IFF_NO_PI);
        let mut r = ioctl(fd, TUNSETIFF, &mut req).map(|_| ());
        if persist {
            r = r.and_then(|_| ioctl_val(fd, TUNSETPERSIST, 1).map(|_| ()));
        }
        // SAFETY: Our fd.
        unsafe { libc::close(fd) };
        check(round, "TUNSETIFF", r.map_err(errs));
        match delete_module(&module) {
            Ok(()) => first_ok += 1,
            Err(e) => {
                let refs = fs::read_to_string(&refcnt_path).unwrap_or_default();
                let t0 = Instant::now();
                let mut last = Err(e);
                while last.is_err() && t0.elapsed().as_secs() < 5 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    last = delete_module(&module);
                }
                let after = match last {
                    Ok(()) => format!(
                        "removed {:.1} ms later",
                        t0.elapsed().as_secs_f64() * 1000.0
                    ),
                    Err(e) => format!("still refused after 5 s ({})", errs(e)),
                };
                println!(
                    "round {round}: rmmod {module} right after the close: {} (refcnt {}); {after}",
                    errs(e),
                    refs.trim()
                );
                check(round, "rmmod at all", last.map_err(errs));
            }
        }
    }
    println!("rounds={rounds} first_try_ok={first_ok}");
}
