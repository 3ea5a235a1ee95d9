/* SPDX-License-Identifier: Apache-2.0 */
/* imagecfg.h - the image's config merged into a sandbox's (imagecfg.c) */
#ifndef MSB_LIB_IMAGECFG_H
#define MSB_LIB_IMAGECFG_H

#include <json-c/json.h>

#include "msb.h"

/* msb_image_config_apply() - the image's config @icfg (NULL: none) under
 * what @c asks, into the record's config @cfg: "env", "workdir", "user",
 * "entrypoint", "image_cmd" and "cmd"; @builtin for the built-in image,
 * whose command is /bin/sh. */
void msb_image_config_apply(json_object *cfg, const msb_sandbox_config *c,
			    json_object *icfg, int builtin);

/* msb_image_legacy_layers() - the layers of a record made before images
 * were pulled, which names none: built-in image @image's one disk. */
json_object *msb_image_legacy_layers(const char *image);

#endif
