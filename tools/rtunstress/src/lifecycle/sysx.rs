// SPDX-License-Identifier: GPL-2.0
//! The system calls the lifecycle mode adds to the stress's: per-thread
//! timers (a blocking call cut short by SIGALRM in the thread that armed
//! it), SIGIO counting, preadv2/pwritev2 with flags, AF_PACKET transmits,
//! netconsole targets in configfs, /dev/kmsg, and the scan for tasks in D
//! state.

use std::{
    fs,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::sys::{close, in_netns, Errno};

pub const F_SETOWN_EX: i32 = 15;
pub const F_OWNER_TID: i32 = 0;
pub const PACKET_QDISC_BYPASS: i32 = 20;
pub const RWF_NOWAIT: i32 = 0x8;

/// SIGIO signals delivered to the process (tun/rtun's fasync).
pub static SIGIO_COUNT: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_sigio(_: libc::c_int) {
    SIGIO_COUNT.fetch_add(1, Ordering::Relaxed);
}

extern "C" fn on_alarm(_: libc::c_int) {}

/// SIGALRM does nothing and interrupts (no SA_RESTART): a blocking read
/// returns EINTR when the thread's timer fires. SIGIO is counted and
/// restarts what it interrupts.
pub fn install_handlers() {
    for (sig, handler, flags) in [
        (libc::SIGALRM, on_alarm as extern "C" fn(libc::c_int), 0),
        (
            libc::SIGIO,
            on_sigio as extern "C" fn(libc::c_int),
            libc::SA_RESTART,
        ),
    ] {
        // SAFETY: Installing an async-signal-safe handler (nothing, or one
        // atomic add) with a zeroed, then filled, sigaction.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = flags;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

pub fn gettid() -> i32 {
    // SAFETY: gettid(2) takes no argument.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// A POSIX timer that sends SIGALRM to the thread that made it.
///
/// # Invariants
/// `id` is a timer of this process, deleted on drop.
pub struct ThreadTimer {
    id: i32,
}

impl ThreadTimer {
    pub fn new() -> Result<ThreadTimer, Errno> {
        // SAFETY: A zeroed sigevent filled as the kernel reads it (signal,
        // SIGEV_THREAD_ID and the thread's id), and an int for the timer id.
        unsafe {
            let mut sev: libc::sigevent = std::mem::zeroed();
            sev.sigev_signo = libc::SIGALRM;
            sev.sigev_notify = libc::SIGEV_THREAD_ID;
            sev.sigev_notify_thread_id = gettid();
            let mut id: i32 = 0;
            if libc::syscall(
                libc::SYS_timer_create,
                libc::CLOCK_MONOTONIC,
                &mut sev as *mut libc::sigevent,
                &mut id as *mut i32,
            ) < 0
            {
                return Err(Errno::last());
            }
            Ok(ThreadTimer { id })
        }
    }

    /// Fires after `us` microseconds, then every 20 ms until disarmed: a
    /// signal that came before the thread entered its blocking call (the
    /// thread was preempted in between) is followed by another (0: disarmed).
    pub fn arm(&self, us: u64) {
        let ts = |us: u64| libc::timespec {
            tv_sec: (us / 1_000_000) as i64,
            tv_nsec: ((us % 1_000_000) * 1000) as i64,
        };
        let its = libc::itimerspec {
            it_interval: ts(if us == 0 { 0 } else { 20_000 }),
            it_value: ts(us),
        };
        // SAFETY: timer_settime(2) on our timer with a valid itimerspec.
        unsafe {
            libc::syscall(
                libc::SYS_timer_settime,
                self.id,
                0,
                &its as *const libc::itimerspec,
                std::ptr::null_mut::<libc::itimerspec>(),
            )
        };
    }

    pub fn disarm(&self) {
        self.arm(0);
    }
}

impl Drop for ThreadTimer {
    fn drop(&mut self) {
        // SAFETY: Deleting our own timer.
        unsafe { libc::syscall(libc::SYS_timer_delete, self.id) };
    }
}

fn iov_result(r: isize) -> Result<usize, Errno> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as usize)
    }
}

/// preadv2(fd, [buf], -1, flags).
pub fn preadv2(fd: i32, buf: &mut [u8], flags: i32) -> Result<usize, Errno> {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: One iovec over a buffer writable for its length; offset -1
    // (the file position), as read(2).
    iov_result(unsafe {
        libc::syscall(
            libc::SYS_preadv2,
            fd,
            &iov as *const libc::iovec,
            1,
            -1i64,
            0i64,
            flags,
        ) as isize
    })
}

/// pwritev2(fd, parts, -1, flags): the parts as one frame.
pub fn pwritev2(fd: i32, parts: &[&[u8]], flags: i32) -> Result<usize, Errno> {
    let iov: Vec<libc::iovec> = parts
        .iter()
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut _,
            iov_len: p.len(),
        })
        .collect();
    // SAFETY: iovecs over buffers readable for their lengths.
    iov_result(unsafe {
        libc::syscall(
            libc::SYS_pwritev2,
            fd,
            iov.as_ptr(),
            iov.len() as i32,
            -1i64,
            0i64,
            flags,
        ) as isize
    })
}

