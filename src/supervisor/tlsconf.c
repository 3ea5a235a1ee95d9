/* SPDX-License-Identifier: Apache-2.0 */
/* tlsconf.c - the sandbox's TLS interception options, from its record
 *
 * The library checked them at create (src/lib/tlscfg.c); the record is
 * read again with the same checks, since anything that can write the
 * home's database can write it.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "supervisor.h"
#include "tlscfg.h"
#include "util.h"

/* load_bypass() - "tls_bypass": lowercase names, as --net-allow takes */
static int load_bypass(struct sup *s, json_object *a, msb_error *err)
{
	size_t n = json_object_array_length(a);

	if (n > MSB_TLS_BYPASS_MAX)
		return msb_fail(err, -EINVAL,
				"the record's tls_bypass has %zu names: at "
				"most %d",
				n, MSB_TLS_BYPASS_MAX);
	s->tls_bypass = calloc(n ? n : 1, sizeof(*s->tls_bypass));
	if (!s->tls_bypass)
		return msb_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(a, i);
		const char *name = json_object_get_string(v);
		char *d;

		if (!json_object_is_type(v, json_type_string) ||
		    strlen(name) > NET_DOMAIN_LEN || !(d = strdup(name)))
			return msb_fail(err, -EINVAL,
					"invalid tls_bypass name in the record: "
					"recreate the sandbox");
		s->tls_bypass[s->ntls_bypass++] = d;
		if (!net_domain_valid(d))
			return msb_fail(err, -EINVAL,
					"invalid tls_bypass name '%s' in the "
					"record: recreate the sandbox",
					name);
	}
	return 0;
}

/* load_cas() - "tls_upstream_ca": every "pem", checked, one after another */
static int load_cas(struct sup *s, json_object *a, msb_error *err)
{
	size_t n = json_object_array_length(a), total = 0, at = 0;

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(a, i), *pem;

		if (!json_object_object_get_ex(o, "pem", &pem) ||
		    !json_object_is_type(pem, json_type_string))
			return msb_fail(err, -EINVAL,
					"tls_upstream_ca[%zu] in the record has "
					"no PEM text: recreate the sandbox",
					i);
		total += (size_t)json_object_get_string_len(pem);
	}
	if (!n)
		return 0;
	if (total > (size_t)MSB_TLS_CA_MAX * MSB_TLS_CA_BYTES)
		return msb_fail(err, -EINVAL,
				"the record's tls_upstream_ca is too large: "
				"recreate the sandbox");
	s->tls_upstream_pem = malloc(total + 1);
	if (!s->tls_upstream_pem)
		return msb_fail(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *pem;
		char what[64];
		size_t len;
		int r;

		json_object_object_get_ex(json_object_array_get_idx(a, i),
					  "pem", &pem);
		snprintf(what, sizeof(what),
			 "tls_upstream_ca[%zu] in the record", i);
		r = msb_tls_ca_parse(json_object_get_string(pem), what, NULL,
				     err);
		if (r < 0)
			return r;
		len = (size_t)json_object_get_string_len(pem);
		memcpy(s->tls_upstream_pem + at, json_object_get_string(pem),
		       len);
		at += len;
	}
	s->tls_upstream_pem[at] = '\0';
	return 0;
}

int sup_tls_config(struct sup *s, msb_error *err)
{
	json_object *v;
	int r = 0;

	if (json_object_object_get_ex(s->config, "tls_bypass", &v)) {
		if (!json_object_is_type(v, json_type_array))
			return msb_fail(err, -EINVAL,
					"the record's tls_bypass is not a list: "
					"recreate the sandbox");
		r = load_bypass(s, v, err);
	}
	if (r == 0 &&
	    json_object_object_get_ex(s->config, "tls_upstream_ca", &v)) {
		if (!json_object_is_type(v, json_type_array))
			return msb_fail(err, -EINVAL,
					"the record's tls_upstream_ca is not a "
					"list: recreate the sandbox");
		r = load_cas(s, v, err);
	}
	return r;
}

int sup_tls_bypassed(const struct sup *s, const char *sni)
{
	char name[NET_DOMAIN_LEN + 1];
	size_t n = sni ? strlen(sni) : 0;

	if (!n || n > NET_DOMAIN_LEN)
		return 0;
	for (size_t i = 0; i <= n; i++)
		name[i] = (char)(sni[i] >= 'A' && sni[i] <= 'Z' ?
					 sni[i] - 'A' + 'a' : sni[i]);
	for (size_t i = 0; i < s->ntls_bypass; i++)
		if (net_domain_match(s->tls_bypass[i], name))
			return 1;
	return 0;
}

void sup_tls_free(struct sup *s)
{
	for (size_t i = 0; i < s->ntls_bypass; i++)
		free(s->tls_bypass[i]);
	free(s->tls_bypass);
	free(s->tls_upstream_pem);
	s->tls_bypass = NULL;
	s->ntls_bypass = 0;
	s->tls_upstream_pem = NULL;
}
