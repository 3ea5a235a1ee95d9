/* SPDX-License-Identifier: Apache-2.0 */
/* test_project.c - Sandboxfiles read into projects (src/lib/sandboxfile.c):
 * the seeds' example, every key, what is resolved, every error with its
 * line and column, definition hashes, discovery */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ca.h"
#include "harness.h"
#include "project.h"
#include "util.h"

static msb_project *load(const char *dir, const char *text, msb_error *err)
{
	char path[512];
	msb_project *p = NULL;

	snprintf(path, sizeof(path), "%s/Sandboxfile", dir);
	if (msb_project_parse(text, strlen(text), path, &p, err) < 0)
		return NULL;
	return p;
}

/* config() - the project's resolved form, parsed back. */
static json_object *config(const msb_project *p)
{
	msb_error err = { 0 };
	json_object *o;
	char *t;

	if (msb_project_config_json(p, &t, &err) < 0)
		return NULL;
	o = json_tokener_parse(t);
	free(t);
	return o;
}

static const char *jpath(json_object *o, const char *path)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && o;
	     k = strtok_r(NULL, ".", &save)) {
		json_object *n = NULL;

		if (json_object_is_type(o, json_type_array))
			n = json_object_array_get_idx(o, (size_t)atoi(k));
		else
			json_object_object_get_ex(o, k, &n);
		o = n;
	}
	return o ? json_object_get_string(o) : NULL;
}

static const char seeds[] =
	"name: my-project\n"
	"\n"
	"volumes:\n"
	"  data: { size: 10G }\n"
	"\n"
	"sandboxes:\n"
	"  api:\n"
	"    image: python:3.11\n"
	"    volumes: [./src:/app, data:/data]\n"
	"    ports: [8000:8000]\n"
	"    secrets: [OPENAI_API_KEY]\n"
	"    network:\n"
	"      allow: [api.openai.com]\n"
	"      dns: { rebind_protection: strict }\n"
	"    scripts:\n"
	"      start: python app.py\n"
	"      test: pytest\n"
	"\n"
	"  worker:\n"
	"    from_snapshot: ml-ready\n"
	"    memory: 2G\n"
	"    depends_on: [api]\n";

TEST(project_seeds_example)
{
	char dir[256];
	msb_error err = { 0 };
	msb_project *p;
	struct proj_sandbox *api, *worker;
	const char *name;
	char **argv;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	p = load(dir, seeds, &err);
	CHECK(p != NULL);
	if (!p) {
		unit_fail(__FILE__, __LINE__, "%s", err.message);
		goto out;
	}
	CHECK_STR(msb_project_name(p), "my-project");
	CHECK_EQ_INT(msb_project_count(p), 2);
	/* api first: worker depends on it */
	CHECK_STR(msb_project_sandbox(p, 0, &name), "api");
	CHECK_STR(name, "my-project-api");
	CHECK_STR(msb_project_sandbox(p, 1, NULL), "worker");
	CHECK(msb_project_sandbox(p, 2, NULL) == NULL);
	CHECK_EQ_INT(p->nvols, 1);
	CHECK_STR(p->vols[0].name, "my-project-data");
	CHECK_EQ_INT(p->vols[0].size_mib, 10240);
	api = proj_find(p, "api");
	worker = proj_find(p, "worker");
	CHECK(api && worker);
	if (!api || !worker)
		goto out;
	CHECK_STR(api->cfg.name, "my-project-api");
	CHECK_STR(api->cfg.image, "python:3.11");
	CHECK_EQ_INT(api->nmounts, 2);
	CHECK_EQ_INT(api->mounts[0].named, -1);
	CHECK_EQ_INT(api->mounts[0].v.kind, MSB_VOLUME_HOST);
	{
		char want[400];

		snprintf(want, sizeof(want), "%s/src", dir);
		CHECK_STR(api->mounts[0].v.source, want);
	}
	CHECK_STR(api->mounts[0].v.guest_path, "/app");
	CHECK_EQ_INT(api->mounts[1].named, 0);
	CHECK_STR(api->mounts[1].v.guest_path, "/data");
	CHECK_STR(api->cfg.net.ports[0], "8000:8000");
	CHECK(api->cfg.net.ports[1] == NULL);
	CHECK_STR(api->cfg.net.allow[0], "api.openai.com");
	/* the rule: a bare secret reads the host's variable of its name and
	 * is bound to the hosts network.allow names */
	CHECK_EQ_INT(api->cfg.nsecrets, 1);
	CHECK_STR(api->cfg.secrets[0].env, "OPENAI_API_KEY");
	CHECK_EQ_INT(api->cfg.secrets[0].source, MSB_SECRET_ENV);
	CHECK_STR(api->cfg.secrets[0].ref, "OPENAI_API_KEY");
	CHECK_STR(api->cfg.secrets[0].hosts, "api.openai.com");
	/* scripts: start is what up runs (sh -c) */
	CHECK(api->cmd != NULL);
	if (api->cmd) {
		CHECK_STR(api->cmd[0], "sh");
		CHECK_STR(api->cmd[1], "-c");
		CHECK_STR(api->cmd[2], "python app.py");
	}
	CHECK_EQ_INT(msb_project_script(p, "api", "test", &argv, &err), 0);
	if (argv) {
		CHECK_STR(argv[2], "pytest");
		CHECK(argv[3] == NULL);
		free(argv);
	}
	CHECK_EQ_INT(msb_project_script(p, "api", "nope", &argv, &err),
		     MSB_E_NOT_FOUND);
	CHECK_CONTAINS(err.message, "it has: start, test");
	CHECK_EQ_INT(msb_project_script(p, "db", "x", &argv, &err),
		     MSB_E_NOT_FOUND);
	CHECK_STR(worker->from_snapshot, "ml-ready");
	CHECK_EQ_INT(worker->cfg.memory_mib, 2048);
	CHECK_EQ_INT(worker->ndeps, 1);
	CHECK_EQ_INT(worker->deps[0].sb, (size_t)(api - p->sbs));
	CHECK_EQ_INT(worker->deps[0].healthy, 0);
	CHECK_EQ_INT(strlen(api->hash), 64);
	CHECK(strcmp(api->hash, worker->hash) != 0);
	msb_project_free(p);
out:
	msb_rm_rf(dir);
}

