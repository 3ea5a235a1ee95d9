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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "bytes.h"
#include "events.h"
#include "gcli.h"
#include "log.h"

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
	static const char *const verbs[] = { "start", "exec",     "stop",
					     "rm",    "ps",       "logs",
					     "cp",    "snapshot", "restore",
					     NULL };

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

/* What a request reads and writes besides the agent's socket. */
struct io {
	int in_fd;  /* sent to the host as the request's input, -1: none */
	int out_fd; /* where the host's STDOUT goes */
	int tty;    /* this terminal made raw, its size sent (RESIZE) */
};

static struct termios saved_tty;
static int raw_on;

static void restore_tty(void)
{
	if (raw_on)
		tcsetattr(0, TCSADRAIN, &saved_tty);
	raw_on = 0;
}

static void make_raw(void)
{
	struct termios t;

	if (tcgetattr(0, &saved_tty) < 0)
		return;
	t = saved_tty;
	cfmakeraw(&t);
	if (tcsetattr(0, TCSADRAIN, &t) == 0) {
		raw_on = 1;
		atexit(restore_tty);
	}
}

static void send_size(int fd)
{
	struct winsize ws;
	uint8_t b[4];

	if (ioctl(0, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col)
		return;
	msb_put_be16(b, ws.ws_row);
	msb_put_be16(b + 2, ws.ws_col);
	gcli_send_frame(fd, MSB_F_RESIZE, b, 4);
}

static int closed(int fd)
{
	close(fd);
	restore_tty();
	return gcli_die("%s", "the sandbox's agent closed the connection (the "
			      "host ended the request, or its output came "
			      "faster than it was read)");
}

/* run_io() - send @r, relay the answer; @io's input goes to the host
 * within the window it gives (MSB_PEER_STDIN_WINDOW, then its WINDOW
 * frames), the output comes within the credit this program grants as it
 * writes it out. Return: the exit status. */
static int run_io(struct req *r, const struct io *io)
{
	static struct msb_framer f;
	static uint8_t rbuf[16384], ibuf[32768];
	uint32_t in_credit = MSB_PEER_STDIN_WINDOW;
	int in_open = io->in_fd >= 0, sfd = -1, fd;
	size_t taken = 0;

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
	if (io->tty) {
		sigset_t m;

		sigemptyset(&m);
		sigaddset(&m, SIGWINCH);
		sigprocmask(SIG_BLOCK, &m, NULL);
		sfd = signalfd(-1, &m, SFD_CLOEXEC | SFD_NONBLOCK);
		make_raw();
		send_size(fd);
	}
	for (;;) {
		struct pollfd pf[3] = {
			{ fd, POLLIN, 0 },
			{ in_open && in_credit ? io->in_fd : -1, POLLIN, 0 },
			{ sfd, POLLIN, 0 },
		};
		ssize_t n;

		/* The host sends a peer's output within the credit this
		 * program grants as it writes it out (MSB_WINDOW_INIT first). */
		if (taken >= MSB_WINDOW_INIT / 4) {
			uint8_t b[4];

			msb_put_be32(b, (uint32_t)taken);
			if (gcli_send_frame(fd, MSB_F_WINDOW, b, 4) < 0)
				return closed(fd);
			taken = 0;
		}
		if (poll(pf, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return closed(fd);
		}
		if (pf[2].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				;
			send_size(fd);
		}
		if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			size_t want = in_credit < sizeof(ibuf) ? in_credit :
								sizeof(ibuf);

			n = read(io->in_fd, ibuf, want);
			if (n > 0) {
				if (gcli_send_frame(fd, MSB_F_STDIN, ibuf,
						    (size_t)n) < 0)
					return closed(fd);
				in_credit -= (uint32_t)n;
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				/* its end: the peer's command reads EOF */
				if (gcli_send_frame(fd, MSB_F_STDIN, NULL, 0) < 0)
					return closed(fd);
				in_open = 0;
			}
		}
		if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fd, rbuf, sizeof(rbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return closed(fd);
		for (size_t used = 0;;) {
			struct msb_frame_hdr h;
			const uint8_t *p;
			struct msb_fresult res;
			int t;

			while ((t = msb_framer_take(&f, &h, &p)) == 1) {
				switch (h.type) {
				case MSB_F_STDOUT:
				case MSB_F_STDERR:
					if (agent_write_all(h.type ==
							    MSB_F_STDOUT ?
							    io->out_fd : 2,
							    p, h.len) < 0 &&
					    io->out_fd != 1) {
						/* the copy's unpacking went */
						close(fd);
						return EXIT_MSB;
					}
					taken += h.len;
					break;
				case MSB_F_WINDOW: /* the host took input */
					if (h.len == 4 &&
					    (uint64_t)in_credit +
							    msb_get_be32(p) <=
						    MSB_PEER_STDIN_WINDOW)
						in_credit += msb_get_be32(p);
					break;
				case MSB_F_EXIT: {
					int code = h.len >= 8 ?
							   (int)msb_get_be32(p) :
							   125;
					unsigned sig = h.len >= 8 ?
							       msb_get_be32(p + 4) :
							       0;

					close(fd);
					restore_tty();
					return sig ? 128 + (int)(sig & 127) :
						     code & 255;
				}
				case MSB_F_RESULT:
					close(fd);
					restore_tty();
					if (msb_fresult_parse(p, h.len, &res) < 0)
						return gcli_die("%s", "a bad answer "
								      "from the host");
					if (res.err) {
						char msg[4200];

						snprintf(msg, sizeof(msg), "%.*s",
							 (int)res.msg_len,
							 res.msg ? (const char *)
									   res.msg :
								   strerror((int)res.err));
						return gcli_die("%s", msg);
					}
					return 0;
				default:
					break;
				}
			}
			if (t < 0)
				return closed(fd);
			if (used >= (size_t)n)
				break;
			used += msb_framer_feed(&f, rbuf + used, (size_t)n - used);
		}
	}
}

/* run() - a request with no input, its output on stdout. */
static int run(struct req *r)
{
	struct io io = { .in_fd = -1, .out_fd = 1 };

	return run_io(r, &io);
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

static int cmd_exec(int argc, char **argv, struct req *r, struct io *io)
{
	char *envs[64];
	int nenv = 0, i, interactive = 0, tty = 0;
	const char *name = NULL, *wd = NULL, *v;

	for (i = 1; i < argc; i++) {
		int missing = 0;

		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-i") || !strcmp(argv[i], "--interactive")) {
			interactive = 1;
		} else if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--tty")) {
			tty = 1;
		} else if (!strcmp(argv[i], "-it") || !strcmp(argv[i], "-ti")) {
			interactive = tty = 1;
		} else if ((v = opt(argc, argv, &i, "--env", &missing)) ||
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
		return usage_err("exec", "msb exec [-i] [-t] NAME [--] CMD "
					 "[ARG...]");
	puts_(r, "{");
	r->first = 1;
	kv_str(r, "op", "exec");
	kv_str(r, "name", name);
	list(r, "argv", argv + i, argc - i);
	if (nenv)
		list(r, "env", envs, nenv);
	if (wd)
		kv_str(r, "workdir", wd);
	/* as the host's msb exec: -i streams stdin, -t gives a terminal
	 * (its input only with -i too) */
	if (interactive) {
		key(r, "stdin");
		puts_(r, "true");
		io->in_fd = 0;
	}
	if (tty) {
		struct winsize ws;
		char num[16];

		key(r, "tty");
		puts_(r, "true");
		if (isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row &&
		    ws.ws_col) {
			key(r, "rows");
			snprintf(num, sizeof(num), "%u", ws.ws_row);
			puts_(r, num);
			key(r, "cols");
			snprintf(num, sizeof(num), "%u", ws.ws_col);
			puts_(r, num);
		}
		io->tty = isatty(0) && interactive;
	}
	puts_(r, "}");
	return -1;
}

/* ---- msb cp: a peer's files (the archive of proto.h's MSB_PCP_*) ------- */

static int contents_only(const char *p)
{
	size_t n = strlen(p);

	return (n >= 2 && p[n - 1] == '.' && p[n - 2] == '/') ||
	       (n && p[n - 1] == '/' && strspn(p, "/") == n);
}

static int ends_with_slash(const char *p)
{
	size_t n = strlen(p);

	return n && p[n - 1] == '/';
}

/* split() - "NAME:PATH" (NAME a sandbox name, no '/' before the ':')
 * into its parts. Return: 1, or 0 for a path of this sandbox's. */
static int split(char *arg, char **path)
{
	char *colon = strchr(arg, ':');

	if (!colon || colon == arg || memchr(arg, '/', (size_t)(colon - arg)))
		return 0;
	for (char *c = arg; c < colon; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr("-_.", *c)))
			return 0;
	*colon = 0;
	*path = colon + 1;
	return 1;
}

static void cp_fail(const char *what, const char *path)
{
	fprintf(stderr, "msb cp: %s %s: %s\n", what, path, strerror(errno));
}

/* -- into a peer: this sandbox's files packed (in a child process) -- */

static int pk_rec(FILE *o, int type, unsigned mode, const char *name,
		  const char *link)
{
	static uint8_t rec[MSB_PCP_REC_MAX];
	size_t n = msb_pcp_rec(rec, type, mode, name, link);

	if (!n) {
		fprintf(stderr, "msb cp: %s: the name or its link's target is "
				"over %d bytes\n", name, MSB_PCP_NAME_MAX);
		return -1;
	}
	fwrite(rec, 1, n, o);
	return ferror(o) ? -1 : 0;
}

static int pk_data(FILE *o, int fd, const char *path)
{
	static uint8_t buf[MSB_PCP_CHUNK];
	uint8_t h[4];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cp_fail("cannot read", path);
			return -1;
		}
		msb_put_be32(h, (uint32_t)n);
		fwrite(h, 1, 4, o);
		fwrite(buf, 1, (size_t)n, o);
		if (ferror(o))
			return -1;
	}
	msb_put_be32(h, 0);
	fwrite(h, 1, 4, o);
	return ferror(o) ? -1 : 0;
}

