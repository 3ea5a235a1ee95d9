/* SPDX-License-Identifier: Apache-2.0 */
/* execreq.c - the EXEC request: what to run, as whom, with which stdio
 *
 * Two passes over the TLV records: the first validates and sizes, the second
 * copies into a single allocation, so a bad request allocates nothing and a
 * good one is freed with one call.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "execreq.h"
#include "proto.h"

static int is_str_tag(uint8_t tag)
{
	return tag == MSB_T_ARG || tag == MSB_T_ENV || tag == MSB_T_CWD ||
	       tag == MSB_T_USER;
}

/* exec_req_check() - first pass: validate, count vectors, size strings */
static int exec_req_check(const uint8_t *p, size_t n, struct exec_req *r,
			  size_t *bytes, struct agent_err *e)
{
	struct msb_tlv_r tr;
	const uint8_t *v;
	uint32_t len;
	uint8_t tag;
	int ret;

	*bytes = 0;
	msb_tlv_r_init(&tr, p, n);
	while ((ret = msb_tlv_next(&tr, &tag, &v, &len)) == 1) {
		if (is_str_tag(tag)) {
			if (memchr(v, '\0', len))
				return agent_fail(e, 0, "EXEC: string with a NUL byte (tag %u)",
						  tag);
			*bytes += (size_t)len + 1;
		}
		switch (tag) {
		case MSB_T_ARG:
			if (!r->argc && !len)
				return agent_fail(e, 0, "EXEC: empty command name");
			r->argc++;
			break;
		case MSB_T_ENV:
			if (!memchr(v, '=', len) || v[0] == '=')
				return agent_fail(e, 0, "EXEC: ENV \"%.*s\" is not K=V",
						  (int)(len > 64 ? 64 : len), (const char *)v);
			r->envc++;
			break;
		case MSB_T_TTY:
			if (len != 4)
				return agent_fail(e, 0, "EXEC: TTY is not u16 rows, u16 cols");
			r->tty = 1;
			r->rows = msb_get_be16(v);
			r->cols = msb_get_be16(v + 2);
			break;
		case MSB_T_STDIN:
		case MSB_T_DETACH:
			if (len != 4)
				return agent_fail(e, 0, "EXEC: tag %u is not a u32", tag);
			if (tag == MSB_T_STDIN)
				r->want_stdin = msb_get_be32(v) == 1;
			else
				r->detach = msb_get_be32(v) == 1;
			break;
		default:
			break;
		}
	}
	if (ret < 0)
		return agent_fail(e, 0, "EXEC: truncated TLV record");
	if (!r->argc)
		return agent_fail(e, 0, "EXEC: no ARG (a command is required)");
	return 0;
}

int exec_req_parse(const uint8_t *p, size_t n, struct exec_req *r,
		   struct agent_err *e)
{
	size_t bytes, ai = 0, ei = 0;
	struct msb_tlv_r tr;
	const uint8_t *v;
	uint32_t len;
	uint8_t tag;
	char *s;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = exec_req_check(p, n, r, &bytes, e);
	if (ret)
		return ret;

	r->mem = malloc((r->argc + 1 + r->envc + 1) * sizeof(char *) + bytes);
	if (!r->mem)
		return agent_fail(e, ENOMEM, "EXEC");
	r->argv = r->mem;
	r->env = r->argv + r->argc + 1;
	s = (char *)(r->env + r->envc + 1);

	msb_tlv_r_init(&tr, p, n);
	while (msb_tlv_next(&tr, &tag, &v, &len) == 1) {
		if (!is_str_tag(tag))
			continue;
		memcpy(s, v, len);
		s[len] = '\0';
		if (tag == MSB_T_ARG)
			r->argv[ai++] = s;
		else if (tag == MSB_T_ENV)
			r->env[ei++] = s;
		else if (tag == MSB_T_CWD)
			r->cwd = s;
		else
			r->user = s;
		s += len + 1;
	}
	r->argv[ai] = NULL;
	r->env[ei] = NULL;
	return 0;
}

void exec_req_free(struct exec_req *r)
{
	free(r->mem);
	r->mem = NULL;
	r->argv = r->env = NULL;
}
