/* SPDX-License-Identifier: Apache-2.0 */
/* confine.c - what the supervisor may still do once the guest runs
 *
 * Theory of operation: the supervisor parses every byte the guest sends
 * (frames, FUSE requests, DNS queries, TLS records) while it holds the
 * secrets' values, the interception CA's key and the user's files. So
 * once it is set up, and before it reads the guest's first byte, it gives
 * up all it no longer needs, in this order (docs/security.md):
 *
 *   1. Landlock (where the kernel has it): files only under its own
 *      sandbox directory, its volumes' host directories, the state
 *      database, <home>/host and <home>/snapshots, and the kernel,
 *      initramfs and disks each launch hands QEMU; read-only the system's
 *      trust store, time zones and resolver files; no TCP bind (published
 *      ports are bound already); no signal or abstract socket out of its
 *      domain.
 *   2. No capability at all, in any set: as root it stays uid 0 (its
 *      files are root's) but holds no privilege.
 *   3. The seccomp allow-list (seccomp.c), with no_new_privs, on all its
 *      threads.
 *
 * It no longer forks or executes anything: the VMM's launcher, forked
 * earlier (src/engine/launcher.c), starts QEMU when asked.
 *
 * MSB_NO_CONFINE=1 skips all of it (and the VMM's confinement): for
 * benchmarks that measure what confinement costs (bench/run.sh), never for
 * use. The log says so in every sandbox it applies to.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confine.h"
#include "isolation.h"
#include "supervisor.h"
#include "util.h"

#define MAX_RULES (40 + SUP_MAX_VOLUMES * 2)

int sup_confine_wanted(void)
{
	const char *e = getenv("MSB_NO_CONFINE");

	return !(e && !strcmp(e, "1"));
}

/* Read-only system paths, each optional. Add one here, with who reads
 * it, when a library opens a new file after the supervisor is set up. */
static const struct msb_ll_rule system_ro[] = {
	{ "/etc/ssl", MSB_LL_READ, 1, "OpenSSL: upstream trust store" },
	{ "/usr/lib/ssl", MSB_LL_READ, 1, "OpenSSL: openssl.cnf, certs" },
	{ "/usr/share/ca-certificates", MSB_LL_READ, 1,
	  "OpenSSL: the trust store's links point here" },
	{ "/etc/localtime", MSB_LL_READ, 1, "log timestamps" },
	{ "/usr/share/zoneinfo", MSB_LL_READ, 1, "log timestamps" },
	{ "/etc/resolv.conf", MSB_LL_READ, 1, "the DNS upstream" },
	{ "/etc/hosts", MSB_LL_READ, 1, "name lookups of libraries" },
	{ "/etc/nsswitch.conf", MSB_LL_READ, 1, "the same" },
	{ "/etc/gai.conf", MSB_LL_READ, 1, "the same" },
	{ "/sys/devices/system/cpu", MSB_LL_READ, 1,
	  "glibc: how many CPUs (malloc arenas)" },
	{ "/dev/urandom", MSB_LL_READ, 1, "libraries without getrandom" },
	{ "/dev/null", MSB_LL_DEV, 1, "libraries" },
#if defined(__SANITIZE_ADDRESS__)
	{ "/proc", MSB_LL_READ, 1, "AddressSanitizer (make asan only)" },
#endif
};

static void add(struct msb_ll_rule *r, size_t *n, const char *path,
		enum msb_ll_access a, int optional, const char *who)
{
	if (*n < MAX_RULES && path)
		r[(*n)++] = (struct msb_ll_rule){ path, a, optional, who };
}

