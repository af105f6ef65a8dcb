// SPDX-License-Identifier: GPL-2.0
//! Thin abstraction over `struct net_device`: allocation and registration with
//! Rust private data, reference counting (`dev_hold`/`dev_put`), the fields the
//! driver reads, RTNL, network namespaces, and the `ndo_*`/ethtool/sysfs
//! callbacks. As `rust/kernel/net/phy.rs` does it, a generic [`Adapter<T>`]
//! owns the `unsafe extern "C"` callbacks and forwards them to the [`Driver`]
//! trait, which the driver implements (device.rs); [`export_callbacks!`] gives
//! them the names the C tables use. Nothing here knows the driver's types.
//!
//! # Private data
//! `netdev_priv()` holds a [`Priv<T>`]: the pinned driver state and a flag that
//! says whether it still has to be dropped. The state is initialised before
//! the device gets rtun's `netdev_ops`, and dropped only by `priv_destructor`,
//! which the core calls once the last reference to the device is gone, or by
//! a failed [`DevBuilder::register`] while the device was never listed (a
//! failure that unregisters a listed device leaves the state to the
//! destructor). So whoever holds a reference to a device with rtun's ops, or
//! runs one of its callbacks, sees an initialised state: that ordering is the
//! synchronisation, and nothing reads the flag but the destructor.

use core::{
    ffi::CStr,
    ffi::{c_int, c_uint, c_void},
    marker::PhantomData,
    mem::MaybeUninit,
    ptr::NonNull,
    sync::atomic::{AtomicBool, Ordering},
};
use kernel::{
    bindings,
    error::code::*,
    prelude::*,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

use crate::{abstractions::ffi, abstractions::rcu::BhSection, abstractions::skb::SkBuff};

/// The size of an interface name, with its NUL.
pub(crate) const IFNAMSIZ: usize = bindings::IFNAMSIZ as usize;
const IFF_UP: u32 = bindings::net_device_flags_IFF_UP;
/// Device flags (`IFF_*`) for [`DevBuilder::set_flags`].
pub(crate) const IFF_POINTOPOINT: u32 = bindings::net_device_flags_IFF_POINTOPOINT;
pub(crate) const IFF_NOARP: u32 = bindings::net_device_flags_IFF_NOARP;
pub(crate) const IFF_MULTICAST: u32 = bindings::net_device_flags_IFF_MULTICAST;
const ETH_SS_STATS: c_int = 1;
/// Offsets of `rx_dropped` and `tx_dropped` in `struct net_device_core_stats`
/// (the C file checks them).
const CORE_STATS_RX_DROPPED: u32 = 0;
const CORE_STATS_TX_DROPPED: u32 = 8;
/// What `ndo_start_xmit` returns for a frame it dropped (the C file checks it).
const NET_XMIT_DROP: c_int = 1;

/// Which of the two ops tables a device has: what kind of link it is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Link {
    /// An L3 device without a link-layer header (`ARPHRD_NONE`).
    L3,
    /// An Ethernet device.
    Ether,
}

/// What a driver provides for its devices: the callbacks of the ops tables
/// in rust_tun_shim.c go through [`Adapter`] to these methods, and the driver
/// names them with [`export_callbacks!`]. This file knows nothing else of it.
///
/// Dropping the state must not call [`NetDev::of_driver`]: it runs in
/// `priv_destructor`, when the device has no reference left.
pub(crate) trait Driver: Send + Sync + Sized + 'static {
    /// `ethtool -i` driver name and version.
    const NAME: &'static str;
    const VERSION: &'static str;
    /// `ethtool -S` counter names (and /sys/kernel/debug/rtun/<dev>).
    const STAT_NAMES: &'static [&'static str];
    /// `ethtool -i` bus info of a device of kind `link`.
    fn bus_info(link: Option<Link>) -> &'static str;

    /// `ndo_start_xmit` (bottom halves off, so in an RCU read-side section,
    /// which `rcu` proves): the frame is consumed either way; false when it
    /// was dropped.
    fn start_xmit(&self, dev: &NetDev, skb: SkBuff, rcu: &BhSection) -> bool;
    /// `ndo_select_queue`: the skb is only lent.
    fn select_queue(&self, skb: &mut SkBuff) -> u16;
    /// `ndo_fix_features`.
    fn fix_features(&self, features: u64) -> u64;
    /// `ndo_change_carrier`.
    fn change_carrier(&self, dev: &NetDev, on: bool) -> Result;
    /// `ndo_uninit`: the device is going away.
    fn uninit(&self, rtnl: &Rtnl);
    /// NETDEV_CHANGE_TX_QUEUE_LEN.
    fn txqlen_changed(&self, dev: &NetDev, rtnl: &Rtnl) -> Result;
    /// NETDEV_UP.
    fn up(&self);
    /// NETDEV_REGISTER or NETDEV_CHANGENAME: the device got its name, a new
    /// name, or a new network namespace (a move registers it again).
    fn named(&self, dev: &NetDev, rtnl: &Rtnl);
    /// Added to the core's `rx_frame_errors`.
    fn rx_frame_errors(&self) -> u64;
    /// The value of counter `i` of [`Driver::STAT_NAMES`].
    fn stat(&self, i: usize) -> u64;
    /// sysfs `tun_flags`, `owner` and `group` (kernel ids; `None` if unset).
    fn tun_flags(&self) -> u32;
    fn owner(&self) -> Option<u32>;
    fn group(&self) -> Option<u32>;
}

#[repr(C)]
struct Priv<T> {
    /// `state` is initialised and not yet dropped. Set once, in
    /// [`DevBuilder::register`] before the ops are installed; cleared by
    /// [`destroy_priv`], whose callers are serialised (see there). Atomic only
    /// so that it can be shared through `&`.
    needs_drop: AtomicBool,
    state: MaybeUninit<T>,
}

/// A `struct net_device`, in whatever state it is in: registering,
/// registered, unregistering or unregistered, rtun's or another driver's.
///
/// # Invariants
/// A `&NetDev` points at a live `struct net_device` that stays allocated for
/// the reference's lifetime, and whose destruction (`priv_destructor`, then
/// `free_netdev`, once its last reference is gone) has not begun, so that
/// `dev_hold` keeps it allocated. Its holder has a counted reference (an
/// `ARef<NetDev>`: a queue's binding, `LateQueue`, `Recount`), or runs in a
/// callback that the core makes on a device it holds (`ndo_*`, netdevice
/// notifiers, ethtool, sysfs and debugfs), or reached it from its driver
/// state ([`NetDev::of_driver`]), which lives inside the device and is
/// dropped only as its destruction begins.
///
/// Nothing more is promised. The device may be unregistered already; its
/// network namespace may then be gone (a device holds no reference to it);
/// it may not be rtun's (what [`find`] returns). Methods that need more check
/// it: [`NetDev::driver`] rtun's ops, [`NetDev::net`] the registration,
/// [`NetDev::unregister`] the registration too.
#[repr(transparent)]
pub(crate) struct NetDev(Opaque<bindings::net_device>);

