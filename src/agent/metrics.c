/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.c - the guest's own numbers, for the host's stats
 *
 * The host sees the VM from outside (QEMU's CPU time and resident memory,
 * the upper disk's blocks, the network stack's bytes); what only the guest
 * knows comes from here on request (STATS, answered by METRICS on the same
 * stream, docs/agent-protocol.md §4): how much of its memory is in use,
 * how full its root is, how many processes run. Read from /proc and
 * statfs() each time, a few small reads, nothing kept.
 */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "port.h"

/* read_small() - a /proc file, NUL-terminated. Return: bytes, or -1 */
static ssize_t read_small(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = '\0';
	return r;
}

/* meminfo() - a "Key:   N kB" line of /proc/meminfo, in bytes */
static int meminfo(const char *buf, const char *key, uint64_t *v)
{
	const char *p = strstr(buf, key);

	if (!p)
		return -1;
	*v = strtoull(p + strlen(key), NULL, 10) * 1024;
	return 0;
}

void metrics_send(uint32_t stream)
{
	uint8_t *out = port_scratch();
	struct msb_tlv_w w;
	struct statvfs fs;
	struct timespec ts;
	char buf[4096];
	uint64_t v;

	msb_tlv_w_init(&w, out, MSB_FRAME_MAX);
	if (read_small("/proc/meminfo", buf, sizeof(buf)) > 0) {
		if (!meminfo(buf, "MemTotal:", &v))
			msb_tlv_put_u64(&w, MSB_T_G_MEM_TOTAL, v);
		if (!meminfo(buf, "MemAvailable:", &v))
			msb_tlv_put_u64(&w, MSB_T_G_MEM_AVAIL, v);
	}
	/* "cpu  user nice system idle iowait irq softirq steal ..." in
	 * USER_HZ (100 on Linux) ticks: busy is all but idle and iowait. */
	if (read_small("/proc/stat", buf, sizeof(buf)) > 0 &&
	    !strncmp(buf, "cpu ", 4)) {
		unsigned long long f[8] = { 0 };

		if (sscanf(buf + 4, "%llu %llu %llu %llu %llu %llu %llu %llu",
			   &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6],
			   &f[7]) >= 4)
			msb_tlv_put_u64(&w, MSB_T_G_CPU_NS,
					(f[0] + f[1] + f[2] + f[5] + f[6] +
					 f[7]) * 10000000ull);
	}
	/* "0.00 0.01 0.05 1/57 1234": the load and running/total. */
	if (read_small("/proc/loadavg", buf, sizeof(buf)) > 0) {
		double l1 = 0;
		unsigned run = 0, total = 0;

		if (sscanf(buf, "%lf %*f %*f %u/%u", &l1, &run, &total) == 3) {
			msb_tlv_put_u64(&w, MSB_T_G_LOAD1, (uint64_t)(l1 * 1000));
			msb_tlv_put_u64(&w, MSB_T_G_PROCS, total);
		}
	}
	if (statvfs("/", &fs) == 0) {
		msb_tlv_put_u64(&w, MSB_T_G_DISK_TOTAL,
				(uint64_t)fs.f_blocks * fs.f_frsize);
		msb_tlv_put_u64(&w, MSB_T_G_DISK_FREE,
				(uint64_t)fs.f_bavail * fs.f_frsize);
	}
	if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
		msb_tlv_put_u64(&w, MSB_T_G_UPTIME_NS,
				(uint64_t)ts.tv_sec * 1000000000ull +
					(uint64_t)ts.tv_nsec);
	port_send(stream, MSB_F_METRICS, out, w.len);
}
