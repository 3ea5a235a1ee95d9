/* SPDX-License-Identifier: Apache-2.0 */
/* volumes.c - a sandbox's volumes: msb run's flags, checks, the record */

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util.h"
#include "volstore.h"
#include "volumes.h"

/* The largest memory volume: its pages are the supervisor's. */
#define MEM_MAX_MIB (64ull << 10)

static const char *const flag_of[] = {
	[MSB_VOLUME_HOST] = "--volume",
	[MSB_VOLUME_MEMORY] = "--volume-mem",
	[MSB_VOLUME_PLUGIN] = "--volume-plugin",
	[MSB_VOLUME_NAMED] = "--volume",
};

/* parse_size() - "16M", "1G", "64" (MiB) into MiB, at least 1. */
static int parse_size(const char *s, uint64_t *mib)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || !v || v > MEM_MAX_MIB)
		return -1;
	if (*end && strcasecmp(end, "m") && strcasecmp(end, "mb") &&
	    strcasecmp(end, "mi") && strcasecmp(end, "mib")) {
		if (strcasecmp(end, "g") && strcasecmp(end, "gb") &&
		    strcasecmp(end, "gi") && strcasecmp(end, "gib"))
			return -1;
		v *= 1024;
	}
	*mib = v;
	return 0;
}

#define OVERLAY_DEFAULT_MIB 256
/* The longest a guest may cache a volume's names and attributes: a day,
 * virtiofsd's cache=always. */
#define CACHE_TIMEOUT_MAX_MS 86400000u

static const char *const cache_name[] = {
	[MSB_VOLUME_CACHE_NEVER] = "never",
	[MSB_VOLUME_CACHE_AUTO] = "auto",
	[MSB_VOLUME_CACHE_ALWAYS] = "always",
};

/* parse_timeout() - "1", "0.5", "86400": seconds, at most 3 decimals, into
 * ms; at most a day. */
static int parse_timeout(const char *s, size_t n, uint32_t *ms)
{
	uint64_t v = 0, frac = 0;
	size_t i = 0, d = 0;

	if (!n || !isdigit((unsigned char)s[0]))
		return -1;
	for (; i < n && isdigit((unsigned char)s[i]); i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > CACHE_TIMEOUT_MAX_MS / 1000)
			return -1;
	}
	if (i < n && s[i] == '.') {
		for (i++; i < n && isdigit((unsigned char)s[i]) && d < 3; i++, d++)
			frac = frac * 10 + (uint64_t)(s[i] - '0');
		if (!d)
			return -1;
		for (; d < 3; d++)
			frac *= 10;
	}
	if (i != n || v * 1000 + frac > CACHE_TIMEOUT_MAX_MS)
		return -1;
	*ms = (uint32_t)(v * 1000 + frac);
	return 0;
}

/* host_opts() - "ro", "rw", "direct", "overlay[=SIZE]",
 * "cache=auto|always|never", "timeout=SECONDS", comma-separated.
 * Return: 0, -1 with the option it refused in @bad */
static int host_opts(const char *s, msb_volume *v, char *bad, size_t badn)
{
	int ro = 0, direct = 0, cache = MSB_VOLUME_CACHE_DEFAULT;
	uint64_t overlay = 0;
	uint32_t timeout = 0;

	for (const char *p = s; *p;) {
		size_t n = strcspn(p, ",");

		if (n == 2 && !strncmp(p, "ro", 2))
			ro = 1;
		else if (n == 2 && !strncmp(p, "rw", 2))
			ro = 0;
		else if (n == 6 && !strncmp(p, "direct", 6))
			direct = 1;
		else if (n == 7 && !strncmp(p, "overlay", 7))
			overlay = OVERLAY_DEFAULT_MIB;
		else if (n > 8 && n < 40 && !strncmp(p, "overlay=", 8)) {
			char size[40];

			snprintf(size, sizeof(size), "%.*s", (int)n - 8, p + 8);
			if (parse_size(size, &overlay) < 0 || !overlay) {
				snprintf(bad, badn, "%.*s", (int)n, p);
				return -1;
			}
		} else if (n > 6 && !strncmp(p, "cache=", 6)) {
			cache = -1;
			for (int m = MSB_VOLUME_CACHE_NEVER;
			     m <= MSB_VOLUME_CACHE_ALWAYS; m++)
				if (strlen(cache_name[m]) == n - 6 &&
				    !strncmp(p + 6, cache_name[m], n - 6))
					cache = m;
			if (cache < 0) {
				snprintf(bad, badn, "%.*s", (int)n, p);
				return -1;
			}
		} else if (n > 8 && !strncmp(p, "timeout=", 8)) {
			if (parse_timeout(p + 8, n - 8, &timeout) < 0) {
				snprintf(bad, badn, "%.*s", (int)n, p);
				return -1;
			}
		} else {
			snprintf(bad, badn, "%.*s", (int)n, p);
			return -1;
		}
		p += n + (p[n] == ',');
	}
	if (!*s) {
		snprintf(bad, badn, "%s", "");
		return -1;
	}
	v->readonly = ro;
	/* cache=never is virtiofsd's: nothing cached, data direct. */
	v->direct_io = direct || cache == MSB_VOLUME_CACHE_NEVER;
	v->overlay_mib = overlay;
	v->cache = (msb_volume_cache)cache;
	v->cache_timeout_ms = timeout;
	return 0;
}