// SAFETY: `net_device` is designed to be used from any thread; the methods below
// only use the core's thread-safe accessors.
unsafe impl Send for NetDev {}
// SAFETY: The methods take `&self` and use only the core's accessors, which
// are safe to call concurrently (each one's locking is stated where it is used).
unsafe impl Sync for NetDev {}

// SAFETY: `dev_hold`/`dev_put` keep the device allocated while the count is
// held: `netdev_run_todo` waits for every reference before the device's
// destruction begins.
unsafe impl AlwaysRefCounted for NetDev {
    fn inc_ref(&self) {
        // SAFETY: By the type invariant `self` is allocated and its
        // destruction has not begun, so the count it takes holds it back.
        unsafe { ffi::rtun_dev_hold(self.as_ptr()) }
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives back a reference it holds.
        unsafe { ffi::rtun_dev_put(obj.as_ptr().cast()) }
    }
}

impl NetDev {
    /// # Safety
    /// `ptr` must point at a valid `net_device` for the lifetime `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::net_device) -> &'a NetDev {
        // SAFETY: `NetDev` is a transparent wrapper; the caller guarantees validity.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::net_device {
        self.0.get()
    }

    /// `netdev_priv()`, inline: the private area is at a fixed offset.
    #[inline(always)]
    fn priv_area<T>(&self) -> *mut Priv<T> {
        // SAFETY: `rtun_netdev_priv_offset` is a constant set at build time.
        let off = unsafe { ffi::rtun_netdev_priv_offset };
        self.as_ptr().cast::<u8>().wrapping_add(off).cast()
    }

    /// The device's kind, if it is one of this module's devices.
    pub(crate) fn link(&self) -> Option<Link> {
        // SAFETY: The offset and the two table addresses are constants set at
        // build time.
        let (off, tun, tap) = unsafe {
            (
                ffi::rtun_netdev_ops_offset,
                ffi::rtun_tun_ops_ptr,
                ffi::rtun_tap_ops_ptr,
            )
        };
        let field = self
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(off)
            .cast::<*const c_void>();
        // SAFETY: `self` is valid and `field` is its aligned `netdev_ops` (a
        // pointer, the C file checks), set by the device's driver before the
        // device could reach us; the volatile read is C's plain one.
        let ops = unsafe { field.read_volatile() };
        if ops == tun {
            Some(Link::L3)
        } else if ops == tap {
            Some(Link::Ether)
        } else {
            None
        }
    }

    /// The driver's state, if this is an rtun device. Only one driver type
    /// is ever registered (`export_callbacks!`), so `T` is it.
    pub(crate) fn driver<T: Driver>(&self) -> Option<&T> {
        self.link()?;
        // SAFETY: `link()` found rtun's ops on the device.
        Some(unsafe { self.own_driver() })
    }

    /// [`NetDev::driver`] without checking the ops, for rtun's own callbacks.
    ///
    /// # Safety
    /// The device has rtun's ops (the caller is one of them).
    unsafe fn own_driver<T: Driver>(&self) -> &T {
        let p = self.priv_area::<T>();
        // The state is initialised before the ops are installed and dropped
        // only once no reference to the device is left (module docs).
        // SAFETY: rtun devices have an initialised `Priv<T>` in their private
        // area while `&self`, a reference to the device, lives.
        unsafe { (*p).state.assume_init_ref() }
    }

    /// The interface name, NUL-terminated.
    pub(crate) fn name(&self) -> [u8; IFNAMSIZ] {
        let mut out = [0u8; IFNAMSIZ];
        // SAFETY: `dev->name` is an IFNAMSIZ array inside a valid device.
        let name = unsafe {
            core::slice::from_raw_parts(ffi::rtun_dev_name(self.as_ptr()).cast::<u8>(), IFNAMSIZ)
        };
        copy_prefix(&mut out[..IFNAMSIZ - 1], name);
        out
    }

    /// The device whose private area holds `state`.
    ///
    /// A `&T` exists only while the state is initialised and not dropped,
    /// which is from `DevBuilder::register` until the device's destruction
    /// begins (module docs), so the device is as the type invariant says.
    /// The one exception is the state's own drop, which runs in
    /// `priv_destructor`: the driver's state must not call this from its
    /// `Drop` (DevState has none, and its fields' drops do not reach the
    /// device).
    pub(crate) fn of_driver<T: Driver>(state: &T) -> &NetDev {
        let off = core::mem::offset_of!(Priv<T>, state);
        // SAFETY: `rtun_netdev_priv_offset` is a constant set at build time.
        let priv_off = unsafe { ffi::rtun_netdev_priv_offset };
        let dev = (state as *const T)
            .cast::<u8>()
            .wrapping_sub(off)
            .wrapping_sub(priv_off);
        // SAFETY: A driver state is only ever built in place, in the `Priv` of
        // an rtun device's private area (`DevBuilder::register` is the only
        // place that initialises a `T: Driver`), `priv_off` bytes into the
        // device, which stays allocated, and not yet in destruction, while
        // the state lives (see above).
        unsafe { NetDev::from_raw(dev.cast_mut().cast()) }
    }

    /// One packet of `len` bytes received (written by user space), per CPU.
    pub(crate) fn count_rx(&self, len: usize) {
        // SAFETY: `self` is valid and has per-CPU tstats, allocated at
        // registration (rtun_setup asks for them) and freed only in its
        // destruction.
        unsafe { ffi::rtun_sw_netstats_rx_add(self.as_ptr(), len as c_uint) }
    }

    /// One packet of `len` bytes transmitted (read by user space), per CPU.
    pub(crate) fn count_tx(&self, len: usize) {
        // SAFETY: `self` is valid and has per-CPU tstats, allocated at
        // registration (rtun_setup asks for them) and freed only in its
        // destruction.
        unsafe { ffi::rtun_sw_netstats_tx_add(self.as_ptr(), len as c_uint) }
    }

    /// `rx_dropped`, in the core's per-CPU counters
    /// (`dev_core_stats_rx_dropped_inc`).
    #[inline(always)]
    pub(crate) fn count_rx_dropped(&self) {
        // SAFETY: `self` is valid; callable from any context; the offset is
        // the field's (the C file checks it).
        unsafe { ffi::netdev_core_stats_inc(self.as_ptr(), CORE_STATS_RX_DROPPED) }
    }

    /// `tx_dropped`, in the core's per-CPU counters
    /// (`dev_core_stats_tx_dropped_inc`).
    #[inline(always)]
    pub(crate) fn count_tx_dropped(&self) {
        // SAFETY: `self` is valid; callable from any context (the counters
        // are allocated on first use, GFP_ATOMIC); the offset is the field's
        // (the C file checks it).
        unsafe { ffi::netdev_core_stats_inc(self.as_ptr(), CORE_STATS_TX_DROPPED) }
    }

    /// IFF_UP: the administrator set the link up.
    pub(crate) fn is_up(&self) -> bool {
        // SAFETY: The offset is a constant set at build time.
        let off = unsafe { ffi::rtun_netdev_flags_offset };
        let field = self
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(off)
            .cast::<c_uint>();
        // SAFETY: `self` is valid and `field` is its aligned `flags` (an
        // unsigned int, the C file checks). Changed under RTNL, which the
        // data path does not hold: read once, as READ_ONCE does (a stale
        // answer is tun's too).
        unsafe { field.read_volatile() & IFF_UP != 0 }
    }

    pub(crate) fn is_registered(&self) -> bool {
        // SAFETY: `self` is valid.
        unsafe { ffi::rtun_dev_registered(self.as_ptr()) }
    }

    pub(crate) fn set_carrier(&self, on: bool) {
        // SAFETY: `self` is valid; both are callable from process context.
        unsafe {
            if on {
                ffi::netif_carrier_on(self.as_ptr())
            } else {
                ffi::netif_carrier_off(self.as_ptr())
            }
        }
    }

    /// `netif_running()`: the device is administratively up.
    pub(crate) fn is_running(&self) -> bool {
        // SAFETY: `self` is valid.
        unsafe { ffi::rtun_netif_running(self.as_ptr()) }
    }

    /// `i` as an index of the device's transmit queues, if it is one:
    /// `netdev_get_tx_queue()` does not check it (only DEBUG_NET warns), so
    /// the queue helpers below do, against the allocation
    /// (`dev->num_tx_queues`, read inline: they run in xmit).
    #[inline(always)]
    fn txq_index(&self, i: usize) -> Option<c_uint> {
        // SAFETY: `rtun_netdev_num_tx_queues_offset` is a constant set at build time.
        let off = unsafe { ffi::rtun_netdev_num_tx_queues_offset };
        let field = self
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(off)
            .cast::<c_uint>();
        // SAFETY: `self` is valid and `field` is its aligned `num_tx_queues`
        // (an unsigned int, the C file checks), written once by
        // `alloc_netdev_mqs` before the device could reach us.
        let n = unsafe { field.read() };
        c_uint::try_from(i).ok().filter(|&i| i < n)
    }

    /// Stops transmit queue `i` (IFF_BACKPRESSURE), if the device has it.
    /// Any context.
    pub(crate) fn stop_txq(&self, i: usize) {
        let Some(i) = self.txq_index(i) else { return };
        // SAFETY: `self` is valid and `i` is below `num_tx_queues`.
        unsafe { ffi::rtun_txq_stop(self.as_ptr(), i) }
    }

    /// `txq_trans_cond_update()`: lltx devices keep `trans_start` themselves.
    pub(crate) fn txq_trans_update(&self, i: usize) {
        let Some(i) = self.txq_index(i) else { return };
        // SAFETY: `self` is valid and `i` is below `num_tx_queues`.
        unsafe { ffi::rtun_txq_trans_update(self.as_ptr(), i) }
    }

    /// Wakes transmit queue `i`, if the device has it. Any context.
    pub(crate) fn wake_txq(&self, i: usize) {
        let Some(i) = self.txq_index(i) else { return };
        // SAFETY: `self` is valid and `i` is below `num_tx_queues`.
        unsafe { ffi::rtun_txq_wake(self.as_ptr(), i) }
    }

    /// Whether transmit queue `i` is stopped (false if there is no such queue).
    pub(crate) fn txq_stopped(&self, i: usize) -> bool {
        let Some(i) = self.txq_index(i) else {
            return false;
        };
        // SAFETY: `self` is valid and `i` is below `num_tx_queues`.
        unsafe { ffi::rtun_txq_stopped(self.as_ptr(), i) }
    }

    /// Queue `i` has no qdisc to hold frames (noqueue): stopping it would
    /// drop. True if there is no such queue: there is nothing to stop.
    pub(crate) fn txq_has_no_qdisc(&self, i: usize) -> bool {
        let Some(i) = self.txq_index(i) else {
            return true;
        };
        // SAFETY: `self` is valid and `i` is below `num_tx_queues`.
        unsafe { ffi::rtun_txq_has_no_queue(self.as_ptr(), i) }
    }

    pub(crate) fn tx_queue_len(&self) -> usize {
        // SAFETY: `self` is valid.
        unsafe { ffi::rtun_dev_tx_queue_len(self.as_ptr()) as usize }
    }

    /// Tells the stack how many queues are attached (at least one is reported).
    pub(crate) fn set_real_num_queues(&self, n: usize, _rtnl: &Rtnl) {
        let n = n.max(1) as c_uint;
        // SAFETY: RTNL is held; the core bounds-checks `n` against the allocation.
        unsafe {
            ffi::netif_set_real_num_tx_queues(self.as_ptr(), n);
            ffi::netif_set_real_num_rx_queues(self.as_ptr(), n);
        }
    }

    /// The device's network namespace, counted, while the device is
    /// registered; `None` once its unregistration began. A device holds no
    /// reference to its namespace: dismantling a namespace unregisters its
    /// devices (then waits for a grace period, then frees it), so only a
    /// registered device's is sure to be there.
    pub(crate) fn net(&self) -> Option<NetNs> {
        // SAFETY: `self` is valid; the C side reads the registration state and
        // the namespace in one RCU read-side section, and counts the namespace
        // only if it is not dying (`maybe_get_net`).
        NonNull::new(unsafe { ffi::rtun_dev_net_get(self.as_ptr()) }).map(NetNs)
    }

    /// CAP_NET_ADMIN in the user namespace owning the device's network
    /// namespace (false once the device is unregistered).
    pub(crate) fn net_admin(&self) -> bool {
        self.net().is_some_and(|net| net.net_admin())
    }

    pub(crate) fn state_changed(&self, _rtnl: &Rtnl) {
        // SAFETY: RTNL is held.
        unsafe { ffi::netdev_state_change(self.as_ptr()) }
    }

    /// `dev->features`: what is on now.
    #[inline(always)]
    pub(crate) fn features(&self) -> u64 {
        // `READ_ONCE(dev->features)`, inline.
        // SAFETY: `rtun_netdev_features_offset` is a constant set at build time.
        let off = unsafe { ffi::rtun_netdev_features_offset };
        let field = self.as_ptr().cast::<u8>().wrapping_add(off).cast::<u64>();
        // SAFETY: `self` is valid and `field` is its aligned `features`
        // (a u64, the C file checks), changed under RTNL: read once, as
        // READ_ONCE does.
        unsafe { core::ptr::read_volatile(field) }
    }

    /// Replaces the `mask` bits of `wanted_features` with `on`.
    pub(crate) fn set_wanted_features(&self, mask: u64, on: u64, _rtnl: &Rtnl) {
        // SAFETY: RTNL is held, which guards `wanted_features`.
        unsafe { ffi::rtun_dev_set_wanted_features(self.as_ptr(), mask, on) }
    }

    /// Recomputes `features` through `ndo_fix_features` and tells the stack.
    pub(crate) fn update_features(&self, _rtnl: &Rtnl) {
        // SAFETY: RTNL is held, as `netdev_update_features` requires.
        unsafe { ffi::netdev_update_features(self.as_ptr()) }
    }

    /// TUNSETLINK: a new ARPHRD type and address length, with the notifiers
    /// that let others refuse it. The caller checked the device is down.
    pub(crate) fn set_link_type(&self, ty: u16, addr_len: u8, _rtnl: &Rtnl) -> Result {
        // SAFETY: RTNL is held, as the notifier chain and the fields require.
        unsafe {
            kernel::error::to_result(ffi::rtun_dev_pre_type_change(self.as_ptr()))?;
            ffi::rtun_dev_set_type(self.as_ptr(), ty);
            ffi::rtun_dev_set_addr_len(self.as_ptr(), addr_len);
            ffi::rtun_dev_post_type_change(self.as_ptr());
        }
        Ok(())
    }

    pub(crate) fn addr_len(&self) -> usize {
        // SAFETY: `self` is valid.
        usize::from(unsafe { ffi::rtun_dev_addr_len(self.as_ptr()) })
    }

    /// SIOCGIFHWADDR: fills `sa` (a `struct sockaddr`, 16 bytes). EBADFD once
    /// the device is unregistered.
    pub(crate) fn get_hwaddr(&self, sa: &mut [u8; 16], _rtnl: &Rtnl) -> Result {
        let net = self.net().ok_or(EBADFD)?;
        // Written through an aligned `struct sockaddr_storage` (a prefix of
        // which is a `struct sockaddr`), not through the byte array.
        let mut ss = SockaddrStorage::zeroed();
        ss.0[..sa.len()].copy_from_slice(sa);
        // SAFETY: `ss` is a writable, aligned `struct sockaddr` and more; `net`
        // is counted; RTNL keeps the name from changing under the lookup.
        let ret = unsafe {
            ffi::rtun_dev_get_hwaddr(self.as_ptr(), net.as_ptr(), ss.as_mut_ptr().cast())
        };
        kernel::error::to_result(ret)?;
        let n = sa.len();
        sa.copy_from_slice(&ss.0[..n]);
        Ok(())
    }

    /// SIOCSIFHWADDR from a `struct sockaddr`; the caller checked that the
    /// address length fits in it.
    pub(crate) fn set_hwaddr(&self, sa: &[u8; 16], _rtnl: &Rtnl) -> Result {
        // `struct sockaddr_storage`, of which only the family and `addr_len`
        // bytes are read.
        let mut ss = SockaddrStorage::zeroed();
        ss.0[..sa.len()].copy_from_slice(sa);
        // SAFETY: RTNL is held; `ss` is a full, aligned `sockaddr_storage`.
        kernel::error::to_result(unsafe {
            ffi::rtun_dev_set_hwaddr(self.as_ptr(), ss.as_mut_ptr().cast())
        })
    }

    /// A new file descriptor for the device's network namespace
    /// (TUNGETDEVNETNS); EBADFD once the device is unregistered.
    pub(crate) fn net_open_fd(&self) -> Result<i32> {
        self.net().ok_or(EBADFD)?.open_fd()
    }

    /// Unregisters the device, if it still is registered (RTNL keeps that
    /// from changing meanwhile).
    pub(crate) fn unregister(&self, _rtnl: &Rtnl) {
        if self.is_registered() {
            // SAFETY: RTNL is held and the device is registered.
            unsafe { ffi::rtun_unregister_netdevice(self.as_ptr()) }
        }
    }
}

