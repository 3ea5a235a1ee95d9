/* SPDX-License-Identifier: Apache-2.0 */
/* guest.c - the guest kernels a sandbox can boot, and their files
 *
 * "msb": the project's own kernel (kernel/microvm.config), everything built
 * in, booted as an uncompressed vmlinux through its PVH entry, with ACPI off
 * (QEMU then lists the virtio-mmio devices on the kernel command line).
 * "cloud": Debian's cloud kernel, which needs no build; its virtio drivers
 * are modules, loaded by the agent from its initramfs, and it finds the
 * devices through ACPI.
 */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "util.h"

static const struct msb_guest guests[] = {
	{ "msb", "kernel/vmlinux-msb", "initramfs-msb.cpio", 0 },
	{ "cloud", "kernel/vmlinuz-cloud", "initramfs-cloud.cpio", 1 },
};

const struct msb_guest *msb_guest_find(const char *name)
{
	for (size_t i = 0; i < sizeof(guests) / sizeof(guests[0]); i++)
		if (!strcmp(guests[i].name, name))
			return &guests[i];
	return NULL;
}

static int present(const struct msb_guest *g)
{
	char k[PATH_MAX], i[PATH_MAX];

	return msb_share_path(g->kernel, k, sizeof(k)) == 0 &&
	       msb_share_path(g->initrd, i, sizeof(i)) == 0 &&
	       access(k, R_OK) == 0 && access(i, R_OK) == 0;
}

const char *msb_guest_default(void)
{
	const char *env = getenv("MSB_KERNEL");

	if (env && *env)
		return env;
	return present(&guests[0]) ? guests[0].name : guests[1].name;
}

int msb_guest_paths(const char *name, char *kernel, char *initrd, size_t n,
		    const struct msb_guest **out, msb_error *err)
{
	const struct msb_guest *g = msb_guest_find(name);

	if (!g)
		return msb_fail(err, -EINVAL,
				"unknown guest kernel '%s': use msb or cloud",
				name);
	msb_share_path(g->kernel, kernel, n);
	msb_share_path(g->initrd, initrd, n);
	if (access(kernel, R_OK) < 0)
		return msb_fail(err, -ENOENT,
				"guest kernel %s is missing: run './setup' from "
				"the microsandbox source tree%s",
				kernel,
				strcmp(name, "msb") ? "" :
						      " (or use --kernel cloud)");
	if (access(initrd, R_OK) < 0)
		return msb_fail(err, -ENOENT,
				"guest initramfs %s is missing: run './setup' "
				"from the microsandbox source tree",
				initrd);
	if (out)
		*out = g;
	return 0;
}
