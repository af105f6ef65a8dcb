/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rust_tun: prototypes of the C helpers in rust_tun_shim.c. Rust declares the
 * same functions in abstractions/ffi.rs.
 */
#ifndef RUST_TUN_SHIM_H
#define RUST_TUN_SHIM_H

#include <linux/netdevice.h>
#include <linux/skbuff.h>

struct net;
struct page;
struct socket;
struct sock_fprog;
struct bpf_prog;
struct dentry;
struct sockaddr;
struct sockaddr_storage;
struct fasync_struct;
struct pid;
struct sock;
struct kiocb;
struct file;

int rtun_link_register(void);
int rtun_netdev_notifier_register(void);
void rtun_netdev_notifier_unregister(void);
void rtun_link_unregister(void);
struct net_device *rtun_alloc_netdev(int priv_size, const char *name, unsigned int queues);
void *rtun_netdev_priv(const struct net_device *dev);
extern const size_t rtun_netdev_priv_offset;
void rtun_sw_netstats_rx_add(struct net_device *dev, unsigned int len);
void rtun_sw_netstats_tx_add(struct net_device *dev, unsigned int len);
void rtun_dev_use_tun_ops(struct net_device *dev);
void rtun_dev_use_tap_ops(struct net_device *dev);
extern const size_t rtun_netdev_flags_offset;
extern const size_t rtun_netdev_ops_offset;
extern const struct net_device_ops *const rtun_tun_ops_ptr;
extern const struct net_device_ops *const rtun_tap_ops_ptr;
extern const size_t rtun_netdev_features_offset;
extern const size_t rtun_netdev_num_tx_queues_offset;
void rtun_assert_rcu_reader(void);
void __percpu *rtun_alloc_percpu(size_t size);
void rtun_free_percpu(void __percpu *p);
unsigned long *rtun_per_cpu_ulong(unsigned long __percpu *p, int cpu);
unsigned int rtun_next_possible_cpu(int cpu);
unsigned int rtun_nr_cpu_ids(void);
void rtun_this_cpu_inc(unsigned long __percpu *p);
void rtun_local_bh_disable(void);
void rtun_local_bh_enable(void);
void rtun_dev_use_ip_tunnel_header_ops(struct net_device *dev);
void rtun_dev_set_type(struct net_device *dev, unsigned short type);
void rtun_dev_set_flags(struct net_device *dev, unsigned int flags);
void rtun_dev_set_hard_header_len(struct net_device *dev, unsigned short len);
unsigned short rtun_dev_hard_header_len(const struct net_device *dev);
void rtun_dev_set_addr_len(struct net_device *dev, unsigned char len);
void rtun_dev_set_mtu(struct net_device *dev, unsigned int mtu);
void rtun_dev_set_min_mtu(struct net_device *dev, unsigned int mtu);
void rtun_dev_set_max_mtu(struct net_device *dev, unsigned int mtu);
void rtun_dev_set_tx_queue_len(struct net_device *dev, unsigned int len);
unsigned int rtun_dev_tx_queue_len(const struct net_device *dev);
void rtun_dev_set_lltx(struct net_device *dev);
void rtun_dev_tap_priv_flags(struct net_device *dev);
void rtun_eth_hw_addr_random(struct net_device *dev);
const char *rtun_dev_name(const struct net_device *dev);
bool rtun_dev_registered(const struct net_device *dev);
bool rtun_dev_unregistering(const struct net_device *dev);
void rtun_netif_tx_start_all_queues(struct net_device *dev);
void rtun_dev_hold(struct net_device *dev);
bool rtun_netif_running(const struct net_device *dev);
void rtun_txq_stop(struct net_device *dev, unsigned int i);
void rtun_txq_wake(struct net_device *dev, unsigned int i);
bool rtun_txq_stopped(struct net_device *dev, unsigned int i);
bool rtun_txq_has_no_queue(struct net_device *dev, unsigned int i);
void rtun_dev_put(struct net_device *dev);
void rtun_unregister_netdevice(struct net_device *dev);
void rtun_dev_net_set(struct net_device *dev, struct net *net);
struct net *rtun_dev_net_get(const struct net_device *dev);
struct net *rtun_current_net_get(void);
struct net *rtun_net_get(struct net *net);
void rtun_net_put(struct net *net);
bool rtun_net_admin(const struct net *net);
u32 rtun_make_kuid(u32 uid);
u32 rtun_make_kgid(u32 gid);
bool rtun_current_euid_is(u32 kuid);
u32 rtun_from_kuid_munged(u32 kuid);
u32 rtun_from_kgid_munged(u32 kgid);
bool rtun_current_in_egroup(u32 kgid);
__be16 rtun_skb_protocol(const struct sk_buff *skb);
void rtun_skb_set_protocol(struct sk_buff *skb, __be16 proto);
void rtun_skb_reset_network_header(struct sk_buff *skb);
void rtun_skb_rx_headers(struct sk_buff *skb, struct net_device *dev, bool tap);
int rtun_skb_detach_for_ring(struct sk_buff *skb);
struct page *rtun_alloc_page(void);
void rtun_skb_add_rx_frag(struct sk_buff *skb, int i, struct page *page, int size);
int rtun_vnet_hdr_to_skb(struct sk_buff *skb, const void *hdr, bool tnl, bool tnl_csum, bool le);
int rtun_vnet_hdr_from_skb(const struct sk_buff *skb, void *hdr, bool tnl, bool le);
void rtun_skb_set_network_header(struct sk_buff *skb, int offset);
struct sk_buff *rtun_build_skb(struct net_device *dev, struct sock *sk, unsigned int len, int *err);
struct sk_buff *rtun_alloc_send_skb(struct net_device *dev, struct sock *sk, unsigned long len, bool noblock, int *err);
void rtun_netif_receive_skb_bh(struct sk_buff *skb);
void rtun_txq_trans_update(struct net_device *dev, unsigned int i);
void rtun_wake_up_interruptible_sync_poll(struct wait_queue_head *wq, u32 events);
void rtun_spin_lock_bh(spinlock_t *lock);
void rtun_spin_unlock_bh(spinlock_t *lock);
int rtun_spin_trylock_bh(spinlock_t *lock);
struct napi_struct *rtun_napi_new(struct net_device *dev, const void *owner);
void rtun_napi_delete(struct napi_struct *napi);
void rtun_napi_schedule_bh(struct napi_struct *napi);
void rtun_napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb);
u32 rtun_skb_get_hash_symmetric(struct sk_buff *skb);
void rtun_dev_init_features(struct net_device *dev, netdev_features_t f);
void rtun_dev_set_wanted_features(struct net_device *dev, netdev_features_t mask, netdev_features_t on);
void rtun_dev_set_ifindex(struct net_device *dev, int ifindex);
unsigned char rtun_dev_addr_len(const struct net_device *dev);
int rtun_dev_pre_type_change(struct net_device *dev);
void rtun_dev_post_type_change(struct net_device *dev);
int rtun_dev_get_hwaddr(struct net_device *dev, struct net *net, struct sockaddr *sa);
int rtun_dev_set_hwaddr(struct net_device *dev, struct sockaddr_storage *ss);
int rtun_net_open_ns_fd(struct net *net);
struct pid *rtun_current_tgid(void);
void rtun_kill_fasync(struct fasync_struct **fa, bool out);
int rtun_security_alloc(void **sec);
void rtun_security_free(void *sec);
int rtun_security_create(void);
int rtun_security_open(void *sec);
int rtun_security_attach_queue(void *sec);
bool rtun_capable_net_admin(void);
struct sk_buff *rtun_skb_gso_segment(struct sk_buff *skb);
struct sk_buff *rtun_skb_next(const struct sk_buff *skb);
void rtun_skb_mark_not_on_list(struct sk_buff *skb);
void rtun_skb_set_next(struct sk_buff *skb, struct sk_buff *next);
int rtun_pskb_trim(struct sk_buff *skb, unsigned int len);
int rtun_filter_sock_create(struct socket **res);
void rtun_filter_sock_release(struct socket *sock);
void rtun_filter_sock_lock(struct socket *sock);
void rtun_filter_sock_unlock(struct socket *sock);
int rtun_filter_sock_attach(struct socket *sock, struct sock_fprog *fprog);
unsigned int rtun_filter_sock_run(struct socket *sock, struct sk_buff *skb);
struct bpf_prog *rtun_bpf_prog_get(u32 fd);
unsigned int rtun_bpf_prog_run(const struct bpf_prog *prog, struct sk_buff *skb);
void rtun_debugfs_init(void);
void rtun_debugfs_exit(void);
struct dentry *rtun_debugfs_add(const char *name, struct net_device *dev);
void rtun_debugfs_remove(struct dentry *entry);
unsigned int rtun_net_inum(const struct net *net);
int rtun_skb_checksum_start_offset(const struct sk_buff *skb);
int rtun_skb_vlan_hlen(const struct sk_buff *skb);
extern const size_t rtun_skb_ip_summed_offset;
int rtun_skb_check_ip_summed(unsigned int shift);
u16 rtun_skb_csum_offset(const struct sk_buff *skb);
unsigned int rtun_init_net_inum(void);
int rtun_wq_init(void);
void rtun_wq_exit(void);
struct rcu_work;
void rtun_init_rcu_work(struct rcu_work *rwork, work_func_t fn);
void rtun_queue_rcu_work(struct rcu_work *rwork);
void rtun_wq_drain(void);

