/* SPDX-License-Identifier: Apache-2.0 */
/* run.c - msb run: create a sandbox, boot it, and run a command in it */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "netopts.h"
#include "util.h"

static int cmd_run(int argc, char **argv);

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	interrupted = sig;
}

const struct verb verb_run = {
	.name = "run",
	.summary = "Create and boot a sandbox, and run a command in it",
	.fn = cmd_run,
	.usage_status = EXIT_MSB,
	.help =
	"Usage: msb run [OPTIONS] [IMAGE] [-- COMMAND [ARG...]]\n"
	"\n"
	"Boot a new microVM sandbox from IMAGE (default: the built-in\n"
	"'default' image; others are pulled when missing) and run COMMAND in it\n"
	"(default: the image's Entrypoint and Cmd; a shell for 'default'). The\n"
	"image's Env, WorkingDir and User are every command's defaults.\n"
	"Without -d, msb waits for the command, exits with its status and\n"
	"stops the sandbox; with --rm it also removes it. With -d the sandbox\n"
	"keeps running (COMMAND, if given, runs detached, its output in\n"
	"'msb logs').\n"
	"\n"
	"Options:\n"
	"      --name NAME        sandbox name (default: generated)\n"
	"  -d, --detach           leave the sandbox running and return\n"
	"      --rm               remove the sandbox when the command ends, or\n"
	"                         when its boot fails (the error then shows\n"
	"                         the guest console's last lines)\n"
	"      --from-snapshot SNAP  boot a fresh sandbox from a snapshot's\n"
	"                         disk (its image and settings; --cpus,\n"
	"                         --memory and --env may change them)\n"
	"      --sync             push the sandbox whenever it is stopped (the\n"
	"                         foreground command ending, 'msb stop') to\n"
	"                         REMOTE/NAME:latest ('msb remote'); see\n"
	"                         'msb push'\n"
	"      --cpus N           virtual CPUs (default 1; more than the host's\n"
	"                         cores only slows it: a warning says so)\n"
	"  -m, --memory SIZE      memory, e.g. 512M or 1G (default 512M; not\n"
	"                         more than the host has)\n"
	"      --disk-size SIZE   the writable disk, e.g. 10G (default 4G; sparse:\n"
	"                         only what the guest writes takes room)\n"
	"  -e, --env KEY=VALUE    environment of every command (repeatable)\n"
	"      --secret-env NAME=@env:VAR:HOSTS  a secret: the guest's NAME\n"
	"                         holds a placeholder; the value of VAR (read\n"
	"                         now and at every msb start, never stored) is\n"
	"                         sent only to HOSTS (comma-separated,\n"
	"                         *.x.com for names below x.com), inside TLS\n"
	"                         the host intercepts and verifies; repeatable\n"
	"      --secret-env NAME=@file:PATH:HOSTS  the same, from a file\n"
	"      --secret-inject NAME=PLACE[,PLACE...]  where in a request to\n"
	"                         its HOSTS secret NAME's value may go besides\n"
	"                         the Authorization header (the only place by\n"
	"                         default): header:HEADER, path, query, body;\n"
	"                         a placeholder anywhere else is a violation.\n"
	"                         What servers send back reaches the guest\n"
	"                         with the value (raw, percent-, JSON- or\n"
	"                         base64-encoded) turned back into the\n"
	"                         placeholder (docs/secrets.md)\n"
	"      --on-secret-violation block|log|allow  a placeholder in an HTTP\n"
	"                         request its value may not go with (plain\n"
	"                         HTTP, another host, a name the sandbox did not\n"
	"                         resolve, a place --secret-inject does not\n"
	"                         name) is answered 403 and logged (block,\n"
	"                         default), sent as it is and logged (log), or\n"
	"                         sent as it is (allow)\n"
	"      --tls-bypass DOMAIN  never intercept TLS to DOMAIN (example.com,\n"
	"                         or *.example.com for names below it): the\n"
	"                         guest talks to the server itself, and no\n"
	"                         secret is swapped in there; repeatable (64)\n"
	"      --tls-upstream-ca FILE  trust the CA certificates of the PEM\n"
	"                         FILE, besides the host's, for the servers of\n"
	"                         intercepted TLS; kept in the sandbox (the\n"
	"                         file may go); repeatable (8)\n"
	"  -w, --workdir DIR      working directory of every command\n"
	"  -u, --user USER        user of every command (name, uid or uid:gid)\n"
	"      --entrypoint CMD   replace the image's Entrypoint (and Cmd);\n"
	"                         '' for none\n"
	"  -i, --interactive      stream stdin to the command\n"
	"  -t, --tty              allocate a pseudo-terminal\n"
	"      --boot-timeout S   give up on a boot after S seconds (default 60)\n"
	"      --timings          print where the start's time went (stderr)\n"
	"      --format FORMAT    with -d: table (default: a 'created' line)\n"
	"                         or json (name, image, cpus, memory_mib,\n"
	"                         seconds)\n"
	"      --kernel KERNEL    msb (the project's, default once built) or\n"
	"                         cloud (Debian's, needs no build)\n"
	"  -v, --volume HOSTDIR:GUESTPATH[:OPTS]  mount a host directory\n"
	"                         at GUESTPATH (repeatable); a plain NAME\n"
	"                         instead of HOSTDIR (no '/', not starting\n"
	"                         with '.' or '~') is the named volume NAME\n"
	"                         ('msb volume', made when missing); OPTS comma-\n"
	"                         separated: ro, rw, direct, overlay[=SIZE],\n"
	"                         cache=auto|always|never, timeout=SECONDS; ro:\n"
	"                         read-only, enforced by the host; direct:\n"
	"                         reads and writes bypass the guest's page\n"
	"                         cache (fast streaming, no shared mmap);\n"
	"                         cache: what the guest may cache (default:\n"
	"                         file data until the next open, no names or\n"
	"                         attributes; auto: those for 1 s; always:\n"
	"                         for a day, and data across opens, for a\n"
	"                         volume only this sandbox writes; never: as\n"
	"                         direct); timeout: how long names and\n"
	"                         attributes are kept, instead of the mode's;\n"
	"                         overlay[=SIZE]: the guest sees the directory\n"
	"                         but its changes go to host RAM (at most SIZE,\n"
	"                         default 256M), never to the directory;\n"
	"                         GUESTPATH is not /proc, /sys, /dev, /run,\n"
	"                         /etc (msb's own at boot)\n"
	"      --volume-mem GUESTPATH[:SIZE]  mount a filesystem held in host\n"
	"                         RAM, at most SIZE (default 64M)\n"
	"      --volume-plugin PATH.so:GUESTPATH[:ARG]  mount a filesystem\n"
	"                         served by a plugin (include/msb_fs.h); with\n"
	"                         -v DIR:GUESTPATH too, the plugin gets DIR\n"
	NETOPTS_HELP
	"      --plugin NAME[:K=V,...]  a built-in plugin: audit-log (dir=DIR,\n"
	"                         fs=OP+OP: JSON lines of lifecycle, exec,\n"
	"                         network and file events) or rate-limiter\n"
	"                         (exec=N, connect=N a second); repeatable\n"
	"      --plugin-process CMD  a plugin in any language: CMD runs with\n"
	"                         sh -c here, speaking the hook protocol on\n"
	"                         fd 3 (docs/plugins.md); repeatable; plugins\n"
	"                         are asked in the order given\n"
	"      --plugin-timeout MS  each hook call's deadline (default 1000);\n"
	"                         a call not answered in time is refused\n"
	"      --plugin-restarts N  restarts of a plugin process that exits\n"
	"                         (default 3; then its hooks refuse)\n"
	"      --allow-spawn N    its programs may start up to N live peer\n"
	"                         sandboxes beside it (msb start inside it;\n"
	"                         docs/spawn.md), peers of peers included;\n"
	"                         off by default\n"
	"      --spawn-image IMAGE  an image peers may use besides this\n"
	"                         sandbox's own; repeatable\n"
	"      --spawn-cpus N     a peer's most CPUs (default: this one's)\n"
	"      --spawn-memory SIZE  a peer's most memory (default: this one's)\n"
	"      --spawn-total-memory SIZE  all live peers' memory together\n"
	"                         (default: N times --spawn-memory)\n"
	"  -h, --help             show this help\n"
	"\n"
	"Exit status: the command's own, or 125 if msb failed (141 if what\n"
	"reads msb's stdout goes away: the command is then hung up).\n",
};

