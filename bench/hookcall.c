/* SPDX-License-Identifier: Apache-2.0 */
/* hookcall.c - one hook call's cost, without a VM (bench/plugins.py)
 *
 * The guest-level loops of bench/plugins.py are too noisy on a loaded
 * host to show microseconds; this measures the call itself, as the
 * supervisor makes it, in one process:
 *
 *   C in-process  examples/net_plugin.so's on_connect through its table
 *   built-in      the rate-limiter's hook with the chain's JSON arguments
 *   process       a call over the hook protocol to a plugin process the
 *                 keeper started (src/plugins/keeper.c): the message made
 *                 and framed (wire.c), written, the reply read and parsed
 *                 (hook_reply_parse), as src/supervisor/plugins.c does
 *
 * Usage: hookcall NET_PLUGIN.so "PLUGIN COMMAND" [CALLS]
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "builtin.h"
#include "keeper.h"
#include "msb_net_plugin.h"
#include "util.h"
#include "wire.h"

static void nolog(void *ctx, const char *msg)
{
}

static int noemit(void *ctx, const uint8_t *f, size_t n)
{
	return 0;
}

static json_object *connect_args(void)
{
	json_object *a = json_object_new_object();

	json_object_object_add(a, "proto", json_object_new_string("tcp"));
	json_object_object_add(a, "ip", json_object_new_string("1.1.1.1"));
	json_object_object_add(a, "port", json_object_new_int(80));
	return a;
}

static int read_full(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct msb_net_host host = { NULL, nolog, noemit };
	struct msb_net_addr dst = { .family = 4, .addr = { 1, 1, 1, 1 } };
	unsigned calls = argc > 3 ? (unsigned)atoi(argv[3]) : 20000;
	msb_net_plugin_open_fn open_fn;
	const struct msb_net_plugin *p;
	void *dl, *st = NULL;
	uint64_t t;
	volatile int sink = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: hookcall NET_PLUGIN.so CMD [CALLS]\n");
		return 2;
	}
	dl = dlopen(argv[1], RTLD_NOW);
	if (!dl) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	*(void **)&open_fn = dlsym(dl, MSB_NET_PLUGIN_ENTRY);
	p = open_fn(&host, &st);
	t = msb_now_us();
	for (unsigned i = 0; i < calls; i++)
		sink += p->on_connect(st, IPPROTO_TCP, &dst, 80);
	printf("C in-process\t%.3f\n", (double)(msb_now_us() - t) / calls);

	{
		json_object *o = json_object_new_object();
		struct builtin_env env = { "bench", "/tmp" };
		uint32_t hooks;
		uint64_t ops;
		char why[200];

		json_object_object_add(o, "connect",
				       json_object_new_string("1000000"));
		builtin_rate_limiter.open(o, &env, &st, &hooks, &ops, why,
					  sizeof(why));
		t = msb_now_us();
		for (unsigned i = 0; i < calls; i++) {
			json_object *a = connect_args();
			struct hook_reply r = { .verdict = HV_ALLOW };

			builtin_rate_limiter.hook(st, HOOK_CONNECT, a, &r);
			sink += (int)r.verdict;
			json_object_put(a);
		}
		printf("built-in\t%.3f\n", (double)(msb_now_us() - t) / calls);
		builtin_rate_limiter.close(st);
		json_object_put(o);
	}

	{
		struct keeper_cmd c = { argv[2], NULL, 0 };
		struct keeper_msg m;
		pid_t pid;
		int ctl, fd = -1;
		unsigned n = calls / 10 ? calls / 10 : 1;
		uint8_t hdr[4], *buf = NULL;

		if (keeper_start(&c, 1, "bench", 2, &pid, &ctl) < 0 ||
		    keeper_recv(ctl, &m, &fd) <= 0 || fd < 0) {
			fprintf(stderr, "cannot start %s\n", argv[2]);
			return 1;
		}
		for (int64_t id = 0; id <= (int64_t)n; id++) {
			json_object *a = connect_args(), *msg;
			struct hook_reply r;
			char why[300];
			uint8_t *f;
			size_t len;
			uint32_t need;

			if (id == 1)
				t = msb_now_us(); /* (id 0: the hello) */
			msg = json_object_new_object();
			json_object_object_add(msg, "type",
					       json_object_new_string(id ? "call" :
									   "hello"));
			if (id) {
				json_object_object_add(msg, "id",
						       json_object_new_int64(id));
				json_object_object_add(msg, "hook",
						       json_object_new_string(
							       "connect"));
				json_object_object_foreach(a, k, v)
					json_object_object_add(msg, k,
							       json_object_get(v));
			}
			f = hook_frame(msg, &len);
			if (msb_send_all(fd, f, len) < 0 ||
			    read_full(fd, hdr, 4) < 0)
				return 1;
			need = (uint32_t)hdr[0] << 24 | hdr[1] << 16 |
			       hdr[2] << 8 | hdr[3];
			buf = realloc(buf, need);
			if (read_full(fd, buf, need) < 0)
				return 1;
			if (id && hook_reply_parse(HOOK_CONNECT, buf, need, id,
						   &r, why, sizeof(why)) != 0) {
				fprintf(stderr, "bad reply: %s\n", why);
				return 1;
			}
			if (id)
				hook_reply_free(&r);
			free(f);
			json_object_put(msg);
			json_object_put(a);
		}
		printf("process\t%.3f\n", (double)(msb_now_us() - t) / n);
		close(fd);
		keeper_send(ctl, 0, KM_QUIT);
		close(ctl);
		free(buf);
	}
	return sink == -1;
}