/* Every key a sandbox takes, with the resolved form checked. */
TEST(project_every_key)
{
	char dir[256], path[400], *text = NULL;
	msb_error err = { 0 };
	struct tls_ca *ca = NULL;
	msb_project *p = NULL;
	json_object *c = NULL;
	struct proj_sandbox *a;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	snprintf(path, sizeof(path), "%s/ca", dir);
	CHECK_EQ_INT(tls_ca_open(path, &ca, &err), 0);
	if (!ca)
		goto out;
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	msb_write_file(path, tls_ca_pem(ca), strlen(tls_ca_pem(ca)), 0644);
	snprintf(path, sizeof(path), "%s/.env", dir);
	{
		static const char envf[] = "# comment\nFROM_FILE=1\n"
					   "export BOTH=file\nQUOTED=\"a b\"\n\n";

		msb_write_file(path, envf, strlen(envf), 0644);
	}
	snprintf(path, sizeof(path), "%s/token", dir);
	msb_write_file(path, "t0ken\n", 6, 0600);
	setenv("MSB_TEST_HOST_VAR", "from-host", 1);
	if (asprintf(&text,
		"name: every\n"
		"x-base: &base { cpus: 2 }\n"
		"volumes:\n"
		"  shared:\n"
		"  outside: { external: true }\n"
		"sandboxes:\n"
		"  a:\n"
		"    image: registry.local:5000/tools:1\n"
		"    cpus: 3\n"
		"    memory: 1.5G\n"
		"    disk_size: 10G\n"
		"    env: { BOTH: env, EMPTY: '', NUM: 8000, HOSTVAR: , "
		"MSB_TEST_NOPE: }\n"
		"    env_file: .env\n"
		"    workdir: /srv\n"
		"    user: 1000:1000\n"
		"    entrypoint: [/bin/sh, -e]\n"
		"    command: [run, --fast]\n"
		"    volumes:\n"
		"      - ./src:/app:ro,direct\n"
		"      - /abs:/abs:overlay=64M\n"
		"      - shared:/shared\n"
		"      - { type: volume, source: outside, target: /out, "
		"readonly: true }\n"
		"      - { type: memory, target: /tmp/m, size: 16M }\n"
		"      - { type: plugin, plugin: ./fs.so, source: ./d, "
		"target: /p, arg: x }\n"
		"      - { source: ./c, target: /c, cache: auto, "
		"cache_timeout: 30s }\n"
		"      - ./n:/n:cache=never\n"
		"    ports: [8000:8000, '127.0.0.1:9000:90', 80]\n"
		"    network:\n"
		"      allow: [api.example.com, '*.example.org']\n"
		"      allow_cidr: [203.0.113.0/24]\n"
		"      block_cidr: [198.51.100.7/32]\n"
		"      allow_host: [11434]\n"
		"      deny_all: true\n"
		"      dns: { nameserver: '1.1.1.1:53', rebind_protection: "
		"strict }\n"
		"      plugin: ./net.so\n"
		"    secrets:\n"
		"      - KEY_A\n"
		"      - { name: KEY_B, env: HOST_B, hosts: [b.example.com], "
		"inject: [query, 'header:X-Api-Key'] }\n"
		"      - { name: KEY_C, file: ./token, hosts: c.example.com }\n"
		"    on_secret_violation: log\n"
		"    tls: { bypass: [pinned.example.com], upstream_ca: ca.pem }\n"
		"    kernel: cloud\n"
		"    boot_timeout: 90s\n"
		"    healthcheck: { test: [true], interval: 500ms, timeout: 2s,"
		" retries: 5, start_period: 1m }\n"
		"    scripts: { test: [make, test] }\n"
		"    restart: on-failure\n"
		"    sync: true\n"
		"  b:\n"
		"    <<: *base\n"
		"    depends_on: { a: { condition: healthy } }\n"
		"    restart: no\n"
		"  c: ~\n") < 0)
		goto out;
	p = load(dir, text, &err);
	CHECK(p != NULL);
	if (!p) {
		unit_fail(__FILE__, __LINE__, "%s", err.message);
		goto out;
	}
	a = proj_find(p, "a");
	c = config(p);
	CHECK(a && c);
	if (!a || !c)
		goto out;
	CHECK_EQ_INT(a->cfg.cpus, 3);
	CHECK_EQ_INT(a->cfg.memory_mib, 1536);
	CHECK_EQ_INT(a->cfg.disk_mib, 10240);
	/* env_file's first, env's win; a bare key takes the host's
	 * variable, or nothing when the host has none */
	CHECK_STR(jpath(c, "sandboxes.a.env.0"), "FROM_FILE=1");
	CHECK_STR(jpath(c, "sandboxes.a.env.1"), "BOTH=env");
	CHECK_STR(jpath(c, "sandboxes.a.env.2"), "QUOTED=a b");
	CHECK_STR(jpath(c, "sandboxes.a.env.3"), "EMPTY=");
	CHECK_STR(jpath(c, "sandboxes.a.env.4"), "NUM=8000");
	CHECK(jpath(c, "sandboxes.a.env.5") == NULL);
	CHECK_STR(a->cfg.workdir, "/srv");
	CHECK_STR(a->cfg.user, "1000:1000");
	CHECK_STR(a->cfg.entrypoint[0], "/bin/sh");
	CHECK_STR(a->cfg.entrypoint[1], "-e");
	CHECK_STR(a->cmd[0], "run");
	CHECK_STR(a->cmd[1], "--fast");
	CHECK_EQ_INT(a->nmounts, 8);
	CHECK_EQ_INT(a->mounts[6].v.cache, MSB_VOLUME_CACHE_AUTO);
	CHECK_EQ_INT(a->mounts[6].v.cache_timeout_ms, 30000);
	CHECK_EQ_INT(a->mounts[6].v.direct_io, 0);
	CHECK_EQ_INT(a->mounts[7].v.cache, MSB_VOLUME_CACHE_NEVER);
	CHECK_EQ_INT(a->mounts[7].v.direct_io, 1);
	CHECK_EQ_INT(a->mounts[0].v.readonly, 1);
	CHECK_EQ_INT(a->mounts[0].v.direct_io, 1);
	CHECK_EQ_INT(a->mounts[1].v.overlay_mib, 64);
	CHECK_STR(jpath(c, "sandboxes.a.volumes.2.source"), "every-shared");
	CHECK_STR(jpath(c, "sandboxes.a.volumes.3.source"), "outside");
	CHECK_STR(jpath(c, "sandboxes.a.volumes.3.readonly"), "true");
	CHECK_EQ_INT(a->mounts[4].v.kind, MSB_VOLUME_MEMORY);
	CHECK_EQ_INT(a->mounts[4].v.size_mib, 16);
	CHECK_EQ_INT(a->mounts[5].v.kind, MSB_VOLUME_PLUGIN);
	CHECK_STR(a->mounts[5].v.arg, "x");
	CHECK(a->mounts[5].v.dir && strstr(a->mounts[5].v.dir, "/d"));
	CHECK_STR(a->cfg.net.ports[1], "127.0.0.1:9000:90");
	CHECK_STR(a->cfg.net.ports[2], "80");
	CHECK_STR(a->cfg.net.allow[1], "*.example.org");
	CHECK_STR(a->cfg.net.allow_cidr[0], "203.0.113.0/24");
	CHECK_STR(a->cfg.net.block_cidr[0], "198.51.100.7/32");
	CHECK_STR(a->cfg.net.allow_host[0], "11434");
	CHECK_EQ_INT(a->cfg.net.deny_all, 1);
	CHECK_STR(a->cfg.net.dns_nameserver, "1.1.1.1:53");
	CHECK(a->cfg.net.plugin && strstr(a->cfg.net.plugin, "/net.so"));
	CHECK_EQ_INT(a->cfg.nsecrets, 3);
	CHECK_STR(a->cfg.secrets[0].hosts, "api.example.com,*.example.org");
	CHECK_STR(a->cfg.secrets[1].ref, "HOST_B");
	CHECK_STR(a->cfg.secrets[1].hosts, "b.example.com");
	CHECK_STR(a->cfg.secrets[1].inject, "query,header:X-Api-Key");
	CHECK_EQ_INT(a->cfg.secrets[2].source, MSB_SECRET_FILE);
	CHECK(strstr(a->cfg.secrets[2].ref, "/token") != NULL);
	CHECK_STR(a->cfg.on_secret_violation, "log");
	CHECK_EQ_INT(a->cfg.ntls_bypass, 1);
	CHECK_EQ_INT(a->cfg.ntls_upstream_ca, 1);
	CHECK_CONTAINS(a->cfg.tls_upstream_ca[0], "BEGIN CERTIFICATE");
	CHECK_STR(a->cfg.kernel, "cloud");
	CHECK_EQ_INT(a->cfg.boot_timeout_ms, 90000);
	CHECK(a->health != NULL);
	if (a->health) {
		CHECK_EQ_INT(a->health->interval_ms, 500);
		CHECK_EQ_INT(a->health->timeout_ms, 2000);
		CHECK_EQ_INT(a->health->retries, 5);
		CHECK_EQ_INT(a->health->start_period_ms, 60000);
	}
	CHECK_EQ_INT(a->restart, PROJ_RESTART_ON_FAILURE);
	CHECK_EQ_INT(a->sync, 1);
	CHECK_STR(jpath(c, "sandboxes.a.sync"), "true");
	CHECK_STR(jpath(c, "sandboxes.b.depends_on.0.condition"), "healthy");
	/* YAML 1.1's merge key, as Compose files use it */
	CHECK_EQ_INT(proj_find(p, "b")->cfg.cpus, 2);
	CHECK_STR(jpath(c, "sandboxes.b.restart"), "no");
	CHECK_STR(jpath(c, "sandboxes.c.image"), "default");
	CHECK_STR(jpath(c, "volumes.outside.name"), "outside");
	CHECK_STR(jpath(c, "volumes.shared.name"), "every-shared");
	CHECK_STR(jpath(c, "order.0"), "a");
out:
	json_object_put(c);
	msb_project_free(p);
	tls_ca_free(ca);
	free(text);
	unsetenv("MSB_TEST_HOST_VAR");
	msb_rm_rf(dir);
}

