/* SPDX-License-Identifier: Apache-2.0 */
/* secrets.h - placeholders for the guest, real values for the supervisor only
 *
 * Theory of operation (docs/secrets.md). A secret is a guest environment
 * variable whose value is a random placeholder, msb_placeholder_ and 32
 * hex digits, drawn at create time. The sandbox's record (the state
 * database) keeps the variable, the placeholder, the bound hosts and where
 * the real value comes from (@env:VAR or @file:PATH), never the value.
 * Every create and start reads the real values afresh from their sources
 * in the calling process and hands them to the new supervisor in an
 * anonymous memory file (memfd) inherited as one descriptor, which the
 * supervisor reads once and closes: no argv, no environment (the source
 * variables are removed from the supervisor's), no file under $MSB_HOME.
 * The supervisor holds them in a vault (vault.c) that the network stack
 * consults when it swaps placeholders for values.
 */
#ifndef MSB_SECRETS_H
#define MSB_SECRETS_H

#include <json-c/json.h>
#include <stddef.h>

#include "msb.h"
#include "scrub.h"
#include "spec.h"

#define MSB_SECRETS_MAX 64
#define MSB_PLACEHOLDER_PREFIX "msb_placeholder_"
#define MSB_PLACEHOLDER_LEN SECRET_PLACEHOLDER_LEN

/* ---- the library's side (secret.c) ---- */

/**
 * msb_secrets_json() - check secrets given to a create, draw placeholders
 * @s:   @n secrets
 * @out: the record's "secrets" array: env, source (env|file|value), ref
 *       (the variable or path; absent for a value), hosts, inject (where
 *       in a request the value may go: "authorization" and the places of
 *       msb_secret.inject), placeholder
 *
 * Return: 0, or a negative code with @err saying what to fix
 */
int msb_secrets_json(const msb_secret *s, size_t n, json_object **out,
		     msb_error *err);

/**
 * msb_secrets_seal() - read every real value and seal them in a memfd
 * @rec:    the record's "secrets" array (NULL or empty: nothing to do)
 * @given:  the create's secrets, for values given by the C API; NULL at
 *          a start, where such a secret is an error
 * @fd:     set to the memfd (close-on-exec, at offset 0), or -1 if none
 *
 * The memfd holds one JSON object { "ENV": "value", ... }.
 * Return: 0, or a negative code with @err naming the secret and the source
 */
int msb_secrets_seal(json_object *rec, const msb_secret *given, size_t n,
		     int *fd, msb_error *err);

/**
 * msb_secrets_net_check() - with secrets, --net-allow-cidr may not open a
 * default-denied range (loopback, private, CGNAT, link-local and cloud
 * metadata, ULA): metadata blocking and rebinding protection stay on.
 * Return: 0, or -EINVAL with @err naming the range
 */
int msb_secrets_net_check(const msb_net_config *nc, msb_error *err);

/**
 * msb_secrets_env_sources() - whether variable @kv ("K=V") is the source
 * of a secret in @rec: such variables are not passed to the supervisor.
 */
int msb_secrets_env_source(json_object *rec, const char *kv);

/* ---- the supervisor's side (vault.c) ---- */

struct msb_vault_secret {
	struct secret_spec spec; /* the name and the hosts (spec.h) */
	char placeholder[MSB_PLACEHOLDER_LEN + 1];
	char *value;            /* locked, never dumped, wiped on free */
	size_t len;
};

struct msb_vault {
	size_t n;
	struct msb_vault_secret s[MSB_SECRETS_MAX];
	struct scrub scrub; /* every value's forms -> its placeholder's */
};

/**
 * msb_vault_load() - the values sealed by msb_secrets_seal(), read from @fd
 * @rec: the record's "secrets" array, for placeholders and hosts
 * @fd:  closed here
 *
 * Every secret of @rec must have its value. Return: 0, or negative
 */
int msb_vault_load(struct msb_vault *v, json_object *rec, int fd,
		   msb_error *err);

/**
 * msb_vault_scrub() - (re)make @v->scrub from its secrets: what answers
 * are scrubbed of (scrub.h); msb_vault_load() does it.
 * Return: 0 or -ENOMEM
 */
int msb_vault_scrub(struct msb_vault *v);

/* msb_vault_free() - wipe and free the values. */
void msb_vault_free(struct msb_vault *v);

/**
 * msb_vault_find() - the first placeholder of @v in @buf[@len]
 * @at: set to its offset
 *
 * Return: the secret, or NULL
 */
const struct msb_vault_secret *msb_vault_find(const struct msb_vault *v,
					      const char *buf, size_t len,
					      size_t *at);

#endif
