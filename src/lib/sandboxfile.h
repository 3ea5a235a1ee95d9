/* SPDX-License-Identifier: Apache-2.0 */
/* sandboxfile.h - what the files reading a Sandboxfile share: the walker
 * over libyaml's nodes, its value readers and errors (sandboxfile.c), and
 * the keys of a sandbox (sandboxfile_sandbox.c, _mount.c, _net.c) */
#ifndef MSB_LIB_SANDBOXFILE_H
#define MSB_LIB_SANDBOXFILE_H

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "project.h"

#define PATH_LEN 256
#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

struct sf {
	struct msb_project *p;
	yaml_document_t doc;
	const char *show;   /* the file as messages name it */
	msb_error *err;
	/* each sandbox's depends_on, resolved once all are read */
	yaml_node_t *dep_nodes[PROJ_SANDBOXES_MAX];
};

/* What a sandbox's keys leave for the checks that need all of them. */
struct sb_nodes {
	yaml_node_t *image, *from_snapshot, *secrets, *depends_on, *command,
		*start, *volumes, *ports, *network, *tls, *allow;
	yaml_node_t *first_restore_bad; /* a key a restore cannot take */
	const char *restore_bad_key;
	char **env_file_env, **env_env;  /* env_file's, then env's */
};

/* A growing NULL-terminated vector, copied into the project when done. */
struct vec {
	char **v;
	size_t n, cap;
};

/* A key of a mapping and what reads it. */
struct field {
	const char *name;
	int (*fn)(struct sf *s, void *obj, yaml_node_t *key, yaml_node_t *val,
		  const char *path);
};

/* A key and its value, merges applied. */
struct kv {
	yaml_node_t *k, *v;
};

/* One sandbox being read. */
struct sbctx {
	struct proj_sandbox *sb;
	struct sb_nodes nd;
	struct vec ports, allow, allow_cidr, block_cidr, allow_host;
};

#define SB(o) (((struct sbctx *)(o))->sb)
#define ND(o) (&((struct sbctx *)(o))->nd)
#define SBC(o) ((struct sbctx *)(o))

/* sf_alloc(), sf_strdup(), sf_fmt() - memory of the project, freed with it
 * (NULL when out of memory). */
void *sf_alloc(struct msb_project *p, size_t n);
char *sf_strdup(struct msb_project *p, const char *s);
char *sf_fmt(struct msb_project *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* sf_vec_push() / sf_vec_done() - grow a vector; copy it into the
 * project, NULL-terminated, and free the growing one. */
int sf_vec_push(struct vec *v, char *s);
char **sf_vec_done(struct msb_project *p, struct vec *v);

/* sf_pos() - where @n starts, 1-based. */
struct proj_pos sf_pos(const yaml_node_t *n);

/* sf_fail() - "FILE:LINE:COL: PATH: message" into the error; Return:
 * -EINVAL. sf_fail_lib(): a library check's message, placed at @n. */
int sf_fail(struct sf *s, const yaml_node_t *n, const char *path,
	const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int sf_fail_lib(struct sf *s, const yaml_node_t *n, const char *path,
	const msb_error *why);

/* sf_oom() - out of memory, as an error of the file. */
int sf_oom(struct sf *s);

/* Nodes: by id; what kind (for messages); a scalar's text; whether a
 * plain scalar means nothing ("", "~", "null"). */
yaml_node_t *sf_node(struct sf *s, int id);
const char *sf_kind(const yaml_node_t *n);
const char *sf_text(const yaml_node_t *n);
int sf_is_null(const yaml_node_t *n);

/* sf_key_path() / sf_index_path() - @path.@key and @path[@i] into @out
 * (PATH_LEN bytes). */
void sf_key_path(char *out, const char *path, const char *key);
void sf_index_path(char *out, const char *path, size_t i);

/* Values: a single value (@what says what was expected), copied into the
 * project (sf_pscalar), true or false, a whole number in [@min, @max], a
 * size in MiB, a duration in ms, a list of single values (or, with @one,
 * one alone), a command (a string: sh -c; a list: as is). */
int sf_scalar(struct sf *s, yaml_node_t *n, const char *path,
	const char *what, const char **out);
int sf_pscalar(struct sf *s, yaml_node_t *n, const char *path,
	const char *what, char **out);
int sf_bool(struct sf *s, yaml_node_t *n, const char *path,
	int *out);
int sf_uint(struct sf *s, yaml_node_t *n, const char *path,
	unsigned min, unsigned max, unsigned *out);
int sf_size(struct sf *s, yaml_node_t *n, const char *path,
	const char *what, uint64_t min, uint64_t max,
	uint64_t *mib);
int sf_duration(struct sf *s, yaml_node_t *n, const char *path,
	uint64_t *ms);
int sf_list(struct sf *s, yaml_node_t *n, const char *path,
	const char *what, int one, char ***out, size_t *count);
int sf_argv(struct sf *s, yaml_node_t *n, const char *path,
	char ***out);

/* sf_pairs() - mapping @n's keys with their values, merge keys (<<)
 * applied, a key given twice refused; free() *@out. sf_walk() - each key
 * through its field of @f (an unknown key is an error naming the ones
 * expected); with @x, keys starting with "x-" are skipped. */
int sf_pairs(struct sf *s, yaml_node_t *n, const char *path,
	const char *expected, struct kv **out, size_t *cnt);
int sf_walk(struct sf *s, yaml_node_t *n, const char *path,
	const struct field *f, size_t nf, void *obj, int x);

/* sf_name_ok() - a key that becomes part of a sandbox or volume name. */
int sf_name_ok(struct sf *s, yaml_node_t *k, const char *path,
	const char *what);

/* sf_restore_bad() - note key @k, which a from_snapshot sandbox cannot
 * take (sandboxfile_sandbox.c). */
void sf_restore_bad(void *o, yaml_node_t *k);

/* sf_host_path() - a host path of the file, resolved against its
 * directory ("~/" is $HOME). sf_volume_index() - the project's volume of
 * @key, or -1. */
char *sf_host_path(struct sf *s, const char *t);
long sf_volume_index(struct msb_project *p, const char *key);

/* A sandbox's keys kept in files of their own: volumes
 * (sandboxfile_mount.c), network, ports, tls and secrets
 * (sandboxfile_net.c). sf_secrets() resolves the secrets once
 * network.allow is known. */
int sf_key_volumes(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
	const char *path);
int sf_key_network(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
	const char *path);
int sf_key_ports(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
	const char *path);
int sf_key_tls(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
	const char *path);
int sf_key_secrets(struct sf *s, void *o, yaml_node_t *k, yaml_node_t *v,
	const char *path);
int sf_secrets(struct sf *s, struct sbctx *c, const char *path);

/* sf_sandbox() - sandbox @k: @v into @sb (sandboxfile_sandbox.c). */
int sf_sandbox(struct sf *s, struct proj_sandbox *sb, yaml_node_t *k,
	yaml_node_t *v, const char *path);

#endif
