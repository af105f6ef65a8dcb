/* SPDX-License-Identifier: GPL-2.0
 * tools/tbprof: a QEMU TCG plugin that counts the executions of every
 * translation block: its start address, its instructions, and how often each
 * vCPU (the guest has two) ran it. Each execution of the block that starts at
 * `trigger=ADDR` (hex; profile.sh passes __x64_sys_sync, so a `sync` in the
 * guest marks a phase) writes the counts to `out=PREFIX.N` (N = 0, 1, ...)
 * and resets them; QEMU exiting writes the last phase. A line per block run:
 *
 *     VADDR_HEX INSNS COUNT_VCPU0 COUNT_VCPU1
 *
 * Blocks are counted whole (one that an exception leaves early counts all its
 * instructions), which is exact for the kernel's straight-line code.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The few plugin API calls used, as QEMU 10's include/qemu/qemu-plugin.h
 * declares them (Debian does not ship the header); API version 4. */
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
					  int flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 4;

/* One per translation (a block translated again gets another; the analysis
 * adds them up by address). Under TCG's round-robin (icount) one host thread
 * runs both vCPUs, so the plain increments do not race. */
struct block {
	uint64_t vaddr;
	uint64_t count[2];
	uint32_t insns;
	struct block *next;
};

static struct block *blocks;
static uint64_t trigger;
static const char *prefix = "tbprof";
static int phase;

static void count_cb(unsigned int vcpu, void *ud)
{
	struct block *b = ud;

	b->count[vcpu & 1]++;
}

static void dump(void)
{
	char name[4096];
	FILE *f;

	snprintf(name, sizeof(name), "%s.%d", prefix, phase++);
	f = fopen(name, "w");
	for (struct block *b = blocks; b; b = b->next) {
		if (f && (b->count[0] || b->count[1]))
			fprintf(f, "%" PRIx64 " %" PRIu32 " %" PRIu64 " %" PRIu64 "\n",
				b->vaddr, b->insns, b->count[0], b->count[1]);
		b->count[0] = b->count[1] = 0;
	}
	if (f)
		fclose(f);
	else
		perror(name);
}

static void trigger_cb(unsigned int vcpu, void *ud)
{
	count_cb(vcpu, ud);
	dump();
}

static void translate_cb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	struct block *b = calloc(1, sizeof(*b));

	(void)id;
	if (!b)
		return;
	b->vaddr = qemu_plugin_tb_vaddr(tb);
	b->insns = qemu_plugin_tb_n_insns(tb);
	b->next = blocks;
	blocks = b;
	qemu_plugin_register_vcpu_tb_exec_cb(tb, b->vaddr == trigger ? trigger_cb : count_cb, 0, b);
}

static void exit_cb(qemu_plugin_id_t id, void *ud)
{
	(void)id;
	(void)ud;
	dump();
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "trigger=", 8))
			trigger = strtoull(argv[i] + 8, NULL, 16);
		else if (!strncmp(argv[i], "out=", 4))
			prefix = strdup(argv[i] + 4);
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, translate_cb);
	qemu_plugin_register_atexit_cb(id, exit_cb, NULL);
	return 0;
}