/// O_ASYNC on (SIGIO to thread `tid`) or off.
pub fn fasync(fd: i32, on: bool, tid: i32) -> Result<(), Errno> {
    // SAFETY: fcntl(2) on an fd the caller holds, with an f_owner_ex
    // ({type, pid}) on the stack.
    unsafe {
        if on {
            let owner: [i32; 2] = [F_OWNER_TID, tid];
            if libc::fcntl(fd, F_SETOWN_EX, owner.as_ptr()) < 0 {
                return Err(Errno::last());
            }
        }
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl < 0 {
            return Err(Errno::last());
        }
        let fl = if on {
            fl | libc::O_ASYNC
        } else {
            fl & !libc::O_ASYNC
        };
        if libc::fcntl(fd, libc::F_SETFL, fl) < 0 {
            return Err(Errno::last());
        }
    }
    Ok(())
}

/// Sends `frame` out through `ifname` (in namespace `ns`) from an AF_PACKET
/// socket, through the qdisc or straight to the driver (`bypass`).
pub fn packet_send(
    ns: Option<&str>,
    home: i32,
    ifname: &str,
    proto: u16,
    bypass: bool,
    frame: &[u8],
) -> Result<(), Errno> {
    let r = in_netns(ns, home, || -> Result<(), Errno> {
        let index = rtun_common::net::if_index(ifname)?;
        // SAFETY: Socket calls on a socket we own, with a sockaddr_ll and
        // an int option on the stack; the socket is closed on every path.
        unsafe {
            let s = libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
            if s < 0 {
                return Err(Errno::last());
            }
            if bypass {
                let one: i32 = 1;
                libc::setsockopt(
                    s,
                    libc::SOL_PACKET,
                    PACKET_QDISC_BYPASS,
                    (&one as *const i32).cast(),
                    4,
                );
            }
            let mut sa = rtun_common::frame::ll_addr(index as i32, proto);
            sa.sll_halen = 6;
            sa.sll_addr[..6].copy_from_slice(&[0xff; 6]);
            let r = libc::sendto(
                s,
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            let e = Errno::last();
            close(s);
            if r < 0 {
                Err(e)
            } else {
                Ok(())
            }
        }
    });
    match r {
        Ok(r) => r,
        Err(_) => Err(Errno(libc::ENOENT)),
    }
}

// ---- netconsole ------------------------------------------------------------------

pub const NETCONSOLE: &str = "/sys/kernel/config/netconsole";
/// Where the targets send (nobody is there): frames to it are recognised
/// when read back (see [`is_netconsole_frame`]).
pub const NC_REMOTE: [u8; 4] = [10, 250, 0, 1];
pub const NC_PORT: u16 = 6666;

/// Mounts configfs if needed; whether netconsole's directory is there.
pub fn netconsole_available() -> bool {
    if fs::metadata(NETCONSOLE).is_err() {
        let (src, dir, ty) = (c"none", c"/sys/kernel/config", c"configfs");
        // SAFETY: mount(2) with valid C strings and no data.
        unsafe { libc::mount(src.as_ptr(), dir.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
    }
    fs::metadata(NETCONSOLE).is_ok()
}

fn nc_write(target: &str, file: &str, v: &str) -> Result<(), String> {
    let p = format!("{NETCONSOLE}/{target}/{file}");
    fs::write(&p, v).map_err(|e| {
        format!(
            "{file}={v}: {}",
            e.raw_os_error()
                .map_or_else(|| e.to_string(), |e| Errno(e).to_string())
        )
    })
}

/// Creates target `target` on `dev` (local address `local`) and enables it.
pub fn netconsole_enable(target: &str, dev: &str, local: [u8; 4]) -> Result<(), String> {
    let dir = format!("{NETCONSOLE}/{target}");
    if fs::metadata(&dir).is_err() {
        fs::create_dir(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
    }
    let ip = |a: [u8; 4]| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
    nc_write(target, "dev_name", dev)?;
    nc_write(target, "local_ip", &ip(local))?;
    nc_write(target, "remote_ip", &ip(NC_REMOTE))?;
    nc_write(target, "remote_port", &NC_PORT.to_string())?;
    nc_write(target, "enabled", "1")
}

/// Disables (errors ignored: the device may have taken it down already)
/// and removes the target. A target that is not enabled (its device went
/// away) is not disabled again: netconsole logs a line for each such write,
/// and a long run's lines would push the boot out of the kernel log.
pub fn netconsole_remove(target: &str) -> Result<(), String> {
    let enabled = fs::read_to_string(format!("{NETCONSOLE}/{target}/enabled"));
    if enabled.map_or(true, |v| v.trim() != "0") {
        let _ = nc_write(target, "enabled", "0");
    }
    let dir = format!("{NETCONSOLE}/{target}");
    fs::remove_dir(&dir).map_err(|e| format!("rmdir {dir}: {e}"))
}

/// Whether a frame read from a device is one a netconsole target sent: an
/// IPv4 header to [`NC_REMOTE`] followed by a UDP header to [`NC_PORT`],
/// anywhere in the frame (after a PI, a virtio-net or an Ethernet header).
pub fn is_netconsole_frame(f: &[u8]) -> bool {
    let port = NC_PORT.to_be_bytes();
    f.windows(8).any(|w| w[..4] == NC_REMOTE && w[6..8] == port)
}

/// A line to the kernel log at level `level`.
pub fn kmsg_write(level: u8, text: &str) -> Result<(), Errno> {
    let msg = format!("<{level}>{text}\n");
    fs::OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")
        .and_then(|mut f| std::io::Write::write_all(&mut f, msg.as_bytes()))
        .map_err(Errno::from)
}

// ---- the kernel log ---------------------------------------------------------------

/// /dev/kmsg read from where it ended when the watch started.
pub struct Kmsg {
    fd: i32,
}

/// One record: its level (0-7) and text.
pub type Record = (u8, String);

impl Kmsg {
    pub fn start() -> Result<Kmsg, Errno> {
        // SAFETY: Opening /dev/kmsg and seeking to its end.
        unsafe {
            let fd = libc::open(
                c"/dev/kmsg".as_ptr(),
                libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
            );
            if fd < 0 {
                return Err(Errno::last());
            }
            libc::lseek(fd, 0, libc::SEEK_END);
            Ok(Kmsg { fd })
        }
    }

    /// The records since the start (or the last call).
    pub fn read(&mut self) -> Vec<Record> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            // SAFETY: Reading one record into a buffer we own.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                if Errno::last() == Errno(libc::EPIPE) {
                    continue; // records were overwritten: go on with the next
                }
                break;
            }
            if n == 0 {
                break;
            }
            if let Some(r) = parse_kmsg(&String::from_utf8_lossy(&buf[..n as usize])) {
                out.push(r);
            }
        }
        out
    }
}