struct sock *rtun_sk_alloc(void);
void rtun_sock_init_wq(struct sock *sk);
void rtun_sock_init_data(struct sock *sk);
void rtun_sock_use_callbacks(struct sock *sk);
void rtun_sock_hold(struct sock *sk);
void rtun_sock_put(struct sock *sk);
int rtun_sk_sndbuf(const struct sock *sk);
void rtun_sk_set_sndbuf(struct sock *sk, int v);
bool rtun_sock_writeable(const struct sock *sk);
bool rtun_sock_test_and_set_nospace(struct sock *sk);
bool rtun_sock_test_and_clear_nospace(struct sock *sk);
extern const size_t rtun_sock_wait_offset;
struct fasync_struct **rtun_sock_fasync_list(struct sock *sk);
int rtun_security_attach(struct sock *sk, void *sec);
void rtun_skb_orphan(struct sk_buff *skb);
bool rtun_skb_has_owner(const struct sk_buff *skb);
bool rtun_iocb_nowait(const struct kiocb *iocb);
void rtun_file_set_nowait(struct file *file);

/* Rust callbacks: abstractions/netdev/adapter.rs (export_callbacks!),
 * napi.rs, sock.rs.
 */
void rtun_ndo_uninit(struct net_device *dev);
int rtun_ndo_open(struct net_device *dev);
int rtun_ndo_stop(struct net_device *dev);
netdev_tx_t rtun_ndo_start_xmit(struct sk_buff *skb, struct net_device *dev);
void rtun_ndo_get_stats64(struct net_device *dev, struct rtnl_link_stats64 *s);
int rtun_ndo_change_carrier(struct net_device *dev, bool on);
netdev_features_t rtun_ndo_fix_features(struct net_device *dev, netdev_features_t features);
u16 rtun_ndo_select_queue(struct net_device *dev, struct sk_buff *skb);
int rtun_netdev_txqlen_changed(struct net_device *dev);
int rtun_napi_poll(const void *owner, struct napi_struct *napi, int budget);
void rtun_netdev_up(struct net_device *dev);
void rtun_netdev_named(struct net_device *dev);
void rtun_ethtool_drvinfo(struct net_device *dev, struct ethtool_drvinfo *info);
long long rtun_sysfs_tun_flags(struct net_device *dev);
long long rtun_sysfs_owner(struct net_device *dev);
long long rtun_sysfs_group(struct net_device *dev);
void rtun_priv_destructor(struct net_device *dev);
int rtun_ethtool_sset_count(struct net_device *dev, int sset);
void rtun_ethtool_strings(struct net_device *dev, u32 sset, u8 *buf);
void rtun_ethtool_stats(struct net_device *dev, struct ethtool_stats *st, u64 *data);
int rtun_drops_show(struct seq_file *m, void *v);
void rtun_sock_write_space(struct sock *sk);


#endif /* RUST_TUN_SHIM_H */
