// SPDX-License-Identifier: GPL-2.0
//! What the user-space tools (rtunctl, rtunabi, rtunbench, rtunfuzz,
//! rtunstress; and rtunchart, on the host, for [`Errno`]) share, in one place
//! instead of a copy per tool:
//!
//! - [`abi`]: tun's ioctl numbers, `IFF_*`/`TUN_F_*` flags and `struct ifreq`;
//! - [`errno`]: [`Errno`], the error of a failed system call, and its names;
//! - [`ethtool`]: a device's driver and its `ethtool -S` counters, through
//!   the `SIOCETHTOOL` ioctl any user may make;
//! - [`sys`]: ioctl wrappers, an owned fd, small syscalls;
//! - [`net`]: interface lookups (ifindex, sysfs), IPv4 socket addresses,
//!   one rtnetlink request and its reply, and the IPv4 checksum;
//! - [`bpf`]: loading socket-filter programs, classic filter structures;
//! - [`frame`]: test frames, and sending them out through a device's xmit
//!   path from a packet socket;
//! - [`hex`]: hex bytes and MAC addresses on command lines and in output;
//! - [`prng`]: the seeded generators whose sequences replay a run;
//! - [`uring`]: a minimal io_uring over raw system calls (rtunabi's and
//!   rtunstress's requests).
//!
//! Only `libc`: the tools are built with `cargo build --release` and copied
//! into the guest with the shared libraries they load.
//!
//! # Errors
//!
//! One convention across the tools:
//!
//! - A system call's failure is an [`Errno`]: whatever wraps a system call
//!   returns `Result<T, Errno>`, never a bare or negated `i32`. A value in the
//!   kernel's `-errno` encoding (an io_uring completion, a netlink ack) is
//!   turned into one where it is read ([`Errno::from_negative`]). `Errno`
//!   prints as its name (`EINVAL`), which is what the tools' output, the
//!   guest tests and rtunfuzz's errno table expect.
//! - A failure that a person reads, and that says what failed, is a
//!   `Result<T, String>`: command-line and configuration parsing, and the
//!   setup steps of a run (creating a trace instance, a namespace, a device
//!   for a benchmark), whose message names the step and then the errno
//!   (`format!("{what}: {errno}")`). Such results stay at the tool's top
//!   layer: they are printed or collected, not matched on.

pub mod abi;
pub mod bpf;
pub mod errno;
pub mod ethtool;
pub mod frame;
pub mod hex;
pub mod net;
pub mod prng;
pub mod sys;
pub mod uring;

pub use errno::Errno;
