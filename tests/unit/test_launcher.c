/* SPDX-License-Identifier: Apache-2.0 */
/* test_launcher.c - the VMM's launcher (src/engine/launcher.c): it starts
 * only its own binary, only with QEMU's -sandbox first when confining,
 * hands the descriptors over at 3, 4, ..., and reports how it ended */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "launcher.h"
#include "util.h"

static void spec_init(struct msb_vm_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->kernel = "/bin/sh";
	s->initrd = "/bin/sh";
}

/* wait_end() - the VM's end as the launcher reports it. */
static int wait_end(struct msb_vm *vm, int *status)
{
	struct pollfd p = { vm->link, POLLIN, 0 };

	for (int i = 0; i < 100; i++) {
		if (poll(&p, 1, 100) == 1 && msb_engine_reap(vm, status))
			return 1;
	}
	return 0;
}

TEST(launcher_starts_only_its_vmm_with_its_sandbox)
{
	struct msb_vm_spec s;
	struct msb_vm vm = { .link = -1 };
	struct msb_vmm_jail j = { 1, getuid(), getgid(), (gid_t)-1 };
	msb_error err = { 0 };
	char *bare[] = { "/bin/sh", "-c", "exit 3", NULL };
	char *other[] = { "/bin/true", "-sandbox", MSB_QEMU_SANDBOX, NULL };
	char *twice[] = { "/bin/sh", "-sandbox", MSB_QEMU_SANDBOX, "-sandbox",
			  "off", NULL };
	int lowest = unit_lowest_fd(), u[2] = { -1, -1 };
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	spec_init(&s);
	CHECK_EQ_INT(msb_launcher_start(&vm, "/bin/sh", &s, &j, &err), 0);
	if (vm.link < 0)
		return;
	/* No -sandbox first, another binary, a second -sandbox: refused. */
	CHECK_EQ_INT(msb_launcher_spawn(&vm, bare, null, NULL, 0, u, &err),
		     -EPERM);
	CHECK_CONTAINS(err.message, "refused");
	CHECK_EQ_INT(msb_launcher_spawn(&vm, other, null, NULL, 0, u, &err),
		     -EPERM);
	CHECK_EQ_INT(msb_launcher_spawn(&vm, twice, null, NULL, 0, u, &err),
		     -EPERM);
	msb_engine_release(&vm);
	close(null);
	CHECK_EQ_INT(unit_lowest_fd(), lowest);
}

TEST(launcher_hands_descriptors_over_and_reports_the_end)
{
	struct msb_vm_spec s;
	struct msb_vm vm = { .link = -1 };
	/* unconfined: a shell may run without QEMU's -sandbox */
	struct msb_vmm_jail j = { 0, getuid(), getgid(), (gid_t)-1 };
	msb_error err = { 0 };
	char tmp[4096], out[4200];
	char *argv[] = { "/bin/sh", "-c",
			 "echo to-log; echo three >&3; echo four >&4; exit 7",
			 NULL };
	int fds[2], log, st = -1, u[2] = { -1, -1 };
	char buf[64] = "";

	spec_init(&s);
	if (unit_tmpdir(tmp, sizeof(tmp)) < 0)
		return;
	snprintf(out, sizeof(out), "%s/log", tmp);
	log = open(out, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK_EQ_INT(pipe2(fds, O_CLOEXEC), 0);
	CHECK_EQ_INT(msb_launcher_start(&vm, "/bin/sh", &s, &j, &err), 0);
	if (vm.link < 0)
		return;
	{
		int give[2] = { fds[1], fds[1] };

		CHECK_EQ_INT(msb_launcher_spawn(&vm, argv, log, give, 2,
						u, &err), 0);
		CHECK(u[0] >= 0 && u[1] >= 0);
		for (int i = 0; i < 2; i++)
			if (u[i] >= 0)
				close(u[i]);
	}
	close(fds[1]);
	CHECK(vm.pid > 0);
	CHECK(wait_end(&vm, &st));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	CHECK(read(fds[0], buf, sizeof(buf) - 1) > 0);
	CHECK_STR(buf, "three\nfour\n");
	close(fds[0]);
	close(log);
	{
		char *l = msb_read_file(out, NULL);

		CHECK(l && !strcmp(l, "to-log\n"));
		free(l);
	}
	/* Killed on request; its end reported all the same. */
	{
		char *sleeper[] = { "/bin/sh", "-c", "sleep 60", NULL };
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		uint64_t cpu = 1, rss = 0;

		CHECK_EQ_INT(msb_launcher_spawn(&vm, sleeper, null, NULL, 0,
						vm.usage_fd, &err), 0);
		close(null);
		/* its CPU time and memory, through what the launcher
		 * opened for us */
		CHECK(vm.usage_fd[0] >= 0 && vm.usage_fd[1] >= 0);
		CHECK_EQ_INT(msb_engine_usage(&vm, &cpu, &rss), 0);
		CHECK(rss > 0);
		msb_launcher_kill(&vm);
		CHECK(wait_end(&vm, &st));
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	}
	msb_engine_release(&vm);
	msb_rm_rf(tmp);
}
