// SPDX-License-Identifier: GPL-2.0
/*
 * rust_tun: the C side of the module: only what must be C.
 *
 * - Tables the kernel crate cannot build yet: net_device_ops (two, TUN and
 *   TAP), ethtool_ops, rtnl_link_ops, the netdevice notifier, the sysfs
 *   attributes, the debugfs file; each entry calls a Rust callback
 *   (abstractions/netdev/adapter.rs). The char device's file_operations are
 *   built in Rust (abstractions/chardev.rs).
 * - Wrappers of static inline helpers and macros bindgen cannot reach
 *   (dev_hold, netif_tx_*, skb_*, sock_*, per-CPU and RCU helpers, ...).
 * - Accessors of fields of structures that are opaque to Rust (struct
 *   net_device is `_unused` in the bindings), and offsets Rust reads inline
 *   on the data path, each checked here at build time.
 * - rtun_build_skb: tun_build_skb's page-frag arithmetic, one call per write.
 * No decisions are taken here: every branch of the driver is in the Rust code.
 */

/* Configurations rtun refuses to build for (CONFIG_* come from the forced
 * include of autoconf.h, so these fire before any header can fail).
 */
#ifdef CONFIG_PREEMPT_RT
#error "rtun does not support PREEMPT_RT: spinlock_t is an rt_mutex there, and sync.rs's RawSpinLock takes a spinlock_t's rlock as a raw_spinlock_t (_raw_spin_lock) and holds its locks in xmit, where they must not sleep"
#endif

#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/etherdevice.h>
#include <linux/filter.h>
#include <linux/bpf.h>
#include <linux/net.h>
#include <linux/ethtool.h>
#include <linux/gfp.h>
#include <linux/if_arp.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/netpoll.h>
#include <linux/nsproxy.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/security.h>
#include <linux/if_vlan.h>
#include <net/netfilter/nf_conntrack.h>
#include <linux/rtnetlink.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/skbuff.h>
#include <linux/virtio_net.h>
#include <net/sock.h>
#include <net/gro.h>
#include <net/gso.h>
#include <net/ip_tunnels.h>
#include <net/net_namespace.h>
#include <net/rtnetlink.h>

#include "rust_tun_shim.h"

/* netif_get_mac_address(), for SIOCGIFHWADDR on the file, as tun. */
MODULE_IMPORT_NS("NETDEV_INTERNAL");

/* Rust mirrors the UAPI layout of the counters it fills in. */
static_assert(offsetof(struct rtnl_link_stats64, tx_dropped) == 7 * sizeof(u64));
static_assert(offsetof(struct rtnl_link_stats64, rx_frame_errors) == 13 * sizeof(u64));
static_assert(NET_XMIT_DROP == 1);
/* netdev/ counts drops with netdev_core_stats_inc() at these offsets. */
static_assert(offsetof(struct net_device_core_stats, rx_dropped) == 0);
static_assert(offsetof(struct net_device_core_stats, tx_dropped) == 8);
/* sync.rs's RawSpinLock passes a spinlock_t to _raw_spin_lock() as spin_lock() does
 * (PREEMPT_RT, where spinlock_t has no rlock, is refused above).
 */
#ifndef CONFIG_PREEMPT_RT
static_assert(offsetof(spinlock_t, rlock) == 0);
#endif
/* netdev/ hands these over as its SockaddrStorage: 128 bytes aligned to 8,
 * which holds a struct sockaddr_storage and a struct sockaddr.
 */
static_assert(sizeof(struct sockaddr_storage) == 128);
static_assert(__alignof__(struct sockaddr_storage) <= 8);
static_assert(sizeof(struct sockaddr) <= 128 && __alignof__(struct sockaddr) <= 8);
/* skb.rs hands these over as its VnetHdrBuf: VNET_TNL_HDR_LEN (24) bytes
 * aligned to 8, the prefix of which is the basic header (HDR_LEN, 10).
 */
static_assert(sizeof(struct virtio_net_hdr_v1_hash_tunnel) == 24);
static_assert(__alignof__(struct virtio_net_hdr_v1_hash_tunnel) <= 8);
static_assert(sizeof(struct virtio_net_hdr) == 10);

/* ---- tables ---------------------------------------------------------- */

static u16 rtun_select_queue(struct net_device *dev, struct sk_buff *skb, struct net_device *sb_dev)
{ return rtun_ndo_select_queue(dev, skb); }


static const struct net_device_ops rtun_tun_ops = {
	.ndo_uninit		= rtun_ndo_uninit,
	.ndo_select_queue	= rtun_select_queue,
	.ndo_fix_features	= rtun_ndo_fix_features,
	.ndo_open		= rtun_ndo_open,
	.ndo_stop		= rtun_ndo_stop,
	.ndo_start_xmit		= rtun_ndo_start_xmit,
	.ndo_get_stats64	= rtun_ndo_get_stats64,
	.ndo_change_carrier	= rtun_ndo_change_carrier,
	.ndo_features_check	= passthru_features_check,
};