static int pk_tree(FILE *o, int dfd, const char *prefix, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		cp_fail("cannot read", prefix);
		close(dfd);
		return -1;
	}
	while (!r && (de = readdir(d))) {
		char name[PATH_MAX], link[PATH_MAX];
		struct stat st;
		int fd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(name, sizeof(name), "%s%s%s", prefix,
				     *prefix ? "/" : "", de->d_name) >=
		    sizeof(name)) {
			fprintf(stderr, "msb cp: %s/%s: the path is too long\n",
				prefix, de->d_name);
			r = -1;
			break;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth >= 128) {
				fprintf(stderr, "msb cp: %s: directories "
						"nested too deep\n", name);
				r = -1;
				break;
			}
			r = pk_rec(o, MSB_PCP_DIR, st.st_mode, name, NULL);
			fd = r ? -1 : openat(dirfd(d), de->d_name,
					     O_RDONLY | O_DIRECTORY |
						     O_NOFOLLOW | O_CLOEXEC);
			if (!r && fd < 0) {
				cp_fail("cannot open", name);
				r = -1;
			}
			if (!r)
				r = pk_tree(o, fd, name, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			fd = openat(dirfd(d), de->d_name,
				    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				cp_fail("cannot open", name);
				r = -1;
				break;
			}
			r = pk_rec(o, MSB_PCP_FILE, st.st_mode, name, NULL);
			if (!r)
				r = pk_data(o, fd, name);
			close(fd);
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t l = readlinkat(dirfd(d), de->d_name, link,
					       sizeof(link) - 1);

			if (l > 0) {
				link[l] = 0;
				r = pk_rec(o, MSB_PCP_LINK, st.st_mode, name,
					   link);
			}
		}
		/* sockets, fifos and devices are not copied */
	}
	closedir(d);
	return r;
}

