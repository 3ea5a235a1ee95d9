/* SPDX-License-Identifier: Apache-2.0 */
/* dns.h - the resolver's parsers of guest queries and upstream answers
 *
 * Both take hostile bytes (the guest's query; an upstream answer could be
 * spoofed) and are bounds-checked and fuzzed.
 */
#ifndef MSB_NET_DNS_H
#define MSB_NET_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define DNS_ADDR_MAX 16

/**
 * struct dns_q - a guest's query
 * @name:  lowercase, dotted, no trailing dot ("" for the root)
 * @qend:  offset just past the question
 */
struct dns_q {
	uint16_t id, flags, qtype, qclass;
	char name[NET_DOMAIN_LEN + 1];
	size_t qend;
};

/**
 * struct dns_a - what the resolver takes from an upstream answer
 * @name:    the question's name
 * @qtype:   the question's type
 * @qclass:  the question's class
 * @addr:    the answer's records of that type, A (IPv4) or AAAA (IPv6),
 *           at most DNS_ADDR_MAX; records of other types are skipped
 * @min_ttl: the least TTL among them
 */
struct dns_a {
	uint16_t id, qtype, qclass;
	uint8_t rcode;
	char name[NET_DOMAIN_LEN + 1];
	struct net_addr addr[DNS_ADDR_MAX];
	unsigned naddr;
	uint32_t min_ttl;
};

/* dns_read_name() - an uncompressed name at *@off, advancing it; names
 * with bytes outside printable ASCII or longer than 253 are refused.
 * Return: 0 or -1 */
int dns_read_name(const uint8_t *p, size_t len, size_t *off, char *name);

/* dns_skip_name() - past a possibly compressed name. Return: 0 or -1 */
int dns_skip_name(const uint8_t *p, size_t len, size_t *off);

/* dns_parse_query() - a standard query with one question. Return: 0 or -1 */
int dns_parse_query(const uint8_t *p, size_t len, struct dns_q *q);

/* dns_parse_answer() - a response to one question. Return: 0 or -1 */
int dns_parse_answer(const uint8_t *p, size_t len, struct dns_a *a);

#endif
