/* SPDX-License-Identifier: Apache-2.0 */
/* image.c - msb image inspect|prune|ls|rm|pull|load|save */

#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int cmd_image(int argc, char **argv);

const struct verb verb_image = {
	.name = "image",
	.summary = "Manage images: inspect, prune (and ls, pull, rm, load, save)",
	.fn = cmd_image,
	.help =
	"Usage: msb image COMMAND [ARGS]\n"
	"\n"
	"Commands:\n"
	"  inspect IMAGE          reference, digests, layers and config as JSON\n"
	"                         (--format json accepted)\n"
	"  prune                  delete blobs and layers no image and no sandbox\n"
	"                         uses, and debris of interrupted pulls\n"
	"  ls                     the same as 'msb images'\n"
	"  pull IMAGE             the same as 'msb pull'\n"
	"  rm IMAGE...            the same as 'msb rmi'\n"
	"  load, save             the same as 'msb load', 'msb save'\n",
};

static int inspect(int argc, char **argv)
{
	msb_error err = { 0 };
	char *json;
	int c, as_json;

	c = cli_help_or_format(&verb_image, argc, argv, 1, &as_json);
	if (c >= 0)
		return c;
	if (optind + 1 != argc)
		return cli_bad_usage(&verb_image, "usage: msb image inspect IMAGE");
	if (msb_image_inspect_json(argv[optind], &json, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	printf("%s\n", json);
	free(json);
	return 0;
}

static int prune(int argc, char **argv)
{
	msb_error err = { 0 };
	uint64_t freed;
	unsigned files;

	if (argc != 1)
		return cli_bad_usage(&verb_image, "usage: msb image prune");
	if (msb_image_prune(&freed, &files, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	printf("pruned %u files, %.1f MB\n", files, (double)freed / 1e6);
	return 0;
}

static int cmd_image(int argc, char **argv)
{
	if (argc < 2)
		return cli_bad_usage(&verb_image, "missing COMMAND");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		cli_usage(&verb_image, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "inspect"))
		return inspect(argc - 1, argv + 1);
	if (!strcmp(argv[1], "prune"))
		return prune(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ls"))
		return verb_images.fn(argc - 1, argv + 1);
	if (!strcmp(argv[1], "pull"))
		return verb_pull.fn(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rm"))
		return verb_rmi.fn(argc - 1, argv + 1);
	if (!strcmp(argv[1], "load"))
		return verb_load.fn(argc - 1, argv + 1);
	if (!strcmp(argv[1], "save"))
		return verb_save.fn(argc - 1, argv + 1);
	return cli_bad_usage(&verb_image, "unknown command '%s'", argv[1]);
}
