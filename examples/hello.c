/* SPDX-License-Identifier: Apache-2.0 */
/* hello.c - the C SDK in a few lines: create a sandbox, run a command in it,
 * read its output, remove it.
 *
 *   cc hello.c -lmsb -o hello && ./hello [NAME]
 */

#include <stdio.h>

#include <msb.h>

int main(int argc, char **argv)
{
	const char *argv_guest[] = { "sh", "-c",
				     "echo hello from $(uname -r); echo to stderr >&2",
				     NULL };
	msb_sandbox_config cfg;
	msb_sandbox *sb;
	msb_output out;
	msb_error err = { 0 };
	int rc = 1;

	msb_sandbox_config_init(&cfg);
	cfg.name = argc > 1 ? argv[1] : "hello";
	cfg.memory_mib = 256;
	if (msb_sandbox_create(&cfg, &sb, &err) < 0) {
		fprintf(stderr, "create: %s\n", err.message);
		return 1;
	}
	printf("booted %s in %llu ms\n", msb_sandbox_name(sb),
	       (unsigned long long)msb_sandbox_boot_ms(sb));
	if (msb_exec_capture(sb, argv_guest, NULL, &out, &err) < 0) {
		fprintf(stderr, "exec: %s\n", err.message);
	} else {
		printf("stdout: %s", out.out);
		printf("stderr: %s", out.err);
		printf("exit code: %d\n", out.exit_code);
		rc = out.exit_code;
		msb_output_free(&out);
	}
	msb_sandbox_close(sb);
	if (msb_sandbox_remove(cfg.name, 1, &err) < 0)
		fprintf(stderr, "remove: %s\n", err.message);
	return rc;
}
