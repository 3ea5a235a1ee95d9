/* SPDX-License-Identifier: Apache-2.0 */
/* netcfg.h - a sandbox's network rules, from msb_net_config to its record */
#ifndef MSB_LIB_NETCFG_H
#define MSB_LIB_NETCFG_H

#include <json-c/json.h>

#include "msb.h"

/* msb_net_config_check() - every rule valid? Return: 0, or -EINVAL with
 * a message naming the flag and the value. */
int msb_net_config_check(const msb_net_config *nc, msb_error *err);

/* msb_net_config_check_syntax() - the same, without looking at the host:
 * published ports are not tried, a plugin not looked for (a Sandboxfile
 * read while its sandboxes hold their ports). */
int msb_net_config_check_syntax(const msb_net_config *nc, msb_error *err);

/* msb_list_entry_check() - @v, an entry of the list flag @flag, is not
 * empty or blank. Return: 0, or -EINVAL with a message naming @flag. */
int msb_list_entry_check(const char *flag, const char *v, msb_error *err);

/* msb_net_config_json() - the "net" object the supervisor reads
 * (src/supervisor/net.c); call after msb_net_config_check(). */
json_object *msb_net_config_json(const msb_net_config *nc);

#endif
