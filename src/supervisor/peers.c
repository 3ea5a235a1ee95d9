/* SPDX-License-Identifier: Apache-2.0 */
/* peers.c - what a sandbox may do with its peers, done by libmsb
 *
 * Runs in a spawn broker's worker (broker.c), a copy of the parent's
 * supervisor made before it was confined, on a request its supervisor
 * checked (spawnreq.c) and whose secrets it resolved. The rules
 * (docs/spawn.md):
 * - the parent's record says whether and how much it may spawn ("spawn":
 *   max live peers, images, CPUs and memory per peer, memory in total),
 *   for its whole tree: peers inherit it and count against the root
 *   ("spawn_root"), under a lock so two starts cannot both take the last
 *   place;
 * - a peer's network is its parent's policy or narrower, never wider;
 *   it gets no volume; its secrets are values the parent holds, bound to
 *   hosts no wider than the parent's binding, with a placeholder of its
 *   own;
 * - a parent acts only on the peers it started ("spawned_by").
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "broker.h"
#include "image.h"
#include "jsonx.h"
#include "policy.h"
#include "project.h"
#include "proto.h"
#include "spawnreq.h"
#include "state.h"
#include "util.h"

#define DEFAULT_PEER_MIB 512
#define LOG_TAIL (256 * 1024)

struct ctx {
	const char *parent;
	json_object *config; /* the parent's record's configuration */
	uint32_t stream;
	int ctl;
};

/* tree_root() - the sandbox whose quota @x's parent's peers count against. */
static const char *tree_root(struct ctx *x)
{
	return msb_jstr(x->config, "spawn_root", NULL) ? msb_jstr(x->config, "spawn_root", NULL) :
						   x->parent;
}

static void result(struct ctx *x, int err, const char *msg)
{
	uint8_t buf[4200];
	struct msb_tlv_w w;

	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_u32(&w, MSB_T_ERRNO, (uint32_t)err);
	if (msg)
		msb_tlv_put_str(&w, MSB_T_MESSAGE, msg);
	broker_send(x->ctl, x->stream, MSB_F_RESULT, buf, w.len);
}

/* ---- the broker's pipe: output credit, the request's input ----------- */

static uint64_t credit = MSB_WINDOW_INIT;
static struct {
	uint8_t *buf; /* MSB_PEER_STDIN_WINDOW: what the program may send */
	size_t off, len;
	size_t owed;  /* taken, not yet given back (WINDOW) */
	int eof;
	unsigned rows, cols;
	int resized;
} in;

static void pipe_read(void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = read(PEER_IN_FD, b, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(0); /* the broker is gone, or cancelled */
		b += r;
		n -= (size_t)r;
	}
}

/* take() - one message of the broker's (waited for). Input past its
 * window is the guest's fault: the request ends. */
static void take(void)
{
	uint8_t h[4];
	uint32_t w, v;

	pipe_read(h, 4);
	w = msb_get_be32(h);
	v = w & 0xffffff;
	switch (w >> 24) {
	case PIN_CREDIT:
		credit += v;
		break;
	case PIN_STDIN:
		if (!v) {
			in.eof = 1;
			break;
		}
		if (!in.buf && !(in.buf = malloc(MSB_PEER_STDIN_WINDOW)))
			_exit(1);
		if (in.off) {
			memmove(in.buf, in.buf + in.off, in.len);
			in.off = 0;
		}
		if (in.eof || in.len + v > MSB_PEER_STDIN_WINDOW)
			_exit(1);
		pipe_read(in.buf + in.len, v);
		in.len += v;
		break;
	case PIN_RESIZE: {
		uint8_t b[4];

		pipe_read(b, 4);
		in.rows = msb_get_be16(b);
		in.cols = msb_get_be16(b + 2);
		in.resized = 1;
		break;
	}
	default:
		_exit(1);
	}
}

/* give_back() - the input taken so far, granted back to the program. */
static void give_back(struct ctx *x)
{
	uint8_t b[4];

	if (!in.owed)
		return;
	msb_put_be32(b, (uint32_t)in.owed);
	broker_send(x->ctl, x->stream, MSB_F_WINDOW, b, 4);
	in.owed = 0;
}

/* used() - @n bytes of the input taken. */
static void used(struct ctx *x, size_t n)
{
	in.off += n;
	in.len -= n;
	in.owed += n;
	if (in.owed >= MSB_PEER_STDIN_WINDOW / 4)
		give_back(x);
}

/* in_read() - up to @n bytes of the input (waited for). Return: how
 * many, 0 at its end. */
static size_t in_read(struct ctx *x, void *p, size_t n)
{
	while (!in.len && !in.eof) {
		give_back(x); /* before waiting: the program may be too */
		take();
	}
	if (n > in.len)
		n = in.len;
	if (n) {
		memcpy(p, in.buf + in.off, n);
		used(x, n);
	}
	return n;
}

/* in_full() - exactly @n bytes. Return: 0, or -1 at the input's end. */
static int in_full(struct ctx *x, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		size_t k = in_read(x, b, n);

		if (!k)
			return -1;
		b += k;
		n -= k;
	}
	return 0;
}

/* out() - output for the guest program, within the credit it gave
 * (waited for: a program that reads slowly slows this worker only). */
static void out(struct ctx *x, uint8_t type, const char *p, size_t n)
{
	while (n) {
		size_t k = n > MSB_FRAME_MAX ? MSB_FRAME_MAX : n;

		while (credit < k)
			take();
		credit -= k;
		broker_send(x->ctl, x->stream, type, p, k);
		p += k;
		n -= k;
	}
}

/* norm_image() - an image reference as the store names it shortly, so
 * "busybox" and "docker.io/library/busybox:latest" compare equal. */
static void norm_image(const char *ref_in, char *buf, size_t n)
{
	struct msb_ref ref;

	if (strcmp(ref_in, "default") && msb_ref_parse(ref_in, &ref, NULL) == 0)
		msb_ref_short(&ref, buf, n);
	else
		snprintf(buf, n, "%s", ref_in);
}

/* load_row_of() - @name's record, if there is one. */
static int load_row_of(const char *name, struct msb_row *row)
{
	sqlite3 *db;
	int r;

	if (msb_db_open(NULL, &db, NULL) < 0)
		return -1;
	r = msb_db_get(db, name, row, NULL);
	msb_db_close(db);
	return r;
}

/* peer_of() - the record of @name, if it is a peer @x's parent started.
 * Another sandbox, or none, is the same "no" (no oracle of names). */
static int peer_of(struct ctx *x, const char *name, struct msb_row *row,
		   msb_error *err)
{
	sqlite3 *db;
	json_object *cfg;
	int r, mine;

	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_db_get(db, name, row, NULL);
	msb_db_close(db);
	if (r < 0)
		goto no;
	cfg = json_tokener_parse(row->config ? row->config : "");
	mine = cfg && msb_jstr(cfg, "spawned_by", NULL) &&
	       !strcmp(msb_jstr(cfg, "spawned_by", NULL), x->parent);
	json_object_put(cfg);
	if (mine)
		return 0;
	msb_row_free(row);
no:
	return msb_fail(err, MSB_E_POLICY,
			"'%s' is not a peer of this sandbox: a sandbox acts "
			"only on the peers it started (msb ps lists them)",
			name);
}