/* Each bad file and the start of the message it must give. */
static const struct {
	const char *text, *want;
} bad[] = {
	{ "", "1:1: the file is empty" },
	{ "sandboxes: {a: {imgae: x}}\n",
	  "1:17: sandboxes.a: unknown key 'imgae' (did you mean 'image'?)" },
	{ "sandboxes:\n  a:\n    memory: lots\n",
	  "3:13: sandboxes.a.memory: invalid memory size 'lots'" },
	{ "sandboxes:\n  a:\n    memory: 16M\n",
	  "3:13: sandboxes.a.memory: invalid memory size '16M': it must be "
	  "between 64M and 1024G" },
	{ "sandboxes:\n  a:\n    cpus: two\n",
	  "3:11: sandboxes.a.cpus: invalid value 'two': use a whole number" },
	{ "sandboxes:\n  a:\n    cpus: [1]\n",
	  "3:11: sandboxes.a.cpus: expected a whole number, found a list" },
	{ "sandboxes:\n  a: {depends_on: [b]}\n  b: {depends_on: [a]}\n",
	  "2:3: sandboxes.a.depends_on: a dependency cycle: a -> b -> a" },
	{ "sandboxes:\n  a: {depends_on: [z]}\n",
	  "2:20: sandboxes.a.depends_on[0]: no sandbox 'z'" },
	{ "sandboxes:\n  a: {depends_on: [a]}\n",
	  "2:20: sandboxes.a.depends_on[0]: a depends on itself" },
	{ "sandboxes:\n  a: {}\n  b: {depends_on: {a: {condition: healthy}}}\n",
	  "3:23: sandboxes.b.depends_on.a: a has no healthcheck" },
	{ "sandboxes:\n  a: {}\n  b: {depends_on: {a: {condition: up}}}\n",
	  "3:35: sandboxes.b.depends_on.a.condition: invalid condition 'up'" },
	{ "sandboxes:\n  a:\n    secrets: [KEY]\n",
	  "3:15: sandboxes.a.secrets[0]: secret KEY is bound to no host" },
	{ "sandboxes:\n  a:\n    secrets: [{name: K, env: A, file: f, hosts: [x.com]}]\n",
	  "3:39: sandboxes.a.secrets[0]: give env or file, not both" },
	{ "sandboxes:\n  a:\n    secrets: [{name: K, hosts: ['bad host']}]\n",
	  "3:15: sandboxes.a.secrets[0]: " },
	{ "sandboxes:\n  a:\n    network: {allow: [x.com]}\n    secrets: [K, K]\n",
	  "4:18: sandboxes.a.secrets[1]: secret K is given twice" },
	{ "sandboxes:\n  a:\n    network: {allow: [x.com], allow_cidr: [10.0.0.0/8]}\n"
	  "    secrets: [K]\n",
	  "3:5: sandboxes.a: --net-allow-cidr 10.0.0.0/8 opens" },
	{ "sandboxes:\n  a:\n    volumes: [data:/d]\n",
	  "3:15: sandboxes.a.volumes[0]: no volume 'data' in the top-level volumes" },
	{ "sandboxes:\n  a:\n    volumes: [./x]\n",
	  "3:15: sandboxes.a.volumes[0]: invalid volume './x': write SOURCE:TARGET" },
	{ "sandboxes:\n  a:\n    volumes: ['./x:/proc']\n",
	  "3:15: sandboxes.a.volumes[0]: invalid volume guest path '/proc'" },
	{ "sandboxes:\n  a:\n    volumes: ['./x:/a', './y:/a']\n",
	  "3:25: sandboxes.a.volumes[1]: two volumes at /a" },
	{ "sandboxes:\n  a:\n    volumes: ['./x:/a:rx']\n",
	  "3:15: sandboxes.a.volumes[0]: invalid --volume option 'rx'" },
	{ "sandboxes:\n  a:\n    volumes: [{type: nfs, target: /a}]\n",
	  "3:22: sandboxes.a.volumes[0].type: invalid volume type 'nfs'" },
	{ "sandboxes:\n  a:\n    volumes: [{source: ./x}]\n",
	  "3:15: sandboxes.a.volumes[0]: no target" },
	{ "sandboxes:\n  a:\n    volumes: [{target: /a, cache: often}]\n",
	  "3:35: sandboxes.a.volumes[0].cache: invalid cache mode 'often'" },
	{ "sandboxes:\n  a:\n    volumes: [{target: /a, cache_timeout: 2d}]\n",
	  "3:43: sandboxes.a.volumes[0].cache_timeout: a cache timeout of "
	  "172800000 ms is more than a day" },
	{ "sandboxes:\n  a:\n    volumes: [{type: memory, target: /m, source: x}]\n",
	  "3:50: sandboxes.a.volumes[0]: this key does not apply to a memory volume" },
	{ "volumes: {v: {}}\nsandboxes:\n  a:\n    volumes: ['v:/a:overlay']\n",
	  "4:15: sandboxes.a.volumes[0]: invalid --volume 'v:/a': a named "
	  "volume takes no overlay" },
	{ "sandboxes:\n  a:\n    network: {allow: ['']}\n",
	  "3:23: sandboxes.a.network.allow[0]: invalid --net-allow ''" },
	{ "sandboxes:\n  a:\n    network: {allow: 'a.com,b.com'}\n",
	  "3:22: sandboxes.a.network.allow: expected a list" },
	{ "sandboxes:\n  a:\n    network: {allow_cidr: [10.0.0.300/8]}\n",
	  "3:28: sandboxes.a.network.allow_cidr[0]: invalid --net-allow-cidr" },
	{ "sandboxes:\n  a:\n    network: {allow_host: [99999]}\n",
	  "3:28: sandboxes.a.network.allow_host[0]: invalid --net-allow-host '99999'" },
	{ "sandboxes:\n  a:\n    network: {deny_all: yes}\n",
	  "3:25: sandboxes.a.network.deny_all: expected true or false, found 'yes'" },
	{ "sandboxes:\n  a:\n    network: {deny_all: 'true'}\n",
	  "3:25: sandboxes.a.network.deny_all: expected true or false, found 'true' (quoted: a string)" },
	{ "sandboxes:\n  a:\n    network: {dns: {nameserver: nope}}\n",
	  "3:33: sandboxes.a.network.dns.nameserver: invalid --dns-nameserver 'nope'" },
	{ "sandboxes:\n  a:\n    network: {dns: {rebind_protection: off}}\n",
	  "3:40: sandboxes.a.network.dns.rebind_protection: invalid value 'off'" },
	{ "sandboxes:\n  a:\n    ports: ['x:y']\n",
	  "3:13: sandboxes.a.ports[0]: invalid port 'x:y'" },
	{ "sandboxes:\n  a:\n    ports: 8000\n",
	  "3:12: sandboxes.a.ports: expected a list of ports" },
	{ "sandboxes:\n  a:\n    ports: [80, 80]\n",
	  "" }, /* the library refuses it at up: the same port twice */
	{ "sandboxes:\n  a:\n    from_snapshot: s\n    ports: [80]\n",
	  "4:5: sandboxes.a: ports cannot be given with from_snapshot" },
	{ "sandboxes:\n  a:\n    from_snapshot: s\n    image: x\n",
	  "3:5: sandboxes.a: give image or from_snapshot, not both" },
	{ "sandboxes:\n  a:\n    command: x\n    scripts: {start: y}\n",
	  "4:15: sandboxes.a: give command or scripts.start, not both" },
	{ "sandboxes:\n  a:\n    command: []\n",
	  "3:14: sandboxes.a.command: an empty command" },
	{ "sandboxes:\n  a:\n    scripts: {start: y, start: z}\n",
	  "3:25: sandboxes.a.scripts: 'start' is given twice (first at line 3)" },
	{ "sandboxes:\n  a:\n    scripts: [y]\n",
	  "3:14: sandboxes.a.scripts: expected a mapping of scripts" },
	{ "sandboxes:\n  a:\n    healthcheck: {interval: 1s}\n",
	  "3:18: sandboxes.a.healthcheck: no test" },
	{ "sandboxes:\n  a:\n    healthcheck: {test: x, interval: soon}\n",
	  "3:38: sandboxes.a.healthcheck.interval: invalid duration 'soon'" },
	{ "sandboxes:\n  a:\n    restart: sometimes\n",
	  "3:14: sandboxes.a.restart: invalid restart policy 'sometimes'" },
	{ "sandboxes:\n  a:\n    kernel: linux\n",
	  "3:13: sandboxes.a.kernel: invalid kernel 'linux': use msb or cloud" },
	{ "sandboxes:\n  a:\n    workdir: srv\n",
	  "3:14: sandboxes.a.workdir: invalid working directory 'srv'" },
	{ "sandboxes:\n  a:\n    env: {1X: y}\n",
	  "3:11: sandboxes.a.env: invalid variable name '1X'" },
	{ "sandboxes:\n  a:\n    env: {X: [y]}\n",
	  "3:14: sandboxes.a.env.X: expected a value" },
	{ "sandboxes:\n  a:\n    env: x\n",
	  "3:10: sandboxes.a.env: expected a mapping of variables" },
	{ "sandboxes:\n  a:\n    env_file: missing.env\n",
	  "3:15: sandboxes.a.env_file: cannot read env file" },
	{ "sandboxes:\n  a:\n    on_secret_violation: shout\n",
	  "3:26: sandboxes.a.on_secret_violation: invalid value 'shout'" },
	{ "sandboxes:\n  a:\n    tls: {bypass: ['']}\n",
	  "3:19: sandboxes.a.tls.bypass: invalid --tls-bypass ''" },
	{ "sandboxes:\n  a:\n    tls: {upstream_ca: nope.pem}\n",
	  "3:24: sandboxes.a.tls.upstream_ca: cannot read CA file" },
	{ "sandboxes:\n  a:\n    boot_timeout: 0s\n",
	  "3:19: sandboxes.a.boot_timeout: invalid boot timeout" },
	{ "sandboxes:\n  a:\n    sync: {to: x}\n",
	  "3:11: sandboxes.a.sync: " },
	{ "sandboxes:\n  a:\n    sync: 'true'\n",
	  "3:11: sandboxes.a.sync: " },
	{ "sandboxes:\n  a:\n    image: x\n    image: y\n",
	  "4:5: sandboxes.a: 'image' is given twice (first at line 3)" },
	{ "sandboxes: {a: {}, a: {}}\n",
	  "1:20: sandboxes: 'a' is given twice (first at line 1)" },
	{ "sandboxes:\n  -a: {}\n", "2:3: sandboxes: invalid sandbox name '-a'" },
	{ "sandboxes: {}\n", "1:12: sandboxes: no sandboxes" },
	{ "sandboxes: [a]\n", "1:12: sandboxes: expected a mapping of sandboxes" },
	{ "name: x\n", "1:1: no sandboxes" },
	{ "name: -x\nsandboxes: {a: }\n", "1:7: name: invalid project name '-x'" },
	{ "nmae: x\nsandboxes: {a: }\n",
	  "1:1: unknown key 'nmae' (did you mean 'name'?)" },
	{ "name: a234567890123456789012345678901234567890123456\n"
	  "sandboxes: {a2345678901234567: }\n",
	  "2:13: sandboxes.a2345678901234567: the sandbox's name" },
	{ "volumes: {v: {size: 1Z}}\nsandboxes: {a: }\n",
	  "1:21: volumes.v.size: invalid volume size '1Z'" },
	{ "volumes: {v: {external: true, size: 1G}}\nsandboxes: {a: }\n",
	  "1:37: volumes.v: an external volume keeps the size" },
	{ "volumes: {v: {}, v: {}}\nsandboxes: {a: }\n",
	  "1:18: volumes: 'v' is given twice (first at line 1)" },
	{ "sandboxes:\n  a: {image: [x]}\n",
	  "2:14: sandboxes.a.image: expected an image reference, found a list" },
	{ "sandboxes:\n  a:\n  image: x\n",
	  "3:10: sandboxes.image: expected a mapping (key: value), found a "
	  "single value" },
	{ "sandboxes:\n  a:\n\timage: x\n", "3:1: not valid YAML" },
	{ "sandboxes: {a: [\n", "2:1: not valid YAML" },
	{ "sandboxes: *nope\n", "1:12: not valid YAML" },
	{ "- a\n- b\n", "1:1: expected a mapping" },
	{ "? [a]\n: b\nsandboxes: {a: }\n", "1:3: a key must be a plain name" },
};

