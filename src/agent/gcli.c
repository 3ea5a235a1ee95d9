/* SPDX-License-Identifier: Apache-2.0 */
/* gcli.c - `msb` inside a sandbox: the agent's binary run by that name
 *
 * The agent copies itself to GUEST_RT_MSB at boot; run as `msb` (not as
 * PID 1) it is a small client of the agent's local socket
 * (docs/events.md), so every image has the command whatever it holds.
 * Exit statuses: 0, 1 for `event wait` that timed out, 2 for bad usage,
 * 125 when the agent cannot be reached or refuses.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "gcli.h"
#include "proto.h"

static const char usage[] =
	"Usage: msb event emit TOPIC [JSON]\n"
	"       msb event wait TOPIC [--timeout S]\n"
	"       msb start NAME [OPTIONS]      (msb start --help)\n"
	"       msb exec [-i] [-t] NAME [--] CMD [ARG...]\n"
	"       msb stop NAME | msb rm NAME | msb logs NAME\n"
	"       msb ps [--format json]\n"
	"       msb cp SRC NAME:PATH | msb cp NAME:PATH DEST\n"
	"       msb snapshot NAME --name SNAP | msb snapshot ls | msb snapshot rm SNAP\n"
	"       msb restore SNAP --name NEW\n"
	"\n"
	"The msb command inside a sandbox: it talks to the host through the\n"
	"sandbox's agent (not the network).\n"
	"\n"
	"  start, exec, stop, rm, ps, logs, cp, snapshot, restore\n"
	"                            this sandbox's peer sandboxes:\n"
	"                            started on the host beside it, when the\n"
	"                            host allows it (msb run --allow-spawn N);\n"
	"                            only those it started (docs/spawn.md)\n"
	"  event emit TOPIC [JSON]   send an event to the host (JSON: its data,\n"
	"                            one JSON value; null if left out); exits\n"
	"                            once the host link has it\n"
	"  event wait TOPIC          wait for the host's next event on TOPIC\n"
	"                            (msb event send NAME TOPIC on the host),\n"
	"                            print its data and exit 0; one sent before\n"
	"                            anyone waited is kept for the first wait\n"
	"      --timeout S           give up after S seconds: exit 1\n"
	"\n"
	"TOPIC: 1-128 characters of A-Z a-z 0-9 . _ : / - (not 'msb.' first).\n";

int gcli_die(const char *fmt, const char *a)
{
	fputs("msb: ", stderr);
	fprintf(stderr, fmt, a);
	fputc('\n', stderr);
	return EXIT_MSB;
}

/* JSON syntax, RFC 8259, so a mistake is told here and not dropped by the
 * host (which checks again). Return: the end of the value, or NULL. */
static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *value(const char *p, int depth);

static const char *string(const char *p)
{
	for (p++; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF",
						    p[i]) || !p[i])
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
	}
	return p + 1;
}

static const char *number(const char *p)
{
	const char *s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		s = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		s = p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == s)
			return NULL;
	}
	return p;
}

static const char *members(const char *p, int depth, char close, int obj)
{
	p = ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (obj) {
			if (*p != '"' || !(p = string(p)))
				return NULL;
			p = ws(p);
			if (*p++ != ':')
				return NULL;
		}
		if (!(p = value(p, depth + 1)))
			return NULL;
		p = ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
		p = ws(p);
	}
}

static const char *value(const char *p, int depth)
{
	if (depth > 64)
		return NULL;
	p = ws(p);
	switch (*p) {
	case '{':
		return members(p, depth, '}', 1);
	case '[':
		return members(p, depth, ']', 0);
	case '"':
		return string(p);
	case 't':
		return strncmp(p, "true", 4) ? NULL : p + 4;
	case 'f':
		return strncmp(p, "false", 5) ? NULL : p + 5;
	case 'n':
		return strncmp(p, "null", 4) ? NULL : p + 4;
	default:
		return number(p);
	}
}

int gcli_json_ok(const char *s)
{
	const char *e = value(s, 0);

	return e && !*ws(e);
}

int gcli_connect(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", GUEST_RT_SOCK);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

int gcli_send_frame(int fd, uint8_t type, const uint8_t *p, size_t n)
{
	uint8_t hdr[MSB_FRAME_HDR];

	msb_frame_encode_hdr(hdr, (uint32_t)n, 0, type);
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
	    write(fd, p, n) != (ssize_t)n)
		return -1;
	return 0;
}

/* gcli_read_frame() - one frame into @f. Return: 1, 0 on timeout, -1 when
 * the agent closed or sent garbage. Bytes read past a whole frame wait
 * in @f's read-ahead for the next call (one connection a process). */
int gcli_read_frame(int fd, struct msb_framer *f, struct msb_frame_hdr *h,
		    const uint8_t **p, int timeout_ms)
{
	static uint8_t buf[4096];
	static size_t have, used;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct timespec now;
		int r = msb_framer_take(f, h, p), left = -1;
		ssize_t n;

		if (r)
			return r;
		if (used < have) {
			used += msb_framer_feed(f, buf + used, have - used);
			continue;
		}
		if (timeout_ms >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			left = timeout_ms - (int)((now.tv_sec - t0.tv_sec) * 1000 +
				(now.tv_nsec - t0.tv_nsec) / 1000000);
			if (left <= 0)
				return 0;
		}
		r = poll(&pfd, 1, left);
		if (r == 0)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return -1;
		have = (size_t)n;
		used = 0;
	}
}

