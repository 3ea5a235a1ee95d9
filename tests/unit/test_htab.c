/* SPDX-License-Identifier: Apache-2.0 */
/* test_htab.c - the backends' hash table (src/fs/htab.h): entries kept
 * through many doublings, links of one key walked apart from the other
 * keys of their chain, unlinking at a chain's head, middle and tail, the
 * table emptied for teardown */

#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "htab.h"

struct item {
	uint64_t id;
	int seen;
	struct msb_hlink link;
};

static size_t bucket_of(const struct msb_htab *t, uint64_t key)
{
	return (size_t)msb_hmix(key) & (t->nb - 1);
}

/* A key other than @key that falls in @key's bucket of @t. */
static uint64_t same_bucket(const struct msb_htab *t, uint64_t key)
{
	uint64_t k = key + 1;

	while (bucket_of(t, k) != bucket_of(t, key))
		k++;
	return k;
}

/* How many links msb_hfirst()/msb_hnext() give for @key. */
static size_t walk(const struct msb_htab *t, uint64_t key)
{
	size_t n = 0;

	for (struct msb_hlink *l = msb_hfirst(t, key); l; l = msb_hnext(l)) {
		if (l->key != key)
			return (size_t)-1;
		n++;
	}
	return n;
}

TEST(htab_grows_and_keeps_every_entry)
{
	enum { N = 5000 };
	struct item *it = calloc(N, sizeof(*it));
	struct msb_htab t;
	struct msb_hlink *l;
	size_t pos = 0, popped = 0;

	CHECK_EQ_INT(msb_hinit(&t, 2), 0);
	for (size_t i = 0; i < N; i++) {
		it[i].id = 1000 + i;
		msb_hadd(&t, &it[i].link, it[i].id);
	}
	CHECK_EQ_INT(t.n, N);
	CHECK_EQ_INT(t.nb, 8192); /* 2 doubled whenever n reached nb */
	for (size_t i = 0; i < N; i++) {
		struct item *x = msb_hentry(msb_hfirst(&t, 1000 + i),
					    struct item, link);

		CHECK(x == &it[i]);
		CHECK(x && !msb_hnext(&x->link));
	}
	CHECK(!msb_hfirst(&t, 999));
	CHECK(!msb_hfirst(&t, 1000 + N));
	CHECK(!msb_hentry(msb_hfirst(&t, 7), struct item, link));
	while ((l = msb_hpop(&t, &pos))) {
		msb_hentry(l, struct item, link)->seen++;
		popped++;
	}
	CHECK_EQ_INT(popped, N);
	CHECK_EQ_INT(t.n, 0);
	for (size_t i = 0; i < N; i++)
		CHECK_EQ_INT(it[i].seen, 1);
	CHECK(!msb_hpop(&t, &pos));
	msb_hfini(&t);
	free(it);
}

TEST(htab_same_key_walked_apart_from_its_chain)
{
	struct item a[4], b[3];
	struct msb_htab t;
	uint64_t k, k2;

	CHECK_EQ_INT(msb_hinit(&t, 64), 0);
	k = 42;
	k2 = same_bucket(&t, k);
	/* Interleaved: one chain of 7, two keys. */
	for (size_t i = 0; i < 4; i++) {
		msb_hadd(&t, &a[i].link, k);
		if (i < 3)
			msb_hadd(&t, &b[i].link, k2);
	}
	CHECK_EQ_INT(walk(&t, k), 4);
	CHECK_EQ_INT(walk(&t, k2), 3);
	CHECK_EQ_INT(walk(&t, same_bucket(&t, k2)), 0);
	for (size_t i = 0; i < 4; i++)
		a[i].seen = 0;
	for (struct msb_hlink *l = msb_hfirst(&t, k); l; l = msb_hnext(l))
		msb_hentry(l, struct item, link)->seen++;
	for (size_t i = 0; i < 4; i++)
		CHECK_EQ_INT(a[i].seen, 1);
	msb_hfini(&t);
}