/* ---- the network: the parent's, or narrower ---------------------------- */

struct strv {
	const char *v[70];
	size_t n;
};

static void strv_add(struct strv *s, const char *v)
{
	if (s->n < sizeof(s->v) / sizeof(s->v[0]) - 1)
		s->v[s->n++] = v;
	s->v[s->n] = NULL;
}

static void strv_json(struct strv *s, json_object *net, const char *k)
{
	json_object *a;

	if (!json_object_object_get_ex(net, k, &a) ||
	    !json_object_is_type(a, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(a); i++)
		strv_add(s, json_object_get_string(
				    json_object_array_get_idx(a, i)));
}

static int cidr_within(const char *want, const char *have)
{
	struct net_cidr w, h;
	struct net_addr a;

	if (net_cidr_parse(want, &w) < 0 || net_cidr_parse(have, &h) < 0 ||
	    w.family != h.family || w.len < h.len)
		return 0;
	if (w.family == 4)
		a = net_addr4(msb_get_be32(w.addr));
	else
		a = net_addr6(w.addr);
	return net_cidr_match(&h, &a);
}

struct net_out {
	msb_net_config nc;
	struct strv allow, cidr, block, host;
	char ports[16][8];
};

/* peer_net() - the peer's network from its parent's ("net" in the
 * record) and what the request narrows it to. */
static int peer_net(json_object *pnet, json_object *req, struct net_out *o,
		    msb_error *err)
{
	json_object *a, *v;
	int deny = json_object_object_get_ex(pnet, "deny_all", &v) &&
		   json_object_get_boolean(v);
	struct strv pallow = { 0 }, pcidr = { 0 };

	memset(o, 0, sizeof(*o));
	strv_json(&pallow, pnet, "allow");
	strv_json(&pcidr, pnet, "allow_cidr");
	/* closed ranges stay closed; the same resolver and plugin */
	strv_json(&o->block, pnet, "block_cidr");
	o->nc.block_cidr = o->block.n ? o->block.v : NULL;
	o->nc.dns_nameserver = msb_jstr(pnet, "dns", NULL);
	o->nc.plugin = msb_jstr(pnet, "plugin", NULL);
	if (json_object_object_get_ex(req, "net_deny_all", &v) &&
	    json_object_get_boolean(v)) {
		/* air-gapped: nothing at all leaves */
		o->nc.deny_all = 1;
		return 0;
	}
	o->nc.deny_all = deny;
	if (json_object_object_get_ex(req, "net_allow", &a)) {
		/* only these names: each one the parent may reach */
		o->nc.deny_all = 1;
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			const char *want = json_object_get_string(
				json_object_array_get_idx(a, i));
			int ok = !deny;

			for (size_t k = 0; k < pallow.n && !ok; k++)
				ok = spawn_host_covers(pallow.v[k], want);
			if (!ok)
				return msb_fail(err, MSB_E_POLICY,
						"--net-allow %s is wider than "
						"this sandbox's own network "
						"policy: a peer's may only be "
						"narrower",
						want);
			strv_add(&o->allow, want);
		}
	} else {
		for (size_t k = 0; k < pallow.n; k++)
			strv_add(&o->allow, pallow.v[k]);
	}
	if (json_object_object_get_ex(req, "net_allow_cidr", &a)) {
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			const char *want = json_object_get_string(
				json_object_array_get_idx(a, i));
			int ok = 0;

			for (size_t k = 0; k < pcidr.n && !ok; k++)
				ok = cidr_within(want, pcidr.v[k]);
			if (!ok)
				return msb_fail(err, MSB_E_POLICY,
						"--net-allow-cidr %s is wider "
						"than this sandbox's own "
						"network policy: a peer's may "
						"only be narrower",
						want);
			strv_add(&o->cidr, want);
		}
	} else if (!json_object_object_get_ex(req, "net_allow", NULL)) {
		for (size_t k = 0; k < pcidr.n; k++)
			strv_add(&o->cidr, pcidr.v[k]);
	}
	/* the host's loopback ports the parent may reach */
	if (json_object_object_get_ex(pnet, "allow_host", &a) &&
	    !json_object_object_get_ex(req, "net_allow", NULL))
		for (size_t i = 0; i < json_object_array_length(a) && i < 16;
		     i++) {
			snprintf(o->ports[i], sizeof(o->ports[i]), "%d",
				 json_object_get_int(
					 json_object_array_get_idx(a, i)));
			strv_add(&o->host, o->ports[i]);
		}
	o->nc.allow = o->allow.n ? o->allow.v : NULL;
	o->nc.allow_cidr = o->cidr.n ? o->cidr.v : NULL;
	o->nc.allow_host = o->host.n ? o->host.v : NULL;
	return 0;
}

/* ---- start -------------------------------------------------------------- */

/* tree_use() - the live peers of @root's tree, and the memory they have. */
static int tree_use(const char *root, unsigned *n, uint64_t *mib,
		    msb_error *err)
{
	struct msb_row *rows;
	size_t nr;
	sqlite3 *db;
	int r;

	*n = 0;
	*mib = 0;
	r = msb_db_open(NULL, &db, err);
	if (r < 0)
		return r;
	r = msb_db_list(db, &rows, &nr, err);
	msb_db_close(db);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nr; i++) {
		json_object *cfg = json_tokener_parse(rows[i].config ?
							      rows[i].config :
							      "");
		const char *rt = msb_jstr(cfg, "spawn_root", NULL);

		/* stopped and failed peers hold nothing */
		if (rt && !strcmp(rt, root) &&
		    strcmp(rows[i].info.status, "stopped") &&
		    strcmp(rows[i].info.status, "failed")) {
			(*n)++;
			*mib += rows[i].info.memory_mib;
		}
		json_object_put(cfg);
		msb_row_free(&rows[i]);
	}
	free(rows);
	return 0;
}

static int image_allowed(json_object *policy, const char *image)
{
	char want[512], have[512];
	json_object *a;

	norm_image(image, want, sizeof(want));
	if (!json_object_object_get_ex(policy, "images", &a))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		norm_image(json_object_get_string(json_object_array_get_idx(a, i)),
			   have, sizeof(have));
		if (!strcmp(want, have))
			return 1;
	}
	return 0;
}

/* admit() - the tree's lock (*@lfd: close it once the peer is made or
 * started) and room under the host's limits for one more live peer of
 * @mib and @cpus. */