static const struct net_device_ops rtun_tap_ops = {
	.ndo_uninit		= rtun_ndo_uninit,
	.ndo_select_queue	= rtun_select_queue,
	.ndo_fix_features	= rtun_ndo_fix_features,
	.ndo_open		= rtun_ndo_open,
	.ndo_stop		= rtun_ndo_stop,
	.ndo_start_xmit		= rtun_ndo_start_xmit,
	.ndo_get_stats64	= rtun_ndo_get_stats64,
	.ndo_change_carrier	= rtun_ndo_change_carrier,
	.ndo_features_check	= passthru_features_check,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
};

static int rtun_netdev_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	switch (event) {
	case NETDEV_CHANGE_TX_QUEUE_LEN:
		return notifier_from_errno(rtun_netdev_txqlen_changed(netdev_notifier_info_to_dev(ptr)));
	case NETDEV_UP:
		rtun_netdev_up(netdev_notifier_info_to_dev(ptr));
		return NOTIFY_DONE;
	case NETDEV_REGISTER:		/* also the end of a move to another netns */
	case NETDEV_CHANGENAME:
		rtun_netdev_named(netdev_notifier_info_to_dev(ptr));
		return NOTIFY_DONE;
	default:
		return NOTIFY_DONE;
	}
}

static struct notifier_block rtun_netdev_notifier = { .notifier_call = rtun_netdev_event };

static const struct ethtool_ops rtun_ethtool_ops = {
	.get_drvinfo		= rtun_ethtool_drvinfo,
	.get_link		= ethtool_op_get_link,
	.get_sset_count		= rtun_ethtool_sset_count,
	.get_strings		= rtun_ethtool_strings,
	.get_ethtool_stats	= rtun_ethtool_stats,
};

static int rtun_link_validate(struct nlattr *tb[], struct nlattr *data[],
			      struct netlink_ext_ack *extack);
static void rtun_setup(struct net_device *dev);

/* .kind is set at registration: "rtun", or "tun" with as_tun=1. */
static struct rtnl_link_ops rtun_link_ops __read_mostly = {
	.setup		= rtun_setup,
	.validate	= rtun_link_validate,
	.dellink	= unregister_netdevice_queue,
	.get_size	= rtun_link_get_size,
	.fill_info	= rtun_link_fill_info,
};

/* Devices are created through the misc device only, as with tun. */
static int rtun_link_validate(struct nlattr *tb[], struct nlattr *data[],
			      struct netlink_ext_ack *extack)
{
	NL_SET_ERR_MSG(extack, "tun/tap creation via rtnetlink is not supported.");
	return -EOPNOTSUPP;
}

/* /sys/class/net/<dev>/{tun_flags,owner,group}, as tun has them. */
static ssize_t tun_flags_show(struct device *d, struct device_attribute *a, char *buf)
{ return sysfs_emit(buf, "0x%llx\n", rtun_sysfs_tun_flags(to_net_dev(d))); }
static ssize_t owner_show(struct device *d, struct device_attribute *a, char *buf)
{ return sysfs_emit(buf, "%lld\n", rtun_sysfs_owner(to_net_dev(d))); }
static ssize_t group_show(struct device *d, struct device_attribute *a, char *buf)
{ return sysfs_emit(buf, "%lld\n", rtun_sysfs_group(to_net_dev(d))); }
static DEVICE_ATTR_RO(tun_flags);
static DEVICE_ATTR_RO(owner);
static DEVICE_ATTR_RO(group);
static struct attribute *rtun_dev_attrs[] = {
	&dev_attr_tun_flags.attr, &dev_attr_owner.attr, &dev_attr_group.attr, NULL
};
static const struct attribute_group rtun_attr_group = { .attrs = rtun_dev_attrs };

/* The constant part of every rtun device; the rest is set from Rust. */
static void rtun_setup(struct net_device *dev)
{
	dev->sysfs_groups[0] = &rtun_attr_group;
	dev->pcpu_stat_type = NETDEV_PCPU_STAT_TSTATS;
	dev->needs_free_netdev = true;
	dev->priv_destructor = rtun_priv_destructor;
	dev->rtnl_link_ops = &rtun_link_ops;
	dev->ethtool_ops = &rtun_ethtool_ops;
}

/* A queue's socket, as tun's tun_file embeds one (sock.rs): the sock that
 * written frames are charged to, and the struct socket its sk_socket and
 * sk_wq point at. The socket comes with a (zeroed) inode after it, as sockfs
 * allocates them (struct socket_alloc), because sock_init_data_uid() reads
 * SOCK_INODE(sock)->i_uid and ->i_ino. One allocation, freed by sk_free()
 * once the last reference and the last charged frame are gone; .owner pins
 * the module until then.
 */
struct rtun_sock {
	struct sock sk;
	struct socket_alloc sa;
};

/* Its socket's operations: none (tun's serve vhost-net, which rtun does not). */
static const struct proto_ops rtun_socket_ops = { .family = AF_UNSPEC };

static struct proto rtun_proto = {
	.name		= "rtun",
	.owner		= THIS_MODULE,
	.obj_size	= sizeof(struct rtun_sock),
};

/* /sys/kernel/debug/rtun/<dev>: the per-reason drop counters (rtun_drops_show). */
DEFINE_SHOW_ATTRIBUTE(rtun_drops);
static struct dentry *rtun_debugfs_root;

/* ---- registration ---------------------------------------------------- */

int rtun_link_register(const char *kind)
{
	rtun_link_ops.kind = kind;
	return rtnl_link_register(&rtun_link_ops);
}

