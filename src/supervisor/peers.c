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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "broker.h"
#include "image.h"
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

static const char *cfg_str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) &&
			       json_object_is_type(v, json_type_string) ?
		       json_object_get_string(v) :
		       NULL;
}

static int64_t cfg_int(json_object *o, const char *k, int64_t dflt)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) :
						     dflt;
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

/* out() - output for the guest program, within the credit it gave
 * (waited for: a program that reads slowly slows this worker only). */
static void out(struct ctx *x, uint8_t type, const char *p, size_t n)
{
	static uint64_t credit = MSB_WINDOW_INIT;

	while (n) {
		size_t k = n > MSB_FRAME_MAX ? MSB_FRAME_MAX : n;

		while (credit < k) {
			uint8_t b[4];
			ssize_t r = read(PEER_CREDIT_FD, b, 4);

			if (r < 0 && errno == EINTR)
				continue;
			if (r != 4)
				_exit(0); /* the broker is gone, or cancelled */
			credit += msb_get_be32(b);
		}
		credit -= k;
		broker_send(x->ctl, x->stream, type, p, k);
		p += k;
		n -= k;
	}
}

/* norm_image() - an image reference as the store names it shortly, so
 * "busybox" and "docker.io/library/busybox:latest" compare equal. */
static void norm_image(const char *in, char *buf, size_t n)
{
	struct msb_ref ref;

	if (strcmp(in, "default") && msb_ref_parse(in, &ref, NULL) == 0)
		msb_ref_short(&ref, buf, n);
	else
		snprintf(buf, n, "%s", in);
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
	mine = cfg && cfg_str(cfg, "spawned_by") &&
	       !strcmp(cfg_str(cfg, "spawned_by"), x->parent);
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
		a = net_addr4((uint32_t)w.addr[0] << 24 |
			      (uint32_t)w.addr[1] << 16 |
			      (uint32_t)w.addr[2] << 8 | w.addr[3]);
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
	o->nc.dns_nameserver = cfg_str(pnet, "dns");
	o->nc.plugin = cfg_str(pnet, "plugin");
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
		const char *rt = cfg_str(cfg, "spawn_root");

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

static int do_start(struct ctx *x, json_object *req, msb_error *err)
{
	json_object *policy, *pnet = NULL, *a, *extra;
	const char *name = cfg_str(req, "name");
	const char *image = cfg_str(req, "image");
	const char *root = cfg_str(x->config, "spawn_root") ?
				   cfg_str(x->config, "spawn_root") :
				   x->parent;
	struct net_out net;
	msb_sandbox_config c;
	msb_secret secrets[SPAWN_SECRETS_MAX];
	const char *env[SPAWN_ENV_MAX + 1] = { 0 };
	const char *bypass[64], *cas[1];
	char *ca_text = NULL;
	uint64_t mem_max, total_max, mib, used_mib;
	unsigned max, cpus_max, cpus, live;
	char lock[PATH_MAX + 16], dir[PATH_MAX];
	msb_sandbox *sb = NULL;
	int r, lfd;

	if (!json_object_object_get_ex(x->config, "spawn", &policy))
		return msb_fail(err, MSB_E_POLICY, "spawning is off for this "
				"sandbox: the host starts it with --allow-spawn "
				"N to let it start peers");
	max = (unsigned)cfg_int(policy, "max", 0);
	cpus_max = (unsigned)cfg_int(policy, "cpus", 1);
	mem_max = (uint64_t)cfg_int(policy, "memory_mib", DEFAULT_PEER_MIB);
	total_max = (uint64_t)cfg_int(policy, "total_memory_mib",
				      (int64_t)(mem_max * max));
	if (!image)
		image = cfg_str(x->config, "image_ref") ?
				cfg_str(x->config, "image_ref") :
				"default";
	if (!image_allowed(policy, image))
		return msb_fail(err, MSB_E_POLICY, "image '%s' is not one this "
				"sandbox may start peers from (the host allows "
				"them with --spawn-image)", image);
	cpus = (unsigned)cfg_int(req, "cpus", 1);
	if (cpus > cpus_max)
		return msb_fail(err, MSB_E_POLICY, "--cpus %u is over the "
				"host's ceiling for this sandbox's peers (%u: "
				"--spawn-cpus)", cpus, cpus_max);
	mib = mem_max < DEFAULT_PEER_MIB ? mem_max : DEFAULT_PEER_MIB;
	if (cfg_str(req, "memory")) {
		r = msb_parse_memory(cfg_str(req, "memory"), &mib, err);
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
				.env = cfg_str(s, "env"),
				.source = MSB_SECRET_VALUE,
				.ref = cfg_str(s, "value"),
				.hosts = cfg_str(s, "hosts"),
				.inject = cfg_str(s, "inject"),
			};
		}
		c.secrets = secrets;
		c.nsecrets = json_object_array_length(a);
	}
	c.on_secret_violation = cfg_str(x->config, "secret_violation");
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
			const char *pem = cfg_str(json_object_array_get_idx(a, i),
						  "pem");
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
	msb_sandbox_dir(root, dir, sizeof(dir));
	snprintf(lock, sizeof(lock), "%s/spawn.lock", dir);
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) < 0) {
		r = msb_fail_errno(err, -errno, "cannot lock %s", lock);
		if (lfd >= 0)
			close(lfd);
		free(ca_text);
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
	if (r == 0) {
		extra = json_object_new_object();
		json_object_object_add(extra, "spawned_by",
				       json_object_new_string(x->parent));
		json_object_object_add(extra, "spawn_root",
				       json_object_new_string(root));
		json_object_object_add(extra, "spawn", json_object_get(policy));
		r = msb_sandbox_create_extra(&c, extra, &sb, err);
		json_object_put(extra);
	}
	close(lfd);
	free(ca_text);
	if (r < 0)
		return r;
	msb_sandbox_close(sb);
	{
		json_object *d = json_object_new_object();
		const char *t;

		json_object_object_add(d, "name", json_object_new_string(name));
		json_object_object_add(d, "image", json_object_new_string(image));
		t = json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN);
		broker_send(x->ctl, x->stream, BK_SPAWNED, t, strlen(t));
		json_object_put(d);
	}
	{
		char line[128];
		int n = snprintf(line, sizeof(line), "%s\n", name);

		out(x, MSB_F_STDOUT, line, (size_t)n);
	}
	result(x, 0, NULL);
	return 0;
}