static int admit(struct ctx *x, uint64_t mib, unsigned cpus, int *lfd,
		 msb_error *err)
{
	json_object *policy;
	const char *root = tree_root(x);
	uint64_t mem_max, total_max, used_mib;
	unsigned max, cpus_max, live;
	char lock[PATH_MAX + 16], dir[PATH_MAX];
	int r;

	*lfd = -1;
	if (!json_object_object_get_ex(x->config, "spawn", &policy))
		return msb_fail(err, MSB_E_POLICY, "spawning is off for this "
				"sandbox: the host starts it with --allow-spawn "
				"N to let it start peers");
	max = (unsigned)msb_jint(policy, "max", 0);
	cpus_max = (unsigned)msb_jint(policy, "cpus", 1);
	mem_max = (uint64_t)msb_jint(policy, "memory_mib", DEFAULT_PEER_MIB);
	total_max = (uint64_t)msb_jint(policy, "total_memory_mib",
				      (int64_t)(mem_max * max));
	if (cpus > cpus_max)
		return msb_fail(err, MSB_E_POLICY, "%u CPUs are over the "
				"host's ceiling for this sandbox's peers (%u: "
				"--spawn-cpus)", cpus, cpus_max);
	if (mib > mem_max)
		return msb_fail(err, MSB_E_POLICY, "%lluM of memory is over the "
				"host's ceiling for this sandbox's peers "
				"(%lluM: --spawn-memory)",
				(unsigned long long)mib,
				(unsigned long long)mem_max);
	msb_sandbox_dir(root, dir, sizeof(dir));
	snprintf(lock, sizeof(lock), "%s/spawn.lock", dir);
	*lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*lfd < 0 || flock(*lfd, LOCK_EX) < 0) {
		r = msb_fail_errno(err, -errno, "cannot lock %s", lock);
		if (*lfd >= 0)
			close(*lfd);
		*lfd = -1;
		return r;
	}
	r = tree_use(root, &live, &used_mib, err);
	if (r == 0 && live >= max)
		r = msb_fail(err, MSB_E_POLICY, "this sandbox's tree already "
			     "has %u live peers, the most the host allows "
			     "(--allow-spawn %u): stop or remove one first",
			     live, max);
	if (r == 0 && used_mib + mib > total_max)
		r = msb_fail(err, MSB_E_POLICY, "%lluM more would take this "
			     "sandbox's tree's peers to %lluM of memory, over "
			     "the host's %lluM (--spawn-total-memory)",
			     (unsigned long long)mib,
			     (unsigned long long)(used_mib + mib),
			     (unsigned long long)total_max);
	if (r < 0) {
		close(*lfd);
		*lfd = -1;
	}
	return r;
}

/* value_secrets() - whether a record's configuration holds secrets given
 * as values (a peer's: kept nowhere, so it cannot boot again). */
static int value_secrets(json_object *cfg)
{
	json_object *a;

	if (!json_object_object_get_ex(cfg, "secrets", &a) ||
	    !json_object_is_type(a, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		const char *src = msb_jstr(json_object_array_get_idx(a, i),
					  "source", NULL);

		if (src && !strcmp(src, "value"))
			return 1;
	}
	return 0;
}

/* started() - peer @name runs: the event (for one it started, @image
 * not NULL), its name for the program, and the answer. */
static void started(struct ctx *x, const char *name, const char *image)
{
	char line[128];
	int n;

	if (image) {
		json_object *d = json_object_new_object();
		const char *t;

		json_object_object_add(d, "name", json_object_new_string(name));
		json_object_object_add(d, "image", json_object_new_string(image));
		t = json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN);
		broker_send(x->ctl, x->stream, BK_SPAWNED, t, strlen(t));
		json_object_put(d);
	}
	n = snprintf(line, sizeof(line), "%s\n", name);
	out(x, MSB_F_STDOUT, line, (size_t)n);
	result(x, 0, NULL);
}

/* restart() - `msb start NAME` of a peer that exists: a stopped one
 * boots again (counted as a start), with the settings it was made with. */
static int restart(struct ctx *x, json_object *req, struct msb_row *row,
		   msb_error *err)
{
	const char *name = msb_jstr(req, "name", NULL);
	char image[256];
	json_object *cfg;
	msb_sandbox *sb;
	int r, lfd, secrets;

	if (json_object_object_length(req) > 2) {
		msb_row_free(row);
		return msb_fail(err, MSB_E_EXISTS, "peer '%s' exists: 'msb "
				"start %s' alone starts it again (with the "
				"settings it was made with); 'msb rm %s' first "
				"to make a new one", name, name, name);
	}
	if (msb_status_is_live(row->info.status)) {
		msb_row_free(row);
		started(x, name, NULL);
		return 0;
	}
	snprintf(image, sizeof(image), "%s",
		 row->info.image[0] ? row->info.image : "default");
	cfg = json_tokener_parse(row->config ? row->config : "");
	secrets = value_secrets(cfg);
	json_object_put(cfg);
	if (secrets) {
		msb_row_free(row);
		return msb_fail(err, MSB_E_POLICY, "peer '%s' held secrets "
				"given at its creation, which are kept nowhere: "
				"it cannot be started again; start a new peer "
				"instead (msb start NEW --secret-env ...), and "
				"'msb rm %s' this one", name, name);
	}
	r = admit(x, row->info.memory_mib, row->info.cpus, &lfd, err);
	msb_row_free(row);
	if (r < 0)
		return r;
	r = msb_sandbox_start(name, &sb, err);
	close(lfd);
	if (r == -EALREADY) {
		started(x, name, NULL);
		return 0;
	}
	if (r == 0) {
		msb_sandbox_close(sb);
		started(x, name, image);
	}
	return r;
}

