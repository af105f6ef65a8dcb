// SPDX-License-Identifier: GPL-2.0
//! The two filters a reader can attach, as owned kernel objects:
//! - [`ClassicFilter`] (TUNATTACHFILTER): a classic BPF program on a small
//!   kernel socket, run through the kernel's own socket-filter path
//!   (`sk_filter_reason()`), so its specific drop reasons come through;
//! - [`EbpfFilter`] (TUNSETFILTEREBPF): a BPF_PROG_TYPE_SOCKET_FILTER program
//!   taken by file descriptor.

use core::ptr::NonNull;
use kernel::{bindings, error::from_err_ptr, error::to_result, prelude::*};

use crate::{abstractions::ffi, abstractions::skb::SkBuff};

/// A classic BPF filter attached to a kernel socket of its own.
///
/// # Invariants
/// `sock` is a kernel socket made by `rtun_filter_sock_create` for this value
/// alone, released only in `drop`. Once [`ClassicFilter::new`] returns, the
/// user's program is attached to it.
pub(crate) struct ClassicFilter {
    sock: NonNull<bindings::socket>,
    /// The user's `struct sock_fprog`, returned by TUNGETFILTER as tun does.
    len: u16,
    insns_user: usize,
}

// SAFETY: The socket is only used through thread-safe kernel calls.
unsafe impl Send for ClassicFilter {}
// SAFETY: Running the filter concurrently is what the socket layer does too.
unsafe impl Sync for ClassicFilter {}

impl ClassicFilter {
    /// Compiles the user's `struct sock_fprog` (instruction count, user pointer).
    /// Process context.
    pub(crate) fn new(len: u16, insns_user: usize) -> Result<Self> {
        let mut sock: *mut bindings::socket = core::ptr::null_mut();
        // SAFETY: Process context; `sock` receives the new socket.
        to_result(unsafe { ffi::rtun_filter_sock_create(&mut sock) })?;
        let sock = NonNull::new(sock).ok_or(ENOMEM)?;
        // INVARIANT: `sock` was just created and nothing else holds it; a
        // failed attach drops `this`, which releases it, so no filter without
        // its program is returned.
        let this = ClassicFilter {
            sock,
            len,
            insns_user,
        };
        let mut fprog = bindings::sock_fprog {
            len,
            filter: insns_user as *mut bindings::sock_filter,
        };
        let sock = this.sock.as_ptr();
        // SAFETY: The socket is ours; attaching needs its lock, as in tun. The
        // kernel copies and checks the user's instructions itself.
        let ret = unsafe {
            ffi::rtun_filter_sock_lock(sock);
            let ret = ffi::rtun_filter_sock_attach(sock, &mut fprog);
            ffi::rtun_filter_sock_unlock(sock);
            ret
        };
        to_result(ret)?;
        Ok(this)
    }

    /// The `struct sock_fprog` it was made from: length and user pointer.
    pub(crate) fn fprog(&self) -> (u16, usize) {
        (self.len, self.insns_user)
    }

    /// Runs the filter the way a socket's receive path does. BH-safe.
    pub(crate) fn run(&self, skb: &mut SkBuff) -> bindings::skb_drop_reason {
        // SAFETY: The socket holds the filter; the skb is ours.
        unsafe { ffi::rtun_filter_sock_run(self.sock.as_ptr(), skb.as_ptr()) }
    }
}

impl Drop for ClassicFilter {
    fn drop(&mut self) {
        // SAFETY: The socket was created in `new` and is released once.
        unsafe { ffi::rtun_filter_sock_release(self.sock.as_ptr()) }
    }
}

/// A reference to a socket-filter eBPF program.
///
/// # Invariants
/// The pointer is a BPF_PROG_TYPE_SOCKET_FILTER program on which this value
/// holds one reference (`bpf_prog_get_type`), given back on drop.
pub(crate) struct EbpfFilter(NonNull<bindings::bpf_prog>);

// SAFETY: BPF programs are refcounted and may run on any CPU.
unsafe impl Send for EbpfFilter {}
// SAFETY: `&EbpfFilter` only runs the program (`bpf_prog_run_clear_cb`), which
// the kernel does on any number of CPUs at once: a loaded program is
// read-only, and each run has its own context (the skb).
unsafe impl Sync for EbpfFilter {}

impl EbpfFilter {
    /// Takes a reference to the program behind `fd`, which must be of type
    /// BPF_PROG_TYPE_SOCKET_FILTER.
    pub(crate) fn from_fd(fd: u32) -> Result<Self> {
        // SAFETY: Process context; the kernel checks the fd and the type.
        let ptr = from_err_ptr(unsafe { ffi::rtun_bpf_prog_get(fd) })?;
        // INVARIANT: Not an error, so `ptr` is a socket-filter program with a
        // reference taken for us.
        NonNull::new(ptr).map(EbpfFilter).ok_or(EINVAL)
    }

    /// The length to keep; 0 means drop. BH-safe.
    pub(crate) fn run(&self, skb: &mut SkBuff) -> u32 {
        // SAFETY: We hold a reference to the program; the skb is ours.
        unsafe { ffi::rtun_bpf_prog_run(self.0.as_ptr(), skb.as_ptr()) }
    }
}

impl Drop for EbpfFilter {
    fn drop(&mut self) {
        // SAFETY: Gives back the reference taken in `from_fd`.
        unsafe { bindings::bpf_prog_put(self.0.as_ptr()) }
    }
}
