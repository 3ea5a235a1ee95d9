// SPDX-License-Identifier: Apache-2.0

// stats.go - a container's Stats: the pod's microVM as a whole (CPU time
// on the host, memory in use in the guest, its processes), in the cgroup
// v1 metrics type containerd's ctr and CRI plugin decode.
package main

import (
	"github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/typeurl/v2"
	msb "github.com/microsandbox/microsandbox/sdk/go"
	"google.golang.org/protobuf/types/known/anypb"
)

func vmMetrics(st *msb.Stats) (*anypb.Any, error) {
	m := &stats.Metrics{
		CPU: &stats.CPUStat{Usage: &stats.CPUUsage{Total: uint64(st.CPUTime.Nanoseconds())}},
		Memory: &stats.MemoryStat{Usage: &stats.MemoryEntry{
			Usage: st.MemoryUsedBytes, Limit: st.MemoryLimitBytes}},
		Pids: &stats.PidsStat{Current: uint64(st.Processes)},
	}
	return typeurl.MarshalAnyToProto(m)
}
