//! What the user-space tools (rtunctl, rtunbench, rtunfuzz, rtunstress) share,
//! in one place instead of a copy per tool:
//!
//! - [`abi`]: tun's ioctl numbers, `IFF_*`/`TUN_F_*` flags and `struct ifreq`;
//! - [`sys`]: errno and its names, ioctl wrappers, an owned fd, small syscalls;
//! - [`net`]: interface lookups (ifindex, sysfs) and the IPv4 checksum;
//! - [`bpf`]: loading socket-filter programs, classic filter structures;
//! - [`frame`]: test frames, and sending them out through a device's xmit
//!   path from a packet socket;
//! - [`hex`]: hex bytes and MAC addresses on command lines and in output;
//! - [`prng`]: the seeded generators whose sequences replay a run.
//!
//! Only `libc`: the tools are built with `cargo build --release` and copied
//! into the guest with the shared libraries they load.

pub mod abi;
pub mod bpf;
pub mod frame;
pub mod hex;
pub mod net;
pub mod prng;
pub mod sys;
