/* SPDX-License-Identifier: Apache-2.0 */
/* vault.c - the supervisor's secrets: real values in locked memory that
 * is left out of core dumps and wiped when freed */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secrets.h"
#include "util.h"

/* read_all() - the whole memfd (its size: the sealer wrote it whole). */
static char *read_all(int fd, size_t *len)
{
	struct stat st;
	char *buf;
	size_t n = 0;

	/* MSB_SECRETS_MAX values as JSON, escapes included, fit easily */
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > (64 << 20))
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return NULL;
	while (n < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + n, (size_t)st.st_size - n, (off_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			explicit_bzero(buf, n);
			free(buf);
			return NULL;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* spec_of_record() - a secret's name, hosts and places, checked again by
 * spec.c's parsers: the record is a file someone could have edited. A
 * record made before places existed has none: the value goes in
 * Authorization only. */
static int spec_of_record(json_object *o, const char *env, const char *hosts,
			  struct secret_spec *out, msb_error *err)
{
	char places[SECRET_PLACES_TEXT_MAX] = "";
	json_object *a;
	char *text;
	int r;

	if (asprintf(&text, "%s=@env:_:%s", env, hosts) < 0)
		return -ENOMEM;
	r = secret_spec_parse(text, out, err);
	free(text);
	if (r < 0 || !json_object_object_get_ex(o, "inject", &a))
		return r;
	if (!json_object_is_type(a, json_type_array))
		return -EINVAL;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		const char *p =
			json_object_get_string(json_object_array_get_idx(a, i));
		size_t at = strlen(places);

		if (!p || !*p || strchr(p, ',') ||
		    at + strlen(p) + 2 > sizeof(places))
			return -EINVAL;
		snprintf(places + at, sizeof(places) - at, "%s%s",
			 at ? "," : "", p);
	}
	return secret_places_parse(places, out, err);
}

static void hide(void *p, size_t n)
{
	/* Best effort: a value that is swapped out or dumped leaves the
	 * supervisor's memory. */
	mlock(p, n);
	madvise((void *)((uintptr_t)p & ~(uintptr_t)4095),
		n + ((uintptr_t)p & 4095), MADV_DONTDUMP);
}

int msb_vault_load(struct msb_vault *v, json_object *rec, int fd,
		   msb_error *err)
{
	size_t count = rec ? json_object_array_length(rec) : 0, len = 0;
	char *text = fd >= 0 ? read_all(fd, &len) : NULL;
	json_object *vals = text ? json_tokener_parse(text) : NULL;
	int r = 0;

	if (fd >= 0)
		close(fd);
	memset(v, 0, sizeof(*v));
	if (count && !vals)
		r = msb_fail(err, -EINVAL,
			     "the sandbox has secrets but was started without "
			     "their values: start it with msb start");
	for (size_t i = 0; i < count && r == 0 && i < MSB_SECRETS_MAX; i++) {
		json_object *o = json_object_array_get_idx(rec, i), *t, *hosts;
		struct msb_vault_secret *sec = &v->s[v->n];
		const char *env = NULL, *ph = NULL;
		char hosts_csv[SECRET_HOSTS_MAX * (SECRET_HOST_MAX + 1) + 1] = "";

		if (json_object_object_get_ex(o, "env", &t))
			env = json_object_get_string(t);
		if (json_object_object_get_ex(o, "placeholder", &t))
			ph = json_object_get_string(t);
		if (json_object_object_get_ex(o, "hosts", &hosts))
			for (size_t h = 0; h < json_object_array_length(hosts) &&
					   h < SECRET_HOSTS_MAX;
			     h++)
				snprintf(hosts_csv + strlen(hosts_csv),
					 sizeof(hosts_csv) - strlen(hosts_csv),
					 "%s%s", h ? "," : "",
					 json_object_get_string(
						 json_object_array_get_idx(hosts, h)));
		if (!env || !ph || strlen(ph) != MSB_PLACEHOLDER_LEN ||
		    spec_of_record(o, env, hosts_csv, &sec->spec, err) < 0) {
			r = msb_fail(err, -EINVAL,
				     "a secret in the record is malformed: "
				     "recreate the sandbox");
			break;
		}
		if (!json_object_object_get_ex(vals, env, &t) ||
		    !json_object_is_type(t, json_type_string)) {
			r = msb_fail(err, -ENOKEY,
				     "secret %s arrived without its value", env);
			break;
		}
		strcpy(sec->placeholder, ph);
		sec->len = (size_t)json_object_get_string_len(t);
		sec->value = malloc(sec->len + 1);
		if (!sec->value) {
			r = msb_fail(err, -ENOMEM, "out of memory");
			break;
		}
		hide(sec->value, sec->len + 1);
		memcpy(sec->value, json_object_get_string(t), sec->len + 1);
		v->n++;
	}
	if (vals) {
		json_object_object_foreach(vals, k, val)
		{
			(void)k;
			if (json_object_is_type(val, json_type_string))
				explicit_bzero((char *)json_object_get_string(val),
					       (size_t)json_object_get_string_len(
						       val));
		}
		json_object_put(vals);
	}
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	if (r == 0 && msb_vault_scrub(v) < 0)
		r = msb_fail(err, -ENOMEM, "out of memory");
	if (r < 0)
		msb_vault_free(v);
	return r;
}

int msb_vault_scrub(struct msb_vault *v)
{
	scrub_free(&v->scrub);
	for (size_t i = 0; i < v->n; i++)
		if (scrub_add_forms(&v->scrub, v->s[i].value, v->s[i].len,
				    v->s[i].placeholder,
				    strlen(v->s[i].placeholder)) < 0) {
			scrub_free(&v->scrub);
			return -ENOMEM;
		}
	return 0;
}

void msb_vault_free(struct msb_vault *v)
{
	for (size_t i = 0; i < v->n; i++) {
		struct msb_vault_secret *sec = &v->s[i];

		if (sec->value) {
			explicit_bzero(sec->value, sec->len);
			munlock(sec->value, sec->len + 1);
			free(sec->value);
		}
	}
	scrub_free(&v->scrub);
	memset(v, 0, sizeof(*v));
}

const struct msb_vault_secret *msb_vault_find(const struct msb_vault *v,
					      const char *buf, size_t len,
					      size_t *at)
{
	const char *p = buf;
	size_t pl = sizeof(MSB_PLACEHOLDER_PREFIX) - 1;

	while ((p = memmem(p, len - (size_t)(p - buf), MSB_PLACEHOLDER_PREFIX,
			   pl))) {
		size_t left = len - (size_t)(p - buf);

		for (size_t i = 0; i < v->n && left >= MSB_PLACEHOLDER_LEN; i++)
			if (!memcmp(p, v->s[i].placeholder, MSB_PLACEHOLDER_LEN)) {
				*at = (size_t)(p - buf);
				return &v->s[i];
			}
		p += pl;
	}
	return NULL;
}
