/* SPDX-License-Identifier: Apache-2.0 */
/* files.h - what copy.c shares with files.c */
#ifndef MSB_LIB_FILES_H
#define MSB_LIB_FILES_H

#include <json-c/json.h>

#include "msb.h"

/* A progress report for one file: @fn(@ctx, @path, done, @total). */
struct msb_progress {
	void (*fn)(void *ctx, const char *path, uint64_t done, uint64_t total);
	void *ctx;
	const char *path;
	uint64_t total;
};

/* msb_file_read_fd() and msb_file_write_fd() with progress (@pr may be
 * NULL). */
int msb_file_read_fd_p(msb_sandbox *sb, const char *path, int fd,
		       const msb_file_opts *o, const struct msb_progress *pr,
		       uint64_t *done, msb_error *err);
int msb_file_write_fd_p(msb_sandbox *sb, const char *path, int fd,
			const msb_file_opts *o, const struct msb_progress *pr,
			uint64_t *done, msb_error *err);

/* msb_file_info_from_json() - an fs_stat result or an "entry" event. */
void msb_file_info_from_json(json_object *o, msb_file_info *fi);

#endif
