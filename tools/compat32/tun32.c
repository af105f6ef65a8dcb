// SPDX-License-Identifier: GPL-2.0
/* tun32: a 32-bit tun client, for the compat_ioctl comparison between C tun.ko
 * and rtun (`rtunabi compat32`, tests/guest/t_abi.sh).
 *
 *   tun32 /dev/net/tun|/dev/net/rtun
 *
 * Built with `gcc -m32 -static` (scripts/build.sh), so every ioctl goes
 * through the driver's compat_ioctl: tun passes each argument as a 32-bit
 * value and copies a 32-byte `struct compat_ifreq`, not the 40-byte ifreq.
 * The program prints one deterministic `step: result` line per call, as
 * rtunabi does, with nothing device-specific in it (no interface name,
 * no MAC address, no ifindex), so the outputs of the two drivers compare line
 * for line. Buffers handed to ifreq ioctls are 48 bytes filled with 0xff: the
 * lines `... bytes 32..47` show whether the driver wrote past compat_ifreq.
 *
 * Exit status: 0, or 1 when a setup step failed ("stopped: ..." is printed).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* include/uapi/linux/if_tun.h, spelled out so that the numbers are visible:
 * _IOW/_IOR('T', nr, int) are the same for 32-bit and 64-bit callers. */
#define T_IOC(dir, nr, size) (((unsigned)(dir) << 30) | ((unsigned)(size) << 16) | ('T' << 8) | (nr))
#define TUNSETIFF T_IOC(1, 202, 4)
#define TUNSETPERSIST T_IOC(1, 203, 4)
#define TUNGETFEATURES T_IOC(2, 207, 4)
#define TUNSETOFFLOAD T_IOC(1, 208, 4)
#define TUNSETTXFILTER T_IOC(1, 209, 4)
#define TUNGETIFF T_IOC(2, 210, 4)
#define TUNGETSNDBUF T_IOC(2, 211, 4)
#define TUNSETSNDBUF T_IOC(1, 212, 4)
#define TUNGETVNETHDRSZ T_IOC(2, 215, 4)
#define TUNSETVNETHDRSZ T_IOC(1, 216, 4)
#define TUNSETQUEUE T_IOC(1, 217, 4)
/* _IOW('T', 213, struct sock_fprog): the size is part of the number. A 32-bit
 * sock_fprog is 8 bytes (u16 len, pointer at 4), a 64-bit one 16 (pointer at
 * 8). tun has no compat conversion for it. */
#define TUNATTACHFILTER_32 T_IOC(1, 213, 8)
#define TUNATTACHFILTER_64 T_IOC(1, 213, 16)
#define TUNDETACHFILTER_64 T_IOC(1, 214, 16)
#define TUNGETFILTER_32 T_IOC(2, 219, 8)

#define IFF_TAP_ 0x0002
#define IFF_MULTI_QUEUE_ 0x0100
#define IFF_ATTACH_QUEUE_ 0x0200
#define IFF_DETACH_QUEUE_ 0x0400
#define IFF_NO_PI_ 0x1000
#define IFF_VNET_HDR_ 0x4000
#define TUN_F_CSUM_ 0x01
#define TUN_F_TSO4_ 0x02

#define COMPAT_IFREQ 32 /* sizeof(struct compat_ifreq) */
#define BUF 48          /* what we hand over: compat_ifreq and 16 bytes more */

static const char *dev_path;
static char name[IFNAMSIZ];

static const char *errname(int e)
{
	static char other[16];
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case ENOSYS: return "ENOSYS";
	case ENOBUFS: return "ENOBUFS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EBADFD: return "EBADFD";
	case ENETDOWN: return "ENETDOWN";
	}
	snprintf(other, sizeof(other), "E%d", e);
	return other;
}

