// SPDX-License-Identifier: GPL-2.0
//! The `extern "C"` callbacks of the device's ops tables (`ndo_*`, ethtool,
//! sysfs, the notifier), generic over the [`Driver`], and the macro that
//! gives them the names the C file uses.

use super::*;

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

/// The `extern "C"` callbacks of the ops tables, for driver type `T`. The
/// driver gives them the names the C file uses with [`export_callbacks!`].
pub(crate) struct Adapter<T: Driver>(PhantomData<T>);

impl<T: Driver> Adapter<T> {
    /// # Safety
    /// The core's `ndo_start_xmit` arguments: a valid device, and an skb on
    /// no list (`dev_hard_start_xmit` unlinks each one) whose ownership
    /// passes to us.
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
        // INVARIANT: The skb is only lent: the `SkBuff` is never dropped nor
        // handed on (`ManuallyDrop`), so nobody but its owner frees it.
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
        put_cstr(&mut info.driver, T::name());
        put_cstr(&mut info.version, T::VERSION);
        // As tun: the bus is the kind of device.
        put_cstr(&mut info.bus_info, T::bus_info(dev.link()));
    }

    /// # Safety
    /// A device whose sysfs attribute is being read (sysfs removes the
    /// files, after their readers, before the device is freed).
    pub(crate) unsafe fn sysfs_tun_flags(dev: *mut bindings::net_device) -> i64 {
        // SAFETY: Per the function's requirements.
        let dev = unsafe { NetDev::from_raw(dev) };
        dev.driver::<T>().map_or(0, |s| i64::from(s.tun_flags()))
    }

    /// `rtnl_link_ops.get_size`.
    pub(crate) fn link_info_size() -> usize {
        T::LINK_INFO_SIZE
    }

    /// `rtnl_link_ops.fill_info`: 0, or `-EMSGSIZE`.
    ///
    /// # Safety
    /// `skb` is a netlink message being filled, and `dev` a device of this
    /// driver that the core holds, both for the call: what `fill_info` gets.
    pub(crate) unsafe fn fill_link_info(
        skb: *mut bindings::sk_buff,
        dev: *const bindings::net_device,
    ) -> c_int {
        // SAFETY: Per the function's requirements.
        let dev = unsafe { NetDev::from_raw(dev.cast_mut()) };
        // INVARIANT: The message lent to this call, used only during it.
        let mut msg = LinkInfoMsg {
            skb,
            _call: PhantomData,
        };
        match dev.driver::<T>().map(|s| s.fill_link_info(&mut msg)) {
            Some(Err(e)) => e.to_errno(),
            _ => 0,
        }
    }

    /// # Safety
    /// As for `sysfs_tun_flags`: a device whose sysfs attribute is being read.
    pub(crate) unsafe fn sysfs_owner(dev: *mut bindings::net_device) -> i64 {
        // SAFETY: Per the function's requirements.
        let dev = unsafe { NetDev::from_raw(dev) };
        dev.driver::<T>()
            .and_then(T::owner)
            .and_then(crate::abstractions::cred::uid_seen)
            .map_or(-1, i64::from)
    }

    /// # Safety
    /// As for `sysfs_tun_flags`: a device whose sysfs attribute is being read.
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
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_start_xmit(
                skb: *mut sk_buff,
                dev: *mut net_device,
            ) -> c_int {
                // SAFETY: `ndo_start_xmit` of rtun's ops tables: the core passes a
                // device it holds and hands the skb over, as `start_xmit` requires.
                unsafe { Adapter::<$t>::start_xmit(skb, dev) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_select_queue(
                dev: *mut net_device,
                skb: *mut sk_buff,
            ) -> u16 {
                // SAFETY: `ndo_select_queue` of rtun's ops tables (through
                // `rtun_select_queue`): the core passes a device it holds and
                // lends the skb, as `select_queue` requires.
                unsafe { Adapter::<$t>::select_queue(dev, skb) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_netdev_txqlen_changed(dev: *mut net_device) -> c_int {
                // SAFETY: The netdevice notifier, on NETDEV_CHANGE_TX_QUEUE_LEN: the
                // chain runs under RTNL with a device the core holds, as
                // `txqlen_changed` requires.
                unsafe { Adapter::<$t>::txqlen_changed(dev) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_netdev_up(dev: *mut net_device) {
                // SAFETY: The netdevice notifier, on NETDEV_UP: a device the core
                // holds, as `up` requires.
                unsafe { Adapter::<$t>::up(dev) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_netdev_named(dev: *mut net_device) {
                // SAFETY: The netdevice notifier, on NETDEV_REGISTER or
                // NETDEV_CHANGENAME: the chain runs under RTNL with a device the
                // core holds, as `named` requires.
                unsafe { Adapter::<$t>::named(dev) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_fix_features(dev: *mut net_device, f: u64) -> u64 {
                // SAFETY: `ndo_fix_features` of rtun's ops tables: called from
                // `__netdev_update_features`, under RTNL, on a device the core
                // holds, as `fix_features` requires.
                unsafe { Adapter::<$t>::fix_features(dev, f) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_uninit(dev: *mut net_device) {
                // SAFETY: `ndo_uninit` of rtun's ops tables: called under RTNL, by
                // unregistration or a failed registration, on a device not yet
                // freed, as `uninit` requires.
                unsafe { Adapter::<$t>::uninit(dev) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_open(dev: *mut net_device) -> c_int {
                // SAFETY: `ndo_open` of rtun's ops tables: `__dev_open` calls it
                // under RTNL on a registered device, as `open` requires.
                unsafe { Adapter::<$t>::open(dev) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_stop(dev: *mut net_device) -> c_int {
                // SAFETY: `ndo_stop` of rtun's ops tables: `__dev_close_many` calls
                // it under RTNL on a registered device, as `stop` requires.
                unsafe { Adapter::<$t>::stop(dev) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_change_carrier(dev: *mut net_device, on: bool) -> c_int {
                // SAFETY: `ndo_change_carrier` of rtun's ops tables:
                // `netif_change_carrier` calls it on a device its caller holds,
                // as `change_carrier` requires.
                unsafe { Adapter::<$t>::change_carrier(dev, on) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_ndo_get_stats64(dev: *mut net_device, out: *mut c_void) {
                // SAFETY: `ndo_get_stats64` of rtun's ops tables: `dev_get_stats`
                // passes a device its caller holds and the zeroed
                // `struct rtnl_link_stats64` to fill, as `get_stats64` requires.
                unsafe { Adapter::<$t>::get_stats64(dev, out) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_priv_destructor(dev: *mut net_device) {
                // SAFETY: `priv_destructor`, which `rtun_setup` installs on rtun's
                // devices only: the core calls it once the last reference is
                // gone (`netdev_run_todo`), or in a failed `register_netdevice`
                // before the device was listed, as `priv_destructor` requires.
                unsafe { Adapter::<$t>::priv_destructor(dev) }
            }
            #[no_mangle]
            extern "C" fn rtun_ethtool_sset_count(_dev: *mut net_device, sset: c_int) -> c_int {
                Adapter::<$t>::sset_count(sset)
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_ethtool_strings(
                _dev: *mut net_device,
                sset: u32,
                buf: *mut u8,
            ) {
                // SAFETY: ethtool's `get_strings`: the core sized `buf` for
                // `get_sset_count(sset)` strings of ETH_GSTRING_LEN bytes, which
                // is `sset_count`'s answer, as `strings` requires.
                unsafe { Adapter::<$t>::strings(sset, buf) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_ethtool_stats(
                dev: *mut net_device,
                _st: *mut c_void,
                data: *mut u64,
            ) {
                // SAFETY: ethtool's `get_ethtool_stats`, on a device the core
                // holds, with `data` sized for `get_sset_count(ETH_SS_STATS)`
                // values, which is `sset_count`'s answer, as `stats` requires.
                unsafe { Adapter::<$t>::stats(dev, data) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_ethtool_drvinfo(
                dev: *mut net_device,
                info: *mut ethtool_drvinfo,
            ) {
                // SAFETY: ethtool's `get_drvinfo`, on a device the core holds,
                // with an info block to fill, as `drvinfo` requires.
                unsafe { Adapter::<$t>::drvinfo(dev, info) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_sysfs_tun_flags(dev: *mut net_device) -> i64 {
                // SAFETY: `tun_flags_show`, a sysfs attribute of rtun's devices:
                // `to_net_dev` gives the device, whose attribute files are
                // removed, after their readers, before it is freed.
                unsafe { Adapter::<$t>::sysfs_tun_flags(dev) }
            }
            #[no_mangle]
            extern "C" fn rtun_link_get_size(_dev: *const net_device) -> usize {
                Adapter::<$t>::link_info_size()
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_link_fill_info(
                skb: *mut sk_buff,
                dev: *const net_device,
            ) -> c_int {
                // SAFETY: `rtnl_link_ops.fill_info` of rtun's link kind: the
                // core lends the message it fills and a device of the kind
                // that it holds, as `fill_link_info` requires.
                unsafe { Adapter::<$t>::fill_link_info(skb, dev) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_sysfs_owner(dev: *mut net_device) -> i64 {
                // SAFETY: `owner_show`, a sysfs attribute of rtun's devices:
                // `to_net_dev` gives the device, whose attribute files are
                // removed, after their readers, before it is freed.
                unsafe { Adapter::<$t>::sysfs_owner(dev) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_sysfs_group(dev: *mut net_device) -> i64 {
                // SAFETY: `group_show`, a sysfs attribute of rtun's devices:
                // `to_net_dev` gives the device, whose attribute files are
                // removed, after their readers, before it is freed.
                unsafe { Adapter::<$t>::sysfs_group(dev) }
            }
            /// # Safety
            /// Called by the C ops table with the arguments its kernel hook
            /// documents, which are what the `Adapter` function requires.
            #[no_mangle]
            unsafe extern "C" fn rtun_drops_show(m: *mut seq_file, _v: *mut c_void) -> c_int {
                // SAFETY: The `show` of a device's debugfs file (`single_open` with
                // the file's data): `m->private` is the device given to
                // `DebugfsEntry::new`, whose file is removed, after its readers,
                // before the device can be freed.
                unsafe { Adapter::<$t>::debugfs_show(m) }
            }
        };
    };
}
pub(crate) use export_callbacks;
