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

// pluginOnce is a plugin process (the hook protocol, docs/plugins.md)
// that answers its first call after @delay seconds, allowing it, and
// exits after @calls calls.
func pluginOnce(delay string, calls int) string {
	return fmt.Sprintf(`python3 -c '
import json, socket, struct, time
s = socket.socket(fileno=3)
def read():
    h = s.recv(4, socket.MSG_WAITALL)
    if len(h) < 4: raise SystemExit
    return json.loads(s.recv(struct.unpack(">I", h)[0], socket.MSG_WAITALL))
def send(m):
    b = json.dumps(m).encode(); s.sendall(struct.pack(">I", len(b)) + b)
n = 0
while n < %d:
    m = read()
    if m["type"] == "hello":
        send({"type": "hello", "name": "once", "hooks": ["exec_before"]})
    elif m["type"] == "call":
        time.sleep(%s)
        send({"type": "reply", "id": m["id"], "verdict": "allow"})
        n += 1
'`, calls, delay)
}

// PluginRestarts(0): a plugin process that exits is not started again,
// and its hooks refuse; PluginTimeout: a call answered later is refused.
func TestPluginRestartsAndTimeout(t *testing.T) {
	ctx := testCtx(t)
	sb, err := msb.NewSandboxContext(ctx, unique("restarts"),
		msb.PluginProcess(pluginOnce("0", 1)), msb.PluginRestarts(0))
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
		msb.PluginProcess(pluginOnce("0.6", 100)), msb.PluginTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Exec(ctx, "true"); !errors.Is(err, msb.ErrPolicyRefused) {
		t.Fatalf("an exec whose hook answers after the timeout: %v", err)
	}
}