enum { OPT_NAME = 256, OPT_RM, OPT_FROM_SNAPSHOT, OPT_CPUS, OPT_BOOT_TIMEOUT, OPT_TIMINGS,
       OPT_KERNEL, OPT_ENTRYPOINT, OPT_VOLUME_MEM, OPT_VOLUME_PLUGIN,
       OPT_SECRET_ENV, OPT_SECRET_INJECT, OPT_SECRET_VIOLATION,
       OPT_TLS_BYPASS,
       OPT_TLS_UPSTREAM_CA, OPT_DISK_SIZE, OPT_SYNC, OPT_PLUGIN,
       OPT_PLUGIN_PROCESS, OPT_PLUGIN_TIMEOUT, OPT_PLUGIN_RESTARTS,
       OPT_ALLOW_SPAWN, OPT_SPAWN_IMAGE, OPT_SPAWN_CPUS, OPT_SPAWN_MEMORY,
       OPT_SPAWN_TOTAL_MEMORY, OPT_FORMAT };

/* As many as a sandbox takes (src/secrets/secrets.h). */
#define SECRETS_MAX 64

/* As many as a sandbox takes (src/lib/tlscfg.h). */
#define TLS_BYPASS_MAX 64
#define TLS_CA_MAX 8

/* More than the VM has room for: the library says how many fit. */
#define VOLUMES_MAX 16