/// A `struct sockaddr_storage` (the C file checks its size, and that this
/// alignment is enough for it and for `struct sockaddr`), as bytes.
#[repr(C, align(8))]
struct SockaddrStorage([u8; SOCKADDR_STORAGE_LEN]);

/// `sizeof(struct sockaddr_storage)` (`_K_SS_MAXSIZE`).
const SOCKADDR_STORAGE_LEN: usize = 128;

// The layouts `SockaddrStorage` stands for, as bindgen sees them.
const _: () = {
    use core::mem::{align_of, size_of};
    assert!(size_of::<bindings::__kernel_sockaddr_storage>() == SOCKADDR_STORAGE_LEN);
    assert!(align_of::<bindings::__kernel_sockaddr_storage>() <= align_of::<SockaddrStorage>());
    assert!(size_of::<bindings::sockaddr>() <= SOCKADDR_STORAGE_LEN);
    assert!(align_of::<bindings::sockaddr>() <= align_of::<SockaddrStorage>());
};

impl SockaddrStorage {
    fn zeroed() -> Self {
        SockaddrStorage([0; SOCKADDR_STORAGE_LEN])
    }

    fn as_mut_ptr(&mut self) -> *mut Self {
        self
    }
}

/// A device's file in /sys/kernel/debug/rtun/, removed on drop (which waits
/// for readers, so it must not happen under a spinlock).
pub(crate) struct DebugfsEntry(NonNull<bindings::dentry>);

