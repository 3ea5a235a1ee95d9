/* SPDX-License-Identifier: Apache-2.0 */
/* test_buf.c - the byte queue: growth, sliding, draining to descriptors */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "harness.h"

TEST(buf_empty)
{
	struct msb_buf b = { 0 };

	CHECK_EQ_INT(msb_buf_append(&b, NULL, 0), 0);
	CHECK(b.p == NULL);
	msb_buf_consume(&b, 0);
	msb_buf_consume(&b, 100);
	CHECK_EQ_INT(b.len, 0);
	msb_buf_free(&b);
	msb_buf_free(&b);
	CHECK(b.p == NULL && !b.cap && !b.len && !b.off);
}

TEST(buf_append_consume)
{
	struct msb_buf b = { 0 };

	CHECK_EQ_INT(msb_buf_append(&b, "hello ", 6), 0);
	CHECK_EQ_INT(msb_buf_append(&b, "world", 5), 0);
	CHECK_EQ_INT(b.len, 11);
	CHECK_MEM(msb_buf_data(&b), "hello world", 11);
	msb_buf_consume(&b, 6);
	CHECK_EQ_INT(b.len, 5);
	CHECK_MEM(msb_buf_data(&b), "world", 5);
	msb_buf_consume(&b, 5);
	CHECK_EQ_INT(b.len, 0);
	CHECK_EQ_INT(b.off, 0);
	msb_buf_free(&b);
}

TEST(buf_reserve_gives_room)
{
	struct msb_buf b = { 0 };

	CHECK_EQ_INT(msb_buf_reserve(&b, 1), 0);
	CHECK(b.cap >= 1 && b.p);
	CHECK_EQ_INT(msb_buf_reserve(&b, 10000), 0);
	CHECK(b.cap - b.off - b.len >= 10000);
	/* The reserved room is writable: ASan checks. */
	memset(msb_buf_data(&b) + b.len, 0xab, 10000);
	b.len += 10000;
	CHECK_EQ_INT(msb_buf_reserve(&b, 65536), 0);
	CHECK(b.cap - b.off - b.len >= 65536);
	CHECK_EQ_INT(msb_buf_data(&b)[9999], 0xab);
	msb_buf_free(&b);
}

TEST(buf_reserve_huge_fails_cleanly)
{
	struct msb_buf b = { 0 };

	CHECK_EQ_INT(msb_buf_append(&b, "abc", 3), 0);
	CHECK_EQ_INT(msb_buf_reserve(&b, SIZE_MAX), -ENOMEM);
	CHECK_EQ_INT(msb_buf_reserve(&b, SIZE_MAX / 2 + 2), -ENOMEM);
	/* Still usable, content intact. */
	CHECK_EQ_INT(b.len, 3);
	CHECK_MEM(msb_buf_data(&b), "abc", 3);
	CHECK_EQ_INT(msb_buf_append(&b, "d", 1), 0);
	CHECK_MEM(msb_buf_data(&b), "abcd", 4);
	msb_buf_free(&b);
}

TEST(buf_slides_before_growing)
{
	struct msb_buf b = { 0 };
	uint8_t chunk[1000];
	size_t cap;

	for (int i = 0; i < 1000; i++)
		chunk[i] = (uint8_t)i;
	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT(msb_buf_append(&b, chunk, 1000), 0);
	cap = b.cap;
	CHECK_EQ_INT(cap, 4096);
	/* Free the head; an append that fits only after sliding must not
	 * grow the buffer. */
	msb_buf_consume(&b, 3500);
	CHECK_EQ_INT(b.off, 3500);
	CHECK_EQ_INT(msb_buf_append(&b, chunk, 1000), 0);
	CHECK_EQ_INT(b.cap, cap);
	CHECK_EQ_INT(b.off, 0);
	CHECK_EQ_INT(b.len, 1500);
	CHECK_MEM(msb_buf_data(&b), chunk + 500, 500);
	CHECK_MEM(msb_buf_data(&b) + 500, chunk, 1000);
	msb_buf_free(&b);
}

TEST(buf_grows_with_offset)
{
	struct msb_buf b = { 0 };
	uint8_t chunk[3000];

	for (int i = 0; i < 3000; i++)
		chunk[i] = (uint8_t)(i * 7);
	CHECK_EQ_INT(msb_buf_append(&b, chunk, 3000), 0);
	msb_buf_consume(&b, 1000);
	/* 2000 live + 3000 new do not fit in 4096 even after sliding. */
	CHECK_EQ_INT(msb_buf_append(&b, chunk, 3000), 0);
	CHECK(b.cap >= 5000);
	CHECK_EQ_INT(b.len, 5000);
	CHECK_MEM(msb_buf_data(&b), chunk + 1000, 2000);
	CHECK_MEM(msb_buf_data(&b) + 2000, chunk, 3000);
	msb_buf_free(&b);
}