/* sup_rules() - the supervisor's own paths; @paths keeps the strings. */
static size_t sup_rules(struct sup *s, struct msb_ll_rule *r,
			char paths[][PATH_MAX])
{
	json_object *vols;
	size_t n = 0, p = 0;

	add(r, &n, s->dir, MSB_LL_RW, 0,
	    "its sandbox: logs, the API socket, the upper disk");
	snprintf(paths[p], PATH_MAX, "%s/msb.db", msb_home());
	add(r, &n, paths[p++], MSB_LL_RW, 0, "the state database");
	snprintf(paths[p], PATH_MAX, "%s/msb.db-wal", msb_home());
	add(r, &n, paths[p++], MSB_LL_RW, 1, "the state database (WAL)");
	snprintf(paths[p], PATH_MAX, "%s/msb.db-shm", msb_home());
	add(r, &n, paths[p++], MSB_LL_RW, 1, "the state database (WAL)");
	snprintf(paths[p], PATH_MAX, "%s/host", msb_home());
	add(r, &n, paths[p++], MSB_LL_RW, 0,
	    "host facts (kvm-broken, tsc-khz)");
	snprintf(paths[p], PATH_MAX, "%s/snapshots", msb_home());
	add(r, &n, paths[p++], MSB_LL_RW, 0,
	    "snapshots: saving one, a restored sandbox's own (the library "
	    "checks each file's size, change time and hash before a restore)");
	/* msb run --rm: the supervisor removes its own directory */
	snprintf(paths[p], PATH_MAX, "%s/sandboxes", msb_home());
	add(r, &n, paths[p++], MSB_LL_RMDIR, 0,
	    "removing its own (empty) sandbox directory at the end");
	/* what each launch opens and hands QEMU (src/engine/qemu.c) */
	add(r, &n, s->spec.kernel, MSB_LL_READ, 0, "the guest kernel");
	add(r, &n, s->spec.initrd, MSB_LL_READ, 0, "the initramfs");
	for (unsigned int i = 0; i < s->spec.ndisks; i++)
		add(r, &n, s->spec.disks[i].path,
		    s->spec.disks[i].readonly ? MSB_LL_READ : MSB_LL_RW, 0,
		    "a disk of the VM");
	if (json_object_object_get_ex(s->config, "volumes", &vols) &&
	    json_object_is_type(vols, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(vols); i++) {
			json_object *o = json_object_array_get_idx(vols, i), *v;
			int ro = json_object_object_get_ex(o, "ro", &v) &&
				 json_object_get_boolean(v);

			if (json_object_object_get_ex(o, "source", &v))
				add(r, &n, json_object_get_string(v),
				    ro ? MSB_LL_READ : MSB_LL_RW, 0,
				    "a volume's host directory");
			if (json_object_object_get_ex(o, "dir", &v))
				add(r, &n, json_object_get_string(v),
				    ro ? MSB_LL_READ : MSB_LL_RW, 0,
				    "a plugin volume's host directory");
		}
	}
	for (size_t i = 0; i < sizeof(system_ro) / sizeof(system_ro[0]); i++)
		add(r, &n, system_ro[i].path, system_ro[i].access, 1,
		    system_ro[i].who);
	return n;
}

int sup_confine(struct sup *s, char *why, size_t len)
{
	static char paths[8][PATH_MAX];
	struct msb_ll_rule rules[MAX_RULES];
	char ll[300], note[300];
	uid_t ouid;
	gid_t ogid;
	size_t n;
	int abi, r;

	if (!s->vm.confined) {
		sup_log(s, "confinement is OFF (MSB_NO_CONFINE=1): for "
			   "benchmarks only, never for use");
		return 0;
	}
	/* (made now if need be, as the library would: a rule names it) */
	snprintf(paths[0], PATH_MAX, "%s/snapshots", msb_home());
	msb_mkdir_p(paths[0], 0700);
	n = sup_rules(s, rules, paths);
	abi = msb_landlock_apply(rules, n, MSB_LL_NO_TCP_BIND | MSB_LL_SCOPE,
				 ll, sizeof(ll));
	if (abi < 0) {
		snprintf(why, len, "cannot confine the supervisor: %s", ll);
		return abi;
	}
	if (abi == 0)
		snprintf(note, sizeof(note), "no Landlock (%s): files are not "
			 "restricted", ll);
	else
		snprintf(note, sizeof(note), "Landlock ABI %d%s%s", abi,
			 ll[0] ? ", " : "", ll);
	/* As root, volumes of one other user are served as that user: their
	 * ids become the saved ones, the only ones a root without
	 * capabilities may take (setfsuid, in each volume's thread). */
	r = sup_fs_owner(s, &ouid, &ogid, why, len);
	if (r < 0)
		return r;
	if (r > 0 && (setresgid((gid_t)-1, (gid_t)-1, ogid) < 0 ||
		      setresuid((uid_t)-1, (uid_t)-1, ouid) < 0)) {
		r = -errno;
		snprintf(why, len, "cannot keep uid %u for its volumes: %s",
			 (unsigned)ouid, strerror(-r));
		return r;
	}
	r = msb_caps_drop_all();
	if (r < 0) {
		snprintf(why, len, "cannot drop capabilities: %s",
			 strerror(-r));
		return r;
	}
	r = sup_seccomp_install(s->console_log, why, len);
	if (r < 0)
		return r;
	sup_log(s, "confined: seccomp allow-list (%d system calls), %s, no "
		   "capabilities; the VMM: -sandbox, %s, uid %u",
		r, note, s->vm.note, (unsigned)s->vmm_uid);
	return 0;
}
