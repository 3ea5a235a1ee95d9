/* SPDX-License-Identifier: Apache-2.0 */
/* htab.h - the chained hash table of the filesystem backends' nodes,
 * handles and names
 *
 * Intrusive: an entry embeds one struct msb_hlink per table it is in, and
 * the table allocates nothing but its bucket array. Every link carries a
 * 64-bit key. Where that key is unique (a node id, a file handle) it is
 * the whole lookup; where it is a hash of what names the entry ((st_dev,
 * st_ino), (directory, name)), the caller compares the entry behind each
 * link msb_hfirst() and msb_hnext() give, which are only those of that
 * very key.
 *
 * The buckets double when the table holds as many entries as buckets. If
 * the larger array cannot be had the entry goes in all the same and the
 * chains grow longer: an add never fails, so a backend's limits (nodes,
 * handles, bytes) are the only reasons it refuses an entry.
 *
 * Header-only, for the backends, the unit tests and the fuzz targets alike.
 */
#ifndef MSB_HTAB_H
#define MSB_HTAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct msb_hlink {
	struct msb_hlink *next;
	uint64_t key;
};

/**
 * struct msb_htab - a table
 * @b:  the buckets, a power of two of them
 * @nb: how many
 * @n:  entries in the table
 */
struct msb_htab {
	struct msb_hlink **b;
	size_t nb, n;
};

/* msb_hentry() - the entry of type @type whose member @member is link @l,
 * or NULL for a NULL @l. */
#define msb_hentry(l, type, member) \
	((type *)msb_hentry_((l), offsetof(type, member)))

static inline void *msb_hentry_(struct msb_hlink *l, size_t off)
{
	return l ? (void *)((char *)l - off) : NULL;
}

/* msb_hmix() - spread the bits of @x over all 64 (the first steps of
 * MurmurHash3's fmix64): ids are consecutive, bucket masks take low bits. */
static inline uint64_t msb_hmix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* msb_hstr() - FNV-1a of the string @s, its basis first xored with @seed
 * (0, or the hash of what else names the entry, such as its directory). */
static inline uint64_t msb_hstr(uint64_t seed, const char *s)
{
	uint64_t h = seed ^ 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h;
}

/**
 * msb_hinit() - an empty table
 * @t:  the table
 * @nb: buckets to start with, a power of two
 *
 * Return: 0, or -1 out of memory (then @t is an empty table without
 * buckets, which msb_hfini() and msb_hpop() still take).
 */
static inline int msb_hinit(struct msb_htab *t, size_t nb)
{
	t->n = 0;
	t->b = calloc(nb, sizeof(*t->b));
	t->nb = t->b ? nb : 0;
	return t->b ? 0 : -1;
}

/* msb_hfini() - free the buckets; the entries are the caller's (take them
 * out with msb_hpop() first where they are to be freed). */
static inline void msb_hfini(struct msb_htab *t)
{
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
}

static inline size_t msb_hbucket_(const struct msb_htab *t, uint64_t key)
{
	return (size_t)msb_hmix(key) & (t->nb - 1);
}

/* Twice the buckets, or (out of memory) as they are. */
static inline void msb_hgrow_(struct msb_htab *t)
{
	size_t nb = t->nb * 2;
	struct msb_hlink **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < t->nb; i++)
		for (struct msb_hlink *l = t->b[i], *next; l; l = next) {
			size_t j = (size_t)msb_hmix(l->key) & (nb - 1);

			next = l->next;
			l->next = b[j];
			b[j] = l;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

/**
 * msb_hadd() - put link @l in @t under @key
 * @t:   an initialised table (with buckets)
 * @l:   not in @t already
 * @key: the id, or the hash of what names the entry
 */
static inline void msb_hadd(struct msb_htab *t, struct msb_hlink *l,
			    uint64_t key)
{
	size_t i;

	if (t->n >= t->nb)
		msb_hgrow_(t);
	i = msb_hbucket_(t, key);
	l->key = key;
	l->next = t->b[i];
	t->b[i] = l;
	t->n++;
}

/* msb_hdel() - take link @l out of @t. Return: 1, or 0 if it was not in
 * it (then nothing changes). */
static inline int msb_hdel(struct msb_htab *t, struct msb_hlink *l)
{
	struct msb_hlink **pp;

	if (!t->nb)
		return 0;
	pp = &t->b[msb_hbucket_(t, l->key)];
	while (*pp && *pp != l)
		pp = &(*pp)->next;
	if (!*pp)
		return 0;
	*pp = l->next;
	t->n--;
	return 1;
}

/* msb_hnext_key_() - @l or the first link after it in its chain with @key */
static inline struct msb_hlink *msb_hnext_key_(struct msb_hlink *l,
					       uint64_t key)
{
	while (l && l->key != key)
		l = l->next;
	return l;
}

/* msb_hfirst() - the first link in @t with @key, or NULL */
static inline struct msb_hlink *msb_hfirst(const struct msb_htab *t,
					   uint64_t key)
{
	if (!t->nb)
		return NULL;
	return msb_hnext_key_(t->b[msb_hbucket_(t, key)], key);
}

/* msb_hnext() - the next link after @l with @l's key, or NULL */
static inline struct msb_hlink *msb_hnext(struct msb_hlink *l)
{
	return msb_hnext_key_(l->next, l->key);
}

/**
 * msb_hpop() - take any one link out of @t, to empty it
 * @t:   the table
 * @pos: a cursor, 0 at first, kept between the calls of one emptying
 *
 * The caller may take the entry out of its other tables and free it
 * before the next call:
 *	size_t pos = 0;
 *	while ((l = msb_hpop(t, &pos)))
 *		free(msb_hentry(l, struct x, link));
 * Return: the link, or NULL once @t is empty.
 */
static inline struct msb_hlink *msb_hpop(struct msb_htab *t, size_t *pos)
{
	for (; *pos < t->nb; ++*pos) {
		struct msb_hlink *l = t->b[*pos];

		if (l) {
			t->b[*pos] = l->next;
			t->n--;
			return l;
		}
	}
	return NULL;
}

#endif