int rtun_nla_put_u8(struct sk_buff *skb, u16 type, u8 value) { return nla_put_u8(skb, type, value); }
int rtun_nla_put_u32(struct sk_buff *skb, u16 type, u32 value) { return nla_put_u32(skb, type, value); }
int rtun_netdev_notifier_register(void) { return register_netdevice_notifier(&rtun_netdev_notifier); }
void rtun_netdev_notifier_unregister(void) { unregister_netdevice_notifier(&rtun_netdev_notifier); }
void rtun_link_unregister(void) { rtnl_link_unregister(&rtun_link_ops); }
void rtun_debugfs_init(void) { rtun_debugfs_root = debugfs_create_dir("rtun", NULL); }
void rtun_debugfs_exit(void) { debugfs_remove(rtun_debugfs_root); }
struct dentry *rtun_debugfs_add(const char *name, struct net_device *dev)
{ return debugfs_create_file(name, 0444, rtun_debugfs_root, dev, &rtun_drops_fops); }
void rtun_debugfs_remove(struct dentry *entry) { debugfs_remove(entry); }
unsigned int rtun_net_inum(const struct net *net) { return net->ns.inum; }
unsigned int rtun_init_net_inum(void) { return init_net.ns.inum; }

/* ---- deferred work: rtun's workqueue, RCU-delayed items ---------------- */

static struct workqueue_struct *rtun_wq;
int rtun_wq_init(void) { rtun_wq = alloc_workqueue("rtun", WQ_UNBOUND, 0); return rtun_wq ? 0 : -ENOMEM; }
/* Module exit: every queued item is on the workqueue once rcu_barrier returns. */
void rtun_wq_exit(void) { rcu_barrier(); destroy_workqueue(rtun_wq); }
void rtun_init_rcu_work(struct rcu_work *rwork, work_func_t fn) { INIT_RCU_WORK(rwork, fn); }
void rtun_queue_rcu_work(struct rcu_work *rwork) { queue_rcu_work(rtun_wq, rwork); }
/* Waits for every item queued so far: its grace period, then its work. */
void rtun_wq_drain(void) { rcu_barrier(); flush_workqueue(rtun_wq); }

/* ---- struct net_device ----------------------------------------------- */

struct net_device *rtun_alloc_netdev(int priv_size, const char *name, unsigned int queues)
{ return alloc_netdev_mqs(priv_size, name, NET_NAME_UNKNOWN, rtun_setup, queues, queues); }
void *rtun_netdev_priv(const struct net_device *dev) { return netdev_priv(dev); }
/* netdev_priv() is dev->priv: Rust adds this offset inline on the data path. */
const size_t rtun_netdev_priv_offset = offsetof(struct net_device, priv);
/* dev->features (netdev_features_t, a u64): netdev/ reads it inline. */
const size_t rtun_netdev_features_offset = offsetof(struct net_device, features);
static_assert(sizeof(netdev_features_t) == sizeof(u64));
/* dev->num_tx_queues (an unsigned int, set by alloc_netdev_mqs and never
 * changed): netdev/ checks queue indices against it inline.
 */
const size_t rtun_netdev_num_tx_queues_offset = offsetof(struct net_device, num_tx_queues);
static_assert(__same_type(((struct net_device *)0)->num_tx_queues, unsigned int));
/* dev->flags (an unsigned int, changed under RTNL): netdev/ reads it
 * inline, as READ_ONCE does.
 */
const size_t rtun_netdev_flags_offset = offsetof(struct net_device, flags);
static_assert(__same_type(((struct net_device *)0)->flags, unsigned int));
/* dev->netdev_ops, and the two tables rtun installs there: netdev/ tells
 * rtun's devices and their kind apart inline (each read of it on the data
 * path was a call).
 */
const size_t rtun_netdev_ops_offset = offsetof(struct net_device, netdev_ops);
static_assert(__same_type(((struct net_device *)0)->netdev_ops, const struct net_device_ops *));
void rtun_sw_netstats_rx_add(struct net_device *dev, unsigned int len) { dev_sw_netstats_rx_add(dev, len); }
void rtun_sw_netstats_tx_add(struct net_device *dev, unsigned int len) { dev_sw_netstats_tx_add(dev, 1, len); }
int rtun_skb_checksum_start_offset(const struct sk_buff *skb) { return skb_checksum_start_offset(skb); }

/* The length of a VLAN tag still in the skb's metadata (virtio_net_hdr_from_skb
 * counts it in csum_start).
 */
int rtun_skb_vlan_hlen(const struct sk_buff *skb)
{
	return skb_vlan_tag_present(skb) ? VLAN_HLEN : 0;
}

/* skb->ip_summed is a bitfield, so it has no offsetof(): it lives in the byte
 * at PKT_TYPE_OFFSET, which skb.rs reads inline on the transmit path with the
 * shift it assumes. This checks both, once at module init, by setting the
 * field in a zeroed skb: 0 if they hold, -EINVAL if the layout moved.
 */
const size_t rtun_skb_ip_summed_offset = PKT_TYPE_OFFSET;