static int do_start(struct ctx *x, json_object *req, msb_error *err)
{
	json_object *policy, *pnet = NULL, *a, *extra;
	const char *name = msb_jstr(req, "name", NULL);
	const char *image = msb_jstr(req, "image", NULL);
	const char *root = msb_jstr(x->config, "spawn_root", NULL) ?
				   msb_jstr(x->config, "spawn_root", NULL) :
				   x->parent;
	struct net_out net;
	msb_sandbox_config c;
	msb_secret secrets[SPAWN_SECRETS_MAX];
	const char *env[SPAWN_ENV_MAX + 1] = { 0 };
	const char *bypass[64], *cas[1];
	char *ca_text = NULL;
	uint64_t mem_max, mib;
	unsigned cpus_max, cpus;
	msb_sandbox *sb = NULL;
	int r, lfd;

	/* one of its peers already: started again */
	{
		struct msb_row row;
		msb_error e2 = { 0 };

		if (json_object_object_get_ex(x->config, "spawn", NULL) &&
		    load_row_of(name, &row) == 0) {
			msb_row_free(&row);
			r = peer_of(x, name, &row, &e2);
			if (r < 0) {
				*err = e2;
				return r;
			}
			return restart(x, req, &row, err);
		}
	}
	if (!json_object_object_get_ex(x->config, "spawn", &policy))
		return msb_fail(err, MSB_E_POLICY, "spawning is off for this "
				"sandbox: the host starts it with --allow-spawn "
				"N to let it start peers");
	cpus_max = (unsigned)msb_jint(policy, "cpus", 1);
	mem_max = (uint64_t)msb_jint(policy, "memory_mib", DEFAULT_PEER_MIB);
	if (!image)
		image = msb_jstr(x->config, "image_ref", NULL) ?
				msb_jstr(x->config, "image_ref", NULL) :
				"default";
	if (!image_allowed(policy, image))
		return msb_fail(err, MSB_E_POLICY, "image '%s' is not one this "
				"sandbox may start peers from (the host allows "
				"them with --spawn-image)", image);
	cpus = (unsigned)msb_jint(req, "cpus", 1);
	if (cpus > cpus_max)
		return msb_fail(err, MSB_E_POLICY, "--cpus %u is over the "
				"host's ceiling for this sandbox's peers (%u: "
				"--spawn-cpus)", cpus, cpus_max);
	mib = mem_max < DEFAULT_PEER_MIB ? mem_max : DEFAULT_PEER_MIB;
	if (msb_jstr(req, "memory", NULL)) {
		r = msb_parse_memory(msb_jstr(req, "memory", NULL), &mib, err);
		if (r < 0)
			return r;
	}
	if (mib > mem_max)
		return msb_fail(err, MSB_E_POLICY, "--memory %lluM is over the "
				"host's ceiling for this sandbox's peers "
				"(%lluM: --spawn-memory)",
				(unsigned long long)mib,
				(unsigned long long)mem_max);

	msb_sandbox_config_init(&c);
	c.name = name;
	c.image = image;
	c.cpus = cpus;
	c.memory_mib = mib;
	if (json_object_object_get_ex(req, "env", &a)) {
		for (size_t i = 0; i < json_object_array_length(a); i++)
			env[i] = json_object_get_string(
				json_object_array_get_idx(a, i));
		c.env = env;
	}
	json_object_object_get_ex(x->config, "net", &pnet);
	r = peer_net(pnet, req, &net, err);
	if (r < 0)
		return r;
	c.net = net.nc;
	if (json_object_object_get_ex(req, "secrets", &a)) {
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			json_object *s = json_object_array_get_idx(a, i);

			secrets[i] = (msb_secret){
				.env = msb_jstr(s, "env", NULL),
				.source = MSB_SECRET_VALUE,
				.ref = msb_jstr(s, "value", NULL),
				.hosts = msb_jstr(s, "hosts", NULL),
				.inject = msb_jstr(s, "inject", NULL),
			};
		}
		c.secrets = secrets;
		c.nsecrets = json_object_array_length(a);
	}
	c.on_secret_violation = msb_jstr(x->config, "secret_violation", NULL);
	if (json_object_object_get_ex(x->config, "tls_bypass", &a)) {
		for (size_t i = 0; i < json_object_array_length(a) && i < 64; i++)
			bypass[c.ntls_bypass++] = json_object_get_string(
				json_object_array_get_idx(a, i));
		c.tls_bypass = bypass;
	}
	if (json_object_object_get_ex(x->config, "tls_upstream_ca", &a)) {
		/* one {subject, pem} a certificate in the record: all of
		 * them as one text */
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			const char *pem = msb_jstr(json_object_array_get_idx(a, i),
						  "pem", NULL);
			size_t have = ca_text ? strlen(ca_text) : 0;
			char *m = pem ? realloc(ca_text, have + strlen(pem) + 1) :
					NULL;

			if (!m)
				continue;
			ca_text = m;
			strcpy(ca_text + have, pem);
		}
		if (ca_text) {
			cas[0] = ca_text;
			c.ntls_upstream_ca = 1;
			c.tls_upstream_ca = cas;
		}
	}

	/* One start at a time in a tree: the count and the make are one. */
	r = admit(x, mib, cpus, &lfd, err);
	if (r == 0) {
		extra = json_object_new_object();
		json_object_object_add(extra, "spawned_by",
				       json_object_new_string(x->parent));
		json_object_object_add(extra, "spawn_root",
				       json_object_new_string(root));
		json_object_object_add(extra, "spawn", json_object_get(policy));
		r = msb_sandbox_create_extra(&c, extra, &sb, err);
		json_object_put(extra);
		close(lfd);
	}
	free(ca_text);
	if (r < 0)
		return r;
	msb_sandbox_close(sb);
	started(x, name, image);
	return 0;
}

/* ---- exec, stop, rm, logs, ps ------------------------------------------ */

/* exec_events() - the events @e holds, to the program. Return: 1 after
 * EXIT, 0, or negative. */
static int exec_events(struct ctx *x, msb_exec *e, msb_error *err)
{
	msb_exec_event ev;
	int r;

	while ((r = msb_exec_next(e, &ev, 0, err)) > 0) {
		if (ev.type == MSB_EXEC_STDOUT)
			out(x, MSB_F_STDOUT, (const char *)ev.data, ev.len);
		else if (ev.type == MSB_EXEC_STDERR)
			out(x, MSB_F_STDERR, (const char *)ev.data, ev.len);
		else if (ev.type == MSB_EXEC_EXIT) {
			uint8_t b[8];

			msb_put_be32(b, (uint32_t)(ev.signal ? 128 + ev.signal :
							       ev.exit_code));
			msb_put_be32(b + 4, (uint32_t)ev.signal);
			broker_send(x->ctl, x->stream, MSB_F_EXIT, b, 8);
			return 1;
		}
	}
	return r;
}

static int do_exec(struct ctx *x, json_object *req, msb_error *err)
{
	const char *argv[SPAWN_ARGV_MAX + 1] = { 0 }, *env[SPAWN_ENV_MAX + 1] = { 0 };
	json_object *a;
	msb_exec_opts o = { 0 };
	msb_sandbox *sb;
	msb_exec *e;
	struct msb_row row;
	int r, stdin_open;

	r = peer_of(x, msb_jstr(req, "name", NULL), &row, err);
	if (r < 0)
		return r;
	msb_row_free(&row);
	json_object_object_get_ex(req, "argv", &a);
	for (size_t i = 0; i < json_object_array_length(a); i++)
		argv[i] = json_object_get_string(json_object_array_get_idx(a, i));
	if (json_object_object_get_ex(req, "env", &a)) {
		for (size_t i = 0; i < json_object_array_length(a); i++)
			env[i] = json_object_get_string(
				json_object_array_get_idx(a, i));
		o.env = env;
	}
	o.workdir = msb_jstr(req, "workdir", NULL);
	o.stdin = stdin_open = msb_jbool(req, "stdin");
	o.tty = msb_jbool(req, "tty");
	o.rows = (unsigned)msb_jint(req, "rows", 0);
	o.cols = (unsigned)msb_jint(req, "cols", 0);
	r = msb_sandbox_open(msb_jstr(req, "name", NULL), &sb, err);
	if (r < 0)
		return r;
	r = msb_exec_start(sb, argv, &o, &e, err);
	if (r < 0) {
		msb_sandbox_close(sb);
		return r;
	}
	r = exec_events(x, e, err); /* what came with the start */
	/* The program's input goes in as the peer takes it (written only
	 * while the peer's socket has room, as msb exec -i does), given
	 * back to the program as it goes; its output comes out within the
	 * program's credit. Neither waits on the other. */
	while (r == 0) {
		struct pollfd pf[2] = {
			{ msb_exec_fd(e),
			  POLLIN | (stdin_open && (in.len || in.eof) ? POLLOUT :
								       0), 0 },
			{ PEER_IN_FD, POLLIN, 0 },
		};

		if (!stdin_open && in.len)
			used(x, in.len); /* nobody reads it: dropped */
		if (!in.len)
			give_back(x);
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = msb_fail_errno(err, -errno, "poll");
			break;
		}
		if (pf[1].revents)
			take();
		if (in.resized) {
			msb_exec_resize(e, in.rows, in.cols, NULL);
			in.resized = 0;
		}
		if (stdin_open && (pf[0].revents & POLLOUT)) {
			size_t k = in.len > 48 * 1024 ? 48 * 1024 : in.len;

			if (k && msb_exec_write(e, in.buf + in.off, k, NULL) < 0)
				stdin_open = 0;
			else if (k)
				used(x, k);
			else if (in.eof) {
				msb_exec_close_stdin(e, NULL);
				stdin_open = 0;
			}
		}
		if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		r = exec_events(x, e, err);
		if (r != 0)
			break;
	}
	msb_exec_free(e);
	msb_sandbox_close(sb);
	return r < 0 ? r : 0;
}

