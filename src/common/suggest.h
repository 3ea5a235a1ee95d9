/* SPDX-License-Identifier: Apache-2.0 */
/* suggest.h - how far a mistyped word is from the ones expected, for the
 * "did you mean" of the CLI's options and a Sandboxfile's keys */
#ifndef MSB_SUGGEST_H
#define MSB_SUGGEST_H

#include <stddef.h>

/* Words this long or longer are not compared. */
#define MSB_SUGGEST_MAX 64

/* msb_edit_distance() - Levenshtein's edit distance of @a (@na bytes) and
 * @b (@nb bytes): the fewest single-byte insertions, deletions and
 * substitutions that turn one into the other.
 * Return: the distance, or SIZE_MAX if either is MSB_SUGGEST_MAX bytes or
 * longer. */
size_t msb_edit_distance(const char *a, size_t na, const char *b, size_t nb);

#endif
