/* SPDX-License-Identifier: Apache-2.0 */
/* tlscfg.h - a sandbox's TLS interception options, from msb_sandbox_config
 * to its record
 *
 * Two options shape what the interception engine (src/tls/) does:
 *   tls_bypass       names whose TLS is passed through untouched, as
 *                    --net-allow takes names ("x.com", "*.x.com");
 *   tls_upstream_ca  CA certificates trusted for the servers of
 *                    intercepted connections, besides the host's.
 * Both go in the record, so 'msb start' needs nothing but the record: the
 * names lowercased, the certificates as PEM text (never a path; a file
 * given to msb run may be gone by then), each with its subject for
 * 'msb inspect':
 *   "tls_bypass": ["api.example.com", "*.internal.example"],
 *   "tls_upstream_ca": [{ "subject": "CN=Test CA", "pem": "-----BEGIN..." }]
 * Certificates are public; a PEM text with a private key in it is refused,
 * so none can reach the record.
 */
#ifndef MSB_LIB_TLSCFG_H
#define MSB_LIB_TLSCFG_H

#include <json-c/json.h>

#include "msb.h"

#define MSB_TLS_BYPASS_MAX 64
#define MSB_TLS_CA_MAX     8         /* PEM texts (files) per sandbox */
#define MSB_TLS_CA_BYTES   (1 << 20) /* per PEM text */

/**
 * msb_tls_ca_parse() - check a PEM text of CA certificates
 * @pem:  NUL-terminated
 * @what: names it in messages ("CA file 'x.pem'", "tls_upstream_ca[0]")
 * @out:  NULL to check only, else an array that receives one object per
 *        certificate: "subject" (RFC 2253) and "pem" (re-encoded by
 *        OpenSSL: the certificate and nothing else)
 * @err:  why it was refused, saying what to give instead
 *
 * Every PEM block must be a CERTIFICATE that parses, and there must be at
 * least one; text between blocks is ignored, as PEM allows.
 *
 * Return: the number of certificates, or -EINVAL (-ENOMEM)
 */
int msb_tls_ca_parse(const char *pem, const char *what, json_object *out,
		     msb_error *err);

/**
 * msb_tls_config_json() - check @c's TLS options and add them to @cfg
 * @c:   as given to msb_sandbox_create()
 * @cfg: the record's config, which gets "tls_bypass" and
 *       "tls_upstream_ca" when they are not empty; NULL to check only
 * @err: which value is wrong and what to give instead
 *
 * Return: 0, or a negative errno (@cfg is then unchanged)
 */
int msb_tls_config_json(const msb_sandbox_config *c, json_object *cfg,
			msb_error *err);

#endif
