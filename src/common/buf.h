/* SPDX-License-Identifier: Apache-2.0 */
/* buf.h - a byte queue: append at the tail, consume from the head */
#ifndef MSB_BUF_H
#define MSB_BUF_H

#include <stddef.h>
#include <stdint.h>

struct msb_buf {
	uint8_t *p;
	size_t off, len, cap; /* live bytes are p[off .. off+len) */
};

static inline uint8_t *msb_buf_data(const struct msb_buf *b)
{
	return b->p + b->off;
}

/* msb_buf_reserve() - room for @n more bytes at the tail; -ENOMEM. */
int msb_buf_reserve(struct msb_buf *b, size_t n);
int msb_buf_append(struct msb_buf *b, const void *data, size_t n);
void msb_buf_consume(struct msb_buf *b, size_t n);
void msb_buf_free(struct msb_buf *b);
/* msb_buf_write_to() - write as much as @fd takes; Return: bytes written or
 * a negative errno (-EAGAIN is not an error: 0 is returned). */
long msb_buf_write_to(struct msb_buf *b, int fd);

#endif