TEST(project_errors_name_line_and_column)
{
	char dir[256], path[400];

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	snprintf(path, sizeof(path), "%s/Sandboxfile", dir);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		msb_error err = { 0 };
		msb_project *p = NULL;
		char want[600];
		int r = msb_project_parse(bad[i].text, strlen(bad[i].text), path,
					  &p, &err);

		if (!bad[i].want[0]) {
			CHECK_EQ_INT(r, 0);
			msb_project_free(p);
			continue;
		}
		snprintf(want, sizeof(want), "%s:%s", path, bad[i].want);
		if (r != -EINVAL || p ||
		    strncmp(err.message, want, strlen(want)))
			unit_fail(__FILE__, __LINE__,
				  "case %zu: %d, '%s', want '%s'", i, r,
				  err.message, want);
		msb_project_free(p);
	}
	msb_rm_rf(dir);
}

/* 'up' recreates what changed: an edit changes that sandbox's hash only;
 * scripts (but start), depends_on, healthcheck and sync change none. */
TEST(project_hash_follows_definition)
{
	static const char *const base =
		"sandboxes:\n"
		"  a: {image: x, memory: 1G%s}\n"
		"  b: {image: y%s}\n";
	static const struct {
		const char *a, *b;
		int a_changes, b_changes;
	} edits[] = {
		{ "", "", 0, 0 },
		{ ", cpus: 2", "", 1, 0 },
		{ "", ", env: {K: v}", 0, 1 },
		{ ", scripts: {test: x}", "", 0, 0 },
		{ ", scripts: {start: x}", "", 1, 0 },
		{ ", healthcheck: {test: x}", ", depends_on: [a]", 0, 0 },
		{ ", ports: [80]", "", 1, 0 },
		{ ", sync: true", "", 0, 0 },
	};
	char dir[256], ha[65] = "", hb[65] = "";

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(edits); i++) {
		msb_error err = { 0 };
		msb_project *p;
		char *text;

		if (asprintf(&text, base, edits[i].a, edits[i].b) < 0)
			break;
		p = load(dir, text, &err);
		free(text);
		CHECK(p != NULL);
		if (!p)
			continue;
		if (i == 0) {
			snprintf(ha, sizeof(ha), "%s", proj_find(p, "a")->hash);
			snprintf(hb, sizeof(hb), "%s", proj_find(p, "b")->hash);
		}
		if ((strcmp(ha, proj_find(p, "a")->hash) != 0) !=
		    edits[i].a_changes)
			unit_fail(__FILE__, __LINE__, "edit %zu: a's hash", i);
		if ((strcmp(hb, proj_find(p, "b")->hash) != 0) !=
		    edits[i].b_changes)
			unit_fail(__FILE__, __LINE__, "edit %zu: b's hash", i);
		msb_project_free(p);
	}
	msb_rm_rf(dir);
}