TEST(htab_del_head_middle_tail)
{
	struct item x[5];
	struct msb_htab t;
	struct msb_hlink *l;
	uint64_t other;
	size_t pos = 0;

	CHECK_EQ_INT(msb_hinit(&t, 64), 0);
	for (size_t i = 0; i < 5; i++) {
		x[i].id = i;
		x[i].seen = 0;
		msb_hadd(&t, &x[i].link, 9);
	}
	/* Added at the head: the chain is 4 3 2 1 0. */
	CHECK(msb_hfirst(&t, 9) == &x[4].link);
	CHECK_EQ_INT(msb_hdel(&t, &x[4].link), 1);  /* head */
	CHECK_EQ_INT(msb_hdel(&t, &x[2].link), 1);  /* middle */
	CHECK_EQ_INT(msb_hdel(&t, &x[0].link), 1);  /* tail */
	CHECK_EQ_INT(msb_hdel(&t, &x[2].link), 0);  /* not in it any more */
	CHECK_EQ_INT(t.n, 2);
	CHECK(msb_hfirst(&t, 9) == &x[3].link);
	CHECK(msb_hnext(&x[3].link) == &x[1].link);
	CHECK(!msb_hnext(&x[1].link));
	/* Gone from the bucket, not only from the walk of its key. */
	other = same_bucket(&t, 9);
	msb_hadd(&t, &x[0].link, other);
	CHECK_EQ_INT(walk(&t, 9), 2);
	CHECK_EQ_INT(walk(&t, other), 1);
	while ((l = msb_hpop(&t, &pos)))
		msb_hentry(l, struct item, link)->seen++;
	CHECK_EQ_INT(x[0].seen + x[1].seen + x[3].seen, 3);
	CHECK_EQ_INT(x[2].seen + x[4].seen, 0);
	CHECK_EQ_INT(t.n, 0);
	msb_hfini(&t);
}

/* Adds and deletes at random over few keys, against a count per key. */
TEST(htab_random_against_counts)
{
	enum { N = 3000, KEYS = 97 };
	struct item *it = calloc(N, sizeof(*it));
	size_t count[KEYS] = { 0 }, in = 0;
	struct msb_htab t;
	struct msb_hlink *l;
	size_t pos = 0;

	CHECK_EQ_INT(msb_hinit(&t, 1), 0);
	for (int round = 0; round < 20000; round++) {
		struct item *x = &it[unit_rand() % N];

		if (x->seen) {
			CHECK_EQ_INT(msb_hdel(&t, &x->link), 1);
			count[x->id]--;
			x->seen = 0;
			in--;
		} else {
			x->id = unit_rand() % KEYS;
			msb_hadd(&t, &x->link, x->id);
			count[x->id]++;
			x->seen = 1;
			in++;
		}
	}
	CHECK_EQ_INT(t.n, in);
	for (size_t k = 0; k < KEYS; k++)
		CHECK_EQ_INT(walk(&t, k), count[k]);
	while ((l = msb_hpop(&t, &pos))) {
		struct item *x = msb_hentry(l, struct item, link);

		CHECK_EQ_INT(x->seen, 1);
		x->seen = 2;
		in--;
	}
	CHECK_EQ_INT(in, 0);
	CHECK_EQ_INT(t.n, 0);
	msb_hfini(&t);
	free(it);
}

TEST(htab_string_hash_is_fnv1a)
{
	/* FNV-1a 64 of "" is its offset basis, of "a" the published
	 * value; a seed changes it. */
	CHECK(msb_hstr(0, "") == 0xcbf29ce484222325ULL);
	CHECK(msb_hstr(0, "a") == 0xaf63dc4c8601ec8cULL);
	CHECK(msb_hstr(msb_hmix(1), "a") != msb_hstr(msb_hmix(2), "a"));
	CHECK(msb_hmix(1) != msb_hmix(2));
}