static const struct option opts[] = {
	{ "name", required_argument, NULL, OPT_NAME },
	{ "detach", no_argument, NULL, 'd' },
	{ "rm", no_argument, NULL, OPT_RM },
	{ "from-snapshot", required_argument, NULL, OPT_FROM_SNAPSHOT },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, 'm' },
	{ "disk-size", required_argument, NULL, OPT_DISK_SIZE },
	{ "env", required_argument, NULL, 'e' },
	{ "workdir", required_argument, NULL, 'w' },
	{ "user", required_argument, NULL, 'u' },
	{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
	{ "interactive", no_argument, NULL, 'i' },
	{ "tty", no_argument, NULL, 't' },
	{ "boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT },
	{ "timings", no_argument, NULL, OPT_TIMINGS },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "volume", required_argument, NULL, 'v' },
	{ "volume-mem", required_argument, NULL, OPT_VOLUME_MEM },
	{ "volume-plugin", required_argument, NULL, OPT_VOLUME_PLUGIN },
	{ "secret-env", required_argument, NULL, OPT_SECRET_ENV },
	{ "secret-inject", required_argument, NULL, OPT_SECRET_INJECT },
	{ "on-secret-violation", required_argument, NULL, OPT_SECRET_VIOLATION },
	{ "tls-bypass", required_argument, NULL, OPT_TLS_BYPASS },
	{ "tls-upstream-ca", required_argument, NULL, OPT_TLS_UPSTREAM_CA },
	{ "sync", no_argument, NULL, OPT_SYNC },
	{ "plugin", required_argument, NULL, OPT_PLUGIN },
	{ "plugin-process", required_argument, NULL, OPT_PLUGIN_PROCESS },
	{ "plugin-timeout", required_argument, NULL, OPT_PLUGIN_TIMEOUT },
	{ "plugin-restarts", required_argument, NULL, OPT_PLUGIN_RESTARTS },
	{ "allow-spawn", required_argument, NULL, OPT_ALLOW_SPAWN },
	{ "spawn-image", required_argument, NULL, OPT_SPAWN_IMAGE },
	{ "spawn-cpus", required_argument, NULL, OPT_SPAWN_CPUS },
	{ "spawn-memory", required_argument, NULL, OPT_SPAWN_MEMORY },
	{ "spawn-total-memory", required_argument, NULL, OPT_SPAWN_TOTAL_MEMORY },
	NETOPTS_LONG,
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static void gen_name(char *buf, size_t n)
{
	unsigned char r[3] = { 0 };
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, r, sizeof(r)) < 0)
			r[0] = (unsigned char)getpid();
		close(fd);
	}
	snprintf(buf, n, "sb-%02x%02x%02x", r[0], r[1], r[2]);
}

/* The foreground command ended: the supervisor is stopping the sandbox;
 * return once it has, so 'msb ps' right after us tells the truth. */
static void wait_stopped(const char *name)
{
	for (int i = 0; i < 15000; i++) { /* 30 s */
		msb_sandbox_info info;

		if (msb_sandbox_info_get(name, &info, NULL) < 0)
			return; /* removed (--rm) */
		if (!strcmp(info.status, "stopped") ||
		    !strcmp(info.status, "failed"))
			return;
		usleep(2000);
	}
}

