// SPDX-License-Identifier: Apache-2.0

// annotations.go - a pod's microsandbox settings, from the annotations
// of the container that boots it (a Kubernetes pod's annotations reach
// it when containerd's runtime handler lists them in pod_annotations).
package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

const annPrefix = "io.microsandbox/"

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// podOptions turns io.microsandbox/* annotations into the sandbox's
// options. An unknown key or a bad value is an error: a policy that was
// asked for and silently not applied is worse than a pod that fails.
func podOptions(ann map[string]string) ([]msb.Option, error) {
	var opts []msb.Option
	var net []msb.NetworkOption
	keys := make([]string, 0, len(ann))
	for k := range ann {
		if strings.HasPrefix(k, annPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := ann[k]
		key := strings.TrimPrefix(k, annPrefix)
		switch {
		case key == "cpus":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("annotation %s=%q: a number of CPUs is expected", k, v)
			}
			opts = append(opts, msb.CPUs(uint(n)))
		case key == "memory":
			opts = append(opts, msb.Memory(v))
		case key == "kernel":
			opts = append(opts, msb.Kernel(v))
		case key == "net-allow":
			net = append(net, msb.Allow(splitList(v)...))
		case key == "net-allow-cidr":
			net = append(net, msb.AllowCidr(splitList(v)...))
		case key == "net-block-cidr":
			net = append(net, msb.BlockCidr(splitList(v)...))
		case key == "net-deny-all":
			if v != "true" {
				return nil, fmt.Errorf("annotation %s=%q: only \"true\" is meaningful", k, v)
			}
			net = append(net, msb.DenyAll())
		case key == "net-nameserver":
			net = append(net, msb.Nameserver(v))
		case key == "ports":
			opts = append(opts, msb.Ports(splitList(v)...))
		case key == "tls-bypass":
			opts = append(opts, msb.TLSBypass(splitList(v)...))
		case key == "on-secret-violation":
			opts = append(opts, msb.OnSecretViolation(v))
		case strings.HasPrefix(key, "secret."):
			// io.microsandbox/secret.OPENAI_API_KEY: @file:/etc/keys/openai:api.openai.com
			env := strings.TrimPrefix(key, "secret.")
			src, hosts, err := secretSource(v)
			if err != nil {
				return nil, fmt.Errorf("annotation %s: %v", k, err)
			}
			if strings.HasPrefix(v, "@env:") {
				opts = append(opts, msb.SecretFromEnv(env, src, hosts...))
			} else {
				opts = append(opts, msb.SecretFromFile(env, src, hosts...))
			}
		default:
			return nil, fmt.Errorf("unknown annotation %s (docs/kubernetes.md lists them)", k)
		}
	}
	if len(net) > 0 {
		opts = append(opts, msb.Network(net...))
	}
	// The pod's own size, which containerd (1.7 and later) sums from its
	// containers' limits for VM runtimes, when the pod does not say.
	if _, set := ann[annPrefix+"memory"]; !set {
		if mib := podMemoryMiB(ann); mib > 0 {
			opts = append(opts, msb.MemoryMiB(mib))
		}
	}
	if _, set := ann[annPrefix+"cpus"]; !set {
		if n := podCPUs(ann); n > 0 {
			opts = append(opts, msb.CPUs(n))
		}
	}
	return opts, nil
}

const (
	annSandboxMemory    = "io.kubernetes.cri.sandbox-memory"
	annSandboxCPUQuota  = "io.kubernetes.cri.sandbox-cpu-quota"
	annSandboxCPUPeriod = "io.kubernetes.cri.sandbox-cpu-period"
	// guestOverheadMiB is what the guest's kernel and agent take beside
	// the containers' limits.
	guestOverheadMiB = 128
)

// podMemoryMiB is the VM's memory for the containers' summed limit (in
// bytes), with the guest's own overhead; 0 when there is none.
func podMemoryMiB(ann map[string]string) uint64 {
	b, err := strconv.ParseUint(ann[annSandboxMemory], 10, 64)
	if err != nil || b == 0 {
		return 0
	}
	return (b+(1<<20)-1)>>20 + guestOverheadMiB
}

// podCPUs is the VM's CPUs for the containers' summed CFS quota, rounded
// up; 0 when there is none.
func podCPUs(ann map[string]string) uint {
	q, err1 := strconv.ParseInt(ann[annSandboxCPUQuota], 10, 64)
	p, err2 := strconv.ParseInt(ann[annSandboxCPUPeriod], 10, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0
	}
	return uint((q + p - 1) / p)
}

// secretSource reads "@env:VAR:HOSTS" or "@file:PATH:HOSTS" (msb run
// --secret-env's forms; HOSTS separated by commas).
func secretSource(v string) (string, []string, error) {
	var rest string
	switch {
	case strings.HasPrefix(v, "@env:"):
		rest = strings.TrimPrefix(v, "@env:")
	case strings.HasPrefix(v, "@file:"):
		rest = strings.TrimPrefix(v, "@file:")
	default:
		return "", nil, fmt.Errorf("%q: expected @env:VAR:HOSTS or @file:PATH:HOSTS (the value never goes in an annotation)", v)
	}
	i := strings.LastIndex(rest, ":")
	if i <= 0 || i == len(rest)-1 {
		return "", nil, fmt.Errorf("%q: the hosts the secret may go to are required after the last ':'", v)
	}
	return rest[:i], splitList(rest[i+1:]), nil
}