// SAFETY: A dentry pointer may be removed from any process context.
unsafe impl Send for DebugfsEntry {}

impl DebugfsEntry {
    /// `rtun/<name>`, showing `dev`'s drop counters. `None` if debugfs is
    /// unavailable.
    pub(crate) fn new(dev: &NetDev, name: &CStr) -> Option<Self> {
        // SAFETY: `name` is terminated; the file is removed (in `ndo_uninit`)
        // before the device it points at can be freed.
        let d = unsafe { ffi::rtun_debugfs_add(name.as_ptr().cast(), dev.as_ptr()) };
        if kernel::error::from_err_ptr(d).is_err() {
            return None;
        }
        NonNull::new(d).map(DebugfsEntry)
    }
}

impl Drop for DebugfsEntry {
    fn drop(&mut self) {
        // SAFETY: Created in `new`, removed once.
        unsafe { ffi::rtun_debugfs_remove(self.0.as_ptr()) }
    }
}

/// Drops the private state once, from whichever path gets there first.
///
/// # Safety
/// `dev` is an rtun device whose private area holds a `Priv`, and nothing uses
/// the state any more. Calls are serialised: the core's `priv_destructor` runs
/// once, after the last reference is gone; on `register_netdevice`'s failure
/// path it may run inside that call, and [`DevBuilder::register`] calls this
/// again afterwards on the same thread.
unsafe fn destroy_priv<T>(dev: *mut bindings::net_device) {
    // SAFETY: Per the function's requirements.
    unsafe {
        let p: *mut Priv<T> = ffi::rtun_netdev_priv(dev).cast();
        if (*p).needs_drop.swap(false, Ordering::AcqRel) {
            core::ptr::drop_in_place((*p).state.as_mut_ptr());
        }
    }
}

