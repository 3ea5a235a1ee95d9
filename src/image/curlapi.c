/* SPDX-License-Identifier: Apache-2.0 */
/* curlapi.c - libcurl loaded on first use (see curlapi.h for why) */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>

#include "curlapi.h"
#include "util.h"

#define CURL_SONAME "libcurl.so.4"

struct msb_curl msb_curl;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char why[300];
static int loaded;

static const struct {
	const char *name;
	size_t off;
} syms[] = {
#define SYM(f) { "curl_" #f, offsetof(struct msb_curl, f) }
	SYM(global_init),  SYM(easy_init),     SYM(easy_setopt),
	SYM(easy_perform), SYM(easy_getinfo),  SYM(easy_reset),
	SYM(easy_cleanup), SYM(easy_strerror), SYM(easy_escape),
	SYM(free),	   SYM(share_init),    SYM(share_setopt),
	SYM(share_cleanup), SYM(slist_append), SYM(slist_free_all),
#undef SYM
};

static void load(void)
{
	/* Never closed: curl's global state lives until the process ends. */
	void *h = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *e;

	if (!h) {
		e = dlerror();
		snprintf(why, sizeof(why), "%s", e ? e : CURL_SONAME);
		return;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *f = dlsym(h, syms[i].name);

		if (!f) {
			snprintf(why, sizeof(why), "%s has no %s", CURL_SONAME,
				 syms[i].name);
			return;
		}
		/* POSIX guarantees a data pointer from dlsym() converts to
		 * the function pointer it names. */
		*(void **)((char *)&msb_curl + syms[i].off) = f;
	}
	if (msb_curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(why, sizeof(why), "curl_global_init failed");
		return;
	}
	loaded = 1;
}

int msb_curl_load(msb_error *err)
{
	pthread_once(&once, load);
	if (!loaded)
		return msb_fail(err, -ENOENT,
				"cannot load libcurl for registry access (%s): "
				"install it (Debian: apt-get install libcurl4)",
				why);
	return 0;
}
