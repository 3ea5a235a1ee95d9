/* SPDX-License-Identifier: Apache-2.0 */
/* gpeer.c - msb start/exec/stop/rm/ps/logs inside a sandbox: its peers
 *
 * Each verb is one PEER request (a JSON object, docs/spawn.md) on a
 * connection of its own to the agent, which passes it to the host on the
 * agent link (not the network). The host answers with the peer's output
 * (STDOUT, STDERR) and ends with RESULT (ERRNO 0, or a refusal and its
 * MESSAGE) or, for an exec, the command's EXIT. Whether the sandbox may
 * spawn at all, which images, how big, with what network and secrets, is
 * the host's decision, never this program's.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "gcli.h"

static const char start_usage[] =
	"Usage: msb start NAME [OPTIONS]\n"
	"\n"
	"Start a peer sandbox beside this one, on the host (the host must\n"
	"allow it: msb run --allow-spawn N). A peer inherits nothing: its own\n"
	"VM, disk and network stack. Its network policy is this sandbox's, or\n"
	"narrower; its secrets only those whose placeholders this sandbox\n"
	"holds, for hosts no wider than this sandbox's.\n"
	"\n"
	"Options:\n"
	"      --image IMAGE          its image (one the host allows: by\n"
	"                             default this sandbox's own)\n"
	"      --cpus N               virtual CPUs (within the host's ceiling)\n"
	"      --memory SIZE          guest memory, e.g. 256M (idem)\n"
	"  -e, --env K=V              a variable of every exec in it\n"
	"      --net-deny-all         no network at all (air-gapped)\n"
	"      --net-allow NAME       only these names (repeatable; each one\n"
	"                             this sandbox may reach)\n"
	"      --net-allow-cidr CIDR  a range this sandbox was opened too\n"
	"      --secret-env K=@env:VAR[:HOSTS]\n"
	"                             the secret whose placeholder is in this\n"
	"                             sandbox's $VAR, as the peer's K (its own\n"
	"                             placeholder), for HOSTS (comma-separated;\n"
	"                             default: all this sandbox's hosts for it)\n"
	"  -h, --help                 show this help\n";

int gcli_peer_verb(const char *verb)
{
	static const char *const verbs[] = { "start", "exec", "stop", "rm",
					     "ps",    "logs", NULL };

	for (const char *const *v = verbs; *v; v++)
		if (!strcmp(verb, *v))
			return 1;
	return 0;
}

/* A request under construction: JSON text in a fixed buffer. */
struct req {
	char buf[MSB_PEER_REQ_MAX];
	size_t len;
	int over;
	int first; /* no member written yet in the current object/array */
};

static void put(struct req *r, const char *s, size_t n)
{
	if (r->len + n >= sizeof(r->buf)) {
		r->over = 1;
		return;
	}
	memcpy(r->buf + r->len, s, n);
	r->len += n;
	r->buf[r->len] = 0;
}

static void puts_(struct req *r, const char *s)
{
	put(r, s, strlen(s));
}

/* str() - @s as a JSON string (RFC 8259 §7: quote, backslash and control
 * characters escaped). */
static void str(struct req *r, const char *s)
{
	put(r, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(r, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(r, esc, 6);
		} else {
			put(r, s, 1);
		}
	}
	put(r, "\"", 1);
}

static void key(struct req *r, const char *k)
{
	if (!r->first)
		put(r, ",", 1);
	r->first = 0;
	str(r, k);
	put(r, ":", 1);
}

static void kv_str(struct req *r, const char *k, const char *v)
{
	key(r, k);
	str(r, v);
}

/* list() - @k: an array of the @n strings @v. */
static void list(struct req *r, const char *k, char **v, int n)
{
	key(r, k);
	put(r, "[", 1);
	for (int i = 0; i < n; i++) {
		if (i)
			put(r, ",", 1);
		str(r, v[i]);
	}
	put(r, "]", 1);
}

