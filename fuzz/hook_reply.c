/* SPDX-License-Identifier: Apache-2.0 */
/* hook_reply.c - libFuzzer target: what a plugin sends, as the hook
 * protocol's parser reads it (src/plugins/wire.c)
 *
 * A plugin runs in a process of its own and may send anything: its first
 * byte picks the hook the bytes answer, the rest is the message, parsed
 * as a reply to call 1 and as a hello. Whatever is accepted must be
 * within the bounds the supervisor relies on.
 *
 * Build and run: make build/fuzz/hook_reply && build/fuzz/hook_reply
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msb_fs.h"
#include "wire.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hook_reply r;
	struct hook_hello h;
	char why[300];
	enum hook_id id;

	if (size < 1)
		return 0;
	id = (enum hook_id)(data[0] % HOOK_COUNT);
	if (hook_reply_parse(id, data + 1, size - 1, 1, &r, why,
			     sizeof(why)) == 0) {
		if (r.naddrs > HOOK_ADDRS_MAX || strlen(r.reason) >=
							 sizeof(r.reason))
			abort();
		for (unsigned i = 0; i < r.naddrs; i++)
			if (r.addrs[i].family != 4 && r.addrs[i].family != 6)
				abort();
		if (r.verdict == HV_DENY && id == HOOK_FS &&
		    (r.errnum < 1 || r.errnum > 4095))
			abort();
		if (r.argv && !json_object_array_length(r.argv))
			abort();
		/* a response's modify gives a head, a body, or both; a head
		 * is a string of its length */
		if (id == HOOK_HTTP_RESPONSE && r.verdict == HV_MODIFY &&
		    (!(r.head || r.body) ||
		     (r.head && (!r.head_len || r.head_len > HOOK_HEAD_MAX ||
				 strlen(r.head) != r.head_len))))
			abort();
		if (id != HOOK_HTTP_RESPONSE && r.head)
			abort();
		hook_reply_free(&r);
	}
	if (hook_hello_parse(data + 1, size - 1, &h, why, sizeof(why)) == 0) {
		if (!h.name[0] || (h.fs_ops >> MSB_FS_OP_COUNT) ||
		    (h.fs_ops & (1ull << MSB_FS_OP_FORGET)))
			abort();
	}
	return 0;
}