/// A device being built: allocated, not registered. Dropping it frees it.
///
/// # Invariants
/// `dev` is an allocated, unregistered device that the builder owns; its
/// namespace is the initial one, or `net`'s.
pub(crate) struct DevBuilder {
    dev: NonNull<bindings::net_device>,
    /// The namespace `dev` is in, if not the initial one: a device holds no
    /// reference to its namespace, so the builder does until registration
    /// (after which dismantling the namespace unregisters the device first).
    net: Option<NetNs>,
}

impl DevBuilder {
    /// Allocates a device named `name` (a template such as `rtun%d` is allowed)
    /// with room for `queues` queues, and a qdisc of `tx_queue_len` frames.
    pub(crate) fn new<D: Driver>(
        name: &[u8; IFNAMSIZ],
        queues: usize,
        tx_queue_len: u32,
    ) -> Result<Self> {
        let priv_size = c_int::try_from(core::mem::size_of::<Priv<D>>()).map_err(|_| EINVAL)?;
        let queues = c_uint::try_from(queues).map_err(|_| EINVAL)?;
        // SAFETY: `name` is NUL-terminated (its last byte is always 0).
        let ptr = unsafe { ffi::rtun_alloc_netdev(priv_size, name.as_ptr().cast(), queues) };
        // The allocation zeroes the private area, so `needs_drop` starts false.
        let mut builder = NonNull::new(ptr)
            .map(|dev| DevBuilder { dev, net: None })
            .ok_or(ENOMEM)?;
        builder.set_tx_queue_len(tx_queue_len);
        Ok(builder)
    }

    fn ptr(&self) -> *mut bindings::net_device {
        self.dev.as_ptr()
    }

    /// Sets the link-layer type (`ARPHRD_*`), no header and no address:
    /// an L3 device, which gets IP tunnels' header ops (so that packet
    /// sockets see the protocol).
    pub(crate) fn l3_setup(&mut self, ty: u16) {
        let d = self.ptr();
        // SAFETY: `d` is a valid device that is not registered yet.
        unsafe {
            ffi::rtun_dev_use_ip_tunnel_header_ops(d);
            ffi::rtun_dev_set_hard_header_len(d, 0);
            ffi::rtun_dev_set_addr_len(d, 0);
            ffi::rtun_dev_set_type(d, ty);
        }
    }

    /// A software Ethernet device (as veth and tun's TAP are): `ether_setup`,
    /// no shared transmit skbs, address changes while up, a random address.
    pub(crate) fn ether_setup(&mut self) {
        let d = self.ptr();
        // SAFETY: `d` is a valid device that is not registered yet.
        unsafe {
            ffi::ether_setup(d);
            ffi::rtun_dev_tap_priv_flags(d);
            ffi::rtun_eth_hw_addr_random(d);
        }
    }

    /// `dev->flags` (`IFF_*`), before registration.
    pub(crate) fn set_flags(&mut self, flags: u32) {
        // SAFETY: The device is valid and not registered yet.
        unsafe { ffi::rtun_dev_set_flags(self.ptr(), flags) }
    }

    /// The MTU.
    pub(crate) fn set_mtu(&mut self, mtu: u32) {
        // SAFETY: The device is valid and not registered yet.
        unsafe { ffi::rtun_dev_set_mtu(self.ptr(), mtu) }
    }

    /// The MTU's bounds.
    pub(crate) fn set_mtu_bounds(&mut self, min: u32, max: u32) {
        let d = self.ptr();
        // SAFETY: `d` is a valid device that is not registered yet.
        unsafe {
            ffi::rtun_dev_set_min_mtu(d, min);
            ffi::rtun_dev_set_max_mtu(d, max);
        }
    }

    /// The link-layer header's length (`hard_header_len`).
    pub(crate) fn hard_header_len(&self) -> u32 {
        // SAFETY: The device is valid.
        u32::from(unsafe { ffi::rtun_dev_hard_header_len(self.ptr()) })
    }

    /// The qdisc's queue length; a device that has one keeps it (a length
    /// of 0 before registration would otherwise mean no qdisc).
    pub(crate) fn set_tx_queue_len(&mut self, len: u32) {
        // SAFETY: The device is valid and not registered yet.
        unsafe { ffi::rtun_dev_set_tx_queue_len(self.ptr(), len) }
    }

    /// `NETIF_F_LLTX`-style lockless transmit (`dev->lltx`): the driver
    /// serialises its own transmit.
    pub(crate) fn set_lltx(&mut self) {
        // SAFETY: The device is valid and not registered yet.
        unsafe { ffi::rtun_dev_set_lltx(self.ptr()) }
    }

    /// The offloads the device can have (`hw_features`); it starts with all of
    /// them wanted, and `ndo_fix_features` decides what is on.
    pub(crate) fn set_features(&mut self, features: u64) {
        // SAFETY: The device is valid and not registered yet.
        unsafe { ffi::rtun_dev_init_features(self.ptr(), features) }
    }

    /// Registers with one real queue of the ones allocated, as tun does: the
    /// queues come into use (and into sysfs) as files attach, instead of
    /// all of them being created at registration and removed again.
    pub(crate) fn start_with_one_queue(&mut self) {
        // SAFETY: The device is valid and not registered yet, so these only
        // set the counts.
        unsafe {
            ffi::netif_set_real_num_tx_queues(self.ptr(), 1);
            ffi::netif_set_real_num_rx_queues(self.ptr(), 1);
        }
    }