/* run() - send @r, relay the answer. Return: the exit status. */
static int run(struct req *r)
{
	static struct msb_framer f;
	struct msb_frame_hdr h;
	struct msb_fresult res;
	const uint8_t *p;
	size_t taken = 0;
	int fd;

	if (r->over)
		return gcli_die("%s", "the request is over 60 KiB");
	fd = gcli_connect();
	if (fd < 0)
		return gcli_die("not inside a microsandbox sandbox (" GUEST_RT_SOCK
				": %s): peers are started from inside one",
				strerror(-fd));
	if (gcli_send_frame(fd, MSB_F_PEER, (const uint8_t *)r->buf,
			    r->len) < 0) {
		close(fd);
		return gcli_die("%s", "the sandbox's agent closed the connection");
	}
	for (;;) {
		/* The host sends a peer's output within the credit this
		 * program grants as it writes it out (MSB_WINDOW_INIT first). */
		if (taken >= MSB_WINDOW_INIT / 4) {
			uint8_t b[4];

			msb_put_be32(b, (uint32_t)taken);
			if (gcli_send_frame(fd, MSB_F_WINDOW, b, 4) < 0)
				break;
			taken = 0;
		}
		if (gcli_read_frame(fd, &f, &h, &p, -1) != 1) {
			close(fd);
			return gcli_die("%s", "the sandbox's agent closed the "
					      "connection (the host ended the "
					      "request, or its output came "
					      "faster than it was read)");
		}
		switch (h.type) {
		case MSB_F_STDOUT:
		case MSB_F_STDERR:
			for (size_t off = 0; off < h.len;) {
				ssize_t w = write(h.type == MSB_F_STDOUT ? 1 : 2,
						  p + off, h.len - off);

				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					break;
				off += (size_t)w;
			}
			taken += h.len;
			break;
		case MSB_F_EXIT: {
			int code = h.len >= 8 ? (int)msb_get_be32(p) : 125;
			unsigned sig = h.len >= 8 ? msb_get_be32(p + 4) : 0;

			close(fd);
			return sig ? 128 + (int)(sig & 127) : code & 255;
		}
		case MSB_F_RESULT:
			close(fd);
			if (msb_fresult_parse(p, h.len, &res) < 0)
				return gcli_die("%s", "a bad answer from the host");
			if (res.err) {
				char msg[4200];

				snprintf(msg, sizeof(msg), "%.*s",
					 (int)res.msg_len,
					 res.msg ? (const char *)res.msg :
						   strerror((int)res.err));
				return gcli_die("%s", msg);
			}
			return 0;
		default:
			break;
		}
	}
	close(fd);
	return gcli_die("%s", "the sandbox's agent closed the connection");
}

static int usage_err(const char *verb, const char *what)
{
	fprintf(stderr, "msb %s: %s (msb --help)\n", verb, what);
	return EXIT_USAGE;
}

/* opt() - "--name VALUE" or "--name=VALUE" at @argv[*i]. Return: the
 * value (and *@i past it), or NULL when @argv[*i] is not --name. */
