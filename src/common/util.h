/* SPDX-License-Identifier: Apache-2.0 */
/* util.h - errors, cleanup helpers, strings, files and time shared by the
 * library, the supervisor and the CLI */
#ifndef MSB_UTIL_H
#define MSB_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "msb.h"

/* msb_fail() - fill @err with a formatted message; Return: @code. */
int msb_fail(msb_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* msb_fail_errno() - like msb_fail(), appending ": strerror(-code)". */
int msb_fail_errno(msb_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* msb_fail_over() - like msb_fail(), for an error that replaces the one
 * already in @err: @fmt's arguments may include @err->message itself
 * (formatted aside first), to keep what it said. */
int msb_fail_over(msb_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void msb_freep(void *p)
{
	free(*(void **)p);
}

static inline void msb_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define cleanup_free __attribute__((cleanup(msb_freep)))
#define cleanup_close __attribute__((cleanup(msb_closep)))

/* Monotonic and wall clocks. */
uint64_t msb_now_ms(void);
uint64_t msb_now_us(void);
int64_t msb_wall_s(void);

/* Files. */
int msb_mkdir_p(const char *path, int mode);
int msb_rm_rf(const char *path);
int msb_write_file(const char *path, const void *buf, size_t n, int mode);
/* msb_read_file() - whole file, NUL-terminated; free() it. NULL on error. */
char *msb_read_file(const char *path, size_t *len);
/* msb_tree_bytes() - the bytes the files under @dir take on disk
 * (st_blocks, symlinks not followed, like du). */
uint64_t msb_tree_bytes(const char *dir);
/* Write all of @buf to @fd, retrying short writes and EINTR. */
int msb_write_all(int fd, const void *buf, size_t n);
/* msb_send_all() - the same on a socket, with MSG_NOSIGNAL: a closed peer
 * is -EPIPE, never SIGPIPE (the library leaves signals to its host). */
int msb_send_all(int fd, const void *buf, size_t n);
int msb_set_nonblock(int fd, int on);
/* Is there an executable called @name on PATH (or at that path)? */
int msb_have_exe(const char *name, char *found, size_t n);

/* Unix sockets at paths longer than sun_path allows are reached through
 * /proc/self/fd of their directory. */
int msb_unix_listen(const char *path, int backlog);
int msb_unix_connect(const char *path);

/* msb_sockaddr_format() - an IPv4 or IPv6 socket address as "a.b.c.d:port"
 * or "[x::y]:port" in @buf, for a log line; "?" for another family. */
struct sockaddr_storage;
void msb_sockaddr_format(const struct sockaddr_storage *sa, char *buf,
			 size_t n);

/* Base64 (RFC 4648, with padding). Return the output length. */
size_t msb_b64_encode(const uint8_t *in, size_t n, char *out);
size_t msb_b64_encoded_len(size_t n);
/* Return decoded length, or -1 on invalid input. */
long msb_b64_decode(const char *in, size_t n, uint8_t *out);

/* Errno values by name ("ENOSPC"), as the API protocol sends them
 * (src/lib/errors.c): msb_errno_name(ENOSPC) is "ENOSPC", NULL for a value
 * not in its table; msb_errno_parse("ENOSPC") is ENOSPC, 0 if unknown. */
const char *msb_errno_name(int e);
int msb_errno_parse(const char *name);

/* msb_strtod() - strtod() in the "C" locale, whatever the process's
 * (a program that embeds libmsb may have set LC_NUMERIC to one whose
 * decimal point is a comma): "1.5" is 1.5 everywhere. */
double msb_strtod(const char *s, char **end);

/* msb_parse_duration() - "30", "1.5s", "500ms", "2m", "1h30m", "1d" into
 * milliseconds (a bare number is seconds, as timeout(1) reads it). */
int msb_parse_duration(const char *s, uint64_t *ms);

/* msb_parse_mib() - a size ("512M", "1G", "1.5GiB", "2048" in MiB) into
 * MiB, from @min to @max; the message calls it @what ("memory size"). */
int msb_parse_mib(const char *s, const char *what, uint64_t min,
		  uint64_t max, uint64_t *mib, msb_error *err);

/* msb_fmt_size_mib() - "64M", "10G", "1024G" (whole units, as sizes
 * are written in flags and files). */
void msb_fmt_size_mib(uint64_t mib, char *buf, size_t n);

/* Formats "512Mi" / "2Gi". */
void msb_fmt_mib(uint64_t mib, char *buf, size_t n);

/* msb_home_ready() - create msb_home() (mode 0700) if need be; the
 * fallback under /tmp (no $MSB_HOME, no $HOME, no home directory) must
 * then be a directory of ours that no one else can enter, or it is
 * refused with a message. Call it before writing or reading state. */
int msb_home_ready(msb_error *err);
/* What an error about a state directory this user may not write says to
 * do, in parentheses after the error. */
#define MSB_HOME_HINT "set MSB_HOME to a directory you own"
/* msb_fail_state_dir() - "cannot create @path" for a directory of the
 * state that mkdir refused with @r (-errno); where the user may not write
 * there (EACCES, EROFS), with MSB_HOME_HINT after it. Return: @r. */
int msb_fail_state_dir(msb_error *err, int r, const char *path);

/* Sandbox state directory helpers. */
int msb_sandbox_dir(const char *name, char *buf, size_t n);
int msb_api_sock_path(const char *name, char *buf, size_t n);
/* msb_ready_path() - the file a supervisor keeps while its guest is ready
 * (from "running" until it begins to stop or ends): with the supervisor's
 * lock held, it says the sandbox runs without reading the database. */
int msb_ready_path(const char *name, char *buf, size_t n);

/* Where the installed parts live: the prefix whose lib/ holds libmsb.so
 * ($MSB_PREFIX overrides). Paths under it: bin/, libexec/msb/, share/msb/. */
const char *msb_prefix(void);
int msb_share_path(const char *rel, char *buf, size_t n);

#endif