static int do_stop(struct ctx *x, json_object *req, int rm, msb_error *err)
{
	const char *name = msb_jstr(req, "name", NULL);
	struct msb_row row;
	int r;

	r = peer_of(x, name, &row, err);
	if (r < 0)
		return r;
	msb_row_free(&row);
	r = rm ? msb_sandbox_remove(name, 1, err) :
		 msb_sandbox_stop(name, 10, NULL, err);
	if (r == MSB_E_NOT_RUNNING && !rm)
		r = 0;
	if (r == 0)
		result(x, 0, NULL);
	return r;
}

static int do_logs(struct ctx *x, json_object *req, msb_error *err)
{
	const char *name = msb_jstr(req, "name", NULL);
	char path[PATH_MAX];
	struct msb_row row;
	size_t n;
	char *text;
	int r;

	r = peer_of(x, name, &row, err);
	if (r < 0)
		return r;
	msb_row_free(&row);
	r = msb_sandbox_logs_path(name, path, sizeof(path), err);
	if (r < 0)
		return r;
	text = msb_read_file(path, &n);
	if (text) {
		size_t from = n > LOG_TAIL ? n - LOG_TAIL : 0;

		out(x, MSB_F_STDOUT, text + from, n - from);
		free(text);
	}
	result(x, 0, NULL);
	return 0;
}

static int do_ps(struct ctx *x, json_object *req, msb_error *err)
{
	json_object *list = json_object_new_array(), *v;
	int json = json_object_object_get_ex(req, "json", &v) &&
		   json_object_get_boolean(v);
	msb_sandbox_info *info;
	size_t n;
	int r;

	/* msb_list(): the truth about supervisors that died */
	r = msb_list(&info, &n, err);
	if (r < 0) {
		json_object_put(list);
		return r;
	}
	if (!json)
		out(x, MSB_F_STDOUT, "NAME  IMAGE  STATUS\n", 20);
	for (size_t i = 0; i < n; i++) {
		struct msb_row row;
		msb_error e2 = { 0 };
		char line[512];
		int k;

		if (peer_of(x, info[i].name, &row, &e2) < 0)
			continue;
		msb_row_free(&row);
		if (json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "name",
					       json_object_new_string(info[i].name));
			json_object_object_add(o, "image",
					       json_object_new_string(info[i].image));
			json_object_object_add(o, "status",
					       json_object_new_string(info[i].status));
			json_object_object_add(o, "cpus",
					       json_object_new_int((int)info[i].cpus));
			json_object_object_add(o, "memory_mib",
					       json_object_new_int64(
						       (int64_t)info[i].memory_mib));
			json_object_array_add(list, o);
			continue;
		}
		k = snprintf(line, sizeof(line), "%s  %s  %s\n", info[i].name,
			     info[i].image[0] ? info[i].image : "default",
			     info[i].status);
		out(x, MSB_F_STDOUT, line, (size_t)k);
	}
	free(info);
	if (json) {
		const char *t = json_object_to_json_string_ext(
			list, JSON_C_TO_STRING_PLAIN);

		out(x, MSB_F_STDOUT, t, strlen(t));
		out(x, MSB_F_STDOUT, "\n", 1);
	}
	json_object_put(list);
	result(x, 0, NULL);
	return 0;
}

/* ---- cp: a peer's files, as an archive (proto.h's MSB_PCP_*) ---------- */

static int join(char *out, size_t n, const char *dir, const char *name,
		msb_error *err)
{
	if (msb_path_join(out, n, dir, name) < 0)
		return msb_fail(err, -ENAMETOOLONG, "path too long: %s/%s",
				dir, name);
	return 0;
}

/* Output in whole buffers, not a frame a record. */
static struct {
	char b[MSB_FRAME_MAX];
	size_t n;
} ob;

static void emit(struct ctx *x, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		size_t k = sizeof(ob.b) - ob.n < n ? sizeof(ob.b) - ob.n : n;

		memcpy(ob.b + ob.n, c, k);
		ob.n += k;
		c += k;
		n -= k;
		if (ob.n == sizeof(ob.b)) {
			out(x, MSB_F_STDOUT, ob.b, ob.n);
			ob.n = 0;
		}
	}
}

static void emit_flush(struct ctx *x)
{
	if (ob.n)
		out(x, MSB_F_STDOUT, ob.b, ob.n);
	ob.n = 0;
}

/* emit_rec() - a record of the peer's file @name, copied from @path (for
 * the error); -ENAMETOOLONG past the format's names, where the copy
 * stops. */
static int emit_rec(struct ctx *x, int type, uint32_t mode, const char *name,
		    const char *link, const char *path, msb_error *err)
{
	static uint8_t rec[MSB_PCP_REC_MAX];
	size_t n = msb_pcp_rec(rec, type, mode, name, link);

	if (!n)
		return msb_fail(err, -ENAMETOOLONG, "%s: a name or a link's "
				"target over %d bytes cannot be copied", path,
				MSB_PCP_NAME_MAX);
	emit(x, rec, n);
	return 0;
}

/* emit_file() - a peer's file: its bytes in chunks (@raw: as they are). */
static int emit_file(struct ctx *x, msb_sandbox *sb, const char *path,
		     const msb_file_opts *fo, int raw, msb_error *err)
{
	msb_file_event ev;
	msb_file *f;
	uint8_t h[4];
	int r;

	r = msb_file_open(sb, MSB_FILE_READ, path, fo, &f, err);
	if (r < 0)
		return r;
	while ((r = msb_file_next(f, &ev, -1, err)) >= 0) {
		if (r == 0)
			continue;
		if (ev.type == MSB_FILE_DONE)
			break;
		if (ev.type != MSB_FILE_DATA || !ev.len)
			continue;
		for (size_t off = 0; off < ev.len;) {
			size_t k = ev.len - off > MSB_PCP_CHUNK ? MSB_PCP_CHUNK :
								  ev.len - off;

			if (!raw) {
				msb_put_be32(h, (uint32_t)k);
				emit(x, h, 4);
			}
			emit(x, ev.data + off, k);
			off += k;
		}
	}
	msb_file_free(f);
	if (r < 0)
		return r;
	if (!raw) {
		msb_put_be32(h, 0);
		emit(x, h, 4);
	}
	return 0;
}