MSB_API int msb_volume_parse(msb_volume_kind kind, char *spec, msb_volume *v,
			     msb_error *err)
{
	char *c, bad[64];

	memset(v, 0, sizeof(*v));
	v->kind = kind;
	if (kind > MSB_VOLUME_PLUGIN || !spec || !*spec)
		return msb_fail(err, -EINVAL, "empty volume");
	if (kind == MSB_VOLUME_NAMED)
		kind = MSB_VOLUME_HOST; /* the same text: NAME:GUESTPATH */
	switch (kind) {
	case MSB_VOLUME_HOST:
		/* HOSTDIR:GUEST[:OPTS]: host paths may hold ':', guest paths
		 * may not; so read from the right. */
		c = strrchr(spec, ':');
		if (c && c[1] != '/' && host_opts(c + 1, v, bad, sizeof(bad)) == 0) {
			*c = '\0';
			c = strrchr(spec, ':');
		} else if (c && c[1] && c[1] != '/') {
			/* HOSTDIR:/GUEST:OPTS with an option we do not know:
			 * name it, not the options as a guest path. */
			char *g;

			*c = '\0';
			g = strrchr(spec, ':');
			if (g && g != spec && g[1] == '/')
				return msb_fail(err, -EINVAL,
						"invalid --volume option '%s' in "
						"'%s:%s': use ro, rw, direct, "
						"overlay[=SIZE], cache=auto|always|"
						"never or timeout=SECONDS, "
						"comma-separated",
						bad, spec, c + 1);
			*c = ':';
		}
		if (!c || c == spec || !c[1])
			return msb_fail(err, -EINVAL,
					"invalid --volume '%s': use "
					"HOSTDIR:GUESTPATH[:ro][,direct]"
					"[,overlay[=SIZE]]", spec);
		*c = '\0';
		v->source = spec;
		v->guest_path = c + 1;
		/* A plain name is a named volume (as docker run -v reads
		 * it); a directory here is ./name. */
		if (spec[0] != '.' && spec[0] != '~' && !strchr(spec, '/')) {
			if (v->overlay_mib)
				return msb_fail(err, -EINVAL,
						"invalid --volume '%s:%s': a "
						"named volume takes no overlay "
						"(only ro, rw, direct, cache, "
						"timeout); for a "
						"directory write ./%s",
						spec, c + 1, spec);
			v->kind = MSB_VOLUME_NAMED;
		}
		return 0;
	case MSB_VOLUME_MEMORY:
		v->guest_path = spec;
		c = strchr(spec, ':');
		if (c) {
			*c = '\0';
			if (parse_size(c + 1, &v->size_mib) < 0)
				return msb_fail(err, -EINVAL,
						"invalid --volume-mem size '%s': "
						"use a whole number with M or G, e.g. 16M or 1G",
						c + 1);
		}
		return 0;
	case MSB_VOLUME_NAMED: /* read as HOST, above */
	case MSB_VOLUME_PLUGIN:
		c = strchr(spec, ':');
		if (!c || c == spec || !c[1])
			return msb_fail(err, -EINVAL,
					"invalid --volume-plugin '%s': use "
					"PATH.so:GUESTPATH[:ARG]", spec);
		*c = '\0';
		v->source = spec;
		v->guest_path = c + 1;
		c = strchr(c + 1, ':');
		if (c) {
			*c = '\0';
			v->arg = c + 1;
		}
		return 0;
	}
	return -EINVAL;
}

