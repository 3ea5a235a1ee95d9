/* SPDX-License-Identifier: Apache-2.0 */
/* images.c - msb images: list the images in the store */

#include <getopt.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static int cmd_images(int argc, char **argv);

const struct verb verb_images = {
	.name = "images",
	.summary = "List pulled images",
	.fn = cmd_images,
	.help =
	"Usage: msb images [OPTIONS]\n"
	"\n"
	"List the images in $MSB_HOME: the built-in 'default' image first\n"
	"(made by the setup, needs no registry), then those pulled or loaded.\n"
	"\n"
	"Options:\n"
	"      --format FORMAT    table (default) or json\n"
	"  -q, --quiet            references only\n"
	"  -h, --help             show this help\n",
};

enum { OPT_FORMAT = 256 };

static const struct option opts[] = {
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int cmd_images(int argc, char **argv)
{
	msb_image_info *v;
	msb_error err = { 0 };
	size_t n;
	int c, json = 0, quiet = 0;

	optind = 1;
	opterr = 0;
	while ((c = cli_getopt(argc, argv, "qh", opts)) != -1) {
		switch (c) {
		case OPT_FORMAT:
			if (cli_format_json(optarg, &json) < 0)
				return cli_bad_usage(&verb_images,
					"invalid --format '%s': use table or json",
					optarg);
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			cli_usage(&verb_images, stdout);
			return 0;
		default:
			return cli_bad_option(&verb_images, argv, opts);
		}
	}
	if (optind < argc)
		return cli_bad_usage(&verb_images, "unexpected argument '%s'",
				     argv[optind]);
	if (msb_image_list(&v, &n, &err) < 0) {
		cli_err("%s", err.message);
		return 1;
	}
	if (json) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < n; i++) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "reference",
					       json_object_new_string(v[i].reference));
			json_object_object_add(o, "canonical",
					       json_object_new_string(v[i].canonical));
			json_object_object_add(o, "digest",
					       json_object_new_string(v[i].digest));
			json_object_object_add(o, "id", json_object_new_string(v[i].id));
			json_object_object_add(o, "size",
					       json_object_new_int64((int64_t)v[i].size));
			json_object_object_add(o, "layers",
					       json_object_new_int((int)v[i].layers));
			json_object_object_add(o, "pulled_at",
					       json_object_new_int64(v[i].pulled_at));
			json_object_object_add(o, "builtin",
					       json_object_new_boolean(v[i].builtin));
			json_object_array_add(a, o);
		}
		cli_print_json(a, stdout);
	} else if (quiet) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", v[i].reference);
	} else {
		int w = 9;

		for (size_t i = 0; i < n; i++)
			if ((int)strlen(v[i].reference) > w)
				w = (int)strlen(v[i].reference);
		printf("%-*s  %-12s  %6s  %9s  %s\n", w, "REFERENCE", "ID",
		       "LAYERS", "SIZE", "PULLED");
		for (size_t i = 0; i < n; i++) {
			char when[32];
			time_t t = (time_t)v[i].pulled_at;
			struct tm tm;

			localtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
			printf("%-*s  %-12.12s  %6u  %7.1fMB  %s%s\n", w,
			       v[i].reference,
			       v[i].builtin ? "built-in" :
			       !strncmp(v[i].id, "sha256:", 7) ? v[i].id + 7 :
								  v[i].id,
			       v[i].layers, (double)v[i].size / 1e6, when,
			       v[i].builtin ? " (setup)" : "");
		}
	}
	free(v);
	return 0;
}