/* Independent sandboxes keep the file's order; dependencies go first. */
TEST(project_start_order)
{
	char dir[256];
	msb_error err = { 0 };
	msb_project *p;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	p = load(dir,
		 "sandboxes:\n"
		 "  web: {depends_on: [api, cache]}\n"
		 "  api: {depends_on: [db]}\n"
		 "  db: {}\n"
		 "  cache: {}\n"
		 "  solo: {}\n",
		 &err);
	CHECK(p != NULL);
	if (p) {
		const char *want[] = { "db", "api", "cache", "web", "solo" };

		for (size_t i = 0; i < ARRAY_SIZE(want); i++)
			CHECK_STR(msb_project_sandbox(p, i, NULL), want[i]);
		/* the directory's name is the project's when it has none */
		CHECK(strncmp(msb_project_name(p), "msb-unit.", 9) == 0);
		msb_project_free(p);
	}
	msb_rm_rf(dir);
}

/* msb_project_find(): the Sandboxfile here, or the nearest above. */
TEST(project_discovery)
{
	char dir[256], sub[400], found[600], want[600];
	msb_error err = { 0 };
	msb_project *p = NULL;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	msb_mkdir_p(sub, 0755);
	CHECK_EQ_INT(msb_project_find(sub, found, sizeof(found), &err),
		     -ENOENT);
	CHECK_CONTAINS(err.message, "no Sandboxfile in");
	snprintf(want, sizeof(want), "%s/Sandboxfile", dir);
	msb_write_file(want, "sandboxes: {x: }\n", 17, 0644);
	CHECK_EQ_INT(msb_project_find(sub, found, sizeof(found), &err), 0);
	CHECK_STR(found, want);
	CHECK_EQ_INT(msb_project_load(want, &p, &err), 0);
	if (p) {
		CHECK_STR(msb_project_file(p), want);
		msb_project_free(p);
	}
	/* a directory is not a Sandboxfile */
	CHECK(msb_project_load(dir, &p, &err) < 0);
	CHECK(p == NULL);
	msb_rm_rf(dir);
}