/* Random operations against a plain array as the model. */
TEST(buf_model)
{
	struct msb_buf b = { 0 };
	size_t mcap = 8 << 20, mlen = 0, mhead = 0;
	uint8_t *model = malloc(mcap);
	uint8_t *src = malloc(200000);

	if (!model || !src)
		goto out;
	for (size_t i = 0; i < 200000; i++)
		src[i] = (uint8_t)unit_rand();
	for (int op = 0; op < 5000; op++) {
		uint64_t r = unit_rand();

		if (r % 3) {
			size_t n = (size_t)(r >> 8) % (r % 7 ? 3000 : 200000);

			if (mhead + mlen + n > mcap) {
				memmove(model, model + mhead, mlen);
				mhead = 0;
			}
			if (mlen + n > mcap)
				continue;
			memcpy(model + mhead + mlen, src, n);
			mlen += n;
			CHECK_EQ_INT(msb_buf_append(&b, src, n), 0);
		} else {
			size_t n = (size_t)(r >> 8) % (mlen + 2);

			if (n > mlen)
				n = mlen;
			mhead += n;
			mlen -= n;
			if (!mlen)
				mhead = 0;
			msb_buf_consume(&b, n);
		}
		CHECK_EQ_INT(b.len, mlen);
		CHECK(b.off + b.len <= b.cap);
		if (b.len == mlen && mlen &&
		    memcmp(msb_buf_data(&b), model + mhead, mlen)) {
			unit_fail(__FILE__, __LINE__, "content differs at op %d",
				  op);
			break;
		}
	}
out:
	msb_buf_free(&b);
	free(src);
	free(model);
}

TEST(buf_big_buffer_released_when_drained)
{
	struct msb_buf b = { 0 };
	uint8_t *big = calloc(1, 3 << 20);

	if (!big)
		return;
	CHECK_EQ_INT(msb_buf_append(&b, big, 3 << 20), 0);
	CHECK(b.cap > (1 << 20));
	msb_buf_consume(&b, 1 << 20);
	CHECK(b.p != NULL);
	msb_buf_consume(&b, 2 << 20);
	CHECK(b.p == NULL);
	CHECK_EQ_INT(b.cap, 0);
	/* And usable afterwards. */
	CHECK_EQ_INT(msb_buf_append(&b, "x", 1), 0);
	CHECK_EQ_INT(b.len, 1);
	msb_buf_free(&b);
	free(big);
}

TEST(buf_write_to_pipe)
{
	struct msb_buf b = { 0 };
	uint8_t *src = malloc(1 << 20), *back = malloc(1 << 20);
	size_t got = 0, total = 0;
	int fds[2];
	long w;

	if (!src || !back || pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(src);
		free(back);
		return;
	}
	for (size_t i = 0; i < (1 << 20); i++)
		src[i] = (uint8_t)(i * 13);
	CHECK_EQ_INT(msb_buf_append(&b, src, 1 << 20), 0);
	/* A full pipe is not an error: it takes what fits. */
	w = msb_buf_write_to(&b, fds[1]);
	CHECK(w > 0 && w < (1 << 20));
	CHECK_EQ_INT(b.len, (1 << 20) - w);
	CHECK_EQ_INT(msb_buf_write_to(&b, fds[1]), 0);
	total = (size_t)w;
	while (got < (1 << 20)) {
		ssize_t r = read(fds[0], back + got, (1 << 20) - got);

		if (r <= 0)
			break;
		got += (size_t)r;
		w = msb_buf_write_to(&b, fds[1]);
		CHECK(w >= 0);
		if (w > 0)
			total += (size_t)w;
	}
	CHECK_EQ_INT(got, 1 << 20);
	CHECK_EQ_INT(total, 1 << 20);
	CHECK_EQ_INT(b.len, 0);
	CHECK_MEM(back, src, 1 << 20);
	/* Nothing to write. */
	CHECK_EQ_INT(msb_buf_write_to(&b, fds[1]), 0);
	/* Reader gone: the error, not a signal (SIGPIPE ignored here). */
	{
		void (*old)(int) = signal(SIGPIPE, SIG_IGN);

		close(fds[0]);
		CHECK_EQ_INT(msb_buf_append(&b, "x", 1), 0);
		CHECK_EQ_INT(msb_buf_write_to(&b, fds[1]), -EPIPE);
		CHECK_EQ_INT(b.len, 1);
		signal(SIGPIPE, old);
	}
	close(fds[1]);
	CHECK_EQ_INT(msb_buf_write_to(&b, -1), -EBADF);
	msb_buf_free(&b);
	free(src);
	free(back);
}