static int cp_out(struct ctx *x, msb_sandbox *sb, const char *path,
		  msb_file_opts *fo, int raw, msb_error *err)
{
	msb_file_info *st = malloc(sizeof(*st));
	char base[NAME_MAX + 1], full[PATH_MAX];
	msb_file_event ev;
	msb_file *f;
	int r;

	if (!st)
		return msb_fail(err, -ENOMEM, "out of memory");
	if (raw) {
		r = emit_file(x, sb, path, fo, 1, err);
		goto out;
	}
	fo->nofollow = 1;
	r = msb_file_stat(sb, path, fo, st, err);
	fo->nofollow = 0;
	if (r < 0)
		goto out;
	msb_path_base(path, base, sizeof(base));
	switch (st->type) {
	case MSB_FILE_DIR:
		r = emit_rec(x, MSB_PCP_DIR, st->mode, base, NULL, path, err);
		if (r < 0)
			break;
		fo->recursive = 1;
		r = msb_file_open(sb, MSB_FILE_LIST, path, fo, &f, err);
		fo->recursive = 0;
		if (r < 0)
			break;
		while ((r = msb_file_next(f, &ev, -1, err)) >= 0) {
			const msb_file_info *e = ev.entry;

			if (r == 0 || ev.type == MSB_FILE_DATA)
				continue;
			if (ev.type == MSB_FILE_DONE)
				break;
			if (e->type == MSB_FILE_DIR) {
				r = emit_rec(x, MSB_PCP_DIR, e->mode, e->name,
					     NULL, path, err);
			} else if (e->type == MSB_FILE_SYMLINK) {
				r = emit_rec(x, MSB_PCP_LINK, e->mode, e->name,
					     e->link, path, err);
			} else if (e->type == MSB_FILE_REGULAR) {
				r = join(full, sizeof(full), path, e->name, err);
				if (r == 0)
					r = emit_rec(x, MSB_PCP_FILE, e->mode,
						     e->name, NULL, path, err);
				if (r == 0)
					r = emit_file(x, sb, full, fo, 0, err);
			}
			if (r < 0)
				break;
			/* sockets, fifos and devices are not copied */
		}
		msb_file_free(f);
		break;
	case MSB_FILE_REGULAR:
		r = emit_rec(x, MSB_PCP_FILE, st->mode, base, NULL, path, err);
		if (r == 0)
			r = emit_file(x, sb, path, fo, 0, err);
		break;
	case MSB_FILE_SYMLINK:
		r = emit_rec(x, MSB_PCP_LINK, st->mode, base, st->link, path,
			     err);
		break;
	default:
		r = msb_fail(err, MSB_E_INVALID, "%s is not a file, a directory "
			     "or a symlink", path);
	}
	if (r >= 0)
		r = emit_rec(x, MSB_PCP_END, 0, "", NULL, path, err);
out:
	emit_flush(x);
	free(st);
	return r < 0 ? r : 0;
}

/* rec_in() - the next record of the program's archive into @type, @mode,
 * @name (and @link), checked by spawn_pcp_rec() (fuzzed). */
static int rec_in(struct ctx *x, int root, int *type, uint32_t *mode,
		  char *name, char *link, msb_error *err)
{
	static uint8_t b[MSB_PCP_REC_MAX];
	struct spawn_pcp r;
	size_t n, len = 7;

	if (in_full(x, b, 7) < 0)
		goto bad;
	n = msb_get_be16(b + 5);
	if (n > MSB_PCP_NAME_MAX || in_full(x, b + len, n) < 0)
		goto bad;
	len += n;
	if (b[0] == MSB_PCP_LINK) {
		if (in_full(x, b + len, 2) < 0)
			goto bad;
		n = msb_get_be16(b + len);
		len += 2;
		if (n > MSB_PCP_NAME_MAX || in_full(x, b + len, n) < 0)
			goto bad;
		len += n;
	}
	if (spawn_pcp_rec(b, len, root, &r) != (int)len)
		goto bad;
	*type = r.type;
	*mode = r.mode;
	memcpy(name, r.name, r.name_len);
	name[r.name_len] = 0;
	link[0] = 0;
	if (r.link) {
		memcpy(link, r.link, r.link_len);
		link[r.link_len] = 0;
	}
	return 0;
bad:
	return msb_fail(err, MSB_E_PROTOCOL, "the copy's data is not an "
			"archive msb cp wrote (or it ended early)");
}

/* file_in() - a file's chunks from the program into the peer's @path
 * (@raw: all of the input, as it is). */
static int file_in(struct ctx *x, msb_sandbox *sb, const char *path,
		   msb_file_opts *fo, int raw, msb_error *err)
{
	static uint8_t buf[MSB_PCP_CHUNK];
	msb_file_event ev;
	msb_file *f;
	int r;

	r = msb_file_open(sb, MSB_FILE_WRITE, path, fo, &f, err);
	if (r < 0)
		return r;
	for (;;) {
		uint8_t h[4];
		uint32_t n;

		if (raw) {
			n = (uint32_t)in_read(x, buf, sizeof(buf));
			if (!n)
				break;
		} else {
			if (in_full(x, h, 4) < 0) {
				r = msb_fail(err, MSB_E_PROTOCOL, "the copy "
					     "ended before its end");
				break;
			}
			n = msb_get_be32(h);
			if (!n)
				break;
			if (n > MSB_PCP_CHUNK || in_full(x, buf, n) < 0) {
				r = msb_fail(err, MSB_E_PROTOCOL, "the copy's "
					     "data is not an archive msb cp "
					     "wrote (or it ended early)");
				break;
			}
		}
		r = msb_file_write(f, buf, n, err);
		if (r < 0)
			break;
	}
	if (r >= 0)
		r = msb_file_close_write(f, err);
	while (r >= 0 && (r = msb_file_next(f, &ev, -1, err)) >= 0)
		if (r == 1 && ev.type == MSB_FILE_DONE)
			break;
	msb_file_free(f);
	return r < 0 ? r : 0;
}

static int symlink_in(msb_sandbox *sb, const char *target, const char *path,
		      msb_file_opts *fo, msb_error *err)
{
	int r = msb_file_symlink(sb, target, path, fo, err);

	if (r == MSB_E_EXISTS) {
		/* as cp does: replace what is there, unless a directory */
		r = msb_file_remove(sb, path, fo, err);
		if (r == 0)
			r = msb_file_symlink(sb, target, path, fo, err);
	}
	return r;
}

/* cp_in() - the program's archive into the peer's @path, with docker
 * cp's rules, as msb_copy_in() applies them to a host's tree. */