static void say(const char *step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const char *step, const char *fmt, ...)
{
	va_list ap;
	printf("%s: ", step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* A return value as printed: the value, or the errno name. */
static void show(const char *step, long r)
{
	if (r < 0)
		say(step, "%s", errname(errno));
	else
		say(step, "%ld", r);
}

/* A setup step: an error stops the program. */
static void need(const char *step, long r)
{
	show(step, r);
	if (r < 0) {
		puts("stopped: a setup step failed");
		exit(1);
	}
}

static void hex(char *out, const unsigned char *b, int n)
{
	for (int i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = 0;
}

static void say_hex(const char *step, const unsigned char *b, int n)
{
	char s[2 * BUF + 1];
	hex(s, b, n);
	say(step, "%s", s);
}

/* What the driver left past the 32-byte compat_ifreq. */
static void say_tail(const char *what, const unsigned char *b)
{
	char step[96];
	int untouched = 1;
	for (int i = COMPAT_IFREQ; i < BUF; i++)
		untouched &= b[i] == 0xff;
	snprintf(step, sizeof(step), "%s bytes 32..47 (past compat_ifreq)", what);
	say(step, "%s", untouched ? "untouched" : "written");
}

/* A 48-byte 0xff buffer holding an ifreq with `nm` and `flags`. */
static void ifreq(unsigned char *b, const char *nm, uint16_t flags)
{
	memset(b, 0xff, BUF);
	memset(b, 0, IFNAMSIZ);
	strncpy((char *)b, nm, IFNAMSIZ - 1);
	memcpy(b + 16, &flags, 2);
	memset(b + 18, 0, COMPAT_IFREQ - 18);
}

static uint16_t flags_of(const unsigned char *b)
{
	uint16_t f;
	memcpy(&f, b + 16, 2);
	return f;
}

static int open_dev(void)
{
	return open(dev_path, O_RDWR | O_CLOEXEC);
}

static int txqueues(void)
{
	char path[64];
	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", name);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += strncmp(e->d_name, "tx-", 3) == 0;
	closedir(d);
	return n;
}

static int set_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct ifreq r;
	memset(&r, 0, sizeof(r));
	memcpy(r.ifr_name, name, IFNAMSIZ);
	int rc = ioctl(s, SIOCGIFFLAGS, &r);
	if (rc == 0) {
		r.ifr_flags |= IFF_UP;
		rc = ioctl(s, SIOCSIFFLAGS, &r);
	}
	int e = errno;
	close(s);
	errno = e;
	return rc;
}

/* A 60-byte broadcast frame from 02:00:00:00:00:01, ethertype 0x88b5. */
static void eth_frame(unsigned char *f)
{
	static const unsigned char h[14] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5 };
	memset(f, 0, 60);
	memcpy(f, h, sizeof(h));
	for (int i = 14; i < 60; i++)
		f[i] = (unsigned char)i;
}

/* Sends one frame out through the device's xmit path (AF_PACKET). */
static int inject(void)
{
	unsigned char f[60];
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct sockaddr_ll sa;
	memset(&sa, 0, sizeof(sa));
	sa.sll_family = AF_PACKET;
	sa.sll_protocol = htons(0x88b5);
	sa.sll_ifindex = if_nametoindex(name);
	eth_frame(f);
	int r = sendto(s, f, sizeof(f), 0, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(s);
	errno = e;
	return r;
}

static int wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, ms);
	return r > 0 && (p.revents & POLLIN);
}