/* Limits and hostile shapes: deep nesting, aliases everywhere, NULs. */
TEST(project_hostile_files)
{
	char dir[256], *big;
	msb_error err = { 0 };
	msb_project *p = NULL;
	size_t n = 0;

	if (unit_tmpdir(dir, sizeof(dir)))
		return;
	big = malloc(PROJ_FILE_MAX + 2);
	if (big) {
		memset(big, '#', PROJ_FILE_MAX + 1);
		big[PROJ_FILE_MAX + 1] = '\0';
		CHECK_EQ_INT(msb_project_parse(big, PROJ_FILE_MAX + 1, "f", &p,
					       &err), -EFBIG);
		/* a billion laughs: aliases are walked, never copied */
		n = (size_t)sprintf(big, "x-a: &a [1,1,1,1,1,1,1,1,1,1]\n");
		for (int i = 0; i < 8; i++)
			n += (size_t)sprintf(big + n, "x-%c: &%c [*%c,*%c,*%c,"
					     "*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n",
					     'b' + i, 'b' + i, 'a' + i, 'a' + i,
					     'a' + i, 'a' + i, 'a' + i, 'a' + i,
					     'a' + i, 'a' + i, 'a' + i, 'a' + i);
		n += (size_t)sprintf(big + n, "sandboxes: {a: {env: *i}}\n");
		CHECK_EQ_INT(msb_project_parse(big, n, "f", &p, &err), -EINVAL);
		CHECK_CONTAINS(err.message, "sandboxes.a.env");
		free(big);
	}
	CHECK_EQ_INT(msb_project_parse("sandboxes: {a: }\0x", 19, "f", &p,
				       &err), -EINVAL);
	CHECK_CONTAINS(err.message, "NUL");
	msb_rm_rf(dir);
}