int rtun_skb_check_ip_summed(unsigned int shift)
{
	struct sk_buff *probe = kzalloc(sizeof(*probe), GFP_KERNEL);
	const u8 *b = (const u8 *)probe;
	size_t i;
	int ret = 0;

	if (!probe)
		return -ENOMEM;
	probe->ip_summed = 3;
	for (i = 0; i < sizeof(*probe); i++) {
		u8 want = i == PKT_TYPE_OFFSET ? 3 << shift : 0;

		if (b[i] != want)
			ret = -EINVAL;
	}
	kfree(probe);
	return ret;
}
u16 rtun_skb_csum_offset(const struct sk_buff *skb) { return skb->csum_offset; }
void rtun_dev_use_tun_ops(struct net_device *dev) { dev->netdev_ops = &rtun_tun_ops; }
void rtun_dev_use_tap_ops(struct net_device *dev) { dev->netdev_ops = &rtun_tap_ops; }
const struct net_device_ops *const rtun_tun_ops_ptr = &rtun_tun_ops;
const struct net_device_ops *const rtun_tap_ops_ptr = &rtun_tap_ops;
/* rcu.rs (debug kernels): the transmit path is in an RCU read-side section. */
void rtun_assert_rcu_reader(void) { RCU_LOCKDEP_WARN(!rcu_read_lock_any_held(), "rtun: transmit outside RCU"); }
/* percpu.rs: per-CPU counter arrays. */
void __percpu *rtun_alloc_percpu(size_t size) { return __alloc_percpu(size, sizeof(unsigned long)); }
void rtun_free_percpu(void __percpu *p) { free_percpu(p); }
unsigned long *rtun_per_cpu_ulong(unsigned long __percpu *p, int cpu) { return per_cpu_ptr(p, cpu); }
unsigned int rtun_next_possible_cpu(int cpu) { return cpumask_next(cpu, cpu_possible_mask); }
unsigned int rtun_nr_cpu_ids(void) { return nr_cpu_ids; }
void rtun_this_cpu_inc(unsigned long __percpu *p) { this_cpu_inc(*p); }
void rtun_local_bh_disable(void) { local_bh_disable(); }
void rtun_local_bh_enable(void) { local_bh_enable(); }
void rtun_dev_use_ip_tunnel_header_ops(struct net_device *dev) { dev->header_ops = &ip_tunnel_header_ops; }
void rtun_dev_set_type(struct net_device *dev, unsigned short type) { dev->type = type; }
void rtun_dev_set_flags(struct net_device *dev, unsigned int flags) { dev->flags = flags; }
void rtun_dev_set_hard_header_len(struct net_device *dev, unsigned short len) { dev->hard_header_len = len; }
unsigned short rtun_dev_hard_header_len(const struct net_device *dev) { return dev->hard_header_len; }
void rtun_dev_set_addr_len(struct net_device *dev, unsigned char len) { dev->addr_len = len; }
void rtun_dev_set_mtu(struct net_device *dev, unsigned int mtu) { dev->mtu = mtu; }
void rtun_dev_set_min_mtu(struct net_device *dev, unsigned int mtu) { dev->min_mtu = mtu; }
void rtun_dev_set_max_mtu(struct net_device *dev, unsigned int mtu) { dev->max_mtu = mtu; }
/* Before registration: alloc_netdev_mqs() made a device that its setup left
 * without a queue length IFF_NO_QUEUE; one with a length has a qdisc.
 */
void rtun_dev_set_tx_queue_len(struct net_device *dev, unsigned int len)
{
	dev->tx_queue_len = len;
	if (len)
		dev->priv_flags &= ~IFF_NO_QUEUE;
}
unsigned int rtun_dev_tx_queue_len(const struct net_device *dev) { return READ_ONCE(dev->tx_queue_len); }
void rtun_dev_set_lltx(struct net_device *dev) { dev->lltx = true; }
void rtun_dev_tap_priv_flags(struct net_device *dev)
{ dev->priv_flags = (dev->priv_flags & ~IFF_TX_SKB_SHARING) | IFF_LIVE_ADDR_CHANGE; }
void rtun_eth_hw_addr_random(struct net_device *dev) { eth_hw_addr_random(dev); }
const char *rtun_dev_name(const struct net_device *dev) { return dev->name; }
bool rtun_dev_registered(const struct net_device *dev) { return READ_ONCE(dev->reg_state) == NETREG_REGISTERED; }
bool rtun_dev_unregistering(const struct net_device *dev) { return READ_ONCE(dev->reg_state) == NETREG_UNREGISTERING; }
void rtun_netif_tx_start_all_queues(struct net_device *dev) { netif_tx_start_all_queues(dev); }
void rtun_dev_hold(struct net_device *dev) { dev_hold(dev); }
bool rtun_netif_running(const struct net_device *dev) { return netif_running(dev); }
/* Transmit queue `i`. netdev_get_tx_queue() does not check `i` (DEBUG_NET only
 * warns): netdev/ passes only indices below dev->num_tx_queues.
 */
void rtun_txq_stop(struct net_device *dev, unsigned int i) { netif_tx_stop_queue(netdev_get_tx_queue(dev, i)); }
void rtun_txq_wake(struct net_device *dev, unsigned int i) { netif_tx_wake_queue(netdev_get_tx_queue(dev, i)); }
bool rtun_txq_stopped(struct net_device *dev, unsigned int i) { return netif_tx_queue_stopped(netdev_get_tx_queue(dev, i)); }
bool rtun_txq_has_no_queue(struct net_device *dev, unsigned int i) { return qdisc_txq_has_no_queue(netdev_get_tx_queue(dev, i)); }
void rtun_dev_put(struct net_device *dev) { dev_put(dev); }
void rtun_unregister_netdevice(struct net_device *dev) { unregister_netdevice(dev); }
void rtun_dev_net_set(struct net_device *dev, struct net *net) { dev_net_set(dev, net); }

