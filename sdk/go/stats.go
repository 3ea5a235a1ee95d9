// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <stdlib.h>
#include <msb.h>
*/
import "C"

import (
	"context"
	"time"
	"unsafe"
)

// Stats is what a sandbox uses (msb stats). The host measures the VM from
// outside (CPU time and resident memory of its process, the blocks of its
// writable disk, the bytes through its network stack); the guest reports
// what only it knows (memory in use, its root filesystem, its processes).
type Stats struct {
	Name    string
	Status  string // as SandboxInfo's
	Running bool   // false: only the limits and DiskBytes
	// Guest says the guest's own numbers are in (it answered within a
	// second): MemoryTotalBytes, DiskUsedBytes, DiskTotalBytes and
	// Processes.
	Guest            bool
	CPUs             uint
	MemoryLimitBytes uint64
	Uptime           time.Duration // since it became ready
	// CPUPercent is the VM's CPU use over the last second; 100 is one
	// CPU busy.
	CPUPercent     float64
	CPUTime        time.Duration // the VM's CPU time on the host
	MemoryRSSBytes uint64        // host memory the VM holds now
	// MemoryUsedBytes is in use in the guest (its total less what is
	// available); without the guest's numbers, the host's RSS.
	MemoryUsedBytes  uint64
	MemoryTotalBytes uint64 // the guest kernel's total
	// DiskBytes is host disk the sandbox's writable disk takes (also
	// when stopped).
	DiskBytes                     uint64
	DiskUsedBytes, DiskTotalBytes uint64 // the guest's root filesystem
	// Network bytes and packets into (Rx) and out of (Tx) the guest,
	// Ethernet frames.
	NetRxBytes, NetTxBytes     uint64
	NetRxPackets, NetTxPackets uint64
	Processes                  uint64 // in the guest
}

func statsFromC(c *C.msb_stats) Stats {
	return Stats{
		Name: goString(&c.name[0]), Status: goString(&c.status[0]),
		Running: c.running != 0, Guest: c.guest != 0, CPUs: uint(c.cpus),
		MemoryLimitBytes: uint64(c.memory_limit_bytes),
		Uptime:           time.Duration(c.uptime_ms) * time.Millisecond,
		CPUPercent:       float64(c.cpu_percent),
		CPUTime:          time.Duration(c.cpu_time_ns),
		MemoryRSSBytes:   uint64(c.memory_rss_bytes),
		MemoryUsedBytes:  uint64(c.memory_used_bytes),
		MemoryTotalBytes: uint64(c.memory_total_bytes),
		DiskBytes:        uint64(c.disk_bytes),
		DiskUsedBytes:    uint64(c.disk_used_bytes), DiskTotalBytes: uint64(c.disk_total_bytes),
		NetRxBytes: uint64(c.net_rx_bytes), NetTxBytes: uint64(c.net_tx_bytes),
		NetRxPackets: uint64(c.net_rx_packets), NetTxPackets: uint64(c.net_tx_packets),
		Processes: uint64(c.processes),
	}
}

// Stats is what the sandbox uses now (it waits up to about a second for
// the guest's part).
func (sb *Sandbox) Stats(ctx context.Context) (*Stats, error) {
	op := "stats of sandbox " + sb.name
	var cs C.msb_stats
	err := blocking(ctx, op, func(cerr *C.msb_error) C.int {
		cname := C.CString(sb.name)
		defer C.free(unsafe.Pointer(cname))
		return C.msb_sandbox_stats(cname, &cs, cerr)
	})
	if err != nil {
		return nil, err
	}
	s := statsFromC(&cs)
	return &s, nil
}

// AllStats is every running sandbox's numbers (with @all, every
// sandbox's), in List's order.
func AllStats(ctx context.Context, all bool) ([]Stats, error) {
	var arr *C.msb_stats
	var n C.size_t
	err := blocking(ctx, "stats", func(cerr *C.msb_error) C.int {
		return C.msb_stats_list(cbool(all), &arr, &n, cerr)
	})
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(arr))
	out := make([]Stats, 0, int(n))
	for i := range unsafe.Slice(arr, int(n)) {
		out = append(out, statsFromC(&unsafe.Slice(arr, int(n))[i]))
	}
	return out, nil
}
