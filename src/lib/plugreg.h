/* SPDX-License-Identifier: Apache-2.0 */
/* plugreg.h - plugins as OCI artifacts: their metadata, manifests and the
 * registry's index (plugmeta.c), publish and install (plugreg.c), the
 * installed ones (plugstore.c)
 *
 * Theory of operation (docs/plugins.md, "The registry"): a published
 * plugin is an OCI image manifest of artifactType MSB_PLUGIN_ARTIFACT;
 * its config blob (MSB_PLUGIN_CONFIG) is the plugin's metadata, its
 * layers (MSB_PLUGIN_FILE) its files, one blob each, named by their
 * org.opencontainers.image.title annotation (a relative path) with their
 * mode in MSB_PLUGIN_MODE_KEY. The index is an artifact of its own
 * (MSB_PLUGIN_INDEX_ARTIFACT) whose config blob lists every plugin's
 * metadata with its reference and digest.
 *
 * An installed plugin is <home>/plugins/NAME/record.json (the manifest
 * and config as fetched, the digest they were pinned to, where they came
 * from) and <home>/plugins/NAME/files/. Loading it checks, in order: the
 * manifest hashes to the pinned digest, the config to the manifest's
 * config descriptor, each file to its layer's digest and size.
 *
 * Everything from a registry is hostile: the parsers below are bounded,
 * check every field and are fuzzed (fuzz/plugin_meta.c).
 */
#ifndef MSB_PLUGREG_H
#define MSB_PLUGREG_H

#include <stddef.h>
#include <stdint.h>

#include "msb.h"

#define MSB_PLUGIN_ARTIFACT "application/vnd.microsandbox.plugin.v1+json"
#define MSB_PLUGIN_CONFIG "application/vnd.microsandbox.plugin.config.v1+json"
#define MSB_PLUGIN_FILE "application/vnd.microsandbox.plugin.file.v1"
#define MSB_PLUGIN_INDEX_ARTIFACT \
	"application/vnd.microsandbox.plugin.index.v1+json"
#define MSB_PLUGIN_INDEX_CONFIG \
	"application/vnd.microsandbox.plugin.index.config.v1+json"
#define MSB_PLUGIN_TITLE_KEY "org.opencontainers.image.title"
#define MSB_PLUGIN_MODE_KEY "vnd.microsandbox.plugin.mode"
/* The index's repository under a registry's namespace (a name no plugin
 * may take). */
#define MSB_PLUGIN_INDEX_REPO "index"

#define MSB_PLUGIN_FILES_MAX 256
#define MSB_PLUGIN_FILE_MAX (64ull << 20)
#define MSB_PLUGIN_TOTAL_MAX (256ull << 20)
#define MSB_PLUGIN_META_MAX (64u << 10)
#define MSB_PLUGIN_INDEX_MAX (16u << 20)
#define MSB_PLUGIN_INDEX_ENTRIES 10000
#define MSB_PLUGIN_PATH_MAX 256

struct msb_plugin_file {
	char digest[72];
	uint64_t size;
	unsigned mode;         /* 0644 or 0755 */
	char path[MSB_PLUGIN_PATH_MAX];
};

/* What a plugin's (or the index's) manifest says. */
struct msb_plugin_manifest {
	char config_digest[80];
	uint64_t config_size;
	struct msb_plugin_file *files;
	size_t nfiles;
};
void msb_plugin_manifest_free(struct msb_plugin_manifest *m);

/* msb_plugin_name_check() - a plugin's name: 1 to 63 of [a-z0-9._-],
 * starting and ending with a letter or digit, no two separators in a
 * row (a repository component), not a built-in's, not "index". */
int msb_plugin_name_check(const char *name, msb_error *err);
/* msb_plugin_path_check() - a file's path in a plugin: relative, each
 * component of printable characters and neither "." nor "..". */
int msb_plugin_path_check(const char *path, msb_error *err);

/* msb_plugin_meta_parse() - the metadata (a config blob, plugin.json)
 * into @i's name, version, kind, language, hooks, command, description;
 * every field checked. */
int msb_plugin_meta_parse(const char *buf, size_t len, msb_plugin_info *i,
			  msb_error *err);
/* msb_plugin_meta_json() - the metadata of @i as the config blob holds
 * it (malloc'd, NUL-terminated; NULL when out of memory). */
char *msb_plugin_meta_json(const msb_plugin_info *i);

/* msb_plugin_manifest_parse() - a plugin's manifest (@index 0) or the
 * index's (@index 1): its artifactType or config type must say so
 * (MSB_E_KIND otherwise), its config descriptor and files checked (safe,
 * distinct paths; sizes within bounds). */
int msb_plugin_manifest_parse(const char *buf, size_t len, int index,
			      struct msb_plugin_manifest *m, msb_error *err);

/* msb_plugin_index_parse() - the index's config blob: its entries (each
 * a metadata object with "reference" and "digest") into a malloc'd
 * array. */
int msb_plugin_index_parse(const char *buf, size_t len, msb_plugin_info **out,
			   size_t *n, msb_error *err);
/* msb_plugin_index_json() - @n entries as the index's config blob
 * (malloc'd). */
char *msb_plugin_index_json(const msb_plugin_info *v, size_t n);

/* msb_plugin_verify() - the installed plugin @name, checked against its
 * pinned digest (and @digest too, when not NULL: what a sandbox's record
 * pinned) into @i. MSB_E_NOT_FOUND if not installed, MSB_E_DAMAGED (@i
 * filled) if a file or the record changed. */
int msb_plugin_verify(const char *name, const char *digest,
		      msb_plugin_info *i, msb_error *err);

/* msb_plugins_tell() - lifecycle @event ("remove") to the plugins of
 * the record config @config (JSON), from the library: see plugevent.c. */
void msb_plugins_tell(const char *sandbox, const char *config,
		      const char *event);

/* msb_plugins_dir() - <home>/plugins. */
void msb_plugins_dir(char *buf, size_t n);

#endif
