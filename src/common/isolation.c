/* SPDX-License-Identifier: Apache-2.0 */
/* isolation.c - Landlock, capabilities and no_new_privs (isolation.h)
 *
 * The kernel headers of Debian 12 (6.1) know Landlock up to ABI 2; the
 * newer rights and fields (TRUNCATE: ABI 3, TCP: ABI 4, IOCTL_DEV: ABI 5,
 * scopes: ABI 6) are kernel ABI, defined here when the headers lack them,
 * and only ever used on a kernel that reports that ABI.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "isolation.h"

/* include/uapi/linux/landlock.h */
#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_REMOVE_DIR (1ull << 4)
#define LL_FS_REMOVE_FILE (1ull << 5)
#define LL_FS_MAKE_CHAR (1ull << 6)
#define LL_FS_MAKE_DIR (1ull << 7)
#define LL_FS_MAKE_REG (1ull << 8)
#define LL_FS_MAKE_SOCK (1ull << 9)
#define LL_FS_MAKE_FIFO (1ull << 10)
#define LL_FS_MAKE_BLOCK (1ull << 11)
#define LL_FS_MAKE_SYM (1ull << 12)
#define LL_FS_REFER (1ull << 13)      /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14)   /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ull << 15)  /* ABI 5 */
#define LL_NET_BIND_TCP (1ull << 0)   /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ull << 1)

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;             /* ABI 6 */
};

struct ll_path_beneath {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

/* Rights that only make sense on a directory (refused on a file). */
#define LL_DIR_ONLY                                                       \
	(LL_FS_READ_DIR | LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE |          \
	 LL_FS_MAKE_CHAR | LL_FS_MAKE_DIR | LL_FS_MAKE_REG |              \
	 LL_FS_MAKE_SOCK | LL_FS_MAKE_FIFO | LL_FS_MAKE_BLOCK |           \
	 LL_FS_MAKE_SYM | LL_FS_REFER)

static uint64_t fs_rights(int abi)
{
	uint64_t all = (1ull << 13) - 1;

	if (abi >= 2)
		all |= LL_FS_REFER;
	if (abi >= 3)
		all |= LL_FS_TRUNCATE;
	if (abi >= 5)
		all |= LL_FS_IOCTL_DEV;
	return all;
}

static uint64_t class_rights(enum msb_ll_access a)
{
	const uint64_t read = LL_FS_READ_FILE | LL_FS_READ_DIR;

	switch (a) {
	case MSB_LL_READ:
		return read;
	case MSB_LL_EXEC:
		return read | LL_FS_EXECUTE;
	case MSB_LL_DEV:
		return LL_FS_READ_FILE | LL_FS_WRITE_FILE | LL_FS_IOCTL_DEV;
	case MSB_LL_RW:
		return ~(LL_FS_MAKE_CHAR | LL_FS_MAKE_BLOCK | LL_FS_EXECUTE);
	case MSB_LL_RMDIR:
		return LL_FS_REMOVE_DIR;
	}
	return 0;
}

int msb_landlock_abi(void)
{
	long abi = syscall(__NR_landlock_create_ruleset, NULL, 0,
			   LL_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : (int)abi;
}

int msb_no_new_privs(void)
{
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}

int msb_landlock_make(const struct msb_ll_rule *rules, size_t n,
		      unsigned int flags, int *abi_out, char *why, size_t len)
{
	struct ll_ruleset_attr attr = { 0 };
	size_t attr_size = sizeof(attr.handled_access_fs);
	int abi = msb_landlock_abi(), rs, r;
	uint64_t all;

	if (len)
		why[0] = '\0';
	*abi_out = abi;
	if (abi <= 0) {
		snprintf(why, len, "this kernel has no Landlock (not built in, "
			 "or not in the lsm= list it booted with)");
		return -ENOSYS;
	}
	all = fs_rights(abi);
	attr.handled_access_fs = all;
	if (abi >= 4) {
		attr_size = offsetof(struct ll_ruleset_attr, scoped);
		if (flags & MSB_LL_NO_TCP)
			attr.handled_access_net = LL_NET_BIND_TCP |
						  LL_NET_CONNECT_TCP;
		if (flags & MSB_LL_NO_TCP_BIND)
			attr.handled_access_net |= LL_NET_BIND_TCP;
	}
	if (abi >= 6) {
		attr_size = sizeof(attr);
		if (flags & MSB_LL_SCOPE)
			attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
	}
	if (abi < 6 &&
	    (flags & (MSB_LL_NO_TCP | MSB_LL_NO_TCP_BIND | MSB_LL_SCOPE)))
		snprintf(why, len, "Landlock ABI %d: %s", abi,
			 abi < 4 ? "TCP and signals are not restricted" :
				   "signals are not restricted");
	rs = (int)syscall(__NR_landlock_create_ruleset, &attr, attr_size, 0);
	if (rs < 0) {
		r = -errno;
		snprintf(why, len, "landlock_create_ruleset: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		struct ll_path_beneath pb;
		struct stat st;
		int fd;

		if (!rules[i].path)
			continue;
		fd = open(rules[i].path, O_PATH | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			if (rules[i].optional && r == -ENOENT)
				continue;
			snprintf(why, len, "%s (for %s): %s", rules[i].path,
				 rules[i].who, strerror(-r));
			close(rs);
			return r;
		}
		pb.allowed_access = class_rights(rules[i].access) & all;
		if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
			pb.allowed_access &= ~LL_DIR_ONLY;
		pb.parent_fd = fd;
		r = (int)syscall(__NR_landlock_add_rule, rs,
				 LL_RULE_PATH_BENEATH, &pb, 0);
		if (r < 0) {
			r = -errno;
			snprintf(why, len, "Landlock rule for %s (%s): %s",
				 rules[i].path, rules[i].who, strerror(-r));
			close(fd);
			close(rs);
			return r;
		}
		close(fd);
	}
	return rs;
}

int msb_landlock_enforce(int ruleset)
{
	int r = msb_no_new_privs();

	if (r == 0 && syscall(__NR_landlock_restrict_self, ruleset, 0) < 0)
		r = -errno;
	return r;
}

int msb_landlock_apply(const struct msb_ll_rule *rules, size_t n,
		       unsigned int flags, char *why, size_t len)
{
	int abi, rs = msb_landlock_make(rules, n, flags, &abi, why, len), r;

	if (rs == -ENOSYS && abi <= 0)
		return 0;
	if (rs < 0)
		return rs;
	r = msb_landlock_enforce(rs);
	close(rs);
	if (r < 0) {
		snprintf(why, len, "landlock_restrict_self: %s", strerror(-r));
		return r;
	}
	return abi;
}

static int last_cap(void)
{
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	char buf[16] = "";
	int n = -1;

	if (fd >= 0) {
		n = (int)read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	return n > 0 ? atoi(buf) : CAP_LAST_CAP;
}

int msb_caps_drop_bounding(void)
{
	int last = last_cap();

	/* Dropping from the bounding set takes CAP_SETPCAP. A process
	 * without it gets EPERM, which is fine: it has nothing to lose
	 * (no_new_privs keeps it from gaining). */
	for (int c = 0; c <= last; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) > 0 &&
		    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EPERM)
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return -errno;
	return 0;
}

int msb_caps_drop_all(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int r = msb_caps_drop_bounding();

	if (r < 0)
		return r;
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}
