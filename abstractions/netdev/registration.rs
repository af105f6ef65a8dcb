// SPDX-License-Identifier: GPL-2.0
//! Module-wide registrations: the rtnetlink link kind and the netdevice
//! notifier, one guard each.

use super::*;

/// The rtnetlink link kind (what `ip -d link` shows as the device's kind):
/// registered while this lives. Unregistering it deletes the devices left (persistent ones).
///
/// # Invariants
/// `rtun_link_ops` is registered while this lives: only
/// [`LinkKind::register`] makes one, after registering it.
pub(crate) struct LinkKind(());

impl LinkKind {
    /// Registers the kind under the name `kind`; `EEXIST` if a kind of that
    /// name is registered already.
    pub(crate) fn register(kind: &'static CStr) -> Result<Self> {
        // SAFETY: Module init, before any device exists: nothing reads the
        // static ops table yet, and the name is static.
        kernel::error::to_result(unsafe { ffi::rtun_link_register(kind.as_char_ptr()) })?;
        // INVARIANT: Registered just now.
        Ok(LinkKind(()))
    }
}

impl Drop for LinkKind {
    fn drop(&mut self) {
        // SAFETY: Registered in `register`, unregistered once.
        unsafe { ffi::rtun_link_unregister() }
    }
}

/// The netdevice notifier that calls [`Driver::up`], [`Driver::named`] and
/// [`Driver::txqlen_changed`]: registered while this lives.
///
/// # Invariants
/// `rtun_netdev_notifier` is registered while this lives: only
/// [`Notifier::register`] makes one, after registering it.
pub(crate) struct Notifier(());

impl Notifier {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: Module init; the notifier block is static.
        kernel::error::to_result(unsafe { ffi::rtun_netdev_notifier_register() })?;
        // INVARIANT: Registered just now.
        Ok(Notifier(()))
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // SAFETY: Registered in `register`, unregistered once.
        unsafe { ffi::rtun_netdev_notifier_unregister() }
    }
}