/* pack() - @src as an archive on @fd. Return: the exit status. */
static int pack(const char *src, int fd)
{
	FILE *o = fdopen(fd, "w");
	char base[NAME_MAX + 1], link[PATH_MAX];
	struct stat st;
	int r = -1, dfd;

	if (!o)
		return 1;
	setvbuf(o, NULL, _IOFBF, 1 << 16);
	msb_path_base(src, base, sizeof(base));
	if (lstat(src, &st) < 0) {
		cp_fail("cannot copy", src);
	} else if (S_ISDIR(st.st_mode)) {
		r = pk_rec(o, MSB_PCP_DIR, st.st_mode, base, NULL);
		dfd = r ? -1 : open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (!r && dfd < 0) {
			cp_fail("cannot open", src);
			r = -1;
		}
		if (!r)
			r = pk_tree(o, dfd, "", 0);
	} else if (S_ISREG(st.st_mode)) {
		dfd = open(src, O_RDONLY | O_CLOEXEC);
		if (dfd < 0) {
			cp_fail("cannot open", src);
		} else {
			r = pk_rec(o, MSB_PCP_FILE, st.st_mode, base, NULL);
			if (!r)
				r = pk_data(o, dfd, src);
			close(dfd);
		}
	} else if (S_ISLNK(st.st_mode)) {
		ssize_t l = readlink(src, link, sizeof(link) - 1);

		if (l < 0) {
			cp_fail("cannot read", src);
		} else {
			link[l] = 0;
			r = pk_rec(o, MSB_PCP_LINK, st.st_mode, base, link);
		}
	} else {
		fprintf(stderr, "msb cp: %s is not a file, a directory or a "
				"symlink\n", src);
	}
	if (!r)
		r = pk_rec(o, MSB_PCP_END, 0, "", NULL);
	if (fclose(o) != 0)
		r = -1;
	return r ? 1 : 0;
}