void rtun_dev_init_features(struct net_device *dev, netdev_features_t f)
{ dev->hw_features = dev->features = dev->hw_enc_features = dev->vlan_features = f; }
void rtun_dev_set_wanted_features(struct net_device *dev, netdev_features_t mask, netdev_features_t on)
{ dev->wanted_features = (dev->wanted_features & ~mask) | on; }
void rtun_dev_set_ifindex(struct net_device *dev, int ifindex) { dev->ifindex = ifindex; }
unsigned char rtun_dev_addr_len(const struct net_device *dev) { return dev->addr_len; }
int rtun_dev_pre_type_change(struct net_device *dev)
{ return notifier_to_errno(call_netdevice_notifiers(NETDEV_PRE_TYPE_CHANGE, dev)); }
void rtun_dev_post_type_change(struct net_device *dev) { call_netdevice_notifiers(NETDEV_POST_TYPE_CHANGE, dev); }
int rtun_dev_get_hwaddr(struct net_device *dev, struct net *net, struct sockaddr *sa)
{ return netif_get_mac_address(sa, net, dev->name); }
int rtun_dev_set_hwaddr(struct net_device *dev, struct sockaddr_storage *ss)
{ return dev_set_mac_address_user(dev, ss, NULL); }
/* The device's namespace, counted, or NULL once its unregistration began. A
 * device holds no reference to its namespace; dismantling the namespace
 * unregisters the device (reg_state leaves NETREG_REGISTERED, then
 * synchronize_net()) before it is freed, so a namespace read under RCU from a
 * device seen registered is still there, and maybe_get_net() refuses a dying one.
 */
struct net *rtun_dev_net_get(const struct net_device *dev)
{
	struct net *net = NULL;

	rcu_read_lock();
	if (READ_ONCE(dev->reg_state) == NETREG_REGISTERED)
		net = maybe_get_net(dev_net_rcu(dev));
	rcu_read_unlock();
	return net;
}
int rtun_net_open_ns_fd(struct net *net) { return open_related_ns(&net->ns, get_net_ns); }

/* ---- network namespaces and credentials ------------------------------ */

struct net *rtun_current_net_get(void) { return get_net(current->nsproxy->net_ns); }
struct net *rtun_net_get(struct net *net) { return get_net(net); }
void rtun_net_put(struct net *net) { put_net(net); }
bool rtun_net_admin(const struct net *net) { return ns_capable(net->user_ns, CAP_NET_ADMIN); }
u32 rtun_make_kuid(u32 uid) { return __kuid_val(make_kuid(current_user_ns(), uid)); }
u32 rtun_make_kgid(u32 gid) { return __kgid_val(make_kgid(current_user_ns(), gid)); }
bool rtun_current_euid_is(u32 kuid) { return uid_eq(current_euid(), KUIDT_INIT(kuid)); }
u32 rtun_from_kuid_munged(u32 kuid) { return from_kuid_munged(current_user_ns(), KUIDT_INIT(kuid)); }
u32 rtun_from_kgid_munged(u32 kgid) { return from_kgid_munged(current_user_ns(), KGIDT_INIT(kgid)); }
bool rtun_current_in_egroup(u32 kgid) { return in_egroup_p(KGIDT_INIT(kgid)); }

/* ---- struct sk_buff -------------------------------------------------- */

__be16 rtun_skb_protocol(const struct sk_buff *skb) { return skb->protocol; }
void rtun_skb_set_protocol(struct sk_buff *skb, __be16 proto) { skb->protocol = proto; }
void rtun_skb_reset_network_header(struct sk_buff *skb) { skb_reset_network_header(skb); }
/* A write's last header steps, tun_get_user's, in one call: TAP frames get
 * their protocol and MAC header from eth_type_trans (which pulls the Ethernet
 * header), TUN frames their MAC header at the data; then the network header
 * is at the data and the transport header is probed.
 */
void rtun_skb_rx_headers(struct sk_buff *skb, struct net_device *dev, bool tap)
{
	if (tap)
		skb->protocol = eth_type_trans(skb, dev);
	else
		skb_reset_mac_header(skb);
	skb_reset_network_header(skb);
	skb_probe_transport_header(skb);
}
/* tun_net_xmit's fixed sequence before a frame waits on a ring, in one call
 * on the hot path: only the first step can fail, and then nothing else runs.
 */
