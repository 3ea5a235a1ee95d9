/* SPDX-License-Identifier: Apache-2.0 */
/* vectors.c - the shared SDK test vectors (tests/sdk/vectors.json), run
 * through the C library against a running sandbox
 *
 * Usage: sdk-vectors SANDBOX VECTORS.json
 * Prints "ok N - name" or "not ok N - name: why" per case (TAP) and exits
 * 1 if any failed. Every SDK runs the same file through its own API; this
 * runner is the reference the others are held to.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "msb.h"

static int n_case, n_bad;

static void result(const char *name, const char *why)
{
	n_case++;
	if (why) {
		n_bad++;
		printf("not ok %d - %s: %s\n", n_case, name, why);
	} else {
		printf("ok %d - %s\n", n_case, name);
	}
	fflush(stdout);
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;

	if (o)
		json_object_object_get_ex(o, k, &v);
	return v;
}

static const char *str(json_object *o, const char *k)
{
	return json_object_get_string(get(o, k));
}

/* bytes() - a text field or its _b64 twin, decoded; NULL if neither. */
static unsigned char *bytes(json_object *o, const char *k, size_t *n)
{
	char key[64];
	const char *t = str(o, k), *b;
	unsigned char *out;
	size_t bl;
	int l;

	if (t && json_object_is_type(get(o, k), json_type_string)) {
		*n = strlen(t);
		out = malloc(*n + 1);
		memcpy(out, t, *n + 1);
		return out;
	}
	snprintf(key, sizeof(key), "%s_b64", k);
	b = str(o, key);
	if (!b)
		return NULL;
	bl = strlen(b);
	out = malloc(bl / 4 * 3 + 1);
	l = EVP_DecodeBlock(out, (const unsigned char *)b, (int)bl);
	if (l < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as bytes */
	if (bl >= 1 && b[bl - 1] == '=')
		l--;
	if (bl >= 2 && b[bl - 2] == '=')
		l--;
	*n = (size_t)l;
	return out;
}

static const char **strv(json_object *a)
{
	size_t n = a ? json_object_array_length(a) : 0;
	const char **v = calloc(n + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		v[i] = json_object_get_string(json_object_array_get_idx(a, i));
	return v;
}

static char why[2048];

static const char *expect_error(int r, const msb_error *err, const char *want)
{
	if (r >= 0) {
		snprintf(why, sizeof(why), "wanted %s, it succeeded", want);
		return why;
	}
	if (strcmp(msb_error_name(r), want)) {
		snprintf(why, sizeof(why), "wanted %s, got %s (%s)", want,
			 msb_error_name(r), err->message);
		return why;
	}
	return NULL;
}

/* ---- exec ------------------------------------------------------------------ */

static const char *run_exec(msb_sandbox *sb, json_object *c)
{
	json_object *e = get(c, "expect"), *env = get(c, "env");
	const char **argv = strv(get(c, "argv")), **envv = NULL;
	msb_exec_opts o = { 0 };
	msb_error err = { 0 };
	msb_exec *x = NULL;
	msb_exec_event ev;
	char *out = NULL, *errs = NULL;
	size_t on = 0, en = 0, sn = 0;
	unsigned char *in = bytes(c, "stdin", &sn);
	const char *bad = NULL;
	int r, code = -1, sig = 0, timed_out = 0, k = 0;

	if (env) {
		envv = calloc((size_t)json_object_object_length(env) + 1,
			      sizeof(char *));
		json_object_object_foreach(env, key, val) {
			char *kv = malloc(strlen(key) +
					  strlen(json_object_get_string(val)) + 2);

			sprintf(kv, "%s=%s", key, json_object_get_string(val));
			envv[k++] = kv;
		}
		o.env = envv;
	}
	o.workdir = str(c, "cwd");
	o.user = str(c, "user");
	o.stdin = in != NULL;
	o.timeout_ms = (unsigned)json_object_get_int(get(c, "timeout_ms"));
	r = msb_exec_start(sb, argv, &o, &x, &err);
	if (r == 0 && in) {
		r = msb_exec_write(x, in, sn, &err);
		if (r == 0)
			r = msb_exec_close_stdin(x, &err);
	}
	while (r >= 0) {
		r = msb_exec_next(x, &ev, -1, &err);
		if (r <= 0)
			continue;
		if (ev.type == MSB_EXEC_STDOUT || ev.type == MSB_EXEC_STDERR) {
			char **b = ev.type == MSB_EXEC_STDOUT ? &out : &errs;
			size_t *l = ev.type == MSB_EXEC_STDOUT ? &on : &en;

			*b = realloc(*b, *l + ev.len + 1);
			memcpy(*b + *l, ev.data, ev.len);
			*l += ev.len;
			(*b)[*l] = '\0';
		} else if (ev.type == MSB_EXEC_EXIT) {
			code = ev.exit_code;
			sig = ev.signal;
			timed_out = ev.timed_out;
			break;
		}
	}
	msb_exec_free(x);
	if (r < 0) {
		snprintf(why, sizeof(why), "%s", err.message);
		bad = why;
		goto out;
	}
	{
		size_t wn;
		unsigned char *w = bytes(e, "stdout", &wn);

		if (w && (wn != on || (on && memcmp(w, out, on))))
			bad = "stdout differs";
		free(w);
		w = bytes(e, "stderr", &wn);
		if (!bad && w && (wn != en || (en && memcmp(w, errs, en))))
			bad = "stderr differs";
		free(w);
	}
	if (!bad && get(e, "stdout_size") &&
	    (size_t)json_object_get_int64(get(e, "stdout_size")) != on)
		bad = "stdout is not of the size expected";
	if (!bad && str(e, "stderr_contains") &&
	    (!errs || !strstr(errs, str(e, "stderr_contains"))))
		bad = "stderr lacks what it should say";
	if (!bad && json_object_get_int(get(e, "exit_code")) != code) {
		snprintf(why, sizeof(why), "exit code %d, wanted %d", code,
			 json_object_get_int(get(e, "exit_code")));
		bad = why;
	}
	if (!bad && get(e, "signal") &&
	    json_object_get_int(get(e, "signal")) != sig)
		bad = "signal differs";
	if (!bad && json_object_get_boolean(get(e, "timed_out")) != timed_out)
		bad = "timed_out differs";
out:
	for (int i = 0; i < k; i++)
		free((void *)envv[i]);
	free(envv);
	free(argv);
	free(in);
	free(out);
	free(errs);
	return bad;
}

/* ---- files ------------------------------------------------------------------ */

static const char *type_name(msb_file_type t)
{
	static const char *const n[] = { "?", "file", "dir", "symlink", "fifo",
					 "socket", "char", "block", "other" };

	return (unsigned)t < sizeof(n) / sizeof(n[0]) ? n[t] : "?";
}

static const char *check_stat(msb_sandbox *sb, const char *path,
			      json_object *e)
{
	msb_file_info *fi = malloc(sizeof(*fi));
	msb_error err = { 0 };
	const char *bad = NULL;

	if (msb_file_stat(sb, path, NULL, fi, &err) < 0) {
		snprintf(why, sizeof(why), "stat: %s", err.message);
		bad = why;
	} else if (get(e, "size") &&
		   fi->size != (uint64_t)json_object_get_int64(get(e, "size"))) {
		bad = "size differs";
	} else if (strcmp(type_name(fi->type), str(e, "type"))) {
		bad = "type differs";
	} else if (get(e, "mode") &&
		   fi->mode != (uint32_t)json_object_get_int(get(e, "mode"))) {
		snprintf(why, sizeof(why), "mode %o, wanted %o", fi->mode,
			 json_object_get_int(get(e, "mode")));
		bad = why;
	}
	free(fi);
	return bad;
}

static void run_files(msb_sandbox *sb, json_object *f)
{
	json_object *w = get(f, "write"), *l = get(f, "list");
	msb_file_opts o = { 0 };
	msb_error err = { 0 };

	o.recursive = 1;
	msb_file_remove(sb, str(f, "dir"), &o, &err);
	o.recursive = 0;
	o.parents = 1;
	if (msb_file_mkdir(sb, str(f, "dir"), &o, &err) < 0) {
		result("files: the directory", err.message);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(w); i++) {
		json_object *c = json_object_array_get_idx(w, i);
		msb_file_opts wo = { 0 };
		size_t n, rn = 0;
		unsigned char *data = bytes(c, "content", &n);
		void *back = NULL;
		const char *bad = NULL;

		wo.mode = (unsigned)json_object_get_int(get(c, "mode"));
		wo.parents = json_object_get_boolean(get(c, "parents"));
		if (msb_file_write_all(sb, str(c, "path"), data, n, &wo, &err) < 0 ||
		    msb_file_read_all(sb, str(c, "path"), NULL, &back, &rn,
				      &err) < 0) {
			snprintf(why, sizeof(why), "%s", err.message);
			bad = why;
		} else if (rn != n || (n && memcmp(back, data, n))) {
			bad = "read back differs";
		} else {
			bad = check_stat(sb, str(c, "path"), get(c, "expect"));
		}
		result(str(c, "name"), bad);
		free(back);
		free(data);
	}
	for (int rec = 0; rec < 2; rec++) {
		json_object *names = get(l, rec ? "recursive_names" : "names");
		msb_file_opts lo = { 0 };
		msb_file_info *v = NULL;
		size_t n = 0;
		const char *bad = NULL;

		lo.recursive = rec;
		if (msb_file_list(sb, str(l, "path"), &lo, &v, &n, &err) < 0) {
			bad = err.message;
		} else if (n != json_object_array_length(names)) {
			snprintf(why, sizeof(why), "%zu entries, wanted %zu", n,
				 json_object_array_length(names));
			bad = why;
		} else {
			for (size_t i = 0; i < n && !bad; i++)
				if (strcmp(v[i].name,
					   json_object_get_string(
						   json_object_array_get_idx(
							   names, i))))
					bad = "names differ";
		}
		result(rec ? "list, recursive" : "list", bad);
		free(v);
	}
	{
		json_object *m = get(f, "mkdir");
		msb_file_opts mo = { 0 };
		const char *bad = NULL;

		mo.parents = json_object_get_boolean(get(m, "parents"));
		if (msb_file_mkdir(sb, str(m, "path"), &mo, &err) < 0)
			bad = err.message;
		else
			bad = check_stat(sb, str(m, "path"), get(m, "expect"));
		result("mkdir", bad);
	}
	{
		json_object *m = get(f, "rename");
		const char *bad = NULL;
		void *back = NULL;
		size_t rn;

		if (msb_file_rename(sb, str(m, "from"), str(m, "to"), NULL,
				    &err) < 0 ||
		    msb_file_read_all(sb, str(m, "to"), NULL, &back, &rn,
				      &err) < 0)
			bad = err.message;
		else if (strcmp(back, str(m, "content")))
			bad = "content differs after the rename";
		else if (msb_file_exists(sb, str(m, "from"), NULL, &err) != 0)
			bad = "the old name is still there";
		free(back);
		result("rename", bad);
	}
	{
		json_object *m = get(f, "remove");
		msb_file_opts ro = { 0 };
		const char *bad = NULL;

		ro.recursive = json_object_get_boolean(get(m, "recursive"));
		if (msb_file_remove(sb, str(m, "path"), &ro, &err) < 0)
			bad = err.message;
		else if (msb_file_exists(sb, str(m, "path"), NULL, &err) != 0)
			bad = "still there";
		result("remove, recursive", bad);
	}
}

/* ---- errors ------------------------------------------------------------------ */

static const char *run_error(msb_sandbox *sb, json_object *c)
{
	const char *op = str(c, "op"), *want = str(c, "error");
	msb_file_opts fo = { 0 };
	msb_error err = { 0 };
	int r = 0;

	fo.user = str(c, "user");
	fo.exclusive = json_object_get_boolean(get(c, "exclusive"));
	if (!strcmp(op, "exec")) {
		const char **argv = strv(get(c, "argv"));
		msb_exec_opts o = { 0 };
		msb_output out;

		o.user = fo.user;
		r = msb_exec_capture(sb, argv, &o, &out, &err);
		if (r == 0)
			msb_output_free(&out);
		free(argv);
	} else if (!strcmp(op, "read")) {
		void *d = NULL;
		size_t n;

		r = msb_file_read_all(sb, str(c, "path"), &fo, &d, &n, &err);
		free(d);
	} else if (!strcmp(op, "stat")) {
		msb_file_info *fi = malloc(sizeof(*fi));

		r = msb_file_stat(sb, str(c, "path"), &fo, fi, &err);
		free(fi);
	} else if (!strcmp(op, "exists")) {
		r = msb_file_exists(sb, str(c, "path"), &fo, &err);
		if (r >= 0) {
			if (r != json_object_get_boolean(get(c, "result")))
				return "exists says otherwise";
			return NULL;
		}
	} else if (!strcmp(op, "mkdir")) {
		r = msb_file_mkdir(sb, str(c, "path"), &fo, &err);
	} else if (!strcmp(op, "write")) {
		const char *t = str(c, "content");

		r = msb_file_write_all(sb, str(c, "path"), t, strlen(t), &fo,
				       &err);
	} else if (!strcmp(op, "remove")) {
		r = msb_file_remove(sb, str(c, "path"), &fo, &err);
	} else if (!strcmp(op, "open")) {
		msb_sandbox *other = NULL;

		r = msb_sandbox_open(str(c, "sandbox"), &other, &err);
		msb_sandbox_close(other);
	} else {
		return "unknown op";
	}
	return expect_error(r, &err, want ? want : "a result");
}

int main(int argc, char **argv)
{
	json_object *v, *a;
	msb_sandbox *sb;
	msb_error err = { 0 };

	if (argc != 3) {
		fprintf(stderr, "usage: sdk-vectors SANDBOX VECTORS.json\n");
		return 2;
	}
	v = json_object_from_file(argv[2]);
	if (!v) {
		fprintf(stderr, "sdk-vectors: cannot read %s\n", argv[2]);
		return 2;
	}
	if (msb_sandbox_open(argv[1], &sb, &err) < 0) {
		fprintf(stderr, "sdk-vectors: %s\n", err.message);
		return 2;
	}
	a = get(v, "exec");
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *c = json_object_array_get_idx(a, i);

		result(str(c, "name"), run_exec(sb, c));
	}
	run_files(sb, get(v, "files"));
	a = get(v, "errors");
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *c = json_object_array_get_idx(a, i);

		result(str(c, "name"), run_error(sb, c));
	}
	printf("1..%d\n", n_case);
	msb_sandbox_close(sb);
	json_object_put(v);
	return n_bad ? 1 : 0;
}