/* guest_ok() - absolute, no "."/".." components, no "//", not "/". */
static int guest_ok(const char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/' || n < 2 || n > 255 || strchr(p, ':') ||
	    p[n - 1] == '/' || strstr(p, "//"))
		return 0;
	for (const char *s = p; s; s = strchr(s + 1, '/'))
		if (!strncmp(s, "/./", 3) || !strcmp(s, "/.") ||
		    !strncmp(s, "/../", 4) || !strcmp(s, "/.."))
			return 0;
	return 1;
}

/* Guest paths the agent mounts or writes at boot: a volume there hides
 * what the guest needs (its kernel's /proc, /sys, /dev; /run/msb holds the
 * root filesystem's disks; /etc the resolver, users and trust store).
 * @below: the path's descendants are refused too. Docker refuses "/" and
 * runc refuses /proc; the agent needs the others as much. */
static const struct {
	const char *path;
	int below;
} reserved[] = {
	{ "/proc", 1 }, { "/sys", 1 }, { "/dev", 1 },
	{ "/run", 0 },  { "/run/msb", 1 }, { "/etc", 0 },
};

static const char *reserved_for(const char *p)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		size_t n = strlen(reserved[i].path);

		if (!strncmp(p, reserved[i].path, n) &&
		    (!p[n] || (reserved[i].below && p[n] == '/')))
			return reserved[i].path;
	}
	return NULL;
}

int msb_volume_guest_check(const char *flag, const char *guest,
			   msb_error *err)
{
	const char *taken;

	if (!guest || !guest_ok(guest))
		return msb_fail(err, -EINVAL,
				"invalid %s guest path '%s': use an absolute "
				"path other than / (no '.', '..' or ':')",
				flag, guest ? guest : "");
	taken = reserved_for(guest);
	if (taken)
		return msb_fail(err, -EINVAL,
				"invalid %s guest path '%s': %s%s is the "
				"guest's own (mounted or written by msb at "
				"boot); mount the volume elsewhere, e.g. "
				"/mnt%s",
				flag, guest, taken,
				strcmp(taken, guest) ? " and below" : "",
				guest);
	return 0;
}