/* ---- exec, stop, rm, logs, ps ------------------------------------------ */

static int do_exec(struct ctx *x, json_object *req, msb_error *err)
{
	const char *argv[SPAWN_ARGV_MAX + 1] = { 0 }, *env[SPAWN_ENV_MAX + 1] = { 0 };
	json_object *a;
	msb_exec_opts o = { 0 };
	msb_sandbox *sb;
	msb_exec *e;
	struct msb_row row;
	int r;

	r = peer_of(x, cfg_str(req, "name"), &row, err);
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
	o.workdir = cfg_str(req, "workdir");
	r = msb_sandbox_open(cfg_str(req, "name"), &sb, err);
	if (r < 0)
		return r;
	r = msb_exec_start(sb, argv, &o, &e, err);
	if (r < 0) {
		msb_sandbox_close(sb);
		return r;
	}
	for (;;) {
		msb_exec_event ev;

		r = msb_exec_next(e, &ev, -1, err);
		if (r < 0)
			break;
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
			break;
		}
	}
	msb_exec_free(e);
	msb_sandbox_close(sb);
	return r < 0 ? r : 0;
}

static int do_stop(struct ctx *x, json_object *req, int rm, msb_error *err)
{
	const char *name = cfg_str(req, "name");
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
	const char *name = cfg_str(req, "name");
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

void peer_run(const char *parent, json_object *config, json_object *req,
	      uint32_t stream, int ctl)
{
	struct ctx x = { .parent = parent, .config = config,
			 .stream = stream, .ctl = ctl };
	const char *op = cfg_str(req, "op");
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
	else
		r = msb_fail(&err, -EINVAL, "unknown peer request '%s'", op);
	if (r < 0)
		result(&x, r == MSB_E_POLICY ? EPERM :
			   (-r > 0 && -r < 4096) ? -r : EIO,
		       err.message[0] ? err.message : "the request failed");
	json_object_put(req);
}