impl Drop for Kmsg {
    fn drop(&mut self) {
        close(self.fd);
    }
}

/// "PRI,SEQ,TS,FLAGS;TEXT\n continuation..." as (level, text).
pub fn parse_kmsg(rec: &str) -> Option<Record> {
    let (head, text) = rec.split_once(';')?;
    let pri: u32 = head.split(',').next()?.parse().ok()?;
    let text = text.lines().next().unwrap_or("").to_string();
    Some(((pri & 7) as u8, text))
}

/// The races KCSAN reports in the kernel's own code that were read and found
/// benign: `KCSAN_KNOWN_RE` in tests/guest/lib.sh, which says why.
const KNOWN_KCSAN: [&str; 2] = [
    "BUG: KCSAN: data-race in napi_complete_done / napi_schedule_prep",
    "BUG: KCSAN: data-race in napi_schedule_prep / napi_complete_done",
];

/// What the suite's `splats` (tests/guest/lib.sh) looks for, and a device
/// that never becomes free.
pub fn is_splat(line: &str) -> bool {
    if KNOWN_KCSAN.iter().any(|k| line.trim_end().ends_with(k)) {
        return false;
    }
    const PATTERNS: [&str; 25] = [
        "BUG:",
        "WARNING:",
        "Oops",
        "Call Trace:",
        "RIP:",
        "general protection",
        "refcount_t:",
        "UBSAN",
        "KASAN",
        "possible recursive locking",
        "inconsistent lock state",
        "possible circular locking",
        "sleeping function called from invalid context",
        "Kernel panic",
        "suspicious RCU usage",
        "ODEBUG",
        "list_add corruption",
        "list_del corruption",
        "rcu_sched self-detected stall",
        "rcu: INFO",
        "kmemleak",
        "skb len=",
        "to become free",
        "blocked for more than",
        "hung_task",
    ];
    PATTERNS.iter().any(|p| line.contains(p))
}