int rtun_skb_detach_for_ring(struct sk_buff *skb)
{
	if (skb_orphan_frags_rx(skb, GFP_ATOMIC))
		return -ENOMEM;
	skb_tx_timestamp(skb);
	skb_orphan(skb);
	nf_reset_ct(skb);
	return 0;
}
struct page *rtun_alloc_page(void) { return alloc_page(GFP_KERNEL); }
void rtun_skb_add_rx_frag(struct sk_buff *skb, int i, struct page *page, int size)
{ skb_add_rx_frag(skb, i, page, 0, size, PAGE_SIZE); }
int rtun_vnet_hdr_to_skb(struct sk_buff *skb, const void *hdr, bool tnl, bool tnl_csum, bool le)
{ return virtio_net_hdr_tnl_to_skb(skb, hdr, tnl, tnl_csum, le); }
int rtun_vnet_hdr_from_skb(const struct sk_buff *skb, void *hdr, bool tnl, bool le)
{ return virtio_net_hdr_tnl_from_skb(skb, hdr, tnl, le, skb_vlan_tag_present(skb) ? VLAN_HLEN : 0, true, false); }
void rtun_skb_set_network_header(struct sk_buff *skb, int offset) { skb_set_network_header(skb, offset); }
/* tun's TUN_RX_PAD: the headroom of the frames a write builds. */
#define RTUN_RX_PAD (NET_IP_ALIGN + NET_SKB_PAD)
/* tun_can_build_skb's size test, which counts XDP's headroom too. */
static bool rtun_build_fits(unsigned int len)
{ return SKB_DATA_ALIGN(len + RTUN_RX_PAD + XDP_PACKET_HEADROOM) + SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) <= PAGE_SIZE; }
/* tun_build_skb without XDP: a frame of `len` bytes of room (put, not yet
 * written) built in the calling task's page fragment, for `dev`, charged to
 * `sk`. One call for what is a dozen inline steps (the write path's cost under
 * emulation is in its calls). NULL with *err 0 when the frame does not fit a
 * page (tun_can_build_skb, XDP's headroom included), with *err -ENOMEM when
 * memory ran out. Process context: may sleep.
 */
struct sk_buff *rtun_build_skb(struct net_device *dev, struct sock *sk, unsigned int len, int *err)
{
	struct page_frag *frag = &current->task_frag;
	unsigned int buflen;
	struct sk_buff *skb;

	/* The task's own fragment: never from an interrupt (debug kernels check). */
	might_sleep();
	*err = 0;
	if (len > PAGE_SIZE || !rtun_build_fits(len))
		return NULL;
	buflen = SKB_DATA_ALIGN(len + RTUN_RX_PAD) + SKB_DATA_ALIGN(sizeof(struct skb_shared_info));
	*err = -ENOMEM;
	frag->offset = ALIGN((u64)frag->offset, SMP_CACHE_BYTES);
	if (!skb_page_frag_refill(buflen, frag, GFP_KERNEL))
		return NULL;
	skb = build_skb((char *)page_address(frag->page) + frag->offset, buflen);
	if (!skb)
		return NULL;
	get_page(frag->page);
	frag->offset += buflen;
	skb_reserve(skb, RTUN_RX_PAD);
	skb_put(skb, len);
	skb->dev = dev;
	skb_set_owner_w(skb, sk);
	*err = 0;
	return skb;
}
/* tun_alloc_skb for a linear frame: `len` bytes of room after tun's headroom,
 * none put, for `dev`, charged to `sk` (sock_alloc_send_pskb: waits for room
 * unless `noblock`). NULL with *err set on failure (-EMSGSIZE for a length
 * that overflows). Process context: may sleep.
 */
struct sk_buff *rtun_alloc_send_skb(struct net_device *dev, struct sock *sk, unsigned long len, bool noblock, int *err)
{
	struct sk_buff *skb;

	if (len > ULONG_MAX - RTUN_RX_PAD) {
		*err = -EMSGSIZE;
		return NULL;
	}
	skb = sock_alloc_send_pskb(sk, RTUN_RX_PAD + len, 0, noblock, err, 0);
	if (!skb)
		return NULL;
	skb_reserve(skb, RTUN_RX_PAD);
	skb->dev = dev;
	return skb;
}
void rtun_netif_receive_skb_bh(struct sk_buff *skb) { local_bh_disable(); netif_receive_skb(skb); local_bh_enable(); }
void rtun_txq_trans_update(struct net_device *dev, unsigned int i) { txq_trans_cond_update(netdev_get_tx_queue(dev, i)); }
void rtun_wake_up_interruptible_sync_poll(struct wait_queue_head *wq, u32 events)
{ wake_up_interruptible_sync_poll(wq, events); }
void rtun_spin_lock_bh(spinlock_t *lock) { spin_lock_bh(lock); }
void rtun_spin_unlock_bh(spinlock_t *lock) { spin_unlock_bh(lock); }
int rtun_spin_trylock_bh(spinlock_t *lock) { return spin_trylock_bh(lock); }
/* struct napi_struct is opaque to Rust: the C side allocates it, with a
 * pointer back to the Rust owner (napi.rs) for the poll.
 */
struct rtun_napi {
	struct napi_struct napi;
	const void *owner;
};
static int rtun_napi_poll_cb(struct napi_struct *n, int budget)
{ return rtun_napi_poll(container_of(n, struct rtun_napi, napi)->owner, n, budget); }
struct napi_struct *rtun_napi_new(struct net_device *dev, const void *owner)
{
	struct rtun_napi *r = kzalloc(sizeof(*r), GFP_KERNEL);

	if (!r)
		return NULL;
	r->owner = owner;
	netif_napi_add_tx(dev, &r->napi, rtun_napi_poll_cb);
	return &r->napi;
}
/* A spare skb that napi_gro_frags() left for reuse is no packet: consume it
 * rather than let netif_napi_del() free it as a drop.
 */