/* sync_push() - msb run --sync: the command ended and the sandbox
 * stopped; push it. A failure is reported, not turned into the exit
 * status, which stays the command's. */
static void sync_push(const char *name)
{
	struct cli_sync_display d = { .tty = isatty(2) };
	msb_sync_opts o = { .progress = cli_sync_progress, .ctx = &d };
	msb_sync_info info;
	msb_error err = { 0 };
	uint64_t t0 = msb_now_ms();

	if (msb_sandbox_push(name, &o, &info, &err) < 0) {
		cli_sync_done(&d);
		cli_err("%s stopped, but its push failed: %s (push it with "
			"'msb push %s')", name, err.message, name);
		return;
	}
	cli_sync_done(&d);
	cli_print_push(&info, 0, t0, stderr);
}

static int cmd_run(int argc, char **argv)
{
	msb_sandbox_config cfg;
	msb_exec_opts eo = { 0 };
	struct attach_opts ao = { 0 };
	msb_error err = { 0 };
	msb_sandbox *sb;
	msb_exec *e;
	char **env = NULL, name[64], mem[32];
	char **run_argv = NULL;
	const char *entrypoint[2] = { NULL, NULL };
	size_t nenv = 0;
	int c, detach = 0, status, timings = 0, autosync = 0, json = 0;
	uint64_t t_exec;
	char *tjson = NULL, *spec;
	unsigned u;
	uint64_t t0;
	char **cmd = NULL;
	static msb_volume vols[VOLUMES_MAX];
	static msb_secret secrets[SECRETS_MAX];
	static const char *inject[SECRETS_MAX];
	size_t ninject = 0;
	static const char *bypass[TLS_BYPASS_MAX];
	static const char *cas[TLS_CA_MAX];
	char *pem;
	const char *from_snapshot = NULL;
	msb_plugins *plugins = NULL;
	msb_spawn_policy *spawn = NULL;
	unsigned allow_spawn = 0, spawn_cpus = 0;
	uint64_t spawn_mib = 0, spawn_total_mib = 0;
	const char *spawn_images[32];
	size_t nspawn_images = 0;

	msb_sandbox_config_init(&cfg);
	name[0] = '\0';
	/* Options may follow IMAGE (msb run IMAGE --name x); everything after
	 * "--" is the command, untouched by option parsing. */
	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "--")) {
			if (k + 1 < argc)
				cmd = argv + k + 1;
			argc = k;
			break;
		}
	}
	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "dm:e:w:u:ithp:v:", opts)) != -1) {
		switch (c) {
		case OPT_NAME:
			snprintf(name, sizeof(name), "%s", optarg);
			if (msb_name_valid(optarg, &err) < 0)
				return cli_bad_usage(&verb_run, "%s",
						     err.message);
			break;
		case 'd':
			detach = 1;
			break;
		case OPT_SYNC:
			autosync = 1;
			break;
		case OPT_RM:
			cfg.ephemeral = 1;
			break;
		case OPT_FROM_SNAPSHOT:
			from_snapshot = optarg;
			break;
		case OPT_CPUS:
			if (cli_parse_uint(optarg, 1, 64, &u) < 0)
				return cli_bad_usage(&verb_run,
					"invalid --cpus '%s': use a whole number from 1 to 64",
					optarg);
			cfg.cpus = u;
			break;
		case 'm':
			if (msb_parse_memory(optarg, &cfg.memory_mib, &err) < 0)
				return cli_bad_usage(&verb_run, "%s",
						     err.message);
			break;
		case OPT_DISK_SIZE:
			if (msb_parse_memory(optarg, &cfg.disk_mib, &err) < 0 ||
			    cfg.disk_mib < 64)
				return cli_bad_usage(&verb_run,
					"invalid --disk-size '%s': use a size "
					"such as 512M or 10G (64M to 1024G)",
					optarg);
			break;
		case 'e':
			if ((c = cli_push_env(&verb_run, optarg, &env, &nenv)))
				return c;
			break;
		case 'w':
			if (optarg[0] != '/')
				return cli_bad_usage(&verb_run,
					"invalid --workdir '%s': use an absolute path",
					optarg);
			cfg.workdir = optarg;
			break;
		case 'u':
			cfg.user = optarg;
			break;
		case OPT_ENTRYPOINT:
			entrypoint[0] = optarg;
			cfg.entrypoint = entrypoint;
			break;
		case 'i':
			ao.interactive = eo.stdin = 1;
			break;
		case 't':
			ao.tty = eo.tty = 1;
			break;
		case OPT_BOOT_TIMEOUT:
			if (cli_parse_uint(optarg, 1, 3600, &u) < 0)
				return cli_bad_usage(&verb_run,
					"invalid --boot-timeout '%s': use seconds from 1 to 3600",
					optarg);
			cfg.boot_timeout_ms = u * 1000;
			break;
		case OPT_TIMINGS:
			timings = 1;
			break;
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_run,
					"invalid --format '%s': use table or json",
					optarg);
			break;
		case OPT_KERNEL:
			if (strcmp(optarg, "msb") && strcmp(optarg, "cloud"))
				return cli_bad_usage(&verb_run,
					"invalid --kernel '%s': use msb or cloud",
					optarg);
			cfg.kernel = optarg;
			break;
		case 'v':
		case OPT_VOLUME_MEM:
		case OPT_VOLUME_PLUGIN:
			if (cfg.nvolumes == VOLUMES_MAX)
				return cli_bad_usage(&verb_run,
					"too many volumes (at most %d)",
					VOLUMES_MAX);
			/* The volume points into its copy of the text. */
			spec = strdup(optarg);
			if (!spec)
				return cli_bad_usage(&verb_run, "out of memory");
			if (msb_volume_parse(c == 'v' ? MSB_VOLUME_HOST :
					     c == OPT_VOLUME_MEM ?
						     MSB_VOLUME_MEMORY :
						     MSB_VOLUME_PLUGIN,
					     spec, &vols[cfg.nvolumes],
					     &err) < 0) {
				free(spec);
				return cli_bad_usage(&verb_run, "%s",
						     err.message);
			}
			cfg.volumes = vols;
			cfg.nvolumes++;
			break;
		case OPT_SECRET_ENV:
			if (cfg.nsecrets == SECRETS_MAX)
				return cli_bad_usage(&verb_run,
					"too many secrets (at most %d)",
					SECRETS_MAX);
			/* The secret points into its copy of the text. */
			spec = strdup(optarg);
			if (!spec)
				return cli_bad_usage(&verb_run, "out of memory");
			if (msb_secret_parse(spec, &secrets[cfg.nsecrets],
					     &err) < 0) {
				free(spec);
				return cli_bad_usage(&verb_run, "%s",
						     err.message);
			}
			cfg.secrets = secrets;
			cfg.nsecrets++;
			break;
		case OPT_SECRET_INJECT:
			if (ninject == SECRETS_MAX)
				return cli_bad_usage(&verb_run,
					"too many --secret-inject (at most %d)",
					SECRETS_MAX);
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return cli_bad_usage(&verb_run,
					"invalid --secret-inject '%s': write "
					"NAME=PLACE[,PLACE...], e.g. "
					"KEY=header:X-Api-Key,query", optarg);
			inject[ninject++] = optarg;
			break;
		case OPT_SECRET_VIOLATION:
			cfg.on_secret_violation = optarg;
			break;
		case OPT_TLS_BYPASS:
			if (cfg.ntls_bypass == TLS_BYPASS_MAX)
				return cli_bad_usage(&verb_run,
					"too many --tls-bypass names (at most %d)",
					TLS_BYPASS_MAX);
			bypass[cfg.ntls_bypass++] = optarg;
			cfg.tls_bypass = bypass;
			break;
		case OPT_TLS_UPSTREAM_CA:
			if (cfg.ntls_upstream_ca == TLS_CA_MAX)
				return cli_bad_usage(&verb_run,
					"too many --tls-upstream-ca files (at most "
					"%d; a file may hold many certificates)",
					TLS_CA_MAX);
			if (msb_tls_ca_read(optarg, &pem, &err) < 0)
				return cli_bad_usage(&verb_run, "%s",
						     err.message);
			cas[cfg.ntls_upstream_ca++] = pem;
			cfg.tls_upstream_ca = cas;
			break;
		case OPT_NET_ALLOW:
		case OPT_NET_ALLOW_CIDR:
		case OPT_NET_BLOCK_CIDR:
		case OPT_NET_DENY_ALL:
		case OPT_DNS_NAMESERVER:
		case OPT_NET_PLUGIN:
		case OPT_NET_ALLOW_HOST:
		case OPT_PUBLISH:
			if (netopts_take(&cfg.net, c, optarg) < 0)
				return cli_bad_usage(&verb_run,
					"too many network rules (at most 256 "
					"of a kind)");
			break;
		case OPT_PLUGIN:
		case OPT_PLUGIN_PROCESS:
		case OPT_PLUGIN_TIMEOUT:
		case OPT_PLUGIN_RESTARTS: {
			char *colon, *end;
			unsigned long v;

			if (!plugins && !(plugins = msb_plugins_new()))
				return cli_bad_usage(&verb_run, "out of memory");
			if (c == OPT_PLUGIN_PROCESS &&
			    msb_plugins_add_process(plugins, optarg, &err) < 0)
				return cli_bad_usage(&verb_run, "%s",
						     err.message);
			if (c == OPT_PLUGIN) {
				colon = strchr(optarg, ':');
				if (colon)
					*colon = '\0';
				if (msb_plugins_add(plugins, optarg,
						    colon ? colon + 1 : NULL,
						    &err) < 0)
					return cli_bad_usage(&verb_run, "%s",
							     err.message);
			}
			if (c == OPT_PLUGIN_TIMEOUT ||
			    c == OPT_PLUGIN_RESTARTS) {
				errno = 0;
				v = strtoul(optarg, &end, 10);
				if (errno || *end || !*optarg || v > 600000 ||
				    (c == OPT_PLUGIN_TIMEOUT && !v))
					return cli_bad_usage(&verb_run,
						"invalid --%s '%s': give a "
						"number%s",
						c == OPT_PLUGIN_TIMEOUT ?
							"plugin-timeout" :
							"plugin-restarts",
						optarg,
						c == OPT_PLUGIN_TIMEOUT ?
							" of milliseconds "
							"above 0" :
							"");
				if (c == OPT_PLUGIN_TIMEOUT)
					msb_plugins_set_timeout(plugins,
								(unsigned)v);
				else
					msb_plugins_set_restarts(plugins,
								 (unsigned)v);
			}
			break;
		}
		case OPT_ALLOW_SPAWN:
		case OPT_SPAWN_CPUS: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || !v || v > 64)
				return cli_bad_usage(&verb_run,
					"invalid --%s '%s': 1 to 64",
					c == OPT_ALLOW_SPAWN ? "allow-spawn" :
							       "spawn-cpus",
					optarg);
			if (c == OPT_ALLOW_SPAWN)
				allow_spawn = (unsigned)v;
			else
				spawn_cpus = (unsigned)v;
			break;
		}
		case OPT_SPAWN_MEMORY:
		case OPT_SPAWN_TOTAL_MEMORY:
			if (msb_parse_memory(optarg, c == OPT_SPAWN_MEMORY ?
						     &spawn_mib :
						     &spawn_total_mib,
					     &err) < 0)
				return cli_bad_usage(&verb_run, "--%s: %s",
					c == OPT_SPAWN_MEMORY ? "spawn-memory" :
						"spawn-total-memory",
					err.message);
			break;
		case OPT_SPAWN_IMAGE:
			if (nspawn_images == 32)
				return cli_bad_usage(&verb_run,
					"too many --spawn-image (at most 32)");
			spawn_images[nspawn_images++] = optarg;
			break;
		case 'h':
			cli_usage(&verb_run, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_run, argv, opts);
		}
	}
	if (!allow_spawn && (nspawn_images || spawn_cpus || spawn_mib ||
			     spawn_total_mib))
		return cli_bad_usage(&verb_run, "--spawn-image, --spawn-cpus "
				     "and --spawn-memory shape what "
				     "--allow-spawn N allows: give it too");
	if (allow_spawn) {
		if (from_snapshot)
			return cli_bad_usage(&verb_run, "--from-snapshot takes "
					     "no --allow-spawn yet");
		spawn = msb_spawn_policy_new(allow_spawn);
		if (!spawn)
			return cli_bad_usage(&verb_run, "out of memory");
		for (size_t i = 0; i < nspawn_images; i++)
			if (msb_spawn_policy_add_image(spawn, spawn_images[i],
						       &err) < 0)
				return cli_bad_usage(&verb_run, "%s",
						     err.message);
		msb_spawn_policy_set_limits(spawn, spawn_cpus, spawn_mib,
					    spawn_total_mib);
	}
	/* --secret-inject NAME=PLACES: the places of --secret-env NAME,
	 * whichever came first (the library checks the places). */
	for (size_t i = 0; i < ninject; i++) {
		size_t nl = (size_t)(strchr(inject[i], '=') - inject[i]), k;

		for (k = 0; k < cfg.nsecrets; k++)
			if (strlen(secrets[k].env) == nl &&
			    !strncmp(secrets[k].env, inject[i], nl))
				break;
		if (k == cfg.nsecrets)
			return cli_bad_usage(&verb_run,
				"--secret-inject %.*s: no --secret-env %.*s "
				"names that secret", (int)nl, inject[i],
				(int)nl, inject[i]);
		if (secrets[k].inject)
			return cli_bad_usage(&verb_run,
				"--secret-inject %.*s is given twice: list "
				"every place in one, comma-separated",
				(int)nl, inject[i]);
		secrets[k].inject = inject[i] + nl + 1;
	}
	/* -v DIR:/p with --volume-plugin X.so:/p: the plugin over DIR. */
	for (size_t i = 0; i < cfg.nvolumes; i++) {
		if (vols[i].kind != MSB_VOLUME_PLUGIN)
			continue;
		for (size_t j = 0; j < cfg.nvolumes; j++) {
			if (vols[j].kind != MSB_VOLUME_HOST ||
			    strcmp(vols[i].guest_path, vols[j].guest_path))
				continue;
			vols[i].dir = vols[j].source;
			vols[i].readonly = vols[j].readonly;
			memmove(&vols[j], &vols[j + 1],
				(cfg.nvolumes - j - 1) * sizeof(vols[0]));
			cfg.nvolumes--;
			if (j < i)
				i--;
			break;
		}
	}
	/* getopt moved the operands after the options: IMAGE [COMMAND...]. */
	if (optind < argc)
		cfg.image = argv[optind++];
	if (optind < argc) {
		if (cmd)
			return cli_bad_usage(&verb_run,
					     "unexpected argument '%s' before '--'",
					     argv[optind]);
		cmd = argv + optind;
		argv[argc] = NULL;
	}
	if (autosync && cfg.ephemeral)
		return cli_bad_usage(&verb_run,
				     "--sync keeps the sandbox to push it; "
				     "--rm removes it: use one");
	if (autosync) {
		char remote[512];

		/* before anything is made: a sandbox that could not push */
		if (msb_remote_get(remote, sizeof(remote), NULL, NULL) < 0) {
			cli_err("--sync needs a place to push to: set a remote "
				"with 'msb remote set REGISTRY/NAMESPACE' (or "
				"$MSB_REMOTE)");
			return EXIT_MSB;
		}
	}
	if (detach && cfg.ephemeral)
		return cli_bad_usage(&verb_run,
				     "--rm and -d cannot be used together");
	if (json && !detach)
		return cli_bad_usage(&verb_run,
				     "--format json goes with -d (in the "
				     "foreground, what prints is the command's "
				     "own output)");
	if (from_snapshot && cfg.image)
		return cli_bad_usage(&verb_run,
				     "--from-snapshot boots the snapshot's own "
				     "image: give no IMAGE");
	if (from_snapshot && plugins)
		return cli_bad_usage(&verb_run,
				     "--from-snapshot takes no plugins yet: "
				     "restore keeps the snapshot's own");
	if (from_snapshot && detach && cmd)
		return cli_bad_usage(&verb_run,
				     "--from-snapshot with -d takes no command "
				     "(the snapshot's sandbox's runs)");
	if (detach && (ao.interactive || ao.tty))
		return cli_bad_usage(&verb_run,
				     "-i and -t need a foreground run (no -d)");
	{
		long host = sysconf(_SC_NPROCESSORS_ONLN);

		/* Allowed (a guest may want to see them), but every vCPU is
		 * a host thread: more than the host has only slows it. */
		if (host > 0 && cfg.cpus > (unsigned)host)
			fprintf(stderr,
				"msb: warning: --cpus %u is more than this "
				"host's %ld CPUs; the sandbox will run slower, "
				"not faster\n",
				cfg.cpus, host);
	}
	if (!name[0])
		gen_name(name, sizeof(name));
	cfg.name = name;
	cfg.env = (const char *const *)env;
	if (detach) {
		cfg.cmd = (const char *const *)cmd;
		cfg.image_cmd = !cmd;
	}
	/* An image not here yet is pulled first, with progress shown. */
	if (!from_snapshot && cfg.image && strcmp(cfg.image, "default")) {
		char *j = NULL;

		if (msb_image_inspect_json(cfg.image, &j, NULL) < 0 &&
		    cli_pull(cfg.image, 0, 0, 1, stderr) != 0) {
			free(env);
			return EXIT_MSB;
		}
		free(j);
	}

	/* Ctrl-C while booting: let the boot finish, then undo it, so no
	 * sandbox is left running that nobody asked to keep. */
	struct sigaction sa = { .sa_handler = on_interrupt }, old_int, old_term;

	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	t0 = msb_now_ms();
	if (from_snapshot) {
		msb_restore_opts ro;

		msb_restore_opts_init(&ro);
		ro.name = name;
		ro.env = cfg.env;
		ro.cpus = cfg.cpus;
		ro.memory_mib = cfg.memory_mib;
		ro.ephemeral = cfg.ephemeral;
		ro.boot_timeout_ms = cfg.boot_timeout_ms;
		ro.disk_only = 1;
		c = msb_snapshot_restore(from_snapshot, &ro, &sb, &err);
	} else {
		c = msb_sandbox_create_full(&cfg, plugins, spawn, &sb, &err);
	}
	msb_plugins_free(plugins);
	msb_spawn_policy_free(spawn);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (c < 0) {
		cli_err("%s", err.message);
		free(env);
		return EXIT_MSB;
	}
	if (autosync && msb_sandbox_set_sync(name, 1, &err) < 0)
		cli_err("%s: --sync could not be set: %s (push it with 'msb "
			"push %s')", name, err.message, name);
	if (interrupted) {
		if (cfg.ephemeral)
			msb_sandbox_remove(name, 1, NULL);
		else
			msb_sandbox_stop(name, 0, NULL, NULL);
		cli_err("interrupted; %s %s", cfg.ephemeral ? "removed" : "stopped",
			name);
		msb_sandbox_close(sb);
		free(env);
		return 128 + interrupted;
	}
	if (detach) {
		double s = (double)(msb_now_ms() - t0) / 1000.0;
		msb_sandbox_info info;

		/* what it was made with: a snapshot's own image and sizes */
		if (msb_sandbox_info_get(name, &info, NULL) < 0) {
			memset(&info, 0, sizeof(info));
			snprintf(info.image, sizeof(info.image), "%s",
				 cfg.image ? cfg.image : "default");
			info.cpus = cfg.cpus ? cfg.cpus : 1;
			info.memory_mib = cfg.memory_mib ? cfg.memory_mib : 512;
		}
		msb_fmt_mib(info.memory_mib, mem, sizeof(mem));
		if (json) {
			cli_print_json(cli_made_json(name, NULL, &info, s),
				       stdout);
		} else {
			printf("created %s %s cpu=%u mem=%s %.1fs\n", name,
			       info.image, info.cpus, mem, s);
		}
		if (timings)
			cli_print_timings(name, cli_fetch_timings(name), -1);
		msb_sandbox_close(sb);
		free(env);
		return 0;
	}

	eo.main = 1;
	if (eo.tty) {
		struct winsize ws;

		if (isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0) {
			eo.rows = ws.ws_row;
			eo.cols = ws.ws_col;
		}
	}
	/* Read before the command: --rm takes the record with it. */
	if (timings)
		tjson = cli_fetch_timings(name);
	t_exec = msb_now_us();
	if (msb_sandbox_command(name, (const char *const *)cmd, &run_argv,
				&err) < 0 ||
	    msb_exec_start(sb, (const char *const *)run_argv, &eo, &e,
			   &err) < 0) {
		free(run_argv);
		cli_err("%s", err.message);
		msb_sandbox_stop(name, 0, NULL, NULL);
		wait_stopped(name);
		msb_sandbox_close(sb);
		free(env);
		return EXIT_MSB;
	}
	status = cli_attach(e, &ao);
	msb_exec_free(e);
	free(run_argv);
	if (timings)
		cli_print_timings(name, tjson,
				  (double)(msb_now_us() - t_exec) / 1000.0);
	wait_stopped(name);
	msb_sandbox_close(sb);
	free(env);
	if (autosync)
		sync_push(name);
	return status;
}
