// SPDX-License-Identifier: GPL-2.0
//! `poll()`: readable when the ring has a frame, writable while the send
//! buffer has room, as tun's.

use super::*;

impl TunFile {
    pub(crate) fn poll(&self, poll: &PollCtx<'_>) -> u32 {
        poll.wait_on(self.wait());
        // The device's state, read under the binding lock: no reference to
        // take and give back.
        let state = {
            let b = self.binding.lock();
            b.dev.as_ref().map(|dev| (dev.is_registered(), dev.is_up()))
        };
        let Some((true, up)) = state else {
            return EPOLLERR;
        };
        let mut mask = 0;
        if !self.ring.is_empty() {
            mask |= EPOLLIN | EPOLLRDNORM;
        }
        // tun: writable while the device is up and less than half the send
        // buffer is charged; else SOCKWQ_ASYNC_NOSPACE, so that
        // `sk_write_space` tells the poller once it is, and a second look.
        let writable = || up && self.sock.writeable();
        if writable() || (!self.sock.test_and_set_nospace() && writable()) {
            mask |= EPOLLOUT | EPOLLWRNORM;
        }
        mask
    }
}