void rtun_napi_delete(struct napi_struct *n)
{
	consume_skb(n->skb);
	n->skb = NULL;
	netif_napi_del(n);
	kfree(container_of(n, struct rtun_napi, napi));
}
void rtun_napi_schedule_bh(struct napi_struct *napi) { local_bh_disable(); napi_schedule(napi); local_bh_enable(); }
void rtun_napi_gro_receive(struct napi_struct *napi, struct sk_buff *skb) { napi_gro_receive(napi, skb); }

/* IFF_NAPI_FRAGS, as tun_napi_alloc_frags() and tun_get_user() build it.
 * napi->skb is the GRO core's slot for the frame being built: the caller
 * serialises these helpers per instance (napi.rs), takes the skb out of the
 * slot at once, and puts it back only to hand it to napi_gro_frags().
 */
struct sk_buff *rtun_napi_get_frags(struct napi_struct *napi)
{
	struct sk_buff *skb;

	local_bh_disable();
	skb = napi_get_frags(napi);
	napi->skb = NULL;
	local_bh_enable();
	return skb;
}

/* tun's limits on such a write, before anything is allocated. */
bool rtun_iov_fits_frags(const struct iov_iter *it, size_t len)
{
	return it->nr_segs <= MAX_SKB_FRAGS + 1 &&
	       len <= ETH_MAX_MTU - NET_SKB_PAD - NET_IP_ALIGN;
}

/* The layout of tun_napi_alloc_frags(): what is left of the iterator's
 * current segment is linear, every later segment (at most a page) a page
 * fragment of its own. Only the skb's shape is set; the bytes are copied
 * after. Unlike tun, a layout whose segments do not add up to len, or an
 * iterator of another kind than iovecs with several segments, is refused:
 * the skb would not describe its bytes.
 */
int rtun_skb_frags_layout(struct sk_buff *skb, const struct iov_iter *it, size_t len)
{
	size_t linear = iov_iter_single_seg_count(it);
	size_t rest;
	unsigned long i;
	int err;

	/* Only a fresh skb: nothing else sees its shared info or accounts
	 * for its truesize.
	 */
	if (skb->len || skb_shinfo(skb)->nr_frags || skb->sk || skb_cloned(skb))
		return -EINVAL;
	if (linear > len || (it->nr_segs > 1 && !iter_is_iovec(it)) ||
	    it->nr_segs > MAX_SKB_FRAGS + 1)
		return -EINVAL;
	rest = len - linear;
	err = __skb_grow(skb, linear);
	if (err)
		return err;
	for (i = 1; i < it->nr_segs; i++) {
		size_t fragsz = iter_iov(it)[i].iov_len;
		struct page *page;
		void *frag;

		if (fragsz == 0 || fragsz > PAGE_SIZE || fragsz > rest)
			return -EINVAL;
		frag = netdev_alloc_frag(fragsz);
		if (!frag)
			return -ENOMEM;
		page = virt_to_head_page(frag);
		skb_fill_page_desc(skb, i - 1, page, frag - page_address(page), fragsz);
		rest -= fragsz;
	}
	if (rest)
		return -EINVAL;
	/* The lengths only once the fragments describe them. */
	skb->len = len;
	skb->data_len = len - linear;
	skb->truesize += skb->data_len;
	return 0;
}

/* Hands the frame to GRO through napi->skb, as tun does once
 * napi_schedule_prep() succeeds: 0, or an errno leaving the skb to the
 * caller. -EINVAL unless eth_type_trans() just pulled the frame's Ethernet
 * header (pushed back here) and the skb is neither charged nor cloned (GRO
 * steals and rewrites its fragments); -EBUSY for another device's frame or
 * an instance that is disabled or owned by a poll; -EIO when the device is
 * down, checked in the RCU section that delivers the frame, as tun_get_user()
 * does. Unlike tun, netpoll's poll lock is held across the ownership of the
 * instance: a netpoll poll of it (poll_one_napi() sets NPSVC) in between
 * would make napi_complete() leave it scheduled for ever.
 */
int rtun_napi_gro_frags(struct napi_struct *napi, struct sk_buff *skb)
{
	void *have;
	int err = -EBUSY;

	if (!skb_mac_header_was_set(skb) ||
	    skb_mac_header(skb) + ETH_HLEN != skb->data || skb->sk || skb_cloned(skb))
		return -EINVAL;
	if (skb->dev != napi->dev)
		return -EBUSY;
	local_bh_disable();
	if (!(READ_ONCE(skb->dev->flags) & IFF_UP)) {
		err = -EIO;
		goto out;
	}
	have = netpoll_poll_lock(napi);
	if (napi_schedule_prep(napi)) {
		consume_skb(napi->skb);
		__skb_push(skb, ETH_HLEN);
		napi->skb = skb;
		napi_gro_frags(napi);
		napi_complete(napi);
		err = 0;
	}
	netpoll_poll_unlock(have);
out:
	local_bh_enable();
	return err;
}
u32 rtun_skb_get_hash_symmetric(struct sk_buff *skb) { return __skb_get_hash_symmetric(skb); }
struct sk_buff *rtun_skb_gso_segment(struct sk_buff *skb) { return skb_gso_segment(skb, 0); }
struct sk_buff *rtun_skb_next(const struct sk_buff *skb) { return skb->next; }
void rtun_skb_mark_not_on_list(struct sk_buff *skb) { skb_mark_not_on_list(skb); }
void rtun_skb_set_next(struct sk_buff *skb, struct sk_buff *next) { skb->next = next; }
int rtun_pskb_trim(struct sk_buff *skb, unsigned int len) { return pskb_trim(skb, len); }
bool rtun_pskb_may_pull(struct sk_buff *skb, unsigned int len) { return pskb_may_pull(skb, len); }

