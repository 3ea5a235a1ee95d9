// SPDX-License-Identifier: Apache-2.0

// annotations.go - a pod's microsandbox settings, from the annotations
// of the container that boots it (a Kubernetes pod's annotations reach
// it when containerd's runtime handler lists them in pod_annotations).
package main

import (
	"fmt"
	"os"
	"path/filepath"
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
				if !strings.HasPrefix(src, secretEnvPrefix) {
					return nil, fmt.Errorf("annotation %s: a pod may read only the node's variables named %s*, not %s",
						k, secretEnvPrefix, src)
				}
				opts = append(opts, msb.SecretFromEnv(env, src, hosts...))
			} else {
				path, err := secretFile(src)
				if err != nil {
					return nil, fmt.Errorf("annotation %s: %v", k, err)
				}
				opts = append(opts, msb.SecretFromFile(env, path, hosts...))
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

// A pod's author names the secrets it gets, and the hosts they may go to:
// so a pod may read only the node's secrets kept for pods, never any file
// or variable of the node's (/etc/shadow sent to a host of its choosing).
const secretEnvPrefix = "MSB_SECRET_"

// secretsDir is where the node keeps secret files pods may name:
// $MSB_SHIM_SECRETS_DIR, /etc/microsandbox/secrets by default.
func secretsDir() string {
	if d := os.Getenv("MSB_SHIM_SECRETS_DIR"); d != "" {
		return d
	}
	return "/etc/microsandbox/secrets"
}

// secretFile resolves a secret file named by a pod, which must be in
// secretsDir() once its symbolic links are followed.
func secretFile(name string) (string, error) {
	dir, err := filepath.EvalSymlinks(secretsDir())
	if err != nil {
		return "", fmt.Errorf("the node's secrets directory: %w", err)
	}
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	outside := fmt.Errorf("secret file %s is outside %s, where the node keeps the secrets pods may name", name, dir)
	if !strings.HasPrefix(filepath.Clean(p), dir+string(filepath.Separator)) {
		return "", outside
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	if !strings.HasPrefix(real, dir+string(filepath.Separator)) {
		return "", outside
	}
	return real, nil
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
