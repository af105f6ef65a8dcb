// SPDX-License-Identifier: GPL-2.0
//! Who rtun says it is. By default it is itself, side by side with tun.ko:
//! `/dev/net/rtun`, link kind `rtun`, devices `rtun%d`/`rtap%d`. Loaded with
//! `as_tun=1` it stands in for tun.ko: tun's misc minor and `/dev/net/tun`,
//! link kind `tun`, devices `tun%d`/`tap%d` and driver `tun` in `ethtool -i`,
//! so that a client or tool that knows only tun finds rtun's devices.

use core::ffi::CStr;

/// The names and numbers by which clients find the driver.
pub(crate) struct Personality {
    /// The misc device's name (`/proc/misc`) and node (`/dev/<nodename>`).
    pub(crate) misc_name: &'static CStr,
    pub(crate) nodename: &'static CStr,
    /// The misc minor: tun's (`TUN_MINOR`, 10:200, which kmod's aliases and
    /// static device nodes use), or a dynamic one.
    pub(crate) minor: Option<u8>,
    /// The node's mode: rtun's is open to all (what a user of its own node
    /// needs); tun's is the kernel's default, 0600, which udev's rules for
    /// `tun` then set (Debian's: 0666).
    pub(crate) mode: u16,
    /// The rtnetlink link kind, which `ip tuntap show`, NetworkManager and
    /// systemd-networkd match devices by.
    pub(crate) link_kind: &'static CStr,
    /// `ethtool -i`'s driver.
    pub(crate) driver: &'static str,
    /// Whether TUNSETIFF's default names are tun's (`tun%d`, `tap%d`).
    pub(crate) tun_names: bool,
}

/// tun's misc minor (`TUN_MINOR` of `<linux/miscdevice.h>`).
const TUN_MINOR: u8 = {
    assert!(kernel::bindings::TUN_MINOR == 200);
    200
};

/// rtun as itself.
const RTUN: Personality = Personality {
    misc_name: c"rtun",
    nodename: c"net/rtun",
    minor: None,
    mode: 0o666,
    link_kind: c"rtun",
    driver: "rtun",
    tun_names: false,
};

/// rtun standing in for tun.ko (`as_tun=1`).
const TUN: Personality = Personality {
    misc_name: c"tun",
    nodename: c"net/tun",
    minor: Some(TUN_MINOR),
    mode: 0,
    link_kind: c"tun",
    driver: "tun",
    tun_names: true,
};

/// The personality the module was loaded with. The parameter cannot change
/// after load (it has no sysfs file), so every caller sees the same one.
pub(crate) fn current() -> &'static Personality {
    if crate::module_parameters::as_tun.value() {
        &TUN
    } else {
        &RTUN
    }
}
