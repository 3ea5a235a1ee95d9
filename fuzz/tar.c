/* SPDX-License-Identifier: Apache-2.0 */
/* tar.c - libFuzzer target: the tar headers of an archive given to msb load
 *
 * The first 512 bytes are a header (msb_tar_header), the rest a pax
 * extended header's data applied to that entry (msb_tar_pax), as load.c
 * uses them. Names and sizes must stay in bounds whatever comes.
 *
 * Build and run: make build/fuzz/tar && build/fuzz/tar -max_total_time=60
 */

#include <stdint.h>
#include <string.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	unsigned char h[512] = { 0 };
	struct msb_tar_entry e;
	msb_error err;

	memcpy(h, data, n < sizeof(h) ? n : sizeof(h));
	if (msb_tar_header(h, &e, &err) == 1) {
		if (strnlen(e.name, sizeof(e.name)) >= sizeof(e.name))
			__builtin_trap();
		if (n > sizeof(h))
			msb_tar_pax((const char *)data + sizeof(h),
				    n - sizeof(h), &e, &err);
		if (strnlen(e.name, sizeof(e.name)) >= sizeof(e.name) ||
		    strnlen(e.link, sizeof(e.link)) >= sizeof(e.link))
			__builtin_trap();
	}
	return 0;
}
