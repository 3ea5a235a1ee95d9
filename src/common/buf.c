/* SPDX-License-Identifier: Apache-2.0 */
/* buf.c - a byte queue */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

int msb_buf_reserve(struct msb_buf *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->cap - b->off - b->len >= n)
		return 0;
	/* Slide live bytes to the front before growing. */
	if (b->off && b->cap - b->len >= n) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
		return 0;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	p = malloc(cap);
	if (!p)
		return -ENOMEM;
	if (b->len)
		memcpy(p, b->p + b->off, b->len);
	free(b->p);
	b->p = p;
	b->off = 0;
	b->cap = cap;
	return 0;
}

int msb_buf_append(struct msb_buf *b, const void *data, size_t n)
{
	if (!n)
		return 0;
	if (msb_buf_reserve(b, n) < 0)
		return -ENOMEM;
	memcpy(b->p + b->off + b->len, data, n);
	b->len += n;
	return 0;
}

void msb_buf_consume(struct msb_buf *b, size_t n)
{
	if (n >= b->len) {
		b->off = b->len = 0;
		/* Give back big buffers once drained. */
		if (b->cap > (1 << 20)) {
			free(b->p);
			b->p = NULL;
			b->cap = 0;
		}
		return;
	}
	b->off += n;
	b->len -= n;
}

void msb_buf_free(struct msb_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->off = b->len = b->cap = 0;
}

long msb_buf_write_to(struct msb_buf *b, int fd)
{
	long total = 0;

	while (b->len) {
		ssize_t w = write(fd, msb_buf_data(b), b->len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		msb_buf_consume(b, (size_t)w);
		total += w;
	}
	return total;
}
