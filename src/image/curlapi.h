/* SPDX-License-Identifier: Apache-2.0 */
/* curlapi.h - libcurl, loaded the first time a registry is opened
 *
 * Only pulls and pushes talk to registries, yet libcurl and the 30 or so
 * libraries it needs (TLS, LDAP, Kerberos, SSH, IDN, HTTP/2...) cost every
 * process that links them several milliseconds of dynamic linking at
 * start: more than the rest of an `msb exec`'s own work. So libmsb does not
 * link libcurl; the registry client loads it with dlopen() when it first
 * needs it and calls it through this table (the same functions, the same
 * ABI, soname libcurl.so.4).
 */

#ifndef MSB_CURLAPI_H
#define MSB_CURLAPI_H

#include <curl/curl.h>

#include "msb.h"

/**
 * struct msb_curl - the libcurl functions the registry client calls
 *
 * Each member has the prototype of the libcurl function of the same name
 * without its "curl_" prefix.
 */
struct msb_curl {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	void (*easy_reset)(CURL *c);
	void (*easy_cleanup)(CURL *c);
	const char *(*easy_strerror)(CURLcode code);
	char *(*easy_escape)(CURL *c, const char *s, int len);
	void (*free)(void *p);
	CURLSH *(*share_init)(void);
	CURLSHcode (*share_setopt)(CURLSH *sh, CURLSHoption opt, ...);
	CURLSHcode (*share_cleanup)(CURLSH *sh);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};

/* The table, filled by the first successful msb_curl_load(). */
extern struct msb_curl msb_curl;

/**
 * msb_curl_load() - load libcurl once (thread-safe) and initialise it
 * @err: why libcurl could not be loaded (and which package provides it)
 *
 * Return: 0 (msb_curl is filled in and stays so), or -ENOENT.
 */
int msb_curl_load(msb_error *err);

#endif
