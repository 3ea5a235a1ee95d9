/* SPDX-License-Identifier: Apache-2.0 */
/* virtq_fuzz.c - libFuzzer target: hostile rings for the virtqueue walker
 *
 * The input is a queue's setup and then the guest's memory: two regions,
 * allocated apart so that ASan catches any iovec that runs past one, with
 * the descriptor table, available and used rings at fixed places in the
 * first. Every chain vq_pop() returns is read and written end to end, as
 * the FUSE dispatcher would; a bad iovec is a crash here.
 *
 *   0     u8   queue size, log2 (mod 9: 1..256)
 *   1     u8   bit 0: INDIRECT_DESC, bit 1: EVENT_IDX
 *   2     u16  last_avail
 *   4...  guest memory, region 0 (gpa 0x0, 16 KiB) then region 1
 *         (gpa 0x10000, 4 KiB, right after a hole)
 *
 * Build and run: make build/fuzz/virtq && build/fuzz/virtq -max_total_time=60
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtqueue.h"

#define R0 0x4000
#define R1 0x1000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static struct vq_chain c;
	struct vq_mem m = { 0 };
	struct vq q = { 0 };
	uint8_t *r0, *r1;
	size_t rest;
	int r;

	if (n < 4)
		return 0;
	r0 = calloc(1, R0);
	r1 = calloc(1, R1);
	rest = n - 4;
	memcpy(r0, data + 4, rest < R0 ? rest : R0);
	if (rest > R0)
		memcpy(r1, data + 4 + R0, rest - R0 < R1 ? rest - R0 : R1);
	/* uva = gpa + 1 GiB, as a VMM's mapping would be */
	m.r[0] = (struct vq_region){ 0x0, R0, 0x40000000, r0 };
	m.r[1] = (struct vq_region){ 0x10000, R1, 0x40010000, r1 };
	m.n = 2;
	q.num = 1u << (data[0] % 9);
	q.features = (data[1] & 1 ? 1ull << VIRTIO_RING_F_INDIRECT_DESC : 0) |
		     (data[1] & 2 ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0);
	q.last_avail = (uint16_t)(data[2] | data[3] << 8);
	q.desc_uva = 0x40000000;
	q.avail_uva = 0x40001000;
	q.used_uva = 0x40002000;
	if (vq_map(&q, &m))
		__builtin_trap();
	for (unsigned int k = 0; k <= q.num; k++) {
		uint16_t old = q.used_idx;
		uint64_t sum = 0;

		r = vq_pop(&q, &m, &c);
		if (r <= 0)
			break;
		if (c.nin + c.nout > VQ_MAX_SEGS || c.in_bytes > VQ_MAX_BYTES ||
		    c.out_bytes > VQ_MAX_BYTES || c.head >= q.num)
			__builtin_trap();
		for (int i = 0; i < c.nin; i++)
			for (size_t j = 0; j < c.in[i].iov_len; j++)
				sum += ((volatile uint8_t *)c.in[i].iov_base)[j];
		for (int i = 0; i < c.nout; i++)
			memset(c.out[i].iov_base, (int)sum, c.out[i].iov_len);
		vq_push(&q, c.head, (uint32_t)c.out_bytes);
		vq_need_notify(&q, old);
		if (q.broken)
			__builtin_trap();
	}
	free(r0);
	free(r1);
	return 0;
}
