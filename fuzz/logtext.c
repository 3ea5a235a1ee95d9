/* SPDX-License-Identifier: Apache-2.0 */
/* logtext.c - libFuzzer target: guest bytes escaped into a sandbox's log
 *
 * The input is split into guest chunks (sizes from the input itself), with
 * msb's own lines written between some of them as the supervisor does
 * (src/supervisor/log.c). Whatever the guest sends, the log must hold no
 * control byte but LF and TAB, no C1 control in UTF-8, and no line that
 * starts "[msb" other than msb's own.
 *
 * Build and run: make build/fuzz/logtext && build/fuzz/logtext -max_total_time=60
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logtext.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static const char ours[] = "[msb OURS] a line of msb's own\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct log_esc e = { 0 };
	char *out = malloc(LOG_ESC_MAX(size) * 2 + size * (sizeof(ours) + 1) + 64);
	size_t o = 0, i = 0;

	if (!out)
		return 0;
	while (i < size) {
		uint8_t ctl = data[i++];
		size_t n = ctl & 31;

		if (n > size - i)
			n = size - i;
		o += log_esc_guest(&e, data + i, n, out + o);
		i += n;
		if (ctl & 0x80) { /* one of msb's lines */
			o += log_esc_flush(&e, out + o);
			if (e.mid)
				out[o++] = '\n';
			e.mid = 0;
			memcpy(out + o, ours, sizeof(ours) - 1);
			o += sizeof(ours) - 1;
		}
	}
	o += log_esc_flush(&e, out + o);
	for (size_t k = 0; k < o; k++) {
		uint8_t b = (uint8_t)out[k];

		if ((b < 0x20 && b != '\n' && b != '\t') || b == 0x7f)
			abort();
		if (b == 0xc2 && k + 1 < o && (uint8_t)out[k + 1] >= 0x80 &&
		    (uint8_t)out[k + 1] <= 0x9f)
			abort();
		if ((k == 0 || out[k - 1] == '\n') && o - k >= 4 &&
		    !memcmp(out + k, "[msb", 4) &&
		    (o - k < sizeof(ours) - 1 ||
		     memcmp(out + k, ours, sizeof(ours) - 1)))
			abort();
	}
	free(out);
	return 0;
}