    /// The interface index to register with (TUNSETIFINDEX); 0 picks one.
    pub(crate) fn set_ifindex(&mut self, ifindex: i32) {
        // SAFETY: The device is valid and not registered yet.
        unsafe { ffi::rtun_dev_set_ifindex(self.ptr(), ifindex) }
    }

    /// Puts the device in `net`. `dev_net_set` only stores the pointer: the
    /// builder keeps a reference of its own to `net` until the device is
    /// registered, or freed.
    pub(crate) fn set_net(&mut self, net: &NetNs) {
        let net = net.clone_ref();
        // SAFETY: The device is valid and not registered yet, so nobody reads
        // `nd_net` meanwhile; `net` stays counted (by `self.net`) for as long
        // as the device can be registered from this builder.
        unsafe { ffi::rtun_dev_net_set(self.ptr(), net.as_ptr()) }
        self.net = Some(net);
    }

    pub(crate) fn tx_queue_len(&self) -> usize {
        // SAFETY: The device is valid.
        unsafe { ffi::rtun_dev_tx_queue_len(self.ptr()) as usize }
    }

    /// Initialises the private state, gives the device rtun's ops and registers it.
    pub(crate) fn register<D: Driver>(
        mut self,
        link: Link,
        init: impl PinInit<D, Error>,
        _rtnl: &Rtnl,
    ) -> Result<ARef<NetDev>> {
        let d = self.ptr();
        // SAFETY: `d` is valid and unregistered; its private area is a zeroed
        // `Priv<D>` (`new::<D>` sized it).
        unsafe {
            let p: *mut Priv<D> = ffi::rtun_netdev_priv(d).cast();
            // On error `self` is dropped, which frees the device; `needs_drop`
            // is still false.
            init.__init((*p).state.as_mut_ptr())?;
            (*p).needs_drop.store(true, Ordering::Release);
            match link {
                Link::L3 => ffi::rtun_dev_use_tun_ops(d),
                Link::Ether => ffi::rtun_dev_use_tap_ops(d),
            }
            let ret = ffi::register_netdevice(d);
            if ret < 0 {
                // A failure before `ndo_init` ran no destructor, and one
                // after it ran the destructor already (`destroy_priv` does
                // nothing then). A NETDEV_REGISTER notifier's failure
                // unregisters the device instead: others may hold it then,
                // and its destructor runs once they let go
                // (`netdev_run_todo`), as does the free that dropping `self`
                // asks for (`free_netdev` defers it). The state stays until
                // then.
                if !ffi::rtun_dev_unregistering(d) {
                    destroy_priv::<D>(d);
                }
                return Err(Error::from_errno(ret));
            }
        }
        // SAFETY: Registration succeeded, so the device lives until unregistered.
        let dev = ARef::from(unsafe { NetDev::from_raw(d) });
        // The namespace's reference goes: the registered device is in its
        // list now, and RTNL is held, so dismantling it (which needs RTNL)
        // will unregister the device before freeing the namespace.
        let net = self.net.take();
        core::mem::forget(self);
        drop(net);
        Ok(dev)
    }
}

