/* SPDX-License-Identifier: Apache-2.0 */
/* test_engine.c - QEMU's command line: values escaped inside option
 * strings, and a line that does not fit refused (src/engine/qemu.c) */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "harness.h"

TEST(engine_opt_escape)
{
	char out[32];

	CHECK_EQ_INT(msb_qemu_opt_escape("a,b", out, sizeof(out)), 4);
	CHECK_STR(out, "a,,b");
	CHECK_EQ_INT(msb_qemu_opt_escape(",,", out, sizeof(out)), 4);
	CHECK_STR(out, ",,,,");
	CHECK_EQ_INT(msb_qemu_opt_escape("", out, sizeof(out)), 0);
	CHECK_STR(out, "");
	/* Exactly full, then one byte short: never a cut value. */
	CHECK_EQ_INT(msb_qemu_opt_escape("abcdefghijklmn,", out, 17), 16);
	CHECK_STR(out, "abcdefghijklmn,,");
	CHECK_EQ_INT(msb_qemu_opt_escape("abcdefghijklmn,", out, 16), -1);
	CHECK_EQ_INT(msb_qemu_opt_escape("abcdefghijklmno", out, 16), 15);
}

static void spec_init(struct msb_vm_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->kernel = "/k,ernel";
	s->initrd = "/init,rd";
	s->cpus = 1;
	s->memory_mib = 256;
	s->accel = MSB_ACCEL_KVM; /* (TCG would measure the host's TSC) */
	s->agent_fd = 3;
	s->console_log = "/tmp/x/a,b c/sandboxes/s/console.log";
	s->engine_log = "/dev/null";
}

static int has_arg(char **argv, const char *want)
{
	for (int i = 0; argv[i]; i++)
		if (!strcmp(argv[i], want))
			return 1;
	return 0;
}

TEST(engine_argv_escapes_option_values)
{
	struct msb_vm_spec s;
	msb_error err = { 0 };
	char **argv = NULL;

	spec_init(&s);
	s.disks[0] = (struct msb_disk){ .path = "/tmp/x/a,b c/upper.ext4",
					.serial = "upper" };
	s.disks[1] = (struct msb_disk){
		.path = "/tmp/x/a,b c/layers/l,1.erofs", .serial = "layer0",
		.readonly = 1 };
	s.ndisks = 2;
	s.fs[0] = (struct msb_fsdev){ 9, "msbvol0" };
	s.nfs = 1;
	CHECK_EQ_INT(msb_engine_argv(&s, "/usr/bin/qemu", 4, &argv, &err), 0);
	if (!argv)
		return;
	CHECK_STR(argv[0], "/usr/bin/qemu");
	CHECK(has_arg(argv, "file,id=con,path=/tmp/x/a,,b c/sandboxes/s/"
			    "console.log,append=on"));
	/* A full host disk pauses the VM (werror=enospc), never fails the
	 * guest's write; other errors are reported to it. */
	CHECK(has_arg(argv, "if=none,id=d0,file=/tmp/x/a,,b c/upper.ext4,"
			    "format=raw,cache=writeback,discard=unmap,"
			    "werror=enospc,rerror=report"));
	CHECK(has_arg(argv, "if=none,id=d1,file=/tmp/x/a,,b c/layers/"
			    "l,,1.erofs,format=raw,readonly=on,rerror=report"));
	CHECK(has_arg(argv, "virtio-blk-device,drive=d1,serial=layer0"));
	CHECK(has_arg(argv, "vhost-user-fs-device,chardev=fs0,tag=msbvol0"));
	/* A transport is left (agent port, 2 disks, a volume): free page
	 * reporting, so the guest's freed memory goes back to the host. */
	CHECK(has_arg(argv, "virtio-balloon-device,free-page-reporting=on"));
	/* -kernel and -initrd are not option strings: taken as given. */
	CHECK(has_arg(argv, "/k,ernel"));
	CHECK(has_arg(argv, "/init,rd"));
	free(argv);
}

/* The balloon takes a transport only when one is left: with every one
 * of microvm's 8 in use (agent port, network, 6 disks and volumes) it is
 * left out, and the devices the guest needs are all there. */
TEST(engine_argv_balloon_only_in_a_free_slot)
{
	struct msb_vm_spec s;
	msb_error err = { 0 };
	char **argv = NULL;

	spec_init(&s);
	s.net_mac = "02:00:00:00:00:01";
	s.net_fd = 7;
	for (unsigned i = 0; i < 2; i++)
		s.disks[i] = (struct msb_disk){ .path = "/d", .serial = "x",
						 .readonly = 1 };
	s.ndisks = 2;
	for (unsigned i = 0; i < 4; i++)
		s.fs[i] = (struct msb_fsdev){ 9, "msbvol" };
	s.nfs = 3;
	CHECK_EQ_INT(msb_engine_argv(&s, "/usr/bin/qemu", 4, &argv, &err), 0);
	CHECK(argv && has_arg(argv, "virtio-balloon-device,"
				    "free-page-reporting=on"));
	free(argv);
	argv = NULL;
	s.nfs = 4; /* 1 + 1 + 2 + 4 = 8: none left */
	CHECK_EQ_INT(msb_engine_argv(&s, "/usr/bin/qemu", 4, &argv, &err), 0);
	CHECK(argv && !has_arg(argv, "virtio-balloon-device,"
				     "free-page-reporting=on"));
	free(argv);
}