static int cp_in(struct ctx *x, msb_sandbox *sb, const char *path,
		 msb_file_opts *fo, int contents, msb_error *err)
{
	struct {
		char name[MSB_PCP_NAME_MAX + 1], link[MSB_PCP_NAME_MAX + 1];
		char target[PATH_MAX], full[PATH_MAX];
		msb_file_info gi;
	} *w = malloc(sizeof(*w));
	char base[NAME_MAX + 1];
	msb_file_opts dfo;
	uint32_t mode;
	int r, type, gexists, gdir;

	if (!w)
		return msb_fail(err, -ENOMEM, "out of memory");
	r = rec_in(x, 1, &type, &mode, w->name, w->link, err);
	if (r < 0)
		goto out;
	if (type == MSB_PCP_END) {
		r = msb_fail(err, MSB_E_PROTOCOL, "the copy's data is not an "
			     "archive msb cp wrote");
		goto out;
	}
	/* "/" copies what is in it */
	snprintf(base, sizeof(base), "%s", strcmp(w->name, "/") ? w->name : "");
	r = msb_file_stat(sb, path, fo, &w->gi, err);
	if (r < 0 && r != -ENOENT)
		goto out;
	gexists = r == 0;
	gdir = gexists && w->gi.type == MSB_FILE_DIR;
	r = 0;
	snprintf(w->target, sizeof(w->target), "%s", path);
	if (type == MSB_PCP_DIR) {
		dfo = *fo;
		dfo.mode = mode;
		if (gexists && !gdir) {
			r = msb_fail(err, -ENOTDIR, "cannot copy the directory "
				     "%s onto the file %s", base, path);
			goto out;
		}
		if (gdir && !contents && *base && strcmp(base, ".") &&
		    strcmp(base, "..")) {
			r = join(w->target, sizeof(w->target), path, base, err);
			dfo.parents = 1;
			if (r == 0)
				r = msb_file_mkdir(sb, w->target, &dfo, err);
		} else if (!gexists) {
			r = msb_file_mkdir(sb, path, &dfo, err);
		}
		while (r == 0) {
			r = rec_in(x, 0, &type, &mode, w->name, w->link, err);
			if (r < 0 || type == MSB_PCP_END)
				break;
			r = join(w->full, sizeof(w->full), w->target, w->name,
				 err);
			if (r < 0)
				break;
			dfo = *fo;
			dfo.mode = mode;
			if (type == MSB_PCP_DIR) {
				dfo.parents = 1;
				r = msb_file_mkdir(sb, w->full, &dfo, err);
			} else if (type == MSB_PCP_FILE) {
				r = file_in(x, sb, w->full, &dfo, 0, err);
			} else {
				r = symlink_in(sb, w->link, w->full, fo, err);
			}
		}
		goto out;
	}
	if (gdir) {
		r = join(w->target, sizeof(w->target), path, base, err);
		if (r < 0)
			goto out;
	} else if (!gexists && path[strlen(path) - 1] == '/') {
		r = msb_fail(err, MSB_E_NOT_FOUND, "no directory %s in the "
			     "peer", path);
		goto out;
	}
	if (type == MSB_PCP_LINK) {
		r = symlink_in(sb, w->link, w->target, fo, err);
	} else {
		dfo = *fo;
		dfo.mode = mode;
		r = file_in(x, sb, w->target, &dfo, 0, err);
	}
	if (r == 0)
		r = rec_in(x, 0, &type, &mode, w->name, w->link, err);
	if (r == 0 && type != MSB_PCP_END)
		r = msb_fail(err, MSB_E_PROTOCOL, "the copy's data is not an "
			     "archive msb cp wrote");
out:
	free(w);
	return r;
}

static int do_cp(struct ctx *x, json_object *req, int into, msb_error *err)
{
	const char *name = msb_jstr(req, "name", NULL), *path = msb_jstr(req, "path", NULL);
	msb_file_opts fo = { .user = msb_jstr(req, "user", NULL) };
	struct msb_row row;
	msb_sandbox *sb;
	int r;

	r = peer_of(x, name, &row, err);
	if (r < 0)
		return r;
	msb_row_free(&row);
	r = msb_sandbox_open(name, &sb, err);
	if (r < 0)
		return r;
	if (!into)
		r = cp_out(x, sb, path, &fo, msb_jbool(req, "raw"), err);
	else if (msb_jbool(req, "raw"))
		r = file_in(x, sb, path, &fo, 1, err);
	else
		r = cp_in(x, sb, path, &fo, msb_jbool(req, "contents"), err);
	msb_sandbox_close(sb);
	if (r == 0)
		result(x, 0, NULL);
	return r;
}

/* ---- snapshots of its peers -------------------------------------------- */

#define SNAP_PER_TREE 16

/* snap_of() - whether snapshot @snap was taken of a peer of @x's parent
 * (its sandbox's record, kept in it, says who spawned it); @root gets
 * the tree it counts against. */
static int snap_of(struct ctx *x, const char *snap, char *root, size_t rn)
{
	json_object *m, *cfg;
	char *text;
	int mine = 0;

	if (msb_snapshot_inspect_json(snap, &text, NULL) < 0)
		return 0;
	m = json_tokener_parse(text);
	free(text);
	if (m && json_object_object_get_ex(m, "config", &cfg) &&
	    msb_jstr(cfg, "spawned_by", NULL)) {
		mine = x && !strcmp(msb_jstr(cfg, "spawned_by", NULL), x->parent);
		if (root)
			snprintf(root, rn, "%s",
				 msb_jstr(cfg, "spawn_root", NULL) ?
					 msb_jstr(cfg, "spawn_root", NULL) : "");
	}
	json_object_put(m);
	return mine;
}

static int not_mine(const char *snap, msb_error *err)
{
	return msb_fail(err, MSB_E_POLICY, "'%s' is not a snapshot of this "
			"sandbox's peers: a sandbox restores and removes only "
			"those (msb snapshot ls lists them)", snap);
}

static int do_snapshot(struct ctx *x, json_object *req, msb_error *err)
{
	const char *name = msb_jstr(req, "name", NULL), *snap = msb_jstr(req, "snapshot", NULL);
	const char *root = tree_root(x);
	msb_snapshot_info *list;
	msb_snapshot_info info;
	struct msb_row row;
	char dir[PATH_MAX], lock[PATH_MAX + 16], line[256];
	size_t n, have = 0;
	int r, lfd, k;

	r = peer_of(x, name, &row, err);
	if (r < 0)
		return r;
	msb_row_free(&row);
	/* the host's disk: at most SNAP_PER_TREE snapshots of a tree's
	 * peers, counted with the take under the tree's lock */
	msb_sandbox_dir(root, dir, sizeof(dir));
	snprintf(lock, sizeof(lock), "%s/spawn.lock", dir);
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) < 0) {
		r = msb_fail_errno(err, -errno, "cannot lock %s", lock);
		if (lfd >= 0)
			close(lfd);
		return r;
	}
	r = msb_snapshot_list(&list, &n, err);
	if (r == 0) {
		for (size_t i = 0; i < n; i++) {
			char rt[64] = "";

			snap_of(NULL, list[i].name, rt, sizeof(rt));
			have += !strcmp(rt, root);
		}
		free(list);
		if (have >= SNAP_PER_TREE)
			r = msb_fail(err, MSB_E_POLICY, "this sandbox's tree "
				     "already keeps %zu snapshots of its peers, "
				     "the most the host allows (%d): remove one "
				     "first (msb snapshot rm SNAP)",
				     have, SNAP_PER_TREE);
	}
	if (r == 0)
		r = msb_snapshot_create(name, snap, &info, err);
	close(lfd);
	if (r < 0)
		return r;
	k = snprintf(line, sizeof(line), "%s (%s)\n", snap, info.kind);
	out(x, MSB_F_STDOUT, line, (size_t)k);
	result(x, 0, NULL);
	return 0;
}