int main(int argc, char **argv)
{
	unsigned char b[BUF];
	int v;

	if (argc != 2) {
		fprintf(stderr, "usage: tun32 /dev/net/tun|/dev/net/rtun\n");
		return 2;
	}
	dev_path = argv[1];
	say("client", "%zu-bit, sizeof(struct ifreq)=%zu", sizeof(void *) * 8, sizeof(struct ifreq));

	int fd = open_dev();
	need("open", fd);
	unsigned int feat = 0;
	long r = ioctl(fd, TUNGETFEATURES, &feat);
	if (r < 0)
		show("TUNGETFEATURES", r);
	else
		say("TUNGETFEATURES", "0 features=0x%x", feat);

	/* TUNSETIFF: copies compat_ifreq in and back out. */
	ifreq(b, "", IFF_TAP_ | IFF_NO_PI_ | IFF_MULTI_QUEUE_ | IFF_VNET_HDR_);
	need("TUNSETIFF tap no_pi multi_queue vnet_hdr", ioctl(fd, TUNSETIFF, b));
	memcpy(name, b, IFNAMSIZ - 1);
	say("TUNSETIFF name", "%s", name[0] ? "set" : "empty");
	say("TUNSETIFF flags copied back", "0x%x", flags_of(b));
	say_hex("TUNSETIFF bytes 18..31", b + 18, COMPAT_IFREQ - 18);
	say_tail("TUNSETIFF", b);

	/* TUNGETIFF over 0xff: what tun writes into the 32 bytes, and no more. */
	memset(b, 0xff, sizeof(b));
	show("TUNGETIFF over 0xff", ioctl(fd, TUNGETIFF, b));
	say("TUNGETIFF name", "%s", strncmp((char *)b, name, IFNAMSIZ) == 0 ? "ours" : "other");
	int end = strnlen((char *)b, IFNAMSIZ), pad = 1;
	for (int i = end; i < IFNAMSIZ; i++)
		pad &= b[i] == 0;
	say("TUNGETIFF name padding", "%s", pad ? "zero" : "not zero");
	say("TUNGETIFF flags", "0x%x", flags_of(b));
	say_hex("TUNGETIFF bytes 16..31", b + 16, COMPAT_IFREQ - 16);
	say_tail("TUNGETIFF", b);

	/* Ioctls that take a pointer to an int, and one that takes a value. */
	v = 12;
	show("TUNSETVNETHDRSZ 12", ioctl(fd, TUNSETVNETHDRSZ, &v));
	v = -1;
	r = ioctl(fd, TUNGETVNETHDRSZ, &v);
	if (r < 0)
		show("TUNGETVNETHDRSZ", r);
	else
		say("TUNGETVNETHDRSZ", "%ld size=%d", r, v);
	show("TUNSETOFFLOAD csum|tso4", ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM_ | TUN_F_TSO4_)));
	show("TUNSETOFFLOAD unknown bit 0x200", ioctl(fd, TUNSETOFFLOAD, 0x200ul));
	v = -1;
	r = ioctl(fd, TUNGETSNDBUF, &v);
	if (r < 0)
		show("TUNGETSNDBUF", r);
	else
		say("TUNGETSNDBUF", "%ld sndbuf=%d", r, v);
	v = 65536;
	show("TUNSETSNDBUF 65536", ioctl(fd, TUNSETSNDBUF, &v));
	v = 0;
	show("TUNSETSNDBUF 0", ioctl(fd, TUNSETSNDBUF, &v));
	v = -1;
	r = ioctl(fd, TUNGETSNDBUF, &v);
	if (r < 0)
		show("TUNGETSNDBUF after set", r);
	else
		say("TUNGETSNDBUF after set", "%ld sndbuf=%d", r, v);

	/* TUNSETQUEUE detach/attach on a second queue. */
	int fd2 = open_dev();
	need("fd2 open", fd2);
	ifreq(b, name, IFF_TAP_ | IFF_NO_PI_ | IFF_MULTI_QUEUE_ | IFF_VNET_HDR_);
	need("fd2 TUNSETIFF same device", ioctl(fd2, TUNSETIFF, b));
	say("txqueues", "%d", txqueues());
	ifreq(b, "", IFF_DETACH_QUEUE_);
	show("fd2 TUNSETQUEUE detach", ioctl(fd2, TUNSETQUEUE, b));
	say_tail("TUNSETQUEUE", b);
	say("txqueues after detach", "%d", txqueues());
	memset(b, 0xff, sizeof(b));
	show("fd2 TUNGETIFF while detached", ioctl(fd2, TUNGETIFF, b));
	say("fd2 TUNGETIFF flags while detached", "0x%x", flags_of(b));
	ifreq(b, "", IFF_ATTACH_QUEUE_);
	show("fd2 TUNSETQUEUE attach", ioctl(fd2, TUNSETQUEUE, b));
	say("txqueues after attach", "%d", txqueues());
	ifreq(b, "", 0);
	show("fd2 TUNSETQUEUE no flag", ioctl(fd2, TUNSETQUEUE, b));

	/* SIOCGIFHWADDR over 0xff: the family only (the MAC is random). */
	memset(b, 0xff, sizeof(b));
	show("SIOCGIFHWADDR over 0xff", ioctl(fd, SIOCGIFHWADDR, b));
	say("SIOCGIFHWADDR family", "%u", flags_of(b));
	say_hex("SIOCGIFHWADDR bytes 24..31", b + 24, COMPAT_IFREQ - 24);
	say_tail("SIOCGIFHWADDR", b);

	/* TUNATTACHFILTER: "ret #0xffff" (accept), as a 32-bit sock_fprog. */
	struct { uint16_t code; uint8_t jt, jf; uint32_t k; } insn = { 0x06, 0, 0, 0xffff };
	unsigned char prog[16];
	memset(prog, 0, sizeof(prog));
	uint16_t one = 1;
	uint32_t p32 = (uint32_t)(uintptr_t)&insn;
	memcpy(prog, &one, 2);
	memcpy(prog + 4, &p32, 4);
	show("TUNATTACHFILTER 32-bit number, 32-bit sock_fprog", ioctl(fd, TUNATTACHFILTER_32, prog));
	show("TUNATTACHFILTER 64-bit number, 32-bit sock_fprog", ioctl(fd, TUNATTACHFILTER_64, prog));
	/* The 64-bit layout: the pointer at offset 8, zero-extended. */
	memset(prog + 4, 0, 4);
	memcpy(prog + 8, &p32, 4);
	show("TUNATTACHFILTER 64-bit number, 64-bit sock_fprog", ioctl(fd, TUNATTACHFILTER_64, prog));
	memset(b, 0xff, sizeof(b));
	show("TUNGETIFF after the filter", ioctl(fd, TUNGETIFF, b));
	say("TUNGETIFF flags after the filter", "0x%x", flags_of(b));
	memset(b, 0xff, sizeof(b));
	show("TUNGETFILTER 32-bit number", ioctl(fd, TUNGETFILTER_32, b));
	show("TUNDETACHFILTER 64-bit number", ioctl(fd, TUNDETACHFILTER_64, prog));

	/* TUNSETTXFILTER: struct tun_filter, then the addresses. */
	unsigned char flt[4 + 6];
	uint16_t fl = 0, cnt = 1;
	memcpy(flt, &fl, 2);
	memcpy(flt + 2, &cnt, 2);
	memset(flt + 4, 0xff, 6);
	show("TUNSETTXFILTER ff:ff:ff:ff:ff:ff", ioctl(fd, TUNSETTXFILTER, flt));

	/* Write and read, non-blocking, with the 12-byte vnet header. */
	need("O_NONBLOCK", fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK));
	unsigned char w[12 + 60];
	memset(w, 0, 12);
	eth_frame(w + 12);
	show("write 60-byte frame while down", write(fd, w, sizeof(w)));
	need("link up", set_up());
	show("write 60-byte frame", write(fd, w, sizeof(w)));
	unsigned char rb[2048];
	show("nonblocking read, nothing queued", read(fd, rb, sizeof(rb)));
	/* The queue of each frame is chosen by flow hash: read it on whichever. */
	need("fd2 O_NONBLOCK", fcntl(fd2, F_SETFL, fcntl(fd2, F_GETFL) | O_NONBLOCK));
	show("inject 1 frame", inject());
	int got = -1;
	for (int i = 0; i < 100 && got < 0; i++) {
		if (wait_readable(fd, 10))
			got = fd;
		else if (wait_readable(fd2, 10))
			got = fd2;
	}
	say("frame queued", "%s", got >= 0 ? "yes" : "no");
	if (got >= 0) {
		memset(rb, 0xff, sizeof(rb));
		r = read(got, rb, sizeof(rb));
		show("nonblocking read", r);
		if (r >= 12) {
			say_hex("read vnet header (over 0xff)", rb, 12);
			unsigned char f[60];
			eth_frame(f);
			say("read frame", "%s", r == 72 && memcmp(rb + 12, f, 60) == 0 ? "match" : "mismatch");
		}
		show("nonblocking read again", read(got, rb, sizeof(rb)));
	}
	close(fd2);
	close(fd);
	return 0;
}
