// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// DiskSize, SecretInject, AllowHostPort and a volume's Cache and
// CacheTimeout reach the sandbox's record, and a port of the host's
// loopback allowed is reached from the guest at the gateway (one boot).
func TestDiskInjectHostPortAndCache(t *testing.T) {
	ctx := testCtx(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "from the host's loopback")
	})}
	go srv.Serve(l)
	defer srv.Close()
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	t.Setenv("INJECT_TEST_KEY", "sk-test")

	if _, err := msb.NewSandboxContext(ctx, unique("bad-inject"),
		msb.SecretInject("NOPE", "query")); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("SecretInject of no secret: %v", err)
	}
	if _, err := msb.NewSandboxContext(ctx, unique("bad-cache"),
		msb.Volume("/c", msb.NewMemFs(), msb.Cache("sometimes"))); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("an unknown cache mode: %v", err)
	}

	sb, err := msb.NewSandboxContext(ctx, unique("options"),
		msb.DiskSize("1G"),
		msb.SecretFromEnv("KEY", "INJECT_TEST_KEY", "api.example.com"),
		msb.SecretInject("KEY", "query", "header:x-api-key"),
		msb.Network(msb.AllowHostPort(port)),
		msb.Volume("/scratch", msb.NewMemFs(), msb.Cache("auto"), msb.CacheTimeout(5*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	raw, err := sb.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Config struct {
			DiskMiB int `json:"disk_mib"`
			Net     struct {
				AllowHost []int `json:"allow_host"`
			} `json:"net"`
			Volumes []struct {
				Guest     string `json:"guest"`
				Cache     string `json:"cache"`
				TimeoutMs int    `json:"cache_timeout_ms"`
			} `json:"volumes"`
			Secrets []struct {
				Env    string   `json:"env"`
				Inject []string `json:"inject"`
			} `json:"secrets"`
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	c := doc.Config
	if c.DiskMiB != 1024 {
		t.Errorf("disk_mib %d, want 1024", c.DiskMiB)
	}
	if fmt.Sprint(c.Net.AllowHost) != "["+port+"]" {
		t.Errorf("allow_host %v, want %s", c.Net.AllowHost, port)
	}
	if len(c.Volumes) != 1 || c.Volumes[0].Cache != "auto" || c.Volumes[0].TimeoutMs != 5000 {
		t.Errorf("volumes %+v", c.Volumes)
	}
	if len(c.Secrets) != 1 || !strings.Contains(strings.Join(c.Secrets[0].Inject, ","), "query") ||
		!strings.Contains(strings.ToLower(strings.Join(c.Secrets[0].Inject, ",")), "header:x-api-key") {
		t.Errorf("secrets %+v", c.Secrets)
	}
	res, err := sb.Shell(ctx, "wget -q -O - http://10.0.2.2:"+port+"/")
	if err != nil || string(res.Stdout) != "from the host's loopback" {
		t.Fatalf("the host's port from the guest: %v %q %q", err, res.Stdout, res.Stderr)
	}
}