/* -- out of a peer: the archive unpacked here (in a child process) -- */

/* A copy that ends early: the host's answer says why (run_io()). */
#define UP_TRUNCATED 3

static int up_read(FILE *i, void *p, size_t n)
{
	if (n && fread(p, 1, n, i) != n)
		_exit(UP_TRUNCATED);
	return 0;
}

struct up_rec {
	int type;
	unsigned mode;
	char name[MSB_PCP_NAME_MAX + 1];
	char link[MSB_PCP_NAME_MAX + 1];
};

static int up_rec(FILE *i, struct up_rec *r)
{
	uint8_t h[7];
	size_t n;

	if (up_read(i, h, 7) < 0)
		return -1;
	r->type = h[0];
	r->mode = msb_get_be32(h + 1) & 07777;
	n = msb_get_be16(h + 5);
	if (n > MSB_PCP_NAME_MAX || up_read(i, r->name, n) < 0)
		return -1;
	r->name[n] = 0;
	r->link[0] = 0;
	if (r->type == MSB_PCP_LINK) {
		if (up_read(i, h, 2) < 0)
			return -1;
		n = msb_get_be16(h);
		if (n > MSB_PCP_NAME_MAX || up_read(i, r->link, n) < 0)
			return -1;
		r->link[n] = 0;
	}
	if (r->type != MSB_PCP_DIR && r->type != MSB_PCP_FILE &&
	    r->type != MSB_PCP_LINK && r->type != MSB_PCP_END) {
		fputs("msb cp: a bad record in the copy\n", stderr);
		return -1;
	}
	return 0;
}

