/* SPDX-License-Identifier: Apache-2.0 */
/* log.h - console log lines, step error messages, clocks and whole writes
 * for the agent */
#ifndef MSB_AGENT_LOG_H
#define MSB_AGENT_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * struct agent_err - what a failed step tells the host and the console
 * @msg: "step: strerror" text, sent as the payload of an ERROR frame
 */
struct agent_err {
	char msg[256];
};

/**
 * agent_log() - write one "msb-agent: ..." line to stderr (the VM console)
 * @fmt: printf format, without the trailing newline
 */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * agent_fail() - record why a step failed
 * @e:   where to store the message
 * @err: positive errno of the cause, or 0 if there is none
 * @fmt: printf format naming the step; ": strerror(err)" is appended
 *
 * Return: -@err, or -EINVAL when @err is 0, so callers can "return agent_fail()"
 */
int agent_fail(struct agent_err *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* clock_boot_us() - microseconds since boot, suspend included (CLOCK_BOOTTIME) */
uint64_t clock_boot_us(void);

/* clock_mono_ms() - milliseconds on CLOCK_MONOTONIC, for deadlines */
uint64_t clock_mono_ms(void);

/**
 * agent_write_all() - write all of a buffer to a blocking fd
 * @fd:  where to
 * @buf: the bytes
 * @n:   how many
 *
 * Return: 0, or -1 when a write fails or takes nothing (an interrupted
 * one is tried again)
 */
int agent_write_all(int fd, const void *buf, size_t n);

/**
 * agent_replace_file() - @path holds @n bytes of @buf, whole or not at
 * all: written beside it and renamed over it (a symlink there is
 * replaced, not followed: images ship /etc files as links into a /run
 * that is not theirs here)
 * @mode: the new file's permission bits
 *
 * Return: 0 or -errno
 */
int agent_replace_file(const char *path, const void *buf, size_t n,
		       mode_t mode);

#endif
