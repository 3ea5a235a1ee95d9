/* SPDX-License-Identifier: Apache-2.0 */
/* suggest.c - edit distance, for "did you mean" */

#include <stdint.h>

#include "suggest.h"

size_t msb_edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
	/* row[j]: the distance of a[0..i) and b[0..j), one row at a time */
	size_t row[MSB_SUGGEST_MAX + 1], diag, up, best;

	if (na >= MSB_SUGGEST_MAX || nb >= MSB_SUGGEST_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			up = row[j];
			best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[nb];
}
