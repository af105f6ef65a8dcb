// SPDX-License-Identifier: GPL-2.0
//! `rtunctl block read|poll|epoll|write NAME`: one task blocked in one syscall on
//! an attached fd, for the lifecycle tests (tests/guest/t_lifecycle.sh). It
//! prints what the syscall returned when it comes back, then probes the fd once
//! more without blocking, and closes it: every line compares between tun.ko and
//! rtun.
//!
//! Output (stdout, flushed line by line):
//!   fd=N                       the attached fd, before blocking
//!   read len=N | read errno=E  (read)
//!   poll ret=N revents=...     (poll, POLLIN asked)
//!   epoll ret=N events=...     (epoll_wait, EPOLLIN asked)
//!   written=K                  (write: frames written before the one that failed)
//!   write errno=E | write done (write: the failing write, or all --count frames went)
//!   again read|poll|epoll|write ...   the same call without blocking
//!   again getiff name=X | errno=E     TUNGETIFF
//!   fdinfo iff=X               the `iff:` line of /proc/self/fdinfo/N
//!   close ok | close errno=E
//!
//! SIGUSR1 interrupts the blocked call (installed without SA_RESTART), so a test
//! can end a task that no driver event woke: the call then reports EINTR.

use std::{fs, io::Write, process::exit};

use rtun_common::{
    abi::*,
    sys::{ioctl, set_nonblock},
    Errno,
};

extern "C" fn on_usr1(_: libc::c_int) {}

fn say(s: String) {
    println!("{s}");
    let _ = std::io::stdout().flush();
}

fn install_usr1() {
    // SAFETY: A zeroed sigaction with a handler that does nothing, no SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
}

/// The names of the bits of `r` that `names` has, in its order, joined with
/// commas; `none` if there are none.
pub fn bit_names(r: i32, names: &[(i16, &str)]) -> String {
    let v: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| r & i32::from(*bit) != 0)
        .map(|(_, name)| *name)
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(",")
    }
}

/// Poll or epoll events, short names (`IN,OUT`).
pub fn poll_names(r: i32) -> String {
    bit_names(
        r,
        &[
            (libc::POLLIN, "IN"),
            (libc::POLLPRI, "PRI"),
            (libc::POLLOUT, "OUT"),
            (libc::POLLERR, "ERR"),
            (libc::POLLHUP, "HUP"),
            (libc::POLLNVAL, "NVAL"),
            (libc::POLLRDNORM, "RDNORM"),
            (libc::POLLWRNORM, "WRNORM"),
        ],
    )
}

fn do_read(fd: i32, what: &str) {
    let mut buf = vec![0u8; 65536 + 64];
    // SAFETY: `buf` is writable for its length.
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        say(format!("{what} errno={}", Errno::last()));
    } else {
        say(format!("{what} len={r}"));
    }
}

fn do_poll(fd: i32, what: &str, timeout: i32) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: One valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout) };
    if r < 0 {
        say(format!("{what} errno={}", Errno::last()));
    } else {
        say(format!(
            "{what} ret={r} revents={}",
            poll_names(p.revents.into())
        ));
    }
}

fn do_epoll(ep: i32, what: &str, timeout: i32) {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: One valid epoll_event.
    let r = unsafe { libc::epoll_wait(ep, &mut ev, 1, timeout) };
    if r < 0 {
        say(format!("{what} errno={}", Errno::last()));
    } else {
        let evs = if r == 0 { 0 } else { ev.events as i32 };
        say(format!("{what} ret={r} events={}", poll_names(evs)));
    }
}

/// Writes `frame` up to `count` times; reports how many went and how the first
/// failing write failed.
fn do_write(fd: i32, frame: &[u8], count: usize) {
    let mut n = 0;
    let mut err = None;
    while n < count {
        // SAFETY: `frame` is readable for its length.
        let r = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
        if r < 0 {
            err = Some(Errno::last());
            break;
        }
        n += 1;
    }
    say(format!("written={n}"));
    match err {
        Some(e) => say(format!("write errno={e}")),
        None => say("write done".into()),
    }
}

fn fdinfo_iff(fd: i32) -> String {
    fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("iff:").map(|v| v.trim().to_string()))
        })
        .unwrap_or_else(|| "?".into())
}

/// `block MODE NAME`: `fd`, the attached fd; `frame` what `write` sends.
pub fn run(
    mode: &str,
    fd: i32,
    frame: &[u8],
    count: usize,
    sndbuf: Option<i32>,
    ready: &Option<String>,
) {
    install_usr1();
    if let Some(mut b) = sndbuf {
        if let Err(e) = ioctl(fd, TUNSETSNDBUF, &mut b) {
            say(format!("sndbuf errno={e}"));
            exit(1);
        }
    }
    let ep = if mode == "epoll" {
        // SAFETY: Plain syscalls on our fds.
        unsafe {
            let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: fd as u64,
            };
            if ep < 0 || libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) < 0 {
                say(format!("epoll_ctl errno={}", Errno::last()));
                exit(1);
            }
            ep
        }
    } else {
        -1
    };
    say(format!("fd={fd}"));
    if let Some(p) = ready {
        let _ = fs::write(p, b"");
    }
    match mode {
        "read" => do_read(fd, "read"),
        "poll" => do_poll(fd, "poll", -1),
        "epoll" => do_epoll(ep, "epoll", -1),
        "write" => {
            // RTUNCTL_GO_FILE: attached, the writer waits for this file (the
            // caller's sign that the path its frames take is ready).
            if let Ok(go) = std::env::var("RTUNCTL_GO_FILE") {
                while !std::path::Path::new(&go).exists() {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
            do_write(fd, frame, count)
        }
        m => {
            eprintln!("rtunctl: block: unknown mode {m} (read, poll, epoll, write)");
            exit(2);
        }
    }
    set_nonblock(fd, true);
    match mode {
        "read" => do_read(fd, "again read"),
        "poll" => do_poll(fd, "again poll", 0),
        "epoll" => do_epoll(ep, "again epoll", 0),
        _ => {
            // SAFETY: `frame` is readable for its length.
            let r = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
            if r < 0 {
                say(format!("again write errno={}", Errno::last()));
            } else {
                say(format!("again write len={r}"));
            }
        }
    }
    let mut req = IfReq::new("", 0);
    match ioctl(fd, TUNGETIFF, &mut req) {
        Ok(_) => say(format!("again getiff name={}", req.name())),
        Err(e) => say(format!("again getiff errno={e}")),
    }
    say(format!("fdinfo iff={}", fdinfo_iff(fd)));
    if ep >= 0 {
        // SAFETY: Our epoll fd.
        unsafe { libc::close(ep) };
    }
    // SAFETY: Our fd.
    if unsafe { libc::close(fd) } < 0 {
        say(format!("close errno={}", Errno::last()));
        exit(1);
    }
    say("close ok".into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_bits_by_name() {
        assert_eq!(poll_names(0), "none");
        assert_eq!(
            poll_names((libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM).into()),
            "IN,OUT,RDNORM"
        );
        let names = [(libc::POLLIN, "POLLIN"), (libc::POLLHUP, "POLLHUP")];
        assert_eq!(
            bit_names((libc::POLLHUP | libc::POLLOUT).into(), &names),
            "POLLHUP"
        );
    }
}
