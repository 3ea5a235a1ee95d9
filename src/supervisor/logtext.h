/* SPDX-License-Identifier: Apache-2.0 */
/* logtext.h - guest bytes and msb's own lines, made safe for a log file
 *
 * A sandbox's console.log mixes what the guest wrote (its serial console,
 * a detached command's output) with msb's own lines, "[msb HH:MM:SS.mmm]
 * ...". Whoever reads it (msb logs, a terminal, a person) must be able to
 * trust the latter, so guest bytes are escaped as \xNN where they could
 * pass for one or drive a terminal:
 *   - control bytes other than LF and TAB, and DEL; CRs are dropped before
 *     an LF (a serial console's CRLF) and escaped anywhere else, since a
 *     CR returns a terminal's cursor to the start of the line;
 *   - C1 controls in their UTF-8 form (C2 80..C2 9F: U+009B is CSI);
 *   - the '[' of "[msb" at the start of a line.
 * Everything else, UTF-8 included, is passed as it is. Bytes that may start
 * such a sequence are held (at most 4) until the next ones decide.
 */
#ifndef MSB_SUP_LOGTEXT_H
#define MSB_SUP_LOGTEXT_H

#include <stddef.h>
#include <stdint.h>

/* The most log_esc_guest() writes per input byte, plus its flush. */
#define LOG_ESC_MAX(n) ((n) * 8 + 32)

struct log_esc {
	uint8_t pend[4]; /* held: "[", "[m", "[ms", "\r" or 0xC2 */
	uint8_t npend;
	uint8_t mid;     /* the file is not at the start of a line */
};

/**
 * log_esc_guest() - escape guest bytes for the log
 * @e:   the file's state (zeroed: at the start of a line)
 * @p:   guest bytes
 * @n:   how many
 * @out: room for LOG_ESC_MAX(@n) bytes
 *
 * Return: bytes written to @out (some of @p may be held in @e).
 */
size_t log_esc_guest(struct log_esc *e, const uint8_t *p, size_t n, char *out);

/**
 * log_esc_flush() - what @e holds, escaped as if another writer came next
 * @out: room for 32 bytes
 *
 * Return: bytes written.
 */
size_t log_esc_flush(struct log_esc *e, char *out);

/**
 * log_esc_text() - one of msb's own messages, which may quote guest text
 * (a DNS name, an agent's message, an HTTP line): every control byte,
 * LF included, and every C1 control escaped, so it stays one line
 * @out: room for LOG_ESC_MAX(@n) bytes
 *
 * Return: bytes written (no NUL added).
 */
size_t log_esc_text(const char *p, size_t n, char *out);

#endif
