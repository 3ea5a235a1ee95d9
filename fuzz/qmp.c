/* SPDX-License-Identifier: Apache-2.0 */
/* qmp.c - libFuzzer target: the QMP client's reading of QEMU's monitor
 *
 * QEMU's events carry strings the guest chose (device paths, panic
 * information), so the client's line splitting and dispatch must survive
 * anything. The input is fed in chunks whose sizes come from the input
 * itself, with commands pending so that replies find (or miss) them; every
 * pending command must be answered exactly once by the time the client is
 * freed.
 *
 * Build and run: make build/fuzz/qmp && build/fuzz/qmp -max_total_time=60
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static int answered;

static void on_answer(void *opaque, json_object *ret, const char *eclass,
		      const char *edesc)
{
	answered++;
	if (!ret && (!eclass || !edesc))
		abort();
	if (ret)
		json_object_to_json_string(ret);
}

static void on_event(void *opaque, const char *event, json_object *data)
{
	if (!event)
		abort();
	if (data)
		json_object_to_json_string(data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	struct msb_qmp *q;
	size_t off = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	q = msb_qmp_new(sv[0], on_event, NULL);
	if (!q) {
		close(sv[1]);
		return 0;
	}
	answered = 0;
	for (int i = 0; i < 4; i++)
		msb_qmp_send(q, "query-status", NULL, on_answer, NULL, NULL);
	while (off < size) {
		size_t n = 1 + data[off] % 64;

		off++;
		if (n > size - off)
			n = size - off;
		if (msb_qmp_feed(q, (const char *)data + off, n) < 0)
			break;
		off += n;
	}
	msb_qmp_free(q);
	close(sv[1]);
	if (answered != 4)
		abort();
	return 0;
}
