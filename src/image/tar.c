/* SPDX-License-Identifier: Apache-2.0 */
/* tar.c - tar headers for image archives (POSIX.1-2001 ustar and pax, GNU
 * long names), read and written
 *
 * Only the archive around an image (an OCI layout, a `docker save` file) is
 * read here, never a layer: its entries are copied into the store by name
 * and digest, not unpacked, so a name is only a key. The header comes from
 * a file the user was handed and is parsed as hostile: fixed fields,
 * bounded numbers, a checked checksum.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "image.h"
#include "util.h"

/* ustar field offsets (POSIX.1-2001 pax, "ustar Interchange Format") */
#define T_NAME 0
#define T_MODE 100
#define T_SIZE 124
#define T_MTIME 136
#define T_CHKSUM 148
#define T_TYPE 156
#define T_LINK 157
#define T_MAGIC 257
#define T_PREFIX 345

static int octal(const unsigned char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	/* GNU base-256: the high bit of the first byte, then big-endian */
	if (p[0] & 0x80) {
		v = p[0] & 0x3f;
		for (i = 1; i < n; i++) {
			if (v >> 55)
				return -1;
			v = v << 8 | p[i];
		}
		*out = v;
		return 0;
	}
	while (i < n && (p[i] == ' ' || p[i] == '\0'))
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = v << 3 | (uint64_t)(p[i] - '0');
	}
	for (; i < n; i++)
		if (p[i] != ' ' && p[i] != '\0')
			return -1;
	*out = v;
	return 0;
}

static void field(char *dst, size_t dn, const unsigned char *src, size_t n)
{
	size_t l = strnlen((const char *)src, n);

	if (l >= dn)
		l = dn - 1;
	memcpy(dst, src, l);
	dst[l] = '\0';
}

int msb_tar_header(const unsigned char h[512], struct msb_tar_entry *e,
		   msb_error *err)
{
	uint64_t sum = 0, want;
	char prefix[156];
	size_t i;

	for (i = 0; i < 512 && !h[i]; i++)
		;
	if (i == 512)
		return 0; /* an end-of-archive block */
	for (i = 0; i < 512; i++)
		sum += (i >= T_CHKSUM && i < T_CHKSUM + 8) ? ' ' : h[i];
	if (octal(h + T_CHKSUM, 8, &want) < 0 || want != sum)
		return msb_fail(err, -EBADMSG,
				"not a tar archive (or a damaged one): a header "
				"checksum is wrong");
	if (octal(h + T_SIZE, 12, &e->size) < 0)
		return msb_fail(err, -EBADMSG, "a tar header has a bad size");
	e->type = h[T_TYPE] ? (char)h[T_TYPE] : '0';
	field(e->name, sizeof(e->name), h + T_NAME, 100);
	field(e->link, sizeof(e->link), h + T_LINK, 100);
	if (!memcmp(h + T_MAGIC, "ustar", 5) && h[T_PREFIX]) {
		char name[101];

		field(prefix, sizeof(prefix), h + T_PREFIX, 155);
		snprintf(name, sizeof(name), "%s", e->name);
		snprintf(e->name, sizeof(e->name), "%s/%s", prefix, name);
	}
	e->pax_size = 0;
	return 1;
}

int msb_tar_pax(const char *p, size_t n, struct msb_tar_entry *e,
		msb_error *err)
{
	/* records: "LEN KEY=VALUE\n", LEN counting the whole record */
	while (n) {
		size_t len = 0, i = 0;
		const char *kv, *eq;

		while (i < n && i < 20 && p[i] >= '0' && p[i] <= '9')
			len = len * 10 + (size_t)(p[i++] - '0');
		if (!i || i >= n || p[i] != ' ' || len <= i + 1 || len > n ||
		    p[len - 1] != '\n')
			return msb_fail(err, -EBADMSG,
					"a tar archive has a malformed pax header");
		kv = p + i + 1;
		eq = memchr(kv, '=', (size_t)(p + len - 1 - kv));
		if (eq) {
			size_t kl = (size_t)(eq - kv),
			       vl = (size_t)(p + len - 1 - eq - 1);
			char *dst = NULL;

			if (kl == 4 && !memcmp(kv, "path", 4))
				dst = e->name;
			else if (kl == 8 && !memcmp(kv, "linkpath", 8))
				dst = e->link;
			else if (kl == 4 && !memcmp(kv, "size", 4)) {
				char num[24];
				uint64_t v = 0;

				if (!vl || vl >= sizeof(num))
					return msb_fail(err, -EBADMSG,
							"a pax size is bad");
				memcpy(num, eq + 1, vl);
				num[vl] = '\0';
				for (size_t k = 0; k < vl; k++) {
					if (num[k] < '0' || num[k] > '9')
						return msb_fail(err, -EBADMSG,
								"a pax size is bad");
					v = v * 10 + (uint64_t)(num[k] - '0');
				}
				e->size = v;
				e->pax_size = 1;
			}
			if (dst) {
				if (vl >= MSB_TAR_NAME_MAX)
					return msb_fail(err, -ENAMETOOLONG,
							"a tar entry name is "
							"longer than %d bytes",
							MSB_TAR_NAME_MAX - 1);
				memcpy(dst, eq + 1, vl);
				dst[vl] = '\0';
			}
		}
		p += len;
		n -= len;
	}
	return 0;
}

void msb_tar_make(unsigned char h[512], const char *name, char type,
		  uint64_t size, unsigned mode)
{
	unsigned sum = 0;

	memset(h, 0, 512);
	snprintf((char *)h + T_NAME, 100, "%s", name);
	snprintf((char *)h + T_MODE, 8, "%07o", mode);
	snprintf((char *)h + 108, 8, "%07o", 0);  /* uid */
	snprintf((char *)h + 116, 8, "%07o", 0);  /* gid */
	if (size < 077777777777ull) {
		snprintf((char *)h + T_SIZE, 12, "%011llo",
			 (unsigned long long)size);
	} else {
		h[T_SIZE] = 0x80;
		for (int i = 11; i > 0; i--, size >>= 8)
			h[T_SIZE + i] = (unsigned char)size;
	}
	snprintf((char *)h + T_MTIME, 12, "%011o", 0);
	h[T_TYPE] = (unsigned char)type;
	memcpy(h + T_MAGIC, "ustar\0" "00", 8);
	memset(h + T_CHKSUM, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + T_CHKSUM, 8, "%06o", sum);
}
