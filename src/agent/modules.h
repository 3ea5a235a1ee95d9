/* SPDX-License-Identifier: Apache-2.0 */
/* modules.h - load the kernel modules shipped in the initramfs */
#ifndef MSB_AGENT_MODULES_H
#define MSB_AGENT_MODULES_H

/* Where mkinitramfs.sh puts the modules and their load order. */
#define MODULES_DIR "/lib/modules"

/**
 * modules_load() - finit_module() every module named in @dir/order
 * @dir: directory holding the .ko files and the "order" file
 *
 * A missing order file means a kernel with the drivers built in: nothing to
 * do. A module that fails to load is logged and skipped; whatever needed it
 * fails later with its own message. Loaded files are unlinked to give their
 * memory back (the initramfs lives in RAM).
 *
 * Return: number of modules loaded
 */
int modules_load(const char *dir);

#endif
