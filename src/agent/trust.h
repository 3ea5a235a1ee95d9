/* SPDX-License-Identifier: Apache-2.0 */
/* trust.h - the host's interception CA in the guest's trust store */
#ifndef MSB_AGENT_TRUST_H
#define MSB_AGENT_TRUST_H

#include "log.h"

#define TRUST_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define TRUST_CA_FILE "/etc/ssl/certs/msb-ca.pem"

/**
 * trust_install() - put @pem (a CA certificate) in the trust store
 * @pem: NUL-terminated
 * @e:   failure message
 *
 * Writes TRUST_CA_FILE and appends @pem to TRUST_BUNDLE (made if the image
 * has none), once: a bundle that already holds it is left alone, so a
 * restarted sandbox does not grow it.
 * Return: 0 or -errno
 */
int trust_install(const char *pem, struct agent_err *e);

#endif