static int up_data(FILE *i, int fd, const char *path)
{
	static uint8_t buf[MSB_PCP_CHUNK];
	uint8_t h[4];
	uint32_t n;

	for (;;) {
		if (up_read(i, h, 4) < 0)
			return -1;
		n = msb_get_be32(h);
		if (!n)
			return 0;
		if (n > MSB_PCP_CHUNK || up_read(i, buf, n) < 0)
			return -1;
		if (fd >= 0 && agent_write_all(fd, buf, n) < 0) {
			cp_fail("cannot write", path);
			return -1;
		}
	}
}

/* beneath() - the directory holding @rel below @rootfd, reached one
 * component at a time without following symlinks; *@leaf its last. */
static int beneath(int rootfd, const char *rel, const char **leaf)
{
	char comp[NAME_MAX + 1];
	const char *p = rel, *slash;
	int fd = dup(rootfd);

	while (fd >= 0 && (slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		int next;

		if (n > NAME_MAX) {
			close(fd);
			return -1;
		}
		memcpy(comp, p, n);
		comp[n] = 0;
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*leaf = p;
	return fd;
}

struct up_dir {
	char *name;
	unsigned mode;
};

static int up_tree(FILE *i, int rootfd, const char *top)
{
	static struct up_rec e;
	struct up_dir *dirs = NULL;
	size_t nd = 0;
	int r = 0;

	while (!r && !(r = up_rec(i, &e)) && e.type != MSB_PCP_END) {
		const char *leaf;
		int pfd, fd;

		if (!msb_fname_ok((const uint8_t *)e.name, strlen(e.name))) {
			fprintf(stderr, "msb cp: '%s' is not a name below "
					"%s: not copied\n", e.name, top);
			r = -1;
			break;
		}
		pfd = beneath(rootfd, e.name, &leaf);
		if (pfd < 0) {
			cp_fail("cannot reach the directory of", e.name);
			r = -1;
			break;
		}
		if (e.type == MSB_PCP_DIR) {
			struct up_dir *m = realloc(dirs, (nd + 1) * sizeof(*dirs));

			if (mkdirat(pfd, leaf, 0700) < 0 && errno != EEXIST) {
				cp_fail("cannot make", e.name);
				r = -1;
			} else if (m) {
				dirs = m;
				dirs[nd].name = strdup(e.name);
				dirs[nd++].mode = e.mode;
			}
		} else if (e.type == MSB_PCP_FILE) {
			fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_TRUNC |
						       O_NOFOLLOW | O_CLOEXEC,
				    0600);
			if (fd < 0)
				cp_fail("cannot create", e.name);
			r = up_data(i, fd, e.name);
			if (fd >= 0) {
				fchmod(fd, e.mode);
				close(fd);
			}
			if (fd < 0)
				r = -1;
		} else {
			unlinkat(pfd, leaf, 0);
			if (symlinkat(e.link, pfd, leaf) < 0) {
				cp_fail("cannot make the symlink", e.name);
				r = -1;
			}
		}
		close(pfd);
	}
	/* directories' modes last (one without write permission could
	 * not have been filled), deepest first */
	for (size_t k = nd; k-- > 0;) {
		const char *leaf;
		int pfd = dirs[k].name ? beneath(rootfd, dirs[k].name, &leaf) :
					 -1;

		if (pfd >= 0) {
			fchmodat(pfd, leaf, dirs[k].mode, 0);
			close(pfd);
		}
		free(dirs[k].name);
	}
	free(dirs);
	return r;
}

/* unpack() - the archive on @fd into @dst, as docker cp does (@src the
 * peer's path, for "/." at its end). Return: the exit status. */
static int unpack(const char *src, const char *dst, int fd)
{
	static struct up_rec root;
	FILE *i = fdopen(fd, "r");
	char target[PATH_MAX], base[NAME_MAX + 1];
	struct stat st;
	int r, exists, isdir, made = 0, tfd;

	if (!i || up_rec(i, &root) < 0 || root.type == MSB_PCP_END)
		return 1;
	exists = stat(dst, &st) == 0;
	isdir = exists && S_ISDIR(st.st_mode);
	if (strlen(root.name) >= sizeof(base)) {
		fprintf(stderr, "msb cp: '%.64s...' is too long a name\n",
			root.name);
		return 1;
	}
	memcpy(base, root.name, strlen(root.name) + 1);
	snprintf(target, sizeof(target), "%s", dst);
	if ((isdir && (strchr(base, '/') || !*base || !strcmp(base, ".") ||
		       !strcmp(base, ".."))) &&
	    !(root.type == MSB_PCP_DIR && contents_only(src))) {
		fprintf(stderr, "msb cp: '%s' is not a name to copy into %s\n",
			base, dst);
		return 1;
	}
	if (root.type == MSB_PCP_DIR) {
		if (exists && !isdir) {
			fprintf(stderr, "msb cp: cannot copy the directory %s "
					"onto the file %s\n", src, dst);
			return 1;
		}
		if (isdir && !contents_only(src)) {
			snprintf(target, sizeof(target), "%s%s%s", dst,
				 ends_with_slash(dst) ? "" : "/", base);
			made = mkdir(target, 0700) == 0;
			if (!made && errno != EEXIST) {
				cp_fail("cannot make", target);
				return 1;
			}
		} else if (!exists) {
			made = mkdir(dst, 0700) == 0;
			if (!made) {
				cp_fail("cannot make", dst);
				return 1;
			}
		}
		tfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (tfd < 0) {
			cp_fail("cannot open", target);
			return 1;
		}
		r = up_tree(i, tfd, src);
		if (!r && made)
			fchmod(tfd, root.mode);
		close(tfd);
		return r ? 1 : 0;
	}
	if (isdir)
		snprintf(target, sizeof(target), "%s%s%s", dst,
			 ends_with_slash(dst) ? "" : "/", base);
	else if (!exists && ends_with_slash(dst)) {
		fprintf(stderr, "msb cp: no directory %s here\n", dst);
		return 1;
	}
	if (root.type == MSB_PCP_LINK) {
		unlink(target);
		if (symlink(root.link, target) < 0) {
			cp_fail("cannot make the symlink", target);
			return 1;
		}
		return 0;
	}
	tfd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (tfd < 0)
		cp_fail("cannot create", target);
	r = up_data(i, tfd, target);
	if (tfd >= 0) {
		if (!r)
			fchmod(tfd, root.mode);
		close(tfd);
	}
	return r || tfd < 0 ? 1 : 0;
}

static const char cp_usage[] =
	"Usage: msb cp [-u USER] PEER:PATH DEST|-\n"
	"       msb cp [-u USER] SRC|- PEER:PATH\n"
	"\n"
	"Copy a file, a directory (with everything in it) or a symlink\n"
	"between this sandbox and one of its peers, as the host's msb cp\n"
	"does (docker cp's rules; '-' is stdin or stdout: one file's bytes).\n"
	"The data goes through the host, streamed with flow control.\n"
	"\n"
	"Options:\n"
	"  -u, --user USER   the user in the peer: name, uid or uid:gid\n"
	"  -h, --help        show this help\n";

static int cmd_cp(int argc, char **argv)
{
	static struct req r;
	char *src = NULL, *dst = NULL, *psrc = NULL, *pdst = NULL;
	const char *user = NULL, *peer;
	struct io io = { .in_fd = -1, .out_fd = 1 };
	int pipefd[2], st, rc, raw;
	pid_t kid = -1;

	for (int i = 1; i < argc; i++) {
		int missing = 0;
		const char *v;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(cp_usage, stdout);
			return 0;
		} else if ((v = opt(argc, argv, &i, "--user", &missing)) ||
			   (v = opt(argc, argv, &i, "-u", &missing))) {
			user = v;
		} else if (missing) {
			fprintf(stderr, "msb cp: %s needs a value\n", argv[i]);
			return EXIT_USAGE;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "msb cp: unknown option '%s' (msb cp "
					"--help)\n", argv[i]);
			return EXIT_USAGE;
		} else if (!src) {
			src = argv[i];
		} else if (!dst) {
			dst = argv[i];
		} else {
			return usage_err("cp", "cp takes a source and a "
					       "destination");
		}
	}
	if (!dst)
		return usage_err("cp", "msb cp SRC PEER:PATH, or msb cp "
				       "PEER:PATH DEST");
	split(src, &psrc);
	split(dst, &pdst);
	if (!!psrc == !!pdst)
		return usage_err("cp", "exactly one side must be PEER:PATH, a "
				       "path in a peer");
	if ((psrc && !*psrc) || (pdst && !*pdst))
		return usage_err("cp", "PEER: needs a path after the ':'");
	peer = psrc ? src : dst;
	raw = !strcmp(psrc ? dst : src, "-");
	r.len = 0;
	r.over = 0;
	puts_(&r, "{");
	r.first = 1;
	kv_str(&r, "op", psrc ? "cp_out" : "cp_in");
	kv_str(&r, "name", peer);
	kv_str(&r, "path", psrc ? psrc : pdst);
	if (user)
		kv_str(&r, "user", user);
	if (raw) {
		key(&r, "raw");
		puts_(&r, "true");
	} else if (pdst && contents_only(src)) {
		key(&r, "contents");
		puts_(&r, "true");
	}
	puts_(&r, "}");
	signal(SIGPIPE, SIG_IGN);
	if (raw) {
		if (pdst)
			io.in_fd = 0;
		return run_io(&r, &io);
	}
	if (pdst) {
		/* a plain source's errors are told before the host is asked */
		struct stat sb;

		if (lstat(src, &sb) < 0) {
			cp_fail("cannot copy", src);
			return 1;
		}
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return gcli_die("pipe: %s", strerror(errno));
	kid = fork();
	if (kid < 0)
		return gcli_die("fork: %s", strerror(errno));
	if (kid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if (pdst) {
			close(pipefd[0]);
			_exit(pack(src, pipefd[1]));
		}
		close(pipefd[1]);
		_exit(unpack(psrc, dst, pipefd[0]));
	}
	if (pdst) {
		close(pipefd[1]);
		io.in_fd = pipefd[0];
	} else {
		close(pipefd[0]);
		io.out_fd = pipefd[1];
	}
	rc = run_io(&r, &io);
	close(pdst ? pipefd[0] : pipefd[1]);
	/* the host has answered: a packing not yet done is not needed */
	if (pdst && rc)
		kill(kid, SIGKILL);
	while (waitpid(kid, &st, 0) < 0 && errno == EINTR)
		;
	if (rc)
		return rc;
	if (WIFEXITED(st) && WEXITSTATUS(st) == UP_TRUNCATED)
		return gcli_die("%s", "the copy ended before its end");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* ---- msb snapshot, msb restore: of its peers, kept on the host --------- */

static const char snapshot_usage[] =
	"Usage: msb snapshot PEER --name SNAP\n"
	"       msb snapshot ls [--format json]\n"
	"       msb snapshot rm SNAP\n"
	"\n"
	"Snapshot one of this sandbox's peers (its memory and disk while it\n"
	"runs, its disk when stopped), kept on the host as the host's msb\n"
	"snapshot keeps it; 'msb restore SNAP --name NEW' starts a new peer\n"
	"from it. ls and rm see only the snapshots of this sandbox's peers.\n";

static int cmd_snapshot(int argc, char **argv, struct req *r)
{
	const char *peer = NULL, *snap = NULL, *v;
	int json = 0;

	if (argc >= 2 && (!strcmp(argv[1], "ls") || !strcmp(argv[1], "list"))) {
		for (int i = 2; i < argc; i++) {
			int missing = 0;

			if ((v = opt(argc, argv, &i, "--format", &missing)) &&
			    (!strcmp(v, "json") || !strcmp(v, "table")))
				json = !strcmp(v, "json");
			else
				return usage_err("snapshot", "msb snapshot ls "
						 "[--format json]");
		}
		puts_(r, json ? "{\"op\":\"snapshot_ls\",\"json\":true}" :
				"{\"op\":\"snapshot_ls\"}");
		return -1;
	}
	if (argc >= 2 && !strcmp(argv[1], "rm")) {
		if (argc != 3 || argv[2][0] == '-')
			return usage_err("snapshot", "msb snapshot rm SNAP");
		puts_(r, "{");
		r->first = 1;
		kv_str(r, "op", "snapshot_rm");
		kv_str(r, "snapshot", argv[2]);
		puts_(r, "}");
		return -1;
	}
	for (int i = 1; i < argc; i++) {
		int missing = 0;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(snapshot_usage, stdout);
			return 0;
		} else if ((v = opt(argc, argv, &i, "--name", &missing))) {
			snap = v;
		} else if (missing) {
			fprintf(stderr, "msb snapshot: %s needs a value\n",
				argv[i]);
			return EXIT_USAGE;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "msb snapshot: unknown option '%s'\n",
				argv[i]);
			return EXIT_USAGE;
		} else if (!peer && strcmp(argv[i], "create")) {
			peer = argv[i];
		} else if (strcmp(argv[i], "create")) {
			return usage_err("snapshot", "msb snapshot PEER --name "
						     "SNAP");
		}
	}
	if (!peer || !snap)
		return usage_err("snapshot", "msb snapshot PEER --name SNAP");
	puts_(r, "{");
	r->first = 1;
	kv_str(r, "op", "snapshot");
	kv_str(r, "name", peer);
	kv_str(r, "snapshot", snap);
	puts_(r, "}");
	return -1;
}

