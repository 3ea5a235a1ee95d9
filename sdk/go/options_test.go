// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
	"github.com/microsandbox/microsandbox/sdk/go/msbtest"
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

// pluginOnce is a plugin process (msbtest.AllowPlugin) that allows each
// exec after @delay and exits after @calls, as a command.
func pluginOnce(t *testing.T, delay time.Duration, calls int) string {
	path := filepath.Join(t.TempDir(), "once.py")
	if err := os.WriteFile(path, msbtest.AllowPlugin("once", delay, calls), 0o644); err != nil {
		t.Fatal(err)
	}
	return "python3 " + path
}

// PluginRestarts(0): a plugin process that exits is not started again,
// and its hooks refuse; PluginTimeout: a call answered later is refused.
func TestPluginRestartsAndTimeout(t *testing.T) {
	ctx := testCtx(t)
	sb, err := msb.NewSandboxContext(ctx, unique("restarts"),
		msb.PluginProcess(pluginOnce(t, 0, 1)), msb.PluginRestarts(0))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if _, err := sb.Exec(ctx, "true", msb.Check()); err != nil {
		t.Fatalf("the first exec: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // the plugin exits
	if _, err := sb.Exec(ctx, "true"); !errors.Is(err, msb.ErrPolicyRefused) {
		t.Fatalf("an exec after the plugin exited, with no restarts: %v", err)
	}
	sb.Close()

	slow, err := msb.NewSandboxContext(ctx, unique("timeout"),
		msb.PluginProcess(pluginOnce(t, 600*time.Millisecond, 100)), msb.PluginTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Exec(ctx, "true"); !errors.Is(err, msb.ErrPolicyRefused) {
		t.Fatalf("an exec whose hook answers after the timeout: %v", err)
	}
}
