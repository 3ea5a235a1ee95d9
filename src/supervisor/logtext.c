/* SPDX-License-Identifier: Apache-2.0 */
/* logtext.c - guest bytes and msb's own lines, made safe for a log file
 * (what is escaped and why: logtext.h) */

#include <string.h>

#include "logtext.h"

static const char msb_tag[] = "[msb";

static size_t hex(char *o, uint8_t b)
{
	static const char d[] = "0123456789abcdef";

	o[0] = '\\';
	o[1] = 'x';
	o[2] = d[b >> 4];
	o[3] = d[b & 15];
	return 4;
}

/* held() - the bytes @e holds, escaped; nothing held afterwards. */
static size_t held(struct log_esc *e, char *out)
{
	size_t o = 0;

	if (!e->npend)
		return 0;
	/* "\r" and a lone C2 are escaped; of "[", "[m", "[ms" the '[' is,
	 * since whatever is written next could complete the tag. */
	o += hex(out, e->pend[0]);
	if (e->pend[0] == '[') {
		memcpy(out + o, e->pend + 1, e->npend - 1u);
		o += e->npend - 1u;
	}
	e->npend = 0;
	e->mid = 1;
	return o;
}

size_t log_esc_guest(struct log_esc *e, const uint8_t *p, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];

		if (e->npend) {
			uint8_t h = e->pend[0];

			if (h == '\r') {
				if (b == '\r') /* "\r\r\n": a tty's CRLF of a CRLF */
					continue;
				e->npend = 0;
				if (b == '\n') { /* CRLF: the CR goes */
					out[o++] = '\n';
					e->mid = 0;
					continue;
				}
				o += hex(out + o, '\r');
				e->mid = 1;
			} else if (h == 0xC2) {
				e->npend = 0;
				e->mid = 1;
				if (b >= 0x80 && b <= 0x9f) { /* a C1 control */
					o += hex(out + o, 0xC2);
					o += hex(out + o, b);
					continue;
				}
				out[o++] = (char)0xC2;
			} else if (b == (uint8_t)msb_tag[e->npend]) {
				e->pend[e->npend++] = b;
				if (e->npend == 4) {
					o += hex(out + o, '[');
					memcpy(out + o, "msb", 3);
					o += 3;
					e->npend = 0;
					e->mid = 1;
				}
				continue;
			} else {
				memcpy(out + o, e->pend, e->npend);
				o += e->npend;
				e->npend = 0;
				e->mid = 1;
			}
		}
		/* @b, with nothing held */
		if (b == '\n') {
			out[o++] = '\n';
			e->mid = 0;
		} else if (b == '\r' || b == 0xC2 || (b == '[' && !e->mid)) {
			e->pend[0] = b;
			e->npend = 1;
		} else if (b == '\t' || (b >= 0x20 && b != 0x7f)) {
			out[o++] = (char)b;
			e->mid = 1;
		} else {
			o += hex(out + o, b);
			e->mid = 1;
		}
	}
	return o;
}

size_t log_esc_flush(struct log_esc *e, char *out)
{
	return held(e, out);
}

size_t log_esc_text(const char *p, size_t n, char *out)
{
	const uint8_t *u = (const uint8_t *)p;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t b = u[i];

		if (b == 0xC2 && i + 1 < n && u[i + 1] >= 0x80 &&
		    u[i + 1] <= 0x9f) {
			o += hex(out + o, b);
			o += hex(out + o, u[++i]);
		} else if (b == '\t' || (b >= 0x20 && b != 0x7f)) {
			out[o++] = (char)b;
		} else {
			o += hex(out + o, b);
		}
	}
	return o;
}