static const char *opt(int argc, char **argv, int *i, const char *name,
		       int *missing)
{
	size_t n = strlen(name);

	if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (strcmp(argv[*i], name))
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

/* secret() - K=@env:VAR[:HOSTS] into the request: this sandbox's $VAR is
 * the placeholder the host looks up. */
static int secret(struct req *r, const char *spec, int first)
{
	char buf[4096], *eq, *var, *hosts;
	const char *ph;

	snprintf(buf, sizeof(buf), "%s", spec);
	eq = strchr(buf, '=');
	if (!eq || eq == buf || strncmp(eq + 1, "@env:", 5) || !eq[6]) {
		fprintf(stderr, "msb start: invalid --secret-env '%s': use "
				"NAME=@env:VAR[:HOSTS], VAR this sandbox's "
				"variable holding a secret's placeholder\n",
			spec);
		return -1;
	}
	*eq = 0;
	var = eq + 6;
	hosts = strchr(var, ':');
	if (hosts)
		*hosts++ = 0;
	ph = getenv(var);
	if (!ph || !*ph) {
		fprintf(stderr, "msb start: --secret-env %s: $%s is not set "
				"here (it names this sandbox's variable "
				"holding the secret's placeholder)\n",
			buf, var);
		return -1;
	}
	if (!first)
		put(r, ",", 1);
	r->first = 1;
	put(r, "{", 1);
	kv_str(r, "env", buf);
	kv_str(r, "placeholder", ph);
	if (hosts && *hosts)
		kv_str(r, "hosts", hosts);
	put(r, "}", 1);
	r->first = 0;
	return 0;
}

static int cmd_start(int argc, char **argv, struct req *r)
{
	char *envs[64], *allow[16], *cidrs[16], *secrets[16];
	int nenv = 0, nallow = 0, ncidr = 0, nsec = 0, deny = 0;
	const char *name = NULL, *image = NULL, *cpus = NULL, *mem = NULL, *v;

	for (int i = 1; i < argc; i++) {
		int missing = 0;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(start_usage, stdout);
			return 0;
		} else if ((v = opt(argc, argv, &i, "--image", &missing))) {
			image = v;
		} else if ((v = opt(argc, argv, &i, "--cpus", &missing))) {
			cpus = v;
		} else if ((v = opt(argc, argv, &i, "--memory", &missing))) {
			mem = v;
		} else if ((v = opt(argc, argv, &i, "--env", &missing)) ||
			   (v = opt(argc, argv, &i, "-e", &missing))) {
			if (nenv == 64)
				return usage_err("start", "at most 64 --env");
			envs[nenv++] = (char *)v;
		} else if ((v = opt(argc, argv, &i, "--net-allow", &missing))) {
			if (nallow == 16)
				return usage_err("start", "at most 16 --net-allow");
			allow[nallow++] = (char *)v;
		} else if ((v = opt(argc, argv, &i, "--net-allow-cidr",
				    &missing))) {
			if (ncidr == 16)
				return usage_err("start",
						 "at most 16 --net-allow-cidr");
			cidrs[ncidr++] = (char *)v;
		} else if ((v = opt(argc, argv, &i, "--secret-env", &missing))) {
			if (nsec == 16)
				return usage_err("start", "at most 16 --secret-env");
			secrets[nsec++] = (char *)v;
		} else if (!strcmp(argv[i], "--net-deny-all")) {
			deny = 1;
		} else if (missing) {
			fprintf(stderr, "msb start: %s needs a value\n", argv[i]);
			return EXIT_USAGE;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "msb start: unknown option '%s' (msb "
					"start --help)\n", argv[i]);
			return EXIT_USAGE;
		} else if (!name) {
			name = argv[i];
		} else {
			fprintf(stderr, "msb start: unexpected argument '%s'\n",
				argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!name)
		return usage_err("start", "which peer? msb start NAME "
					  "[--image IMAGE]");
	puts_(r, "{");
	r->first = 1;
	kv_str(r, "op", "start");
	kv_str(r, "name", name);
	if (image)
		kv_str(r, "image", image);
	if (cpus) {
		char *end;
		long n = strtol(cpus, &end, 10);
		char num[16];

		if (*end || n < 1 || n > 64)
			return usage_err("start", "--cpus takes 1 to 64");
		snprintf(num, sizeof(num), "%ld", n);
		key(r, "cpus");
		puts_(r, num);
	}
	if (mem)
		kv_str(r, "memory", mem);
	if (deny) {
		key(r, "net_deny_all");
		puts_(r, "true");
	}
	if (nallow)
		list(r, "net_allow", allow, nallow);
	if (ncidr)
		list(r, "net_allow_cidr", cidrs, ncidr);
	if (nenv)
		list(r, "env", envs, nenv);
	if (nsec) {
		key(r, "secrets");
		put(r, "[", 1);
		for (int i = 0; i < nsec; i++)
			if (secret(r, secrets[i], i == 0) < 0)
				return EXIT_USAGE;
		put(r, "]", 1);
	}
	puts_(r, "}");
	return -1;
}

static int cmd_exec(int argc, char **argv, struct req *r)
{
	char *envs[64];
	int nenv = 0, i;
	const char *name = NULL, *wd = NULL, *v;

	for (i = 1; i < argc; i++) {
		int missing = 0;

		if (!strcmp(argv[i], "--"))
			break;
		if ((v = opt(argc, argv, &i, "--env", &missing)) ||
		    (v = opt(argc, argv, &i, "-e", &missing))) {
			if (nenv == 64)
				return usage_err("exec", "at most 64 --env");
			envs[nenv++] = (char *)v;
		} else if ((v = opt(argc, argv, &i, "--workdir", &missing)) ||
			   (v = opt(argc, argv, &i, "-w", &missing))) {
			wd = v;
		} else if (missing) {
			fprintf(stderr, "msb exec: %s needs a value\n", argv[i]);
			return EXIT_USAGE;
		} else if (!name && argv[i][0] == '-') {
			fprintf(stderr, "msb exec: unknown option '%s'\n",
				argv[i]);
			return EXIT_USAGE;
		} else if (!name) {
			name = argv[i];
		} else {
			break;
		}
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (!name || i >= argc)
		return usage_err("exec", "msb exec NAME [--] CMD [ARG...]");
	puts_(r, "{");
	r->first = 1;
	kv_str(r, "op", "exec");
	kv_str(r, "name", name);
	list(r, "argv", argv + i, argc - i);
	if (nenv)
		list(r, "env", envs, nenv);
	if (wd)
		kv_str(r, "workdir", wd);
	puts_(r, "}");
	return -1;
}

int gcli_peer(int argc, char **argv)
{
	static struct req r;
	const char *verb = argv[0];
	int st;

	r.len = 0;
	r.over = 0;
	r.buf[0] = 0;
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) &&
	    strcmp(verb, "start")) {
		printf("Usage: msb %s %s\n(a peer of this sandbox's; "
		       "docs/spawn.md)\n", verb,
		       !strcmp(verb, "exec") ? "NAME [-e K=V] [-w DIR] [--] CMD "
					       "[ARG...]" :
		       !strcmp(verb, "ps") ? "[--format json]" : "NAME");
		return 0;
	}
	if (!strcmp(verb, "start")) {
		st = cmd_start(argc, argv, &r);
		if (st >= 0)
			return st;
	} else if (!strcmp(verb, "exec")) {
		st = cmd_exec(argc, argv, &r);
		if (st >= 0)
			return st;
	} else if (!strcmp(verb, "ps")) {
		int json = 0;

		for (int i = 1; i < argc; i++) {
			if (!strcmp(argv[i], "--format") && i + 1 < argc &&
			    (!strcmp(argv[i + 1], "json") ||
			     !strcmp(argv[i + 1], "table")))
				json = !strcmp(argv[++i], "json");
			else if (!strcmp(argv[i], "--format=json"))
				json = 1;
			else if (!strcmp(argv[i], "--format=table"))
				json = 0;
			else
				return usage_err("ps", "msb ps [--format json]");
		}
		puts_(&r, json ? "{\"op\":\"ps\",\"json\":true}" :
				 "{\"op\":\"ps\"}");
	} else {
		if (argc != 2 || argv[1][0] == '-') {
			fprintf(stderr, "msb %s: msb %s NAME\n", verb, verb);
			return EXIT_USAGE;
		}
		puts_(&r, "{");
		r.first = 1;
		kv_str(&r, "op", verb);
		kv_str(&r, "name", argv[1]);
		puts_(&r, "}");
	}
	return run(&r);
}