static int check_one(const msb_volume *v, json_object *o, msb_error *err)
{
	const char *flag = v->kind <= MSB_VOLUME_NAMED ? flag_of[v->kind] :
							 "volume";
	char real[PATH_MAX];
	struct stat st;
	int r = msb_volume_guest_check(flag, v->guest_path, err);

	if (r < 0)
		return r;
	json_object_object_add(o, "guest", json_object_new_string(v->guest_path));
	switch (v->kind) {
	case MSB_VOLUME_HOST:
	case MSB_VOLUME_PLUGIN:
		if (!v->source || !*v->source || !realpath(v->source, real))
			return msb_fail_errno(err, -errno ? -errno : -EINVAL,
					      "%s %s: cannot use '%s'", flag,
					      v->guest_path,
					      v->source ? v->source : "");
		if (stat(real, &st) < 0)
			return msb_fail_errno(err, -errno, "%s %s", flag, real);
		if (v->kind == MSB_VOLUME_HOST && !S_ISDIR(st.st_mode))
			return msb_fail(err, -ENOTDIR,
					"--volume %s: %s is not a directory",
					v->guest_path, real);
		if (v->kind == MSB_VOLUME_PLUGIN && !S_ISREG(st.st_mode))
			return msb_fail(err, -EINVAL,
					"--volume-plugin %s: %s is not a shared "
					"object file", v->guest_path, real);
		json_object_object_add(o, "kind", json_object_new_string(
			v->kind == MSB_VOLUME_HOST ? "host" : "plugin"));
		json_object_object_add(o, "source", json_object_new_string(real));
		if (v->kind == MSB_VOLUME_PLUGIN && v->dir) {
			char dir[PATH_MAX];

			if (!realpath(v->dir, dir) || stat(dir, &st) < 0)
				return msb_fail_errno(err, -errno,
						      "--volume-plugin %s: cannot "
						      "use '%s'", v->guest_path,
						      v->dir);
			if (!S_ISDIR(st.st_mode))
				return msb_fail(err, -ENOTDIR,
						"--volume-plugin %s: %s is not a "
						"directory", v->guest_path, dir);
			json_object_object_add(o, "dir",
					       json_object_new_string(dir));
		}
		if (v->arg)
			json_object_object_add(o, "arg",
					       json_object_new_string(v->arg));
		break;
	case MSB_VOLUME_NAMED: {
		char data[PATH_MAX], counter[PATH_MAX];
		uint64_t size;

		if (!v->source || msb_name_valid(v->source, NULL) < 0)
			return msb_fail(err, -EINVAL,
					"--volume %s: invalid volume name '%s'",
					v->guest_path, v->source ? v->source : "");
		if (v->overlay_mib)
			return msb_fail(err, -EINVAL,
					"--volume %s: a named volume takes no "
					"overlay", v->guest_path);
		/* Made on first use, as Docker does; one made at the same
		 * moment by another create is as good. */
		if (msb_volstore_size(v->source, &size) < 0) {
			msb_error e = { 0 };

			r = msb_volstore_create(v->source, 0, NULL, NULL, &e);
			if (r < 0 && r != MSB_E_EXISTS)
				return msb_fail(err, r, "%s", e.message);
			if (msb_volstore_size(v->source, &size) < 0)
				return msb_fail(err, -ENOENT,
						"volume '%s' is gone",
						v->source);
		}
		if (msb_volstore_paths(v->source, data, counter,
				       sizeof(data)) < 0)
			return msb_fail(err, -ENAMETOOLONG,
					"MSB_HOME is too long");
		json_object_object_add(o, "kind", json_object_new_string("volume"));
		json_object_object_add(o, "volume",
				       json_object_new_string(v->source));
		json_object_object_add(o, "source", json_object_new_string(data));
		json_object_object_add(o, "counter",
				       json_object_new_string(counter));
		if (size)
			json_object_object_add(o, "size_mib",
					       json_object_new_int64((int64_t)size));
		break;
	}
	case MSB_VOLUME_MEMORY: {
		uint64_t mib = v->size_mib ? v->size_mib :
					     MSB_VOLUME_MEM_DEFAULT_MIB;

		if (mib > MEM_MAX_MIB)
			return msb_fail(err, -EINVAL,
					"--volume-mem %s: %llu MiB is more than "
					"the %llu MiB a memory volume may hold",
					v->guest_path, (unsigned long long)mib,
					(unsigned long long)MEM_MAX_MIB);
		json_object_object_add(o, "kind", json_object_new_string("memory"));
		json_object_object_add(o, "size_mib",
				       json_object_new_int64((int64_t)mib));
		break;
	}
	default:
		return msb_fail(err, -EINVAL, "unknown volume kind %d", v->kind);
	}
	json_object_object_add(o, "ro", json_object_new_boolean(!!v->readonly));
	if (v->direct_io)
		json_object_object_add(o, "direct_io", json_object_new_boolean(1));
	if ((unsigned)v->cache > MSB_VOLUME_CACHE_ALWAYS ||
	    v->cache_timeout_ms > CACHE_TIMEOUT_MAX_MS)
		return msb_fail(err, -EINVAL,
				"volume %s: cache mode %d or timeout %u ms "
				"out of range: use msb_volume_cache's values "
				"and at most 86400000 ms", v->guest_path,
				(int)v->cache, (unsigned)v->cache_timeout_ms);
	if (v->cache)
		json_object_object_add(o, "cache", json_object_new_string(
					       cache_name[v->cache]));
	if (v->cache_timeout_ms)
		json_object_object_add(o, "cache_timeout_ms",
				       json_object_new_int64(v->cache_timeout_ms));
	if (v->kind == MSB_VOLUME_HOST && v->overlay_mib) {
		if (v->overlay_mib > MEM_MAX_MIB)
			return msb_fail(err, -EINVAL,
					"volume %s: an overlay of %llu MiB is "
					"more than the %llu MiB a memory "
					"volume may hold",
					v->guest_path,
					(unsigned long long)v->overlay_mib,
					(unsigned long long)MEM_MAX_MIB);
		json_object_object_add(o, "overlay_mib",
				       json_object_new_int64((int64_t)v->overlay_mib));
	}
	return 0;
}

int msb_volumes_json(const msb_volume *v, size_t n, json_object **out,
		     msb_error *err)
{
	json_object *a;

	*out = NULL;
	if (!n)
		return 0;
	if (!v || n > MSB_VOLUMES_MAX)
		return msb_fail(err, -E2BIG, "%zu volumes: at most %d", n,
				MSB_VOLUMES_MAX);
	a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		int r;

		json_object_array_add(a, o);
		errno = 0;
		r = check_one(&v[i], o, err);
		for (size_t j = 0; r == 0 && j < i; j++)
			if (!strcmp(v[i].guest_path, v[j].guest_path))
				r = msb_fail(err, -EINVAL,
					     "two volumes at %s: give each its "
					     "own guest path", v[i].guest_path);
		if (r < 0) {
			json_object_put(a);
			return r;
		}
	}
	*out = a;
	return 0;
}
