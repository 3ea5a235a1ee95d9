/* SPDX-License-Identifier: Apache-2.0 */
/* initcfg.c - the INIT request: what the host wants this VM to be */

#include <string.h>

#include "initcfg.h"
#include "proto.h"

/* copy_str() - TLV string value to a C string. Return: 0, -1 if unfit */
static int copy_str(char *dst, size_t cap, const uint8_t *v, uint32_t n)
{
	if (n >= cap || memchr(v, '\0', n))
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

/* parse_volume() - u8 flags, tag, NUL, absolute path. Return: 0, -1 */
static int parse_volume(const uint8_t *v, uint32_t n, struct init_volume *vol)
{
	const uint8_t *nul;

	if (n < 1 || v[0] & ~MSB_VOLUME_RO)
		return -1;
	vol->ro = v[0] & MSB_VOLUME_RO;
	nul = memchr(v + 1, '\0', n - 1);
	if (!nul || nul == v + 1)
		return -1;
	if (copy_str(vol->tag, sizeof(vol->tag), v + 1, (uint32_t)(nul - v - 1)) ||
	    copy_str(vol->path, sizeof(vol->path), nul + 1,
		     (uint32_t)(v + n - nul - 1)))
		return -1;
	return vol->path[0] == '/' ? 0 : -1;
}

int init_cfg_parse(const uint8_t *p, size_t n, struct init_cfg *c,
		   struct agent_err *e)
{
	struct msb_tlv_r r;
	const uint8_t *v;
	uint32_t len;
	uint8_t tag;
	int ret;

	memset(c, 0, sizeof(*c));
	msb_tlv_r_init(&r, p, n);
	while ((ret = msb_tlv_next(&r, &tag, &v, &len)) == 1) {
		switch (tag) {
		case MSB_T_HOSTNAME:
			if (copy_str(c->hostname, sizeof(c->hostname), v, len))
				return agent_fail(e, 0, "INIT: bad HOSTNAME (at most %d bytes)",
						  INIT_HOSTNAME_MAX);
			break;
		case MSB_T_UPPER:
			if (copy_str(c->upper, sizeof(c->upper), v, len) || !len)
				return agent_fail(e, 0, "INIT: bad UPPER serial (1-%d bytes)",
						  INIT_SERIAL_MAX);
			break;
		case MSB_T_LAYER:
			if (c->nlayers == INIT_LAYERS_MAX)
				return agent_fail(e, 0, "INIT: more than %d layers",
						  INIT_LAYERS_MAX);
			if (copy_str(c->layer[c->nlayers], sizeof(c->layer[0]), v, len) ||
			    !len)
				return agent_fail(e, 0, "INIT: bad LAYER serial (1-%d bytes)",
						  INIT_SERIAL_MAX);
			c->nlayers++;
			break;
		case MSB_T_CA_PEM:
			if (copy_str(c->ca_pem, sizeof(c->ca_pem), v, len) || !len)
				return agent_fail(e, 0, "INIT: bad CA_PEM (1-%d bytes)",
						  INIT_CA_MAX);
			break;
		case MSB_T_TIME:
			if (len != 8)
				return agent_fail(e, 0, "INIT: TIME is not a u64");
			c->time_ns = msb_get_be64(v);
			c->has_time = 1;
			break;
		case MSB_T_NET_IP4:
			if (len != 5 || v[4] > 32)
				return agent_fail(e, 0, "INIT: bad NET_IP4");
			c->net_ip = msb_get_be32(v);
			c->net_prefix = v[4];
			c->has_net = 1;
			break;
		case MSB_T_NET_GW4:
		case MSB_T_NET_DNS4:
			if (len != 4)
				return agent_fail(e, 0, "INIT: bad NET_GW4/NET_DNS4");
			*(tag == MSB_T_NET_GW4 ? &c->net_gw : &c->net_dns) =
				msb_get_be32(v);
			break;
		case MSB_T_NET_IP6:
			if (len != 17 || v[16] > 128)
				return agent_fail(e, 0, "INIT: bad NET_IP6");
			memcpy(c->net_ip6, v, 16);
			c->net_prefix6 = v[16];
			c->has_net6 = 1;
			break;
		case MSB_T_NET_GW6:
		case MSB_T_NET_DNS6:
			if (len != 16)
				return agent_fail(e, 0, "INIT: bad NET_GW6/NET_DNS6");
			memcpy(tag == MSB_T_NET_GW6 ? c->net_gw6 : c->net_dns6, v,
			       16);
			break;
		case MSB_T_NET_MTU:
			if (len != 4)
				return agent_fail(e, 0, "INIT: NET_MTU is not a u32");
			c->net_mtu = msb_get_be32(v);
			break;
		case MSB_T_VOLUME:
			if (c->nvol == INIT_VOLUMES_MAX)
				return agent_fail(e, 0, "INIT: more than %d volumes",
						  INIT_VOLUMES_MAX);
			if (parse_volume(v, len, &c->vol[c->nvol]))
				return agent_fail(e, 0, "INIT: bad VOLUME (flags, tag of "
						  "1-%d bytes, NUL, absolute path)",
						  INIT_TAG_MAX);
			c->nvol++;
			break;
		default:
			break; /* unknown tags are skipped: newer hosts */
		}
	}
	if (ret < 0)
		return agent_fail(e, 0, "INIT: truncated TLV record");
	return 0;
}
