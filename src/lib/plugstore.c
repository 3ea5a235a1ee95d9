/* SPDX-License-Identifier: Apache-2.0 */
/* plugstore.c - installed plugins: <home>/plugins/NAME, verified at each
 * load (src/lib/plugreg.h has the layout)
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <json-c/json.h>
#include <linux/openat2.h>
#include <openssl/evp.h>

#include "image.h"
#include "jsonx.h"
#include "plugreg.h"
#include "sync.h"
#include "util.h"

/* A record holds a manifest (at most MSB_MANIFEST_MAX) and a config. */
#define RECORD_MAX (MSB_MANIFEST_MAX + 2 * MSB_PLUGIN_META_MAX)

void msb_plugins_dir(char *buf, size_t n)
{
	snprintf(buf, n, "%s/plugins", msb_home());
}

/* hash_fd() - "sha256:HEX" of what @fd holds, and its length. */
static int hash_fd(int fd, char out[72], uint64_t *len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char md[32], buf[1 << 16];
	ssize_t k;
	int r = 0;

	*len = 0;
	if (!c)
		return -ENOMEM;
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	while ((k = read(fd, buf, sizeof(buf))) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		EVP_DigestUpdate(c, buf, (size_t)k);
		*len += (uint64_t)k;
	}
	EVP_DigestFinal_ex(c, md, NULL);
	EVP_MD_CTX_free(c);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
	return r;
}

/* open_beneath() - @path under @dirfd, no symbolic link followed and
 * nothing outside it reached. */
static int open_beneath(int dirfd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static int damaged(msb_error *err, const char *name, const char *what)
{
	return msb_fail(err, MSB_E_DAMAGED, "installed plugin %s: %s (changed "
			"since it was installed): install it again with 'msb "
			"plugin install %s'", name, what, name);
}

int msb_plugin_verify(const char *name, const char *digest,
		      msb_plugin_info *i, msb_error *err)
{
	char dir[4096], path[4200], got[72];
	struct msb_plugin_manifest m = { 0 };
	json_object *rec = NULL, *v;
	const char *man, *cfg;
	char *buf = NULL;
	struct stat st;
	size_t len;
	int r, dfd = -1;

	memset(i, 0, sizeof(*i));
	r = msb_plugin_name_check(name, err);
	if (r < 0)
		return r;
	msb_plugins_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s/record.json", dir, name);
	if (stat(path, &st) < 0)
		return errno == ENOENT ?
			msb_fail(err, MSB_E_NOT_FOUND, "no plugin named '%s' "
				 "is installed ('msb plugin ls' lists them; "
				 "'msb plugin install %s' installs it)", name,
				 name) :
			msb_fail_errno(err, -errno, "%s", path);
	snprintf(i->name, sizeof(i->name), "%s", name);
	if (st.st_size > RECORD_MAX || !(buf = msb_read_file(path, &len))) {
		r = damaged(err, name, "its record cannot be read");
		goto out;
	}
	rec = json_tokener_parse(buf);
	man = rec ? msb_jstr(rec, "manifest", NULL) : NULL;
	cfg = rec ? msb_jstr(rec, "config", NULL) : NULL;
	if (!man || !cfg || !msb_jstr(rec, "digest", NULL) ||
	    !msb_jstr(rec, "reference", NULL)) {
		r = damaged(err, name, "its record is not whole");
		goto out;
	}
	snprintf(i->digest, sizeof(i->digest), "%s", msb_jstr(rec, "digest", NULL));
	snprintf(i->reference, sizeof(i->reference), "%s",
		 msb_jstr(rec, "reference", NULL));
	if (json_object_object_get_ex(rec, "installed_at", &v))
		i->installed_at = json_object_get_int64(v);
	msb_sha256_digest(man, strlen(man), got);
	if (strcmp(got, i->digest)) {
		r = damaged(err, name, "its manifest does not match the digest "
			    "it was pinned to");
		goto out;
	}
	if (digest && *digest && strcmp(digest, i->digest)) {
		r = msb_fail(err, MSB_E_DAMAGED, "installed plugin %s is %.19s, "
			     "not the %.19s this sandbox was created with (it "
			     "was installed again since): create the sandbox "
			     "again to use this one", name, i->digest, digest);
		goto out;
	}
	r = msb_plugin_manifest_parse(man, strlen(man), 0, &m, err);
	if (r < 0)
		goto out;
	msb_sha256_digest(cfg, strlen(cfg), got);
	if (strcmp(got, m.config_digest) || strlen(cfg) != m.config_size) {
		r = damaged(err, name, "its metadata does not match its "
			    "manifest");
		goto out;
	}
	r = msb_plugin_meta_parse(cfg, strlen(cfg), i, err);
	if (r < 0)
		goto out;
	if (strcmp(i->name, name)) {
		r = damaged(err, name, "its metadata names another plugin");
		goto out;
	}
	snprintf(i->path, sizeof(i->path), "%s/%s/files", dir, name);
	dfd = open(i->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = damaged(err, name, "its files are gone");
		goto out;
	}
	for (size_t k = 0; k < m.nfiles; k++) {
		int fd = open_beneath(dfd, m.files[k].path);
		uint64_t n = 0;
		char what[400];

		i->size += m.files[k].size;
		i->files++;
		if (fd >= 0) {
			r = hash_fd(fd, got, &n);
			close(fd);
		}
		if (fd < 0 || r < 0 || n != m.files[k].size ||
		    strcmp(got, m.files[k].digest)) {
			snprintf(what, sizeof(what), "its file %s %s",
				 m.files[k].path, fd < 0 ? "is gone" :
				 "does not match its digest");
			r = damaged(err, name, what);
			goto out;
		}
	}
	i->verified = 1;
	r = 0;
out:
	if (dfd >= 0)
		close(dfd);
	msb_plugin_manifest_free(&m);
	json_object_put(rec);
	free(buf);
	return r;
}

int msb_plugin_inspect(const char *name, msb_plugin_info *out, msb_error *err)
{
	msb_plugin_info i;
	int r = msb_home_ready(err);

	if (r == 0)
		r = msb_plugin_verify(name, NULL, &i, err);
	if (out)
		*out = i;
	return r;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const msb_plugin_info *)a)->name,
		      ((const msb_plugin_info *)b)->name);
}

