// SPDX-License-Identifier: GPL-2.0
//! A queue's socket: the `struct sock` (with its `struct socket`) that tun's
//! `tun_file` embeds, for what rtun uses it for. Written frames are charged
//! to it (`sk_wmem_alloc`, through `skb_set_owner_w`) until they are freed,
//! against its send buffer (`sk_sndbuf`, TUNSETSNDBUF); a writer that finds
//! it full sleeps on its wait queue in `sock_alloc_send_pskb`, and
//! `sk_write_space` ([`Sock::write_space`], tun's `tun_sock_write_space`)
//! wakes it and the pollers, and sends SIGIO to
//! the file's fasync list, which lives in the socket as well. Readers wait on
//! the same queue, and the transmit path wakes it, as tun's
//! `sk_data_ready` does (which also wakes a waiting writer: it looks again).
//!
//! Lifetime: a [`Sock`] is one counted reference (`sk_refcnt`); the queue
//! holds one and its fasync list another. Every charged frame holds the
//! memory through `sk_wmem_alloc`: when the last reference goes, `sk_free`
//! frees the sock at once if no frame is charged, else the last frame's
//! destructor (`sock_wfree`) does. The proto's `.owner` keeps the module
//! loaded until then, so `sk_write_space` always has its code.

use core::{mem::ManuallyDrop, ptr::NonNull};
use kernel::{bindings, prelude::*};

use crate::abstractions::{
    ffi,
    sync::{poll, WaitQueue},
};

/// A counted reference to a queue's socket.
///
/// # Invariants
/// The pointer is a `struct sock` made by [`Sock::new`] (the first member of
/// a `struct rtun_sock`, with its `struct socket`, which `sk_socket` and
/// `sk_wq` point at from then on), on which this value holds one `sk_refcnt`
/// reference. The one exception is the value [`rtun_sock_write_space`]
/// borrows, which holds none: it is never dropped, and lives only within
/// that callback, while `sock_wfree` keeps the sock.
pub(crate) struct Sock(NonNull<bindings::sock>);

// SAFETY: A sock reference may be used and dropped from any thread; the
// accessors below use the kernel's atomic or READ_ONCE/WRITE_ONCE helpers.
unsafe impl Send for Sock {}
// SAFETY: `&Sock` only takes references (`sock_hold`, an atomic count) and
// touches the sock through helpers that are safe to run concurrently:
// READ_ONCE/WRITE_ONCE of `sk_sndbuf`, `sock_writeable` (an atomic read),
// atomic bit operations on the socket's flags, the wait queue (whose lock is
// inside) and `kill_fasync` (which reads the list under RCU).
unsafe impl Sync for Sock {}

