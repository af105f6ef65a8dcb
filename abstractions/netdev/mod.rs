// SPDX-License-Identifier: GPL-2.0
//! `struct net_device`: the [`NetDev`] type (reference counting with
//! `dev_hold`/`dev_put`, the fields a driver reads), the [`Driver`] trait and
//! the device's private data. Split by concept: `builder.rs` (allocation and
//! registration), `adapter.rs` (the `ndo_*`/ethtool/sysfs callbacks),
//! `netns.rs` (namespaces, lookup, RTNL), `debugfs.rs`, `registration.rs`
//! (link kind and notifier). As `rust/kernel/net/phy.rs` does it, a generic [`Adapter<T>`]
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

mod adapter;
mod builder;
mod debugfs;
mod netns;
mod registration;

pub(crate) use adapter::{export_callbacks, Adapter};
pub(crate) use builder::DevBuilder;
pub(crate) use debugfs::{DebugfsDir, DebugfsEntry};
pub(crate) use netns::{find, NetNs, Rtnl};
pub(crate) use registration::{LinkKind, Notifier};

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
    /// `ethtool -i` driver name (chosen at module load) and version.
    fn name() -> &'static str;
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
    /// The most the attributes of [`Driver::fill_link_info`] take in a
    /// netlink message (`rtnl_link_ops.get_size`); see [`nla_total_size`].
    const LINK_INFO_SIZE: usize;
    /// The kind's attributes in `IFLA_INFO_DATA` (`rtnl_link_ops.fill_info`),
    /// as `ip -d link` shows them. Runs under RTNL or in an RCU dump: it may
    /// not sleep.
    fn fill_link_info(&self, msg: &mut LinkInfoMsg<'_>) -> Result;
}

/// The room a netlink attribute with a `payload`-byte value takes
/// (`nla_total_size`: header and value, padded to 4 bytes).
pub(crate) const fn nla_total_size(payload: usize) -> usize {
    (NLA_HDRLEN + payload + 3) & !3
}
/// `NLA_HDRLEN`: a netlink attribute's header, padded.
const NLA_HDRLEN: usize = 4;

/// A netlink message being filled with a link's `IFLA_INFO_DATA`
/// attributes ([`Driver::fill_link_info`]).
///
/// # Invariants
/// `skb` is the message the core lent to `fill_info` for this call.
pub(crate) struct LinkInfoMsg<'a> {
    skb: *mut bindings::sk_buff,
    _call: PhantomData<&'a mut bindings::sk_buff>,
}

impl LinkInfoMsg<'_> {
    /// Adds attribute `ty` with a `u8` value; `EMSGSIZE` if it does not fit.
    pub(crate) fn put_u8(&mut self, ty: u16, value: u8) -> Result {
        // SAFETY: By the type invariant, `skb` is the message being filled.
        kernel::error::to_result(unsafe { ffi::rtun_nla_put_u8(self.skb, ty, value) })
    }

    /// Adds attribute `ty` with a `u32` value; `EMSGSIZE` if it does not fit.
    pub(crate) fn put_u32(&mut self, ty: u16, value: u32) -> Result {
        // SAFETY: By the type invariant, `skb` is the message being filled.
        kernel::error::to_result(unsafe { ffi::rtun_nla_put_u32(self.skb, ty, value) })
    }
}

/// What `netdev_priv()` of an rtun device holds (module docs).
///
/// # Invariants
/// `needs_drop` is true exactly while `state` is initialised and not yet
/// dropped. The area starts zeroed (`alloc_netdev_mqs`): false, with no
/// state.
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
    /// `ptr` must point at a `net_device` that is as the type invariant says
    /// for the lifetime `'a`: allocated, and its destruction not begun.
    unsafe fn from_raw<'a>(ptr: *mut bindings::net_device) -> &'a NetDev {
        // SAFETY: `NetDev` is a transparent wrapper; the caller guarantees validity.
        // INVARIANT: The caller guarantees the device is allocated, and not in
        // destruction, for `'a`.
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
        let dev = core::ptr::from_ref(state)
            .cast::<u8>()
            .wrapping_sub(off)
            .wrapping_sub(priv_off);
        // SAFETY: A driver state is only ever built in place, in the `Priv` of
        // an rtun device's private area (`DevBuilder::register` is the only
        // place that initialises a `T: Driver`), `priv_off` bytes into the
        // device. `state` borrows an initialised state, which is dropped
        // only in `priv_destructor`, as the device's destruction begins, and
        // whose drop does not call this (the `Driver` trait's rule): so the
        // device stays allocated, and not in destruction, while the borrow
        // lasts.
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
        // INVARIANT: A non-null result is a namespace the helper counted for
        // us (`maybe_get_net`).
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

/// Drops the private state once, from whichever path gets there first.
///
/// # Safety
/// `dev` is an rtun device whose private area holds a `Priv`, and nothing uses
/// the state any more. Calls are serialised: the core's `priv_destructor` runs
/// once, after the last reference is gone; on `register_netdevice`'s failure
/// path it may run inside that call, and [`DevBuilder::register`] calls this
/// again afterwards on the same thread.
unsafe fn destroy_priv<T>(dev: *mut bindings::net_device) {
    // INVARIANT: `needs_drop` is cleared just before the state is dropped;
    // the callers are serialised, so none sees the state between the two,
    // and none drops it twice.
    // SAFETY: Per the function's requirements.
    unsafe {
        let p: *mut Priv<T> = ffi::rtun_netdev_priv(dev).cast();
        if (*p).needs_drop.swap(false, Ordering::AcqRel) {
            core::ptr::drop_in_place((*p).state.as_mut_ptr());
        }
    }
}

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