static int cmd_restore(int argc, char **argv, struct req *r)
{
	const char *snap = NULL, *name = NULL, *v;

	for (int i = 1; i < argc; i++) {
		int missing = 0;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			puts("Usage: msb restore SNAP --name NEW\n"
			     "\n"
			     "Start peer NEW from a snapshot of one of this "
			     "sandbox's peers\n(msb snapshot PEER --name SNAP), "
			     "within the host's limits\nfor its peers, as msb "
			     "start does.");
			return 0;
		} else if ((v = opt(argc, argv, &i, "--name", &missing))) {
			name = v;
		} else if (missing || argv[i][0] == '-' || snap) {
			return usage_err("restore", "msb restore SNAP --name NEW");
		} else {
			snap = argv[i];
		}
	}
	if (!snap || !name)
		return usage_err("restore", "msb restore SNAP --name NEW");
	puts_(r, "{");
	r->first = 1;
	kv_str(r, "op", "restore");
	kv_str(r, "snapshot", snap);
	kv_str(r, "name", name);
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
	if (!strcmp(verb, "cp"))
		return cmd_cp(argc, argv);
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) &&
	    strcmp(verb, "start") && strcmp(verb, "snapshot") &&
	    strcmp(verb, "restore")) {
		printf("Usage: msb %s %s\n(a peer of this sandbox's; "
		       "docs/spawn.md)\n", verb,
		       !strcmp(verb, "exec") ? "[-i] [-t] [-e K=V] [-w DIR] NAME "
					       "[--] CMD [ARG...]\n  -i  stream "
					       "stdin to the command\n  -t  give "
					       "it a terminal" :
		       !strcmp(verb, "ps") ? "[--format json]" : "NAME");
		return 0;
	}
	if (!strcmp(verb, "start")) {
		st = cmd_start(argc, argv, &r);
		if (st >= 0)
			return st;
	} else if (!strcmp(verb, "exec")) {
		struct io io = { .in_fd = -1, .out_fd = 1 };

		st = cmd_exec(argc, argv, &r, &io);
		if (st >= 0)
			return st;
		return run_io(&r, &io);
	} else if (!strcmp(verb, "snapshot")) {
		st = cmd_snapshot(argc, argv, &r);
		if (st >= 0)
			return st;
	} else if (!strcmp(verb, "restore")) {
		st = cmd_restore(argc, argv, &r);
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