/* Under TCG the guest keeps the TSC as its clock (a busy host must not
 * make the kernel's watchdog drop it for 10 ms jiffies); under KVM the
 * kernel picks kvm-clock itself. */
TEST(engine_argv_tcg_guest_keeps_its_tsc_clock)
{
	struct msb_vm_spec s;
	msb_error err = { 0 };
	char **argv = NULL;
	const char *append = NULL;

	spec_init(&s);
	s.accel = MSB_ACCEL_TCG;
	CHECK_EQ_INT(msb_engine_argv(&s, "/usr/bin/qemu", 4, &argv, &err), 0);
	for (int i = 0; argv && argv[i] && argv[i + 1]; i++)
		if (!strcmp(argv[i], "-append"))
			append = argv[i + 1];
	CHECK(append && strstr(append, " tsc=reliable"));
	CHECK(append && strstr(append, " tsc_early_khz="));
	free(argv);
	argv = NULL;
	s.accel = MSB_ACCEL_KVM;
	CHECK_EQ_INT(msb_engine_argv(&s, "/usr/bin/qemu", 4, &argv, &err), 0);
	append = NULL;
	for (int i = 0; argv && argv[i] && argv[i + 1]; i++)
		if (!strcmp(argv[i], "-append"))
			append = argv[i + 1];
	CHECK(append && !strstr(append, "tsc="));
	free(argv);
}

static const char *arg_after(char **argv, const char *flag)
{
	for (int i = 0; argv && argv[i] && argv[i + 1]; i++)
		if (!strcmp(argv[i], flag))
			return argv[i + 1];
	return NULL;
}

/* Under TCG the translated-code buffer is bounded (its resident size
 * grows to the reservation otherwise); under KVM there is none to
 * bound, and nothing TCG's is passed. */
TEST(engine_argv_tcg_code_buffer_bounded)
{
	struct msb_vm_spec s;
	msb_error err = { 0 };
	char **argv = NULL;
	const char *accel;

	spec_init(&s);
	s.accel = MSB_ACCEL_TCG;
	s.tcg_tb_mib = 64;
	CHECK_EQ_INT(msb_engine_argv(&s, "/usr/bin/qemu", 4, &argv, &err), 0);
	accel = arg_after(argv, "-accel");
	CHECK(accel && !strcmp(accel, "tcg,tb-size=64"));
	free(argv);
	argv = NULL;
	s.tcg_tb_mib = 0; /* QEMU's own */
	CHECK_EQ_INT(msb_engine_argv(&s, "/usr/bin/qemu", 4, &argv, &err), 0);
	accel = arg_after(argv, "-accel");
	CHECK(accel && !strcmp(accel, "tcg"));
	free(argv);
	argv = NULL;
	s.accel = MSB_ACCEL_KVM;
	s.tcg_tb_mib = 64;
	CHECK_EQ_INT(msb_engine_argv(&s, "/usr/bin/qemu", 4, &argv, &err), 0);
	accel = arg_after(argv, "-accel");
	CHECK(accel && !strcmp(accel, "kvm"));
	free(argv);
}

TEST(engine_tcg_code_buffer_from_env)
{
	msb_error err = { 0 };
	unsigned mib = 1;
	const char *bad[] = { "abc", "7", "4097", "-16", "16M", " 16" };

	unsetenv("MSB_TCG_TB_MIB");
	CHECK_EQ_INT(msb_engine_tcg_tb_check(&mib, &err), 0);
	CHECK_EQ_INT((int)mib, MSB_TCG_TB_MIB_DEFAULT);
	setenv("MSB_TCG_TB_MIB", "16", 1);
	CHECK_EQ_INT(msb_engine_tcg_tb_check(&mib, &err), 0);
	CHECK_EQ_INT((int)mib, 16);
	setenv("MSB_TCG_TB_MIB", "0", 1);
	CHECK_EQ_INT(msb_engine_tcg_tb_check(&mib, &err), 0);
	CHECK_EQ_INT((int)mib, 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("MSB_TCG_TB_MIB", bad[i], 1);
		CHECK_EQ_INT(msb_engine_tcg_tb_check(&mib, &err), -EINVAL);
		CHECK_CONTAINS(err.message, "MSB_TCG_TB_MIB");
	}
	unsetenv("MSB_TCG_TB_MIB");
}

TEST(engine_argv_too_long_fails)
{
	static char path[16][3000];
	struct msb_vm_spec s;
	msb_error err = { 0 };
	char **argv = (char **)1;

	spec_init(&s);
	/* Sixteen disks at long paths, each comma doubling: far past the
	 * builder's store, which must refuse instead of dropping disks. */
	for (unsigned i = 0; i < 16; i++) {
		memset(path[i], ',', sizeof(path[i]) - 1);
		path[i][0] = '/';
		s.disks[i] = (struct msb_disk){ .path = path[i], .serial = "layer",
					       .readonly = 1 };
	}
	s.ndisks = 16;
	CHECK(msb_engine_argv(&s, "/usr/bin/qemu", 4, &argv, &err) < 0);
	CHECK(argv == NULL);
	CHECK_CONTAINS(err.message, "does not fit");
	/* A few of them fit. */
	s.ndisks = 2;
	CHECK_EQ_INT(msb_engine_argv(&s, "/usr/bin/qemu", 4, &argv, &err), 0);
	free(argv);
}
