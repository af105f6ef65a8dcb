// SPDX-License-Identifier: GPL-2.0
//! Declarations of what Rust calls in C: the module's own one-line wrappers
//! (rust_tun_shim.c) and exported kernel functions that `kernel::bindings` lacks.
//! Only the abstraction files (netdev/, skb.rs, chardev.rs, sock.rs, ...) use these.

use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void};
use kernel::bindings::{
    bpf_prog, dentry, fasync_struct, file, iov_iter, kiocb, napi_struct, net, net_device, page,
    pid, rcu_work, sk_buff, sock, sock_fprog, sockaddr, socket, spinlock_t, wait_queue_head,
    work_struct,
};

// Only pointers to these structures cross the boundary; their Rust layouts
// (some of which contain zero-sized bindgen placeholders) are never used.
#[allow(improper_ctypes)]
extern "C" {
    // Registration.
    pub(crate) fn rtun_link_register(kind: *const kernel::ffi::c_char) -> c_int;
    pub(crate) fn rtun_nla_put_u8(skb: *mut sk_buff, ty: u16, value: u8) -> c_int;
    pub(crate) fn rtun_nla_put_u32(skb: *mut sk_buff, ty: u16, value: u32) -> c_int;
    pub(crate) fn rtun_link_unregister();
    pub(crate) fn rtun_netdev_notifier_register() -> c_int;
    pub(crate) fn rtun_netdev_notifier_unregister();
    pub(crate) fn rtun_debugfs_init();
    pub(crate) fn rtun_debugfs_exit();
    pub(crate) fn rtun_debugfs_add(name: *const c_char, dev: *mut net_device) -> *mut dentry;
    pub(crate) fn rtun_debugfs_remove(entry: *mut dentry);
    pub(crate) fn rtun_net_inum(net: *const net) -> c_uint;
    pub(crate) fn rtun_init_net_inum() -> c_uint;

    // Deferred work (rcu.rs).
    pub(crate) fn rtun_wq_init() -> c_int;
    pub(crate) fn rtun_wq_exit();
    pub(crate) fn rtun_init_rcu_work(
        rwork: *mut rcu_work,
        f: Option<unsafe extern "C" fn(*mut work_struct)>,
    );
    pub(crate) fn rtun_queue_rcu_work(rwork: *mut rcu_work);
    pub(crate) fn rtun_wq_drain();

    // struct net_device.
    pub(crate) fn rtun_alloc_netdev(
        priv_size: c_int,
        name: *const c_char,
        queues: c_uint,
    ) -> *mut net_device;
    pub(crate) fn rtun_netdev_priv(dev: *const net_device) -> *mut c_void;
    /// `offsetof(struct net_device, priv)`: where `netdev_priv()` points.
    pub(crate) static rtun_netdev_priv_offset: usize;
    pub(crate) fn rtun_sw_netstats_rx_add(dev: *mut net_device, len: c_uint);
    pub(crate) fn rtun_sw_netstats_tx_add(dev: *mut net_device, len: c_uint);
    /// `dev_core_stats_{rx,tx}_dropped_inc()` is this with the field's offset.
    pub(crate) fn netdev_core_stats_inc(dev: *mut net_device, offset: u32);
    pub(crate) fn dev_get_tstats64(dev: *mut net_device, s: *mut c_void);
    pub(crate) fn rtun_dev_use_tun_ops(dev: *mut net_device);
    pub(crate) fn rtun_dev_use_tap_ops(dev: *mut net_device);
    /// `offsetof(struct net_device, netdev_ops)`: netdev/mod.rs reads it inline.
    pub(crate) static rtun_netdev_ops_offset: usize;
    /// rtun's TUN and TAP `net_device_ops` tables (compared, never read).
    pub(crate) static rtun_tun_ops_ptr: *const c_void;
    pub(crate) static rtun_tap_ops_ptr: *const c_void;
    /// `offsetof(struct net_device, flags)`: netdev/mod.rs reads it inline.
    pub(crate) static rtun_netdev_flags_offset: usize;
    /// `offsetof(struct net_device, features)`: netdev/mod.rs reads it inline.
    pub(crate) static rtun_netdev_features_offset: usize;
    /// `offsetof(struct net_device, num_tx_queues)`: netdev/mod.rs reads it inline.
    pub(crate) static rtun_netdev_num_tx_queues_offset: usize;
    #[allow(dead_code)] // debug kernels only (rcu.rs)
    pub(crate) fn rtun_assert_rcu_reader();
    // Per-CPU counters (percpu.rs). The `__percpu` pointers are offsets into
    // every CPU's area, never dereferenced as they are.
    pub(crate) fn rtun_alloc_percpu(size: usize) -> *mut c_ulong;
    pub(crate) fn rtun_free_percpu(p: *mut c_ulong);
    pub(crate) fn rtun_per_cpu_ulong(p: *mut c_ulong, cpu: c_int) -> *mut c_ulong;
    pub(crate) fn rtun_next_possible_cpu(cpu: c_int) -> c_uint;
    pub(crate) fn rtun_nr_cpu_ids() -> c_uint;
    #[allow(dead_code)] // percpu.rs inlines it where it can
    pub(crate) fn rtun_this_cpu_inc(p: *mut c_ulong);
    pub(crate) fn rtun_local_bh_disable();
    pub(crate) fn rtun_local_bh_enable();
    pub(crate) fn rtun_dev_use_ip_tunnel_header_ops(dev: *mut net_device);
    pub(crate) fn rtun_dev_set_type(dev: *mut net_device, ty: u16);
    pub(crate) fn rtun_dev_set_flags(dev: *mut net_device, flags: c_uint);
    pub(crate) fn rtun_dev_set_hard_header_len(dev: *mut net_device, len: u16);
    pub(crate) fn rtun_dev_hard_header_len(dev: *const net_device) -> u16;
    pub(crate) fn rtun_dev_set_addr_len(dev: *mut net_device, len: u8);
    pub(crate) fn rtun_dev_set_mtu(dev: *mut net_device, mtu: c_uint);
    pub(crate) fn rtun_dev_set_min_mtu(dev: *mut net_device, mtu: c_uint);
    pub(crate) fn rtun_dev_set_max_mtu(dev: *mut net_device, mtu: c_uint);
    pub(crate) fn rtun_dev_set_tx_queue_len(dev: *mut net_device, len: c_uint);
    pub(crate) fn rtun_dev_tx_queue_len(dev: *const net_device) -> c_uint;
    pub(crate) fn rtun_dev_set_lltx(dev: *mut net_device);
    pub(crate) fn rtun_dev_tap_priv_flags(dev: *mut net_device);
    pub(crate) fn rtun_eth_hw_addr_random(dev: *mut net_device);
    pub(crate) fn rtun_dev_name(dev: *const net_device) -> *const c_char;
    pub(crate) fn rtun_dev_registered(dev: *const net_device) -> bool;
    pub(crate) fn rtun_dev_unregistering(dev: *const net_device) -> bool;
    pub(crate) fn rtun_netif_tx_start_all_queues(dev: *mut net_device);
    pub(crate) fn rtun_dev_hold(dev: *mut net_device);
    pub(crate) fn rtun_netif_running(dev: *const net_device) -> bool;
    pub(crate) fn rtun_txq_stop(dev: *mut net_device, i: c_uint);
    pub(crate) fn rtun_txq_wake(dev: *mut net_device, i: c_uint);
    pub(crate) fn rtun_txq_stopped(dev: *mut net_device, i: c_uint) -> bool;
    pub(crate) fn rtun_txq_has_no_queue(dev: *mut net_device, i: c_uint) -> bool;
    pub(crate) fn rtun_dev_put(dev: *mut net_device);
    pub(crate) fn rtun_unregister_netdevice(dev: *mut net_device);
    pub(crate) fn rtun_dev_net_set(dev: *mut net_device, net: *mut net);
    pub(crate) fn rtun_dev_net_get(dev: *const net_device) -> *mut net;

    pub(crate) fn rtun_dev_init_features(dev: *mut net_device, f: u64);
    pub(crate) fn rtun_dev_set_wanted_features(dev: *mut net_device, mask: u64, on: u64);
    pub(crate) fn rtun_dev_set_ifindex(dev: *mut net_device, ifindex: c_int);
    pub(crate) fn rtun_dev_addr_len(dev: *const net_device) -> u8;
    pub(crate) fn rtun_dev_pre_type_change(dev: *mut net_device) -> c_int;
    pub(crate) fn rtun_dev_post_type_change(dev: *mut net_device);
    pub(crate) fn rtun_dev_get_hwaddr(
        dev: *mut net_device,
        net: *mut net,
        sa: *mut sockaddr,
    ) -> c_int;
    pub(crate) fn rtun_dev_set_hwaddr(dev: *mut net_device, ss: *mut c_void) -> c_int;
    pub(crate) fn rtun_net_open_ns_fd(net: *mut net) -> c_int;
    pub(crate) fn netdev_update_features(dev: *mut net_device);

    // The file: fasync, LSM hooks.
    pub(crate) fn rtun_current_tgid() -> *mut pid;
    pub(crate) fn rtun_kill_fasync(fa: *mut *mut fasync_struct, out: bool);
    pub(crate) fn file_f_owner_allocate(file: *mut file) -> c_int;
    pub(crate) fn fasync_helper(
        fd: c_int,
        file: *mut file,
        on: c_int,
        fa: *mut *mut fasync_struct,
    ) -> c_int;
    pub(crate) fn __f_setown(file: *mut file, pid: *mut pid, ty: c_uint, force: c_int);
    pub(crate) fn rtun_security_alloc(sec: *mut *mut c_void) -> c_int;
    pub(crate) fn rtun_security_free(sec: *mut c_void);
    pub(crate) fn rtun_security_create() -> c_int;
    pub(crate) fn rtun_security_open(sec: *mut c_void) -> c_int;
    pub(crate) fn rtun_security_attach_queue(sec: *mut c_void) -> c_int;
    pub(crate) fn rtun_capable_net_admin() -> bool;

    // Namespaces and credentials.
    pub(crate) fn rtun_current_net_get() -> *mut net;
    pub(crate) fn rtun_net_get(net: *mut net) -> *mut net;
    pub(crate) fn rtun_net_put(net: *mut net);
    pub(crate) fn rtun_net_admin(net: *const net) -> bool;
    pub(crate) fn rtun_make_kuid(uid: u32) -> u32;
    pub(crate) fn rtun_make_kgid(gid: u32) -> u32;
    pub(crate) fn rtun_current_euid_is(kuid: u32) -> bool;
    pub(crate) fn rtun_from_kuid_munged(kuid: u32) -> u32;
    pub(crate) fn rtun_from_kgid_munged(kgid: u32) -> u32;
    pub(crate) fn rtun_current_in_egroup(kgid: u32) -> bool;

    // struct sk_buff.
    pub(crate) fn rtun_skb_protocol(skb: *const sk_buff) -> u16;
    pub(crate) fn rtun_skb_set_protocol(skb: *mut sk_buff, proto: u16);
    pub(crate) fn rtun_skb_reset_network_header(skb: *mut sk_buff);
    pub(crate) fn rtun_skb_rx_headers(skb: *mut sk_buff, dev: *mut net_device, tap: bool);
    pub(crate) fn rtun_skb_detach_for_ring(skb: *mut sk_buff) -> c_int;
    pub(crate) fn rtun_alloc_page() -> *mut page;
    pub(crate) fn rtun_skb_add_rx_frag(skb: *mut sk_buff, i: c_int, page: *mut page, size: c_int);
    pub(crate) fn rtun_vnet_hdr_to_skb(
        skb: *mut sk_buff,
        hdr: *const c_void,
        tnl: bool,
        tnl_csum: bool,
        le: bool,
    ) -> c_int;
    pub(crate) fn rtun_vnet_hdr_from_skb(
        skb: *const sk_buff,
        hdr: *mut c_void,
        tnl: bool,
        le: bool,
    ) -> c_int;
    pub(crate) fn rtun_skb_set_network_header(skb: *mut sk_buff, offset: c_int);
    pub(crate) fn rtun_build_skb(
        dev: *mut net_device,
        sk: *mut sock,
        len: c_uint,
        err: *mut c_int,
    ) -> *mut sk_buff;
    pub(crate) fn rtun_alloc_send_skb(
        dev: *mut net_device,
        sk: *mut sock,
        len: c_ulong,
        noblock: bool,
        err: *mut c_int,
    ) -> *mut sk_buff;
    pub(crate) fn rtun_netif_receive_skb_bh(skb: *mut sk_buff);
    pub(crate) fn rtun_txq_trans_update(dev: *mut net_device, i: c_uint);
    pub(crate) fn napi_enable(napi: *mut napi_struct);
    pub(crate) fn napi_disable(napi: *mut napi_struct);
    pub(crate) fn napi_complete_done(napi: *mut napi_struct, work_done: c_int) -> bool;
    pub(crate) fn rtun_wake_up_interruptible_sync_poll(wq: *mut wait_queue_head, events: u32);
    pub(crate) fn rtun_spin_lock_bh(lock: *mut spinlock_t);
    pub(crate) fn rtun_spin_unlock_bh(lock: *mut spinlock_t);
    pub(crate) fn rtun_spin_trylock_bh(lock: *mut spinlock_t) -> c_int;
    pub(crate) fn rtun_napi_new(dev: *mut net_device, owner: *const c_void) -> *mut napi_struct;
    pub(crate) fn rtun_napi_delete(napi: *mut napi_struct);
    pub(crate) fn rtun_napi_schedule_bh(napi: *mut napi_struct);
    pub(crate) fn rtun_napi_gro_receive(napi: *mut napi_struct, skb: *mut sk_buff);
    pub(crate) fn rtun_napi_get_frags(napi: *mut napi_struct) -> *mut sk_buff;
    pub(crate) fn rtun_iov_fits_frags(it: *const iov_iter, len: usize) -> bool;
    pub(crate) fn rtun_skb_frags_layout(
        skb: *mut sk_buff,
        it: *const iov_iter,
        len: usize,
    ) -> c_int;
    pub(crate) fn rtun_napi_gro_frags(napi: *mut napi_struct, skb: *mut sk_buff) -> c_int;
    pub(crate) fn rtun_pskb_may_pull(skb: *mut sk_buff, len: c_uint) -> bool;
    pub(crate) fn rtun_skb_get_hash_symmetric(skb: *mut sk_buff) -> u32;

    pub(crate) fn rtun_skb_gso_segment(skb: *mut sk_buff) -> *mut sk_buff;
    pub(crate) fn rtun_skb_next(skb: *const sk_buff) -> *mut sk_buff;
    pub(crate) fn rtun_skb_mark_not_on_list(skb: *mut sk_buff);
    pub(crate) fn rtun_skb_set_next(skb: *mut sk_buff, next: *mut sk_buff);
    pub(crate) fn rtun_pskb_trim(skb: *mut sk_buff, len: c_uint) -> c_int;

    // A queue's socket (sock.rs).
    pub(crate) fn rtun_sk_alloc() -> *mut sock;
    pub(crate) fn rtun_sock_init_wq(sk: *mut sock);
    pub(crate) fn rtun_sock_init_data(sk: *mut sock);
    pub(crate) fn rtun_sock_use_callbacks(sk: *mut sock);
    pub(crate) fn rtun_sock_hold(sk: *mut sock);
    pub(crate) fn rtun_sock_put(sk: *mut sock);
    pub(crate) fn rtun_sk_sndbuf(sk: *const sock) -> c_int;
    pub(crate) fn rtun_sk_set_sndbuf(sk: *mut sock, v: c_int);
    pub(crate) fn rtun_sock_writeable(sk: *const sock) -> bool;
    pub(crate) fn rtun_sock_test_and_set_nospace(sk: *mut sock) -> bool;
    pub(crate) fn rtun_sock_test_and_clear_nospace(sk: *mut sock) -> bool;
    /// `sk_sleep()` of rtun's socks: the wait queue is this far into the sock.
    pub(crate) static rtun_sock_wait_offset: usize;
    pub(crate) fn rtun_sock_fasync_list(sk: *mut sock) -> *mut *mut fasync_struct;
    pub(crate) fn rtun_security_attach(sk: *mut sock, sec: *mut c_void) -> c_int;
    pub(crate) fn rtun_skb_orphan(skb: *mut sk_buff);
    pub(crate) fn rtun_skb_has_owner(skb: *const sk_buff) -> bool;
    pub(crate) fn rtun_iocb_nowait(iocb: *const kiocb) -> bool;
    pub(crate) fn rtun_file_set_nowait(file: *mut file);

    // Packet filters.
    pub(crate) fn rtun_filter_sock_create(res: *mut *mut socket) -> c_int;
    pub(crate) fn rtun_filter_sock_release(sock: *mut socket);
    pub(crate) fn rtun_filter_sock_lock(sock: *mut socket);
    pub(crate) fn rtun_filter_sock_unlock(sock: *mut socket);
    pub(crate) fn rtun_filter_sock_attach(sock: *mut socket, fprog: *mut sock_fprog) -> c_int;
    pub(crate) fn rtun_filter_sock_run(sock: *mut socket, skb: *mut sk_buff) -> c_uint;
    pub(crate) fn rtun_bpf_prog_get(fd: u32) -> *mut bpf_prog;
    pub(crate) fn rtun_bpf_prog_run(prog: *const bpf_prog, skb: *mut sk_buff) -> c_uint;

    // Exported by the kernel, absent from the bindings.
    pub(crate) fn skb_checksum_help(skb: *mut sk_buff) -> c_int;
    pub(crate) fn rtun_skb_checksum_start_offset(skb: *const sk_buff) -> c_int;
    pub(crate) fn rtun_skb_csum_offset(skb: *const sk_buff) -> u16;
    pub(crate) fn rtun_skb_vlan_hlen(skb: *const sk_buff) -> c_int;
    /// `PKT_TYPE_OFFSET`: the byte of `struct sk_buff` that holds `ip_summed`.
    pub(crate) static rtun_skb_ip_summed_offset: usize;
    /// 0 if `ip_summed` is the two bits at `shift` of that byte, and nothing else.
    pub(crate) fn rtun_skb_check_ip_summed(shift: c_uint) -> c_int;
    pub(crate) fn rtnl_lock();
    pub(crate) fn rtnl_unlock();
    pub(crate) fn register_netdevice(dev: *mut net_device) -> c_int;
    pub(crate) fn free_netdev(dev: *mut net_device);
    pub(crate) fn ether_setup(dev: *mut net_device);
    pub(crate) fn netif_carrier_on(dev: *mut net_device);
    pub(crate) fn netif_carrier_off(dev: *mut net_device);
    pub(crate) fn netif_tx_stop_all_queues(dev: *mut net_device);
    pub(crate) fn netif_set_real_num_tx_queues(dev: *mut net_device, n: c_uint) -> c_int;
    pub(crate) fn netif_set_real_num_rx_queues(dev: *mut net_device, n: c_uint) -> c_int;
    pub(crate) fn netdev_state_change(dev: *mut net_device);
    pub(crate) fn __dev_get_by_name(net: *mut net, name: *const c_char) -> *mut net_device;
    pub(crate) fn skb_set_owner_w(skb: *mut sk_buff, sk: *mut sock);

}