static int do_snapshot_ls(struct ctx *x, json_object *req, msb_error *err)
{
	json_object *arr = json_object_new_array();
	int json = msb_jbool(req, "json");
	msb_snapshot_info *list;
	size_t n;
	int r;

	r = msb_snapshot_list(&list, &n, err);
	if (r < 0) {
		json_object_put(arr);
		return r;
	}
	if (!json)
		out(x, MSB_F_STDOUT, "NAME  SOURCE  KIND\n", 19);
	for (size_t i = 0; i < n; i++) {
		char line[256];
		int k;

		if (!snap_of(x, list[i].name, NULL, 0))
			continue;
		if (json) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "name",
					       json_object_new_string(list[i].name));
			json_object_object_add(o, "source",
					       json_object_new_string(list[i].source));
			json_object_object_add(o, "kind",
					       json_object_new_string(list[i].kind));
			json_object_object_add(o, "size_bytes",
					       json_object_new_int64(
						       (int64_t)list[i].size_bytes));
			json_object_array_add(arr, o);
			continue;
		}
		k = snprintf(line, sizeof(line), "%s  %s  %s\n", list[i].name,
			     list[i].source, list[i].kind);
		out(x, MSB_F_STDOUT, line, (size_t)k);
	}
	free(list);
	if (json) {
		const char *t = json_object_to_json_string_ext(
			arr, JSON_C_TO_STRING_PLAIN);

		out(x, MSB_F_STDOUT, t, strlen(t));
		out(x, MSB_F_STDOUT, "\n", 1);
	}
	json_object_put(arr);
	result(x, 0, NULL);
	return 0;
}

static int do_snapshot_rm(struct ctx *x, json_object *req, msb_error *err)
{
	const char *snap = msb_jstr(req, "snapshot", NULL);
	int r;

	if (!snap_of(x, snap, NULL, 0))
		return not_mine(snap, err);
	r = msb_snapshot_remove(snap, 0, err);
	if (r == MSB_E_BUSY)
		r = msb_fail(err, r, "snapshot '%s' is the base of peers "
			     "restored from it: remove them first (msb rm NAME)",
			     snap);
	if (r == 0)
		result(x, 0, NULL);
	return r;
}

/* do_restore() - a new peer from a snapshot of one of its peers: within
 * the same limits as a start, in the same tree. */
static int do_restore(struct ctx *x, json_object *req, msb_error *err)
{
	const char *snap = msb_jstr(req, "snapshot", NULL), *name = msb_jstr(req, "name", NULL);
	json_object *m = NULL, *cfg, *policy, *extra;
	msb_snapshot_info info;
	msb_restore_opts o;
	msb_sandbox *sb;
	char *text;
	int r, lfd, secrets = 0;

	if (!snap_of(x, snap, NULL, 0))
		return not_mine(snap, err);
	r = msb_snapshot_info_get(snap, &info, err);
	if (r < 0)
		return r;
	if (msb_snapshot_inspect_json(snap, &text, NULL) == 0) {
		m = json_tokener_parse(text);
		free(text);
	}
	if (m && json_object_object_get_ex(m, "config", &cfg))
		secrets = value_secrets(cfg);
	json_object_put(m);
	if (secrets)
		return msb_fail(err, MSB_E_POLICY, "snapshot '%s' is of a peer "
				"that held secrets given at its creation, which "
				"are kept nowhere: it cannot be restored; start "
				"a new peer instead", snap);
	r = admit(x, info.memory_mib, info.cpus, &lfd, err);
	if (r < 0)
		return r;
	json_object_object_get_ex(x->config, "spawn", &policy);
	extra = json_object_new_object();
	json_object_object_add(extra, "spawned_by",
			       json_object_new_string(x->parent));
	json_object_object_add(extra, "spawn_root",
			       json_object_new_string(tree_root(x)));
	json_object_object_add(extra, "spawn", json_object_get(policy));
	msb_restore_opts_init(&o);
	o.name = name;
	r = msb_snapshot_restore_extra(snap, &o, extra, &sb, err);
	json_object_put(extra);
	close(lfd);
	if (r < 0)
		return r;
	msb_sandbox_close(sb);
	started(x, name, info.image);
	return 0;
}

void peer_run(const char *parent, json_object *config, json_object *req,
	      uint32_t stream, int ctl)
{
	struct ctx x = { .parent = parent, .config = config,
			 .stream = stream, .ctl = ctl };
	const char *op = msb_jstr(req, "op", NULL);
	msb_error err = { 0 };
	int r;

	/* what the parent's supervisor was started with is not the peer's */
	unsetenv("MSB_RESTORE");
	unsetenv("MSB_T0_US");
	if (!op)
		r = msb_fail(&err, -EINVAL, "a bad request");
	else if (!strcmp(op, "start"))
		r = do_start(&x, req, &err);
	else if (!strcmp(op, "exec"))
		r = do_exec(&x, req, &err);
	else if (!strcmp(op, "stop"))
		r = do_stop(&x, req, 0, &err);
	else if (!strcmp(op, "rm"))
		r = do_stop(&x, req, 1, &err);
	else if (!strcmp(op, "logs"))
		r = do_logs(&x, req, &err);
	else if (!strcmp(op, "ps"))
		r = do_ps(&x, req, &err);
	else if (!strcmp(op, "cp_in"))
		r = do_cp(&x, req, 1, &err);
	else if (!strcmp(op, "cp_out"))
		r = do_cp(&x, req, 0, &err);
	else if (!strcmp(op, "snapshot"))
		r = do_snapshot(&x, req, &err);
	else if (!strcmp(op, "snapshot_ls"))
		r = do_snapshot_ls(&x, req, &err);
	else if (!strcmp(op, "snapshot_rm"))
		r = do_snapshot_rm(&x, req, &err);
	else if (!strcmp(op, "restore"))
		r = do_restore(&x, req, &err);
	else
		r = msb_fail(&err, -EINVAL, "unknown peer request '%s'", op);
	if (r < 0)
		result(&x, r == MSB_E_POLICY ? EPERM :
			   (-r > 0 && -r < 4096) ? -r : EIO,
		       err.message[0] ? err.message : "the request failed");
	json_object_put(req);
}

int peer_stopper_main(const char *parent)
{
	msb_peers_stop(parent, 10);
	return 0;
}