impl Drop for DevBuilder {
    fn drop(&mut self) {
        // SAFETY: The device was never registered, and its state was never
        // built, or is already dropped, or is left to its destructor
        // (`register`); `free_netdev` defers the free of a device that a
        // failed registration left unregistering.
        unsafe { ffi::free_netdev(self.ptr()) }
        // `self.net` is dropped after: the device no longer points at it.
    }
}

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
pub(crate) struct NetNs(NonNull<bindings::net>);

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
        NonNull::new(ptr).map(NetNs).ok_or(EINVAL)
    }

    fn as_ptr(&self) -> *mut bindings::net {
        self.0.as_ptr()
    }

    /// Another counted reference to the same namespace.
    fn clone_ref(&self) -> NetNs {
        // SAFETY: The namespace is valid while we hold our reference, so its
        // count is not zero and `get_net` may take another.
        unsafe { ffi::rtun_net_get(self.as_ptr()) };
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
pub(crate) struct Rtnl {
    owned: bool,
    _not_send: PhantomData<*mut ()>,
}

impl Rtnl {
    pub(crate) fn lock() -> Self {
        // SAFETY: Process context; paired with the unlock in `drop`.
        unsafe { ffi::rtnl_lock() };
        Rtnl {
            owned: true,
            _not_send: PhantomData,
        }
    }

    /// # Safety
    /// The caller runs under RTNL taken by someone else (an `ndo_*` callback).
    unsafe fn assume_held() -> Self {
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

/// The first counters of the UAPI `struct rtnl_link_stats64` (the C file checks
/// the layout at build time).
#[repr(C)]
struct LinkStats64 {
    rx_packets: u64,
    tx_packets: u64,
    rx_bytes: u64,
    tx_bytes: u64,
    rx_errors: u64,
    tx_errors: u64,
    rx_dropped: u64,
    tx_dropped: u64,
    multicast: u64,
    collisions: u64,
    rx_length_errors: u64,
    rx_over_errors: u64,
    rx_crc_errors: u64,
    rx_frame_errors: u64,
}

// ---- callbacks from rust_tun_shim.c ------------------------------------------

/// The `extern "C"` callbacks of the ops tables, for driver type `T`. The
/// driver gives them the names the C file uses with [`export_callbacks!`].
pub(crate) struct Adapter<T: Driver>(PhantomData<T>);

impl<T: Driver> Adapter<T> {
    /// # Safety
    /// The core's `ndo_start_xmit` arguments: a valid device, and an skb whose
    /// ownership passes to us.
    #[inline(always)]
    pub(crate) unsafe fn start_xmit(
        skb: *mut bindings::sk_buff,
        dev: *mut bindings::net_device,
    ) -> c_int {
        // SAFETY: Per the function's requirements; `ndo_start_xmit` is only in
        // rtun's ops.
        let (dev, skb, state) = unsafe {
            let dev = NetDev::from_raw(dev);
            (dev, SkBuff::from_raw(skb), dev.own_driver::<T>())
        };
        // SAFETY: The core calls `ndo_start_xmit` with bottom halves off
        // (`__dev_queue_xmit`, `__dev_direct_xmit`, pktgen) or hard IRQs off
        // (netpoll), for the whole call (Documentation/networking/netdevices.rst).
        let rcu = unsafe { BhSection::assume() };
        let queued = state.start_xmit(dev, skb, &rcu);
        // The skb is consumed either way; a drop is NET_XMIT_DROP, as in tun.
        if queued {
            0
        } else {
            NET_XMIT_DROP
        }
    }

    /// # Safety
    /// The core's `ndo_select_queue` arguments: a valid device and a lent skb.
    #[inline(always)]
    pub(crate) unsafe fn select_queue(
        dev: *mut bindings::net_device,
        skb: *mut bindings::sk_buff,
    ) -> u16 {
        // `ndo_select_queue` is only in rtun's ops, as `ndo_start_xmit`: the
        // state is the driver's without checking the ops.
        // SAFETY: Per the function's requirements; the skb stays the caller's,
        // so it is never freed here.
        let (mut skb, state) = unsafe {
            let dev = NetDev::from_raw(dev);
            (
                core::mem::ManuallyDrop::new(SkBuff::from_raw(skb)),
                dev.own_driver::<T>(),
            )
        };
        state.select_queue(&mut skb)
    }

    /// # Safety
    /// A valid device, under RTNL (the netdevice notifier chain).
    pub(crate) unsafe fn txqlen_changed(dev: *mut bindings::net_device) -> c_int {
        // SAFETY: Per the function's requirements.
        let (dev, rtnl) = unsafe { (NetDev::from_raw(dev), Rtnl::assume_held()) };
        match dev.driver::<T>().map(|s| s.txqlen_changed(dev, &rtnl)) {
            Some(Err(e)) => e.to_errno(),
            _ => 0,
        }
    }

    /// # Safety
    /// A valid device.
    pub(crate) unsafe fn up(dev: *mut bindings::net_device) {
        // SAFETY: Per the function's requirements.
        let dev = unsafe { NetDev::from_raw(dev) };
        if let Some(state) = dev.driver::<T>() {
            state.up();
        }
    }

    /// # Safety
    /// A valid device, under RTNL (the netdevice notifier chain).
    pub(crate) unsafe fn named(dev: *mut bindings::net_device) {
        // SAFETY: Per the function's requirements.
        let (dev, rtnl) = unsafe { (NetDev::from_raw(dev), Rtnl::assume_held()) };
        if let Some(state) = dev.driver::<T>() {
            state.named(dev, &rtnl);
        }
    }

    /// # Safety
    /// A valid device, under RTNL.
    pub(crate) unsafe fn fix_features(dev: *mut bindings::net_device, features: u64) -> u64 {
        // SAFETY: Per the function's requirements.
        let dev = unsafe { NetDev::from_raw(dev) };
        dev.driver::<T>()
            .map_or(features, |s| s.fix_features(features))
    }

    /// # Safety
    /// A valid device, under RTNL.
    pub(crate) unsafe fn uninit(dev: *mut bindings::net_device) {
        // SAFETY: Per the function's requirements.
        let (dev, rtnl) = unsafe { (NetDev::from_raw(dev), Rtnl::assume_held()) };
        if let Some(state) = dev.driver::<T>() {
            state.uninit(&rtnl);
        }
    }

    /// # Safety
    /// A valid device, under RTNL.
    pub(crate) unsafe fn open(dev: *mut bindings::net_device) -> c_int {
        // SAFETY: Per the function's requirements.
        unsafe { ffi::rtun_netif_tx_start_all_queues(dev) };
        0
    }

    /// # Safety
    /// A valid device, under RTNL.
    pub(crate) unsafe fn stop(dev: *mut bindings::net_device) -> c_int {
        // SAFETY: Per the function's requirements.
        unsafe { ffi::netif_tx_stop_all_queues(dev) };
        0
    }

    /// # Safety
    /// A valid device, under RTNL.
    pub(crate) unsafe fn change_carrier(dev: *mut bindings::net_device, on: bool) -> c_int {
        // SAFETY: Per the function's requirements.
        let dev = unsafe { NetDev::from_raw(dev) };
        match dev.driver::<T>().map(|s| s.change_carrier(dev, on)) {
            Some(Err(e)) => e.to_errno(),
            _ => 0,
        }
    }

    /// # Safety
    /// A valid device and a `struct rtnl_link_stats64` to fill.
    pub(crate) unsafe fn get_stats64(dev: *mut bindings::net_device, out: *mut c_void) {
        // SAFETY: Per the function's requirements.
        let dev_ref = unsafe { NetDev::from_raw(dev) };
        // SAFETY: The per-CPU packet counters; the core adds its rx/tx_dropped.
        unsafe { ffi::dev_get_tstats64(dev, out) };
        let Some(state) = dev_ref.driver::<T>() else {
            return;
        };
        // SAFETY: `out` is a `struct rtnl_link_stats64`, whose prefix is `LinkStats64`.
        let out = unsafe { &mut *out.cast::<LinkStats64>() };
        out.rx_frame_errors = out.rx_frame_errors.wrapping_add(state.rx_frame_errors());
    }

    /// # Safety
    /// Called once no reference to the rtun device `dev` is left.
    pub(crate) unsafe fn priv_destructor(dev: *mut bindings::net_device) {
        // SAFETY: Per the function's requirements.
        unsafe { destroy_priv::<T>(dev) }
    }

    pub(crate) fn sset_count(sset: c_int) -> c_int {
        if sset == ETH_SS_STATS {
            T::STAT_NAMES.len() as c_int
        } else {
            EOPNOTSUPP.to_errno()
        }
    }

    /// # Safety
    /// `buf` has room for `sset_count` strings of ETH_GSTRING_LEN bytes.
    pub(crate) unsafe fn strings(sset: u32, buf: *mut u8) {
        if sset != ETH_SS_STATS as u32 {
            return;
        }
        let len = bindings::ETH_GSTRING_LEN as usize;
        // SAFETY: Per the function's requirements.
        let out = unsafe { core::slice::from_raw_parts_mut(buf, T::STAT_NAMES.len() * len) };
        for (chunk, name) in out.chunks_mut(len).zip(T::STAT_NAMES.iter()) {
            chunk.fill(0);
            let n = chunk.len().saturating_sub(1);
            copy_prefix(&mut chunk[..n], name.as_bytes());
        }
    }

    /// # Safety
    /// A valid device, and room for `sset_count` values at `data`.
    pub(crate) unsafe fn stats(dev: *mut bindings::net_device, data: *mut u64) {
        // SAFETY: Per the function's requirements.
        let (dev, out) = unsafe {
            (
                NetDev::from_raw(dev),
                core::slice::from_raw_parts_mut(data, T::STAT_NAMES.len()),
            )
        };
        let state = dev.driver::<T>();
        for (i, o) in out.iter_mut().enumerate() {
            *o = state.map_or(0, |s| s.stat(i));
        }
    }

    /// # Safety
    /// A valid device and info block.
    pub(crate) unsafe fn drvinfo(
        dev: *mut bindings::net_device,
        info: *mut bindings::ethtool_drvinfo,
    ) {
        // SAFETY: Per the function's requirements.
        let (dev, info) = unsafe { (NetDev::from_raw(dev), &mut *info) };
        put_cstr(&mut info.driver, T::NAME);
        put_cstr(&mut info.version, T::VERSION);
        // As tun: the bus is the kind of device.
        put_cstr(&mut info.bus_info, T::bus_info(dev.link()));
    }

    /// # Safety
    /// A registered device (sysfs).
    pub(crate) unsafe fn sysfs_tun_flags(dev: *mut bindings::net_device) -> i64 {
        // SAFETY: Per the function's requirements.
        let dev = unsafe { NetDev::from_raw(dev) };
        dev.driver::<T>().map_or(0, |s| i64::from(s.tun_flags()))
    }

    /// # Safety
    /// A registered device (sysfs).
    pub(crate) unsafe fn sysfs_owner(dev: *mut bindings::net_device) -> i64 {
        // SAFETY: Per the function's requirements.
        let dev = unsafe { NetDev::from_raw(dev) };
        dev.driver::<T>()
            .and_then(T::owner)
            .and_then(crate::abstractions::cred::uid_seen)
            .map_or(-1, i64::from)
    }

    /// # Safety
    /// A registered device (sysfs).
    pub(crate) unsafe fn sysfs_group(dev: *mut bindings::net_device) -> i64 {
        // SAFETY: Per the function's requirements.
        let dev = unsafe { NetDev::from_raw(dev) };
        dev.driver::<T>()
            .and_then(T::group)
            .and_then(crate::abstractions::cred::gid_seen)
            .map_or(-1, i64::from)
    }

    /// # Safety
    /// A seq_file whose private data is a device that outlives the file
    /// (`DebugfsEntry::new`).
    pub(crate) unsafe fn debugfs_show(m: *mut bindings::seq_file) -> c_int {
        // SAFETY: Per the function's requirements.
        let (seq, dev) = unsafe {
            (
                kernel::seq_file::SeqFile::from_raw(m),
                NetDev::from_raw((*m).private.cast()),
            )
        };
        if let Some(state) = dev.driver::<T>() {
            for (i, name) in T::STAT_NAMES.iter().enumerate() {
                kernel::seq_print!(seq, "{} {}\n", name, state.stat(i));
            }
        }
        0
    }
}

/// Gives the callbacks of [`Adapter<T>`] the names rust_tun_shim.c's tables use.
/// Used once, by the driver, for its state type.
macro_rules! export_callbacks {
    ($t:ty) => {
        const _: () = {
            use core::ffi::{c_int, c_void};
            use kernel::bindings::{ethtool_drvinfo, net_device, seq_file, sk_buff};
            use $crate::abstractions::netdev::Adapter;
            // SAFETY (all): the C file calls each with the arguments its
            // kernel hook documents, which are what the `Adapter` functions
            // require.
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_start_xmit(
                skb: *mut sk_buff,
                dev: *mut net_device,
            ) -> c_int {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::start_xmit(skb, dev) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_select_queue(
                dev: *mut net_device,
                skb: *mut sk_buff,
            ) -> u16 {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::select_queue(dev, skb) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_netdev_txqlen_changed(dev: *mut net_device) -> c_int {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::txqlen_changed(dev) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_netdev_up(dev: *mut net_device) {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::up(dev) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_netdev_named(dev: *mut net_device) {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::named(dev) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_fix_features(dev: *mut net_device, f: u64) -> u64 {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::fix_features(dev, f) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_uninit(dev: *mut net_device) {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::uninit(dev) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_open(dev: *mut net_device) -> c_int {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::open(dev) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_stop(dev: *mut net_device) -> c_int {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::stop(dev) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_change_carrier(dev: *mut net_device, on: bool) -> c_int {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::change_carrier(dev, on) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_get_stats64(dev: *mut net_device, out: *mut c_void) {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::get_stats64(dev, out) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_priv_destructor(dev: *mut net_device) {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::priv_destructor(dev) }
            }
            #[no_mangle]
            extern "C" fn rtun_ethtool_sset_count(_dev: *mut net_device, sset: c_int) -> c_int {
                Adapter::<$t>::sset_count(sset)
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_ethtool_strings(
                _dev: *mut net_device,
                sset: u32,
                buf: *mut u8,
            ) {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::strings(sset, buf) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_ethtool_stats(
                dev: *mut net_device,
                _st: *mut c_void,
                data: *mut u64,
            ) {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::stats(dev, data) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_ethtool_drvinfo(
                dev: *mut net_device,
                info: *mut ethtool_drvinfo,
            ) {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::drvinfo(dev, info) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_sysfs_tun_flags(dev: *mut net_device) -> i64 {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::sysfs_tun_flags(dev) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_sysfs_owner(dev: *mut net_device) -> i64 {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::sysfs_owner(dev) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_sysfs_group(dev: *mut net_device) -> i64 {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::sysfs_group(dev) }
            }
            #[no_mangle]
            unsafe extern "C" fn rtun_drops_show(m: *mut seq_file, _v: *mut c_void) -> c_int {
                // SAFETY: See above.
                unsafe { Adapter::<$t>::debugfs_show(m) }
            }
        };
    };
}
pub(crate) use export_callbacks;

/// Copies `src` into a fixed C string field, always terminated.
fn put_cstr(dst: &mut [kernel::ffi::c_char], src: &str) {
    let n = dst.len().saturating_sub(1);
    dst.fill(0);
    for (d, s) in dst.iter_mut().take(n).zip(src.bytes()) {
        *d = s as kernel::ffi::c_char;
    }
}

/// Copies as much of `src` as fits into `dst`.
fn copy_prefix(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// The rtnetlink link kind (`ip link add ... type rtun`): registered while
/// this lives. Unregistering it deletes the devices left (persistent ones).
pub(crate) struct LinkKind(());

impl LinkKind {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: Module init; the ops table is static.
        kernel::error::to_result(unsafe { ffi::rtun_link_register() })?;
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
pub(crate) struct Notifier(());

impl Notifier {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: Module init; the notifier block is static.
        kernel::error::to_result(unsafe { ffi::rtun_netdev_notifier_register() })?;
        Ok(Notifier(()))
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // SAFETY: Registered in `register`, unregistered once.
        unsafe { ffi::rtun_netdev_notifier_unregister() }
    }
}

/// /sys/kernel/debug/rtun/, where [`DebugfsEntry`]s go; removed on drop.
/// debugfs failures are ignored, as everywhere in the kernel.
pub(crate) struct DebugfsDir(());

impl DebugfsDir {
    pub(crate) fn create() -> Self {
        // SAFETY: Module init, once.
        unsafe { ffi::rtun_debugfs_init() };
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