static int ev_emit(const char *topic, const char *data)
{
	static uint8_t buf[MSB_FRAME_MAX];
	static struct msb_framer f;
	struct msb_frame_hdr h;
	struct msb_fresult res;
	const uint8_t *p;
	struct msb_tlv_w w;
	int fd;

	if (!msb_topic_ok((const uint8_t *)topic, strlen(topic)))
		return gcli_die("bad topic '%s': 1-128 characters of A-Z a-z 0-9 . "
			   "_ : / -", topic);
	if (strlen(data) > MSB_EVDATA_MAX)
		return gcli_die("%s: the data is over 32 KiB", topic);
	if (!gcli_json_ok(data))
		return gcli_die("the data is not one JSON value: %s", data);
	fd = gcli_connect();
	if (fd < 0)
		return gcli_die("not inside a microsandbox sandbox (" GUEST_RT_SOCK
			   ": %s)", strerror(-fd));
	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_str(&w, MSB_T_TOPIC, topic);
	msb_tlv_put_str(&w, MSB_T_DATA, data);
	if (gcli_send_frame(fd, MSB_F_GEVENT, buf, w.len) < 0 ||
	    gcli_read_frame(fd, &f, &h, &p, -1) != 1 || h.type != MSB_F_RESULT ||
	    msb_fresult_parse(p, h.len, &res) < 0) {
		close(fd);
		return gcli_die("%s", "the sandbox's agent closed the connection");
	}
	close(fd);
	if (res.err) {
		char msg[4200];

		snprintf(msg, sizeof(msg), "%.*s", (int)res.msg_len,
			 res.msg ? (const char *)res.msg : "refused");
		return gcli_die("%s", msg);
	}
	return 0;
}

static int ev_wait(const char *topic, int timeout_ms)
{
	static struct msb_framer f;
	uint8_t buf[256];
	struct msb_frame_hdr h;
	struct msb_event_rec ev;
	const uint8_t *p;
	struct msb_tlv_w w;
	int fd, r;

	if (!msb_topic_ok((const uint8_t *)topic, strlen(topic)))
		return gcli_die("bad topic '%s': 1-128 characters of A-Z a-z 0-9 . "
			   "_ : / -", topic);
	fd = gcli_connect();
	if (fd < 0)
		return gcli_die("not inside a microsandbox sandbox (" GUEST_RT_SOCK
			   ": %s)", strerror(-fd));
	msb_tlv_w_init(&w, buf, sizeof(buf));
	msb_tlv_put_str(&w, MSB_T_TOPIC, topic);
	if (gcli_send_frame(fd, MSB_F_SUBSCRIBE, buf, w.len) < 0) {
		close(fd);
		return gcli_die("%s", "the sandbox's agent closed the connection");
	}
	r = gcli_read_frame(fd, &f, &h, &p, timeout_ms);
	close(fd);
	if (r == 0) {
		fprintf(stderr, "msb: no event on %s within %d s\n", topic,
			timeout_ms / 1000);
		return 1;
	}
	if (r < 0 || h.type != MSB_F_EVENT || msb_event_parse(p, h.len, &ev))
		return gcli_die("%s", "the sandbox's agent closed the connection");
	if (ev.data)
		fwrite(ev.data, 1, ev.data_len, stdout);
	else
		fputs("null", stdout);
	fputc('\n', stdout);
	return fflush(stdout) ? EXIT_MSB : 0;
}

static int cmd_event(int argc, char **argv)
{
	int timeout_ms = -1;
	const char *args[3];
	int nargs = 0;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			char *end;
			double t = strtod(argv[++i], &end);

			if (*end || t < 0 || t > 86400 * 365)
				return fprintf(stderr, "msb: --timeout takes "
					       "seconds\n"), EXIT_USAGE;
			timeout_ms = (int)(t * 1000);
		} else if (!strncmp(argv[i], "--timeout=", 10)) {
			char *end;
			double t = strtod(argv[i] + 10, &end);

			if (*end || t < 0 || t > 86400 * 365)
				return fprintf(stderr, "msb: --timeout takes "
					       "seconds\n"), EXIT_USAGE;
			timeout_ms = (int)(t * 1000);
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (nargs < 3) {
			args[nargs++] = argv[i];
		} else {
			nargs++;
		}
	}
	if (nargs >= 2 && !strcmp(args[0], "emit") && nargs <= 3 &&
	    timeout_ms < 0)
		return ev_emit(args[1], nargs == 3 ? args[2] : "null");
	if (nargs == 2 && !strcmp(args[0], "wait"))
		return ev_wait(args[1], timeout_ms);
	fputs(usage, stderr);
	return EXIT_USAGE;
}

int guest_cli(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "event"))
		return cmd_event(argc, argv);
	if (argc >= 2 && gcli_peer_verb(argv[1]))
		return gcli_peer(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		return 0;
	}
	fputs(usage, stderr);
	return EXIT_USAGE;
}
