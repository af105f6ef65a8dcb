// SPDX-License-Identifier: GPL-2.0
//! A device between allocation and registration: its link setup, and
//! `register_netdevice` with the driver's state in its private area.

use super::*;

/// A device being built: allocated, not registered. Dropping it frees it.
///
/// # Invariants
/// `dev` is an allocated device that the builder owns and has not
/// registered (a failed [`DevBuilder::register`] may leave it unregistering,
/// which `free_netdev` copes with); its private area is a `Priv` of the
/// driver type it was sized for; its namespace is the initial one, or the
/// one `net` counts.
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
        // INVARIANT: A new device, ours alone and not registered, in the
        // initial namespace (`alloc_netdev_mqs` puts it there), with `net`
        // empty; its private area is sized for a `Priv<D>` and zeroed, so
        // `needs_drop` starts false with no state, as `Priv`'s invariant asks.
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
        // INVARIANT: The device is in `net` now, which `self.net` counts; the
        // namespace it was in before, if `self.net` counted it, is let go
        // only now that the device no longer points at it.
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
            // INVARIANT: The state was just initialised.
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