/* ---- a queue's socket (sock.rs) ------------------------------------- */

/* In the opener's network namespace, as tun_chr_open. */
struct sock *rtun_sk_alloc(void) { return sk_alloc(current->nsproxy->net_ns, AF_UNSPEC, GFP_KERNEL, &rtun_proto, 0); }
static struct socket *rtun_sk_socket(struct sock *sk) { return &container_of(sk, struct rtun_sock, sk)->sa.socket; }
void rtun_sock_init_wq(struct sock *sk) { init_waitqueue_head(&rtun_sk_socket(sk)->wq.wait); }
void rtun_sock_init_data(struct sock *sk) { sock_init_data_uid(rtun_sk_socket(sk), sk, current_fsuid()); }
void rtun_sock_use_callbacks(struct sock *sk) { sk->sk_write_space = rtun_sock_write_space; sk->sk_socket->ops = &rtun_socket_ops; }
void rtun_sock_hold(struct sock *sk) { sock_hold(sk); }
void rtun_sock_put(struct sock *sk) { sock_put(sk); }
int rtun_sk_sndbuf(const struct sock *sk) { return READ_ONCE(sk->sk_sndbuf); }
void rtun_sk_set_sndbuf(struct sock *sk, int v) { WRITE_ONCE(sk->sk_sndbuf, v); }
bool rtun_sock_writeable(const struct sock *sk) { return sock_writeable(sk); }
bool rtun_sock_test_and_set_nospace(struct sock *sk) { return test_and_set_bit(SOCKWQ_ASYNC_NOSPACE, &sk->sk_socket->flags); }
bool rtun_sock_test_and_clear_nospace(struct sock *sk) { return test_and_clear_bit(SOCKWQ_ASYNC_NOSPACE, &sk->sk_socket->flags); }
/* sk_sleep() of rtun's socks (sk_wq is the embedded socket's wq from
 * sock_init_data_uid on; nothing orphans them): a constant offset, which
 * sock.rs adds inline on the data path.
 */
const size_t rtun_sock_wait_offset = offsetof(struct rtun_sock, sa.socket.wq.wait);
static_assert(offsetof(struct rtun_sock, sk) == 0);
struct fasync_struct **rtun_sock_fasync_list(struct sock *sk) { return &rtun_sk_socket(sk)->wq.fasync_list; }
int rtun_security_attach(struct sock *sk, void *sec) { return security_tun_dev_attach(sk, sec); }
void rtun_skb_orphan(struct sk_buff *skb) { skb_orphan(skb); }
bool rtun_skb_has_owner(const struct sk_buff *skb) { return skb->sk; }
bool rtun_iocb_nowait(const struct kiocb *iocb) { return iocb->ki_flags & IOCB_NOWAIT; }
void rtun_file_set_nowait(struct file *file) { file->f_mode |= FMODE_NOWAIT; }

/* ---- packet filters -------------------------------------------------- */

/* A kernel socket only to carry a classic filter through sk_filter_reason(). */
int rtun_filter_sock_create(struct socket **res) { return sock_create_kern(&init_net, PF_UNIX, SOCK_DGRAM, 0, res); }
void rtun_filter_sock_release(struct socket *sock) { sock_release(sock); }
void rtun_filter_sock_lock(struct socket *sock) { lock_sock(sock->sk); }
void rtun_filter_sock_unlock(struct socket *sock) { release_sock(sock->sk); }
int rtun_filter_sock_attach(struct socket *sock, struct sock_fprog *fprog) { return sk_attach_filter(fprog, sock->sk); }
unsigned int rtun_filter_sock_run(struct socket *sock, struct sk_buff *skb) { return sk_filter_reason(sock->sk, skb); }
struct bpf_prog *rtun_bpf_prog_get(u32 fd) { return bpf_prog_get_type(fd, BPF_PROG_TYPE_SOCKET_FILTER); }
unsigned int rtun_bpf_prog_run(const struct bpf_prog *prog, struct sk_buff *skb) { return bpf_prog_run_clear_cb(prog, skb); }

/* ---- the file: fasync and LSM hooks ---------------------------------- */

struct pid *rtun_current_tgid(void) { return task_pid(current); }
void rtun_kill_fasync(struct fasync_struct **fa, bool out) { kill_fasync(fa, SIGIO, out ? POLL_OUT : POLL_IN); }
int rtun_security_alloc(void **sec) { return security_tun_dev_alloc_security(sec); }
void rtun_security_free(void *sec) { security_tun_dev_free_security(sec); }
int rtun_security_create(void) { return security_tun_dev_create(); }
int rtun_security_open(void *sec) { return security_tun_dev_open(sec); }
int rtun_security_attach_queue(void *sec) { return security_tun_dev_attach_queue(sec); }
bool rtun_capable_net_admin(void) { return capable(CAP_NET_ADMIN); }