// ---- tasks in D state --------------------------------------------------------------

/// (pid, tid, comm) of every task in uninterruptible sleep.
pub fn tasks_in_d() -> Vec<(u32, u32, String)> {
    let mut out = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Ok(tid) = t.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) else {
                continue;
            };
            if let Some((comm, state)) = parse_stat(&stat) {
                if state == 'D' {
                    out.push((pid, tid, comm));
                }
            }
        }
    }
    out
}

/// The comm and state of a /proc/.../stat line ("PID (COMM) S ...": the
/// comm may hold spaces and parentheses, so the state follows the last ')').
pub fn parse_stat(stat: &str) -> Option<(String, char)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let state = stat.get(close + 1..)?.trim_start().chars().next()?;
    Some((comm, state))
}

/// Where a task is: its wchan and kernel stack.
pub fn task_where(pid: u32, tid: u32) -> String {
    let wchan = fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan")).unwrap_or_default();
    let stack = fs::read_to_string(format!("/proc/{pid}/task/{tid}/stack")).unwrap_or_default();
    format!("wchan {wchan}\n{stack}")
}

/// Raises RLIMIT_NOFILE as far as allowed (a run holds many queues).
pub fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit with a struct on the stack.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max.min(65536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        assert_eq!(
            parse_stat("42 (kworker/0:1) D 2 0 0"),
            Some(("kworker/0:1".into(), 'D'))
        );
        assert_eq!(parse_stat("7 (a (b) c) S 1"), Some(("a (b) c".into(), 'S')));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn kmsg_records() {
        assert_eq!(
            parse_kmsg("3,1234,5678,-;rtunstress hello\n SUBSYSTEM=net\n"),
            Some((3, "rtunstress hello".into()))
        );
        assert_eq!(
            parse_kmsg("12,1,2,-;x"),
            Some((4, "x".into())),
            "facility bits are not the level"
        );
        assert_eq!(parse_kmsg("nonsense"), None);
    }

    #[test]
    fn splats_are_recognised() {
        assert!(is_splat(
            "BUG: KASAN: slab-use-after-free in napi_gro_receive"
        ));
        assert!(is_splat(
            "unregister_netdevice: waiting for rl0g3 to become free. Usage count = 2"
        ));
        assert!(!is_splat("rtunstress lifecycle netpoll 3"));
        assert!(!is_splat(
            "BUG: KCSAN: data-race in napi_complete_done / napi_schedule_prep"
        ));
        assert!(is_splat(
            "BUG: KCSAN: data-race in napi_complete_done / rtun_something"
        ));
    }

    #[test]
    fn netconsole_frames_are_recognised() {
        let mut f = vec![0u8; 14];
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, 17, 0, 0, 10, 64, 0, 1];
        ip.extend_from_slice(&NC_REMOTE);
        ip.extend_from_slice(&[0x1a, 0x0b]); // source port 6667
        ip.extend_from_slice(&NC_PORT.to_be_bytes());
        f.extend_from_slice(&ip);
        assert!(is_netconsole_frame(&f));
        let n = f.len();
        f[n - 1] ^= 1;
        assert!(!is_netconsole_frame(&f));
    }

    #[test]
    fn thread_timer_interrupts_a_blocking_read() {
        install_handlers();
        let t = ThreadTimer::new().unwrap();
        let mut fds = [0i32; 2];
        // SAFETY: A pipe into our array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        t.arm(20_000);
        let mut b = [0u8; 4];
        // SAFETY: Reading into a buffer we own; nothing is written, so only
        // the timer's signal ends the read.
        let r = unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 4) };
        assert_eq!((r, Errno::last()), (-1, Errno(libc::EINTR)));
        t.disarm();
        close(fds[0]);
        close(fds[1]);
    }
}