impl Sock {
    /// tun_chr_open's socket: in the caller's network namespace, owned by its
    /// fsuid, `sk_write_space` rtun's, `sk_sndbuf` INT_MAX. Process context.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: Process context (GFP_KERNEL); `current` has an nsproxy.
        let sk = NonNull::new(unsafe { ffi::rtun_sk_alloc() }).ok_or(ENOMEM)?;
        // The socket's wait queue is set up before `sock_init_data_uid` links
        // the two and sets `sk_refcnt` to 1, the reference this value holds.
        // SAFETY: `sk` was just allocated (zeroed) in a `struct rtun_sock`
        // and is ours alone.
        unsafe {
            ffi::rtun_sock_init_wq(sk.as_ptr());
            ffi::rtun_sock_init_data(sk.as_ptr());
            ffi::rtun_sock_use_callbacks(sk.as_ptr());
            ffi::rtun_sk_set_sndbuf(sk.as_ptr(), i32::MAX);
        }
        // INVARIANT: `sk` is a new sock inside a `struct rtun_sock`, linked to
        // its socket by `sock_init_data_uid`, which set `sk_refcnt` to 1: the
        // reference this value holds.
        Ok(Sock(sk))
    }

    /// Another reference to the same socket (`sock_hold`).
    pub(crate) fn new_ref(&self) -> Sock {
        // SAFETY: We hold a reference, so the count is not zero.
        unsafe { ffi::rtun_sock_hold(self.as_ptr()) };
        // INVARIANT: The same `rtun_sock`'s sock, with the reference just taken.
        Sock(self.0)
    }

    /// For the wrappers that pass the socket to the kernel (skb.rs, cred.rs);
    /// valid while `self` is.
    pub(crate) fn as_ptr(&self) -> *mut bindings::sock {
        self.0.as_ptr()
    }

    /// `sk_sndbuf` (TUNGETSNDBUF).
    pub(crate) fn sndbuf(&self) -> i32 {
        // SAFETY: The sock is valid; a READ_ONCE of an int.
        unsafe { ffi::rtun_sk_sndbuf(self.as_ptr()) }
    }

    /// Sets `sk_sndbuf` (TUNSETSNDBUF). Wakes nobody, as in tun.
    pub(crate) fn set_sndbuf(&self, v: i32) {
        // SAFETY: The sock is valid; a WRITE_ONCE of an int.
        unsafe { ffi::rtun_sk_set_sndbuf(self.as_ptr(), v) }
    }

    /// `sock_writeable`: less than half the send buffer is charged.
    pub(crate) fn writeable(&self) -> bool {
        // SAFETY: The sock is valid.
        unsafe { ffi::rtun_sock_writeable(self.as_ptr()) }
    }

    /// Sets SOCKWQ_ASYNC_NOSPACE (a poller found the file not writable);
    /// whether it was set already.
    pub(crate) fn test_and_set_nospace(&self) -> bool {
        // SAFETY: The sock is valid and has its socket (`sk_socket`).
        unsafe { ffi::rtun_sock_test_and_set_nospace(self.as_ptr()) }
    }

    /// Clears SOCKWQ_ASYNC_NOSPACE; whether it was set.
    pub(crate) fn test_and_clear_nospace(&self) -> bool {
        // SAFETY: The sock is valid while `self` holds its reference, and its
        // `sk_socket` is the embedded socket (set in `new`, never cleared);
        // this is an atomic test_and_clear_bit on that socket's flags.
        unsafe { ffi::rtun_sock_test_and_clear_nospace(self.as_ptr()) }
    }

    /// The socket's wait queue (`sk_sleep`): readers, writers waiting for
    /// room and pollers wait on it, as on tun's.
    #[inline(always)]
    pub(crate) fn wait(&self) -> &WaitQueue {
        // SAFETY: `rtun_sock_wait_offset` is a constant set at build time.
        let off = unsafe { ffi::rtun_sock_wait_offset };
        let head = self
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(off)
            .cast::<bindings::wait_queue_head>();
        // The sock is the first member of a `struct rtun_sock` (invariant),
        // whose socket's wait queue, `sk_sleep()` of it, is `off` bytes in.
        // SAFETY: That queue, initialised in `new`, lives unmoved while `self` does.
        unsafe { WaitQueue::from_raw(head) }
    }

    /// SIGIO with POLL_OUT to the file's fasync list (empty unless O_ASYNC).
    /// Any context.
    pub(crate) fn notify_writable(&self) {
        // SAFETY: The list lives in the socket; `kill_fasync` reads it under RCU.
        unsafe { ffi::rtun_kill_fasync(self.fasync_list(), true) }
    }

    /// tun's `tun_sock_write_space`, the socket's `sk_write_space`: once less
    /// than half the send buffer is charged, a writer or poller that found it
    /// full (SOCKWQ_ASYNC_NOSPACE) is woken, and SIGIO says POLL_OUT. Any
    /// context.
    pub(crate) fn write_space(&self) {
        if !self.writeable() || !self.test_and_clear_nospace() {
            return;
        }
        let events = poll::EPOLLOUT | poll::EPOLLWRNORM | poll::EPOLLWRBAND;
        self.wait().wake(events);
        self.notify_writable();
    }

    /// The file's fasync list head (`socket.wq.fasync_list`), for chardev.rs;
    /// valid while `self` is.
    pub(crate) fn fasync_list(&self) -> *mut *mut bindings::fasync_struct {
        // SAFETY: The sock is valid; pure address arithmetic.
        unsafe { ffi::rtun_sock_fasync_list(self.as_ptr()) }
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        // SAFETY: Gives back the reference this value holds; the last one
        // frees the sock now or, with frames still charged, when the last
        // of them is freed.
        unsafe { ffi::rtun_sock_put(self.as_ptr()) }
    }
}

/// `sk_write_space`: called by `sock_wfree` when a charged frame is freed
/// (any context), and by rtun when its device comes up.
///
/// # Safety
/// `sk` is one of rtun's socks, alive for the call.
#[no_mangle]
unsafe extern "C" fn rtun_sock_write_space(sk: *mut bindings::sock) {
    // INVARIANT: The exception the type's invariant names: `sk` is one of
    // rtun's socks, and this value, which holds no reference, is never
    // dropped and ends with the call.
    // SAFETY: `sk` is one of rtun's socks (only they have this callback), alive
    // for the call: `sock_wfree` holds an `sk_wmem_alloc` reference across it.
    // The borrowed value is not dropped, so no reference is given back.
    let sock = ManuallyDrop::new(Sock(unsafe { NonNull::new_unchecked(sk) }));
    sock.write_space();
}
