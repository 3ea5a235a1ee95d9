/* SPDX-License-Identifier: Apache-2.0 */
/* jsonx.h - reading one member of a JSON object, for every part that reads
 * JSON (ours or a registry's): a missing object, a missing member and a
 * member of the wrong type all give the caller's default; and writing a
 * fractional number as people read it */
#ifndef MSB_JSONX_H
#define MSB_JSONX_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

/* msb_jget() - member @k of @o, or NULL (also when @o is NULL). */
static inline json_object *msb_jget(json_object *o, const char *k)
{
	json_object *v = NULL;

	if (o)
		json_object_object_get_ex(o, k, &v);
	return v;
}

/* msb_jstr() - string member @k of @o, or @dflt when there is none or it
 * is not a string. */
static inline const char *msb_jstr(json_object *o, const char *k,
				   const char *dflt)
{
	json_object *v = msb_jget(o, k);

	return v && json_object_is_type(v, json_type_string) ?
		       json_object_get_string(v) :
		       dflt;
}

/* msb_jint() - integer member @k of @o, or @dflt when there is none or it
 * is not a number. */
static inline int64_t msb_jint(json_object *o, const char *k, int64_t dflt)
{
	json_object *v = msb_jget(o, k);

	return v && (json_object_is_type(v, json_type_int) ||
		     json_object_is_type(v, json_type_double)) ?
		       json_object_get_int64(v) :
		       dflt;
}

/* msb_jbool() - member @k of @o as JSON-C reads a boolean (0 when there is
 * none). */
static inline int msb_jbool(json_object *o, const char *k)
{
	json_object *v = msb_jget(o, k);

	return v && json_object_get_boolean(v);
}

/* msb_jdouble() - @v as a JSON number of at most @places decimals (1 to
 * 9), with no trailing zeros but one ("87.6", "4.936", "100.0"): json-c
 * would write the shortest string that reads back as the same double
 * ("87.599999999999994"). What reads it gets the rounded value; a value
 * JSON cannot hold (NaN, infinity) is written as 0.0. Written with
 * integers, not printf's %f, so that a program embedding libmsb with a
 * decimal comma (LC_NUMERIC) still gets JSON; a value too large for that
 * is json-c's own form (which also writes a point). */
static inline json_object *msb_jdouble(double v, int places)
{
	long long scale = 1, q, whole, frac;
	char s[48];
	double x, f;
	int p = places < 1 ? 1 : places > 9 ? 9 : places;
	size_t n;

	if (!isfinite(v))
		v = 0.0;
	for (int i = 0; i < p; i++)
		scale *= 10;
	x = v * (double)scale;
	if (!(x < 9e18 && x > -9e18))
		return json_object_new_double(v);
	/* rounded to the nearest, ties to even as printf (no libm) */
	q = (long long)x;
	f = x - (double)q;
	if (f > 0.5 || (f == 0.5 && (q & 1)))
		q++;
	else if (f < -0.5 || (f == -0.5 && (q & 1)))
		q--;
	whole = (q < 0 ? -q : q) / scale;
	frac = (q < 0 ? -q : q) % scale;
	n = (size_t)snprintf(s, sizeof(s), "%s%lld.%0*lld", q < 0 ? "-" : "",
			     whole, p, frac);
	while (n > 2 && s[n - 1] == '0' && s[n - 2] != '.')
		s[--n] = '\0';
	return json_object_new_double_s((double)q / (double)scale, s);
}

/* msb_jstrv() - a JSON array of the strings of NULL-terminated @v (NULL:
 * an empty array). */
static inline json_object *msb_jstrv(const char *const *v)
{
	json_object *a = json_object_new_array();

	for (; v && *v; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
}

/* msb_jnames() - the strings of array @names for a message, in @buf: "a",
 * "a and b", "a, b and 5 more"; the first two only, so that an error
 * keeps room to say what to do. Return: @buf. */
static inline const char *msb_jnames(json_object *names, char *buf,
				     size_t n)
{
	size_t all = json_object_array_length(names), o = 0, i;

	buf[0] = '\0';
	for (i = 0; i < all && i < 2 && o < n; i++)
		o += (size_t)snprintf(buf + o, n - o, "%s%s",
				      !i ? "" : all == 2 ? " and " : ", ",
				      json_object_get_string(
					      json_object_array_get_idx(names,
									i)));
	if (i < all && o < n)
		snprintf(buf + o, n - o, " and %zu more", all - i);
	return buf;
}

#endif
