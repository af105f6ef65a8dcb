// SPDX-License-Identifier: GPL-2.0
//! Network namespaces (counted references), device lookup by name, and
//! RTNL as a proof token.

use super::*;

/// Looks an interface up by name in `net`.
pub(crate) fn find(net: &NetNs, name: &[u8; IFNAMSIZ], _rtnl: &Rtnl) -> Option<ARef<NetDev>> {
    // SAFETY: RTNL is held, which `__dev_get_by_name` requires; `name` is terminated.
    let ptr = unsafe { ffi::__dev_get_by_name(net.as_ptr(), name.as_ptr().cast()) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: The device is registered and RTNL keeps it so while we take a reference.
    Some(ARef::from(unsafe { NetDev::from_raw(ptr) }))
}

/// A counted reference to a network namespace.
///
/// # Invariants
/// The pointer is a `struct net` of which this value holds one reference
/// (`get_net`), given back on drop.
pub(crate) struct NetNs(pub(super) NonNull<bindings::net>);

// SAFETY: `struct net` references may be used and dropped from any thread.
unsafe impl Send for NetNs {}
// SAFETY: `&NetNs` gives only `net_admin` and `open_fd`, which read the
// namespace through the core's thread-safe accessors.
unsafe impl Sync for NetNs {}

impl NetNs {
    /// The calling task's network namespace.
    pub(crate) fn current() -> Result<Self> {
        // SAFETY: Called from process context, where `current->nsproxy` is valid.
        let ptr = unsafe { ffi::rtun_current_net_get() };
        // INVARIANT: `get_net` took the reference this value holds.
        NonNull::new(ptr).map(NetNs).ok_or(EINVAL)
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::net {
        self.0.as_ptr()
    }

    /// Another counted reference to the same namespace.
    pub(super) fn clone_ref(&self) -> NetNs {
        // SAFETY: The namespace is valid while we hold our reference, so its
        // count is not zero and `get_net` may take another.
        unsafe { ffi::rtun_net_get(self.as_ptr()) };
        // INVARIANT: The same namespace, with the reference just taken.
        NetNs(self.0)
    }

    /// The namespace's inode number (what `ls -l /proc/<pid>/ns/net`
    /// shows), and whether it is the initial namespace.
    pub(crate) fn inum(&self) -> (u32, bool) {
        // SAFETY: The namespace is valid while we hold the reference; these
        // read two namespaces' inode numbers.
        let (inum, init) =
            unsafe { (ffi::rtun_net_inum(self.as_ptr()), ffi::rtun_init_net_inum()) };
        (inum, inum == init)
    }

    /// CAP_NET_ADMIN over this namespace.
    pub(crate) fn net_admin(&self) -> bool {
        // SAFETY: The namespace is valid while we hold the reference.
        unsafe { ffi::rtun_net_admin(self.as_ptr()) }
    }

    /// A new file descriptor for this namespace (SIOCGSKNS).
    pub(crate) fn open_fd(&self) -> Result<i32> {
        // SAFETY: The namespace is valid while we hold the reference.
        let fd = unsafe { ffi::rtun_net_open_ns_fd(self.as_ptr()) };
        kernel::error::to_result(fd)?;
        Ok(fd)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // SAFETY: Gives back the reference taken in `current`, `clone_ref` or
        // `NetDev::net`.
        unsafe { ffi::rtun_net_put(self.as_ptr()) }
    }
}

/// Proof that the RTNL mutex is held.
///
/// # Invariants
/// RTNL is held on this thread while the value lives (it is not `Send`):
/// taken by [`Rtnl::lock`] when `owned`, and released on drop; otherwise
/// taken by whoever called the callback that made it
/// ([`Rtnl::assume_held`]), and kept for the value's whole life.
pub(crate) struct Rtnl {
    owned: bool,
    _not_send: PhantomData<*mut ()>,
}

impl Rtnl {
    pub(crate) fn lock() -> Self {
        // SAFETY: Process context; paired with the unlock in `drop`.
        unsafe { ffi::rtnl_lock() };
        // INVARIANT: Just taken, and released when this value is dropped.
        Rtnl {
            owned: true,
            _not_send: PhantomData,
        }
    }

    /// # Safety
    /// The caller runs under RTNL taken by someone else (an `ndo_*` callback,
    /// the netdevice notifier chain), which keeps it for as long as the
    /// returned value lives.
    pub(super) unsafe fn assume_held() -> Self {
        // INVARIANT: The caller guarantees RTNL is held for the value's life;
        // not `owned`, so dropping it leaves RTNL alone.
        Rtnl {
            owned: false,
            _not_send: PhantomData,
        }
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: Taken in `lock`.
            unsafe { ffi::rtnl_unlock() };
        }
    }
}
