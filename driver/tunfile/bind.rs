// SPDX-License-Identifier: GPL-2.0
//! TUNSETIFF (create a device, or attach to one) and TUNSETQUEUE (detach
//! and re-attach): the file's binding to its device.

use super::*;

impl TunFile {
    /// TUNSETIFF on an unbound file: create a device, or attach to an existing
    /// one by name.
    pub(super) fn set_iff(this: &Arc<TunFile>, req: &mut IfReq, rtnl: &Rtnl) -> Result {
        let flags = req.flags();
        if flags & ioctl::IFF_NAPI_FRAGS != 0 {
            if !cred::capable_net_admin() {
                return Err(EPERM);
            }
            if flags & ioctl::IFF_NAPI == 0 || flags & ioctl::TUN_TYPE_MASK != ioctl::IFF_TAP {
                return Err(EINVAL);
            }
        }
        let multi = flags & ioctl::IFF_MULTI_QUEUE != 0;
        let (name, empty) = req.name();
        let existing = if empty {
            None
        } else {
            netdev::find(&this.net, &name, rtnl)
        };

        let dev = match existing {
            Some(dev) => {
                if flags & ioctl::IFF_TUN_EXCL != 0 {
                    return Err(EBUSY);
                }
                let state = match (dev.mode(), DevState::of(&dev)) {
                    (Some(mode), Some(state)) if mode.accepts(flags) => state,
                    _ => return Err(EINVAL),
                };
                if multi != state.has(ioctl::IFF_MULTI_QUEUE) {
                    return Err(EINVAL);
                }
                if !state.permitted(&dev) {
                    return Err(EPERM);
                }
                state.security().may_open(rtnl)?;
                state.security().attach(&this.sock, rtnl)?;
                state.may_attach(rtnl)?;
                this.resize_ring(dev.tx_queue_len(), None)?;
                let total = state.attach(&dev, this, rtnl)?;
                this.bind(&dev, state, flags, rtnl)?;
                if multi && total > 1 {
                    // Not the first queue: the device keeps its flags and carrier.
                    dev.state_changed(rtnl);
                    return Ok(());
                }
                state.set_features(flags);
                dev.state_changed(rtnl);
                dev
            }
            None => {
                if !this.net.net_admin() {
                    return Err(EPERM);
                }
                cred::may_create()?;
                let mode = Mode::from_flags(flags).ok_or(EINVAL)?;
                let template = if empty {
                    mode.default_template(crate::driver::personality::current().tun_names)
                } else {
                    &name[..]
                };
                let mut tname = [0u8; ioctl::IFNAMSIZ];
                let template = template.split(|&b| b == 0).next().unwrap_or(&[]);
                ioctl::copy_bytes(&mut tname[..ioctl::IFNAMSIZ - 1], template);
                let queues = if multi { MAX_QUEUES } else { 1 };
                let mut builder =
                    DevBuilder::new::<DevState>(&tname, queues, device::TUN_READQ_SIZE)?;
                builder.set_net(&this.net);
                builder.set_ifindex(this.ifindex.load(Relaxed));
                builder.start_with_one_queue();
                device::setup_link(&mut builder, mode);
                builder.set_features(device::device_features());
                this.resize_ring(builder.tx_queue_len(), None)?;
                // The LSM decides before the device exists, as tun asks it
                // inside `ndo_init`: a denial never shows a device.
                let security = LsmBlob::new()?;
                security.attach(&this.sock, rtnl)?;
                let init = DevState::new(mode, flags, security)?;
                let dev = builder.register(device::link_of(mode), init, rtnl)?;
                let state = DevState::of(&dev).ok_or(EINVAL)?;
                if let Err(e) = state.attach(&dev, this, rtnl) {
                    dev.unregister(rtnl);
                    return Err(e);
                }
                this.bind(&dev, state, flags, rtnl)?;
                dev
            }
        };
        dev.set_carrier(flags & ioctl::IFF_NO_CARRIER == 0);
        req.set_name(&dev.name());
        Ok(())
    }

    pub(super) fn unbind(&self) -> Option<ARef<NetDev>> {
        let mut b = self.binding.lock();
        b.disabled = false;
        b.dev.take()
    }

    /// The queue, just attached to `dev`, becomes its file's; with IFF_NAPI
    /// it gets its NAPI instance, or leaves the device again.
    pub(super) fn bind(
        &self,
        dev: &ARef<NetDev>,
        state: &DevState,
        flags: u16,
        rtnl: &Rtnl,
    ) -> Result {
        self.shutdown.store(false, Relaxed);
        *self.binding.lock() = Binding {
            dev: Some(dev.clone()),
            disabled: false,
        };
        if flags & ioctl::IFF_NAPI != 0 {
            if let Err(e) = self.napi.add(dev, flags & ioctl::IFF_NAPI_FRAGS != 0) {
                drop(self.unbind());
                // The file stays open and may bind again: wait until no
                // transmitter can reach this queue.
                drop(state.detach(dev, self, rtnl));
                return Err(e);
            }
        }
        Ok(())
    }

    /// TUNSETQUEUE: disable or re-enable this queue of a multi-queue device.
    /// Re-enabling needs only the LSM's consent, as in tun: whoever holds the
    /// file was given it.
    pub(super) fn set_queue(&self, flags: u16, rtnl: &Rtnl) -> Result {
        let (dev, disabled) = self.bound().ok_or(EINVAL)?;
        let state = DevState::of(&dev).ok_or(EINVAL)?;
        if flags & ioctl::IFF_ATTACH_QUEUE != 0 {
            if !disabled {
                return Err(EINVAL);
            }
            state.security().may_attach_queue(rtnl)?;
            state.security().attach(&self.sock, rtnl)?;
            state.enable(&dev, self, rtnl)?;
            self.binding.lock().disabled = false;
        } else if flags & ioctl::IFF_DETACH_QUEUE != 0 {
            if !state.has(ioctl::IFF_MULTI_QUEUE) || disabled {
                return Err(EINVAL);
            }
            state.disable(&dev, self, rtnl)?;
            self.binding.lock().disabled = true;
        } else {
            return Err(EINVAL);
        }
        dev.state_changed(rtnl);
        Ok(())
    }
}
