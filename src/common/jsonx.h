/* SPDX-License-Identifier: Apache-2.0 */
/* jsonx.h - reading one member of a JSON object, for every part that reads
 * JSON (ours or a registry's): a missing object, a missing member and a
 * member of the wrong type all give the caller's default */
#ifndef MSB_JSONX_H
#define MSB_JSONX_H

#include <stdint.h>

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

#endif