int msb_plugin_list(msb_plugin_info **out, size_t *n, msb_error *err)
{
	char dir[4096];
	msb_plugin_info *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *e;
	DIR *d;
	int r = msb_home_ready(err);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	msb_plugins_dir(dir, sizeof(dir));
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 :
			msb_fail_errno(err, -errno, "cannot list %s", dir);
	while ((e = readdir(d))) {
		msb_plugin_info i;

		if (e->d_name[0] == '.' || msb_plugin_name_check(e->d_name,
								 NULL) < 0)
			continue;
		r = msb_plugin_verify(e->d_name, NULL, &i, NULL);
		if (r == MSB_E_NOT_FOUND)
			continue;
		if (cnt == cap) {
			msb_plugin_info *nv;

			cap = cap ? 2 * cap : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				closedir(d);
				free(v);
				return msb_fail(err, -ENOMEM, "out of memory");
			}
			v = nv;
		}
		v[cnt++] = i;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), by_name);
	*out = v;
	*n = cnt;
	return 0;
}

int msb_plugin_remove(const char *name, msb_error *err)
{
	char dir[4096], path[4200], gone[4300];
	int r = msb_home_ready(err);

	if (r == 0)
		r = msb_plugin_name_check(name, err);
	if (r < 0)
		return r;
	msb_plugins_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (access(path, F_OK) < 0)
		return msb_fail(err, MSB_E_NOT_FOUND, "no plugin named '%s' is "
				"installed", name);
	/* renamed away first: a load never sees half of it */
	snprintf(gone, sizeof(gone), "%s/.rm-%s-%d", dir, name, (int)getpid());
	if (rename(path, gone) < 0)
		return msb_fail_errno(err, -errno, "cannot remove plugin %s",
				      name);
	r = msb_rm_rf(gone);
	if (r < 0)
		return msb_fail_errno(err, r, "plugin %s is uninstalled, but "
				      "%s is left behind", name, gone);
	return 0;
}
