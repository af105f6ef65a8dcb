// SPDX-License-Identifier: GPL-2.0
//! /sys/kernel/debug/rtun/: the directory, and a file per device showing
//! its drop counters. Not the kernel crate's `debugfs::Dir`: its files show a
//! Rust value the directory owns, while an rtun file shows a `net_device`'s
//! counters through a seq_file the C side keeps with the device pointer,
//! and is renamed and moved with the device (removed and made again).

use super::*;

/// A device's file in /sys/kernel/debug/rtun/, removed on drop (which waits
/// for readers, so it must not happen under a spinlock).
///
/// # Invariants
/// The pointer is a dentry that `rtun_debugfs_add` created (not an error
/// pointer), owned by this value and removed only in `drop`.
pub(crate) struct DebugfsEntry(NonNull<bindings::dentry>);

// SAFETY: A dentry pointer may be removed from any process context.
unsafe impl Send for DebugfsEntry {}

impl DebugfsEntry {
    /// `rtun/<name>`, showing `dev`'s drop counters. `None` if debugfs is
    /// unavailable.
    pub(crate) fn new(dev: &NetDev, name: &CStr) -> Option<Self> {
        // SAFETY: `name` is terminated; the file is removed (in `ndo_uninit`)
        // before the device it points at can be freed.
        let d = unsafe { ffi::rtun_debugfs_add(name.as_char_ptr().cast(), dev.as_ptr()) };
        if kernel::error::from_err_ptr(d).is_err() {
            return None;
        }
        // INVARIANT: Neither an error nor null: a file just created, which
        // nothing else removes.
        NonNull::new(d).map(DebugfsEntry)
    }
}

impl Drop for DebugfsEntry {
    fn drop(&mut self) {
        // SAFETY: Created in `new`, removed once.
        unsafe { ffi::rtun_debugfs_remove(self.0.as_ptr()) }
    }
}

/// /sys/kernel/debug/rtun/, where [`DebugfsEntry`]s go; removed on drop.
/// debugfs failures are ignored, as everywhere in the kernel.
///
/// # Invariants
/// Only [`DebugfsDir::create`] makes one, once, at module init: while it
/// lives, `rtun_debugfs_root` is the directory it made (or the error pointer
/// debugfs gave, which debugfs calls accept as a parent and ignore).
pub(crate) struct DebugfsDir(());

impl DebugfsDir {
    pub(crate) fn create() -> Self {
        // SAFETY: Module init, once.
        unsafe { ffi::rtun_debugfs_init() };
        // INVARIANT: `rtun_debugfs_root` was just set.
        DebugfsDir(())
    }
}

impl Drop for DebugfsDir {
    fn drop(&mut self) {
        // SAFETY: Created in `create`; every entry in it is gone (devices are
        // deleted first).
        unsafe { ffi::rtun_debugfs_exit() }
    }
}
