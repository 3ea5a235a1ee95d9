// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
	"github.com/microsandbox/microsandbox/sdk/go/msbtest"
)

// Bad input is refused before anything boots, with an error errors.Is
// can tell and a message that says what to do.
func TestCreateBadInput(t *testing.T) {
	ctx := testCtx(t)
	cases := []struct {
		name    string
		opts    []msb.Option
		want    error
		message string
	}{
		{"-bad", nil, msb.ErrInvalid, "-bad"},
		{strings.Repeat("n", 64), nil, msb.ErrInvalid, "63"},
		{"nul\x00name", nil, msb.ErrInvalid, "NUL"},
		{"ok-name", []msb.Option{msb.Memory("lots")}, msb.ErrInvalid, "lots"},
		{"ok-name", []msb.Option{msb.Volume("/proc", msb.NewMemFs())}, msb.ErrInvalid, "/proc"},
		{"ok-name", []msb.Option{msb.Volume("/data", msb.NewPassthrough("/nonexistent-host-dir"))},
			fs.ErrNotExist, "/nonexistent-host-dir"},
		{"ok-name", []msb.Option{msb.Network(msb.BlockCidr("10.0.0.0/33"))}, msb.ErrInvalid, "10.0.0.0/33"},
		{"ok-name", []msb.Option{msb.Network(msb.Allow(""))}, msb.ErrInvalid, ""},
		{"ok-name", []msb.Option{msb.SecretEnv("KEY", "v")}, msb.ErrInvalid, "KEY"},
		{"ok-name", []msb.Option{msb.TLSUpstreamCAFile("/nonexistent.pem")}, fs.ErrNotExist, "/nonexistent.pem"},
		// Forms of the seeds not served yet say so.
		{"ok-name", []msb.Option{msb.Volume("/data", struct{ n int }{1})},
			msb.ErrNotSupported, "wraps no built-in one"},
		{"ok-name", []msb.Option{msb.Plugin(struct{}{})}, msb.ErrNotSupported, "plugins"},
		{"ok-name", []msb.Option{msb.OnExec(nil)}, msb.ErrInvalid, "msb.OnExec(nil)"},
		// A plugin process that never says hello fails the start (the
		// hook protocol, docs/plugins.md), naming it.
		{"ok-name", []msb.Option{msb.PluginProcess("exit 4"), msb.Ephemeral()},
			msb.ErrBootFailed, "'exit 4' exited (status 4)"},
	}
	for _, c := range cases {
		sb, err := msb.NewSandboxContext(ctx, c.name, c.opts...)
		if err == nil {
			sb.Close()
			t.Errorf("%q %d options: created, want %v", c.name, len(c.opts), c.want)
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%q: %v, want %v", c.name, err, c.want)
		}
		if !strings.Contains(err.Error(), c.message) {
			t.Errorf("%q: message %q does not name %q", c.name, err, c.message)
		}
		var me *msb.Error
		if !errors.As(err, &me) || me.Name == "" || me.Message == "" {
			t.Errorf("%q: not an *msb.Error with a code name: %#v", c.name, err)
		}
	}
	if list, _ := msb.List(ctx); len(list) > 0 && list[0].Name == "ok-name" {
		t.Fatal("a refused create left a record")
	}
}

func TestMissingThings(t *testing.T) {
	ctx := testCtx(t)
	_, err := msb.GetSandbox(ctx, "no-such-sandbox")
	if !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("get missing sandbox: %v", err)
	}
	contains(t, "message", err.Error(), "no-such-sandbox")
	_, err = msb.GetSnapshot(ctx, "no-such-snapshot")
	if !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("get missing snapshot: %v", err)
	}
	// A missing image on a registry that is not there: a pull error.
	_, err = msb.NewSandboxContext(ctx, "img-missing", msb.Image("127.0.0.1:1/nosuch:1"))
	if !errors.Is(err, msb.ErrImagePull) {
		t.Fatalf("image from nowhere: %v", err)
	}
	if _, err := msb.GetSandbox(ctx, "img-missing"); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("a failed pull left a sandbox: %v", err)
	}
	_, err = msb.CurrentRuntime(ctx)
	if !errors.Is(err, msb.ErrNotSupported) {
		t.Fatalf("current runtime outside a sandbox: %v", err)
	}
	contains(t, "message", err.Error(), "not inside a microsandbox sandbox")
}

func TestImageNotFoundOnARegistry(t *testing.T) {
	host := seedImages(t)
	ctx := testCtx(t)
	_, err := msb.PullImage(ctx, host+"/nosuch:1", false)
	if !errors.Is(err, msb.ErrImageNotFound) || !errors.Is(err, msb.ErrImagePull) {
		t.Fatalf("missing image: %v", err)
	}
	_, err = msb.NewSandboxContext(ctx, "no-image", msb.Image(host+"/python:nope"))
	if !errors.Is(err, msb.ErrImageNotFound) {
		t.Fatalf("missing tag: %v", err)
	}
}

// One sandbox through its life: get by name, list, stop, a dead
// sandbox's errors, start, kill, remove, and Close's rules; and a named
// volume it mounts, which outlives it.
func TestLifecycle(t *testing.T) {
	ctx := testCtx(t)
	name := unique("life")
	vol := unique("vol")
	vi, err := msb.CreateVolume(ctx, vol, 16)
	if err != nil || vi.Name != vol || vi.SizeMiB != 16 || vi.Path == "" || vi.CreatedAt.IsZero() {
		t.Fatalf("create volume: %+v %v", vi, err)
	}
	defer msb.RemoveVolume(context.Background(), vol, true)
	if _, err := msb.CreateVolume(ctx, vol, 0); !errors.Is(err, msb.ErrAlreadyExists) {
		t.Fatalf("volume name taken: %v", err)
	}
	if _, err := msb.CreateVolume(ctx, "nul\x00vol", 0); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("volume name with a NUL: %v", err)
	}
	if _, err := msb.GetVolume(ctx, "no-such-volume"); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("missing volume: %v", err)
	}
	sb, err := msb.NewSandboxContext(ctx, name, msb.Env("LIFE", "1"), msb.CPUs(2), msb.Memory("256M"),
		msb.Volume("/vol", msb.NewNamedVolume(vol)))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if err := sb.FS().WriteFile(ctx, "/vol/kept", []byte("outlives\n")); err != nil {
		t.Fatal(err)
	}
	if vi, err := msb.GetVolume(ctx, vol); err != nil || vi.Users != 1 || vi.Running != 1 {
		t.Fatalf("volume in use: %+v %v", vi, err)
	}
	if raw, err := msb.InspectVolume(ctx, vol); err != nil {
		t.Fatal(err)
	} else {
		var doc struct {
			Name    string   `json:"name"`
			SizeMiB uint64   `json:"size_mib"`
			UsedBy  []string `json:"used_by"`
			Running int      `json:"running"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		if doc.Name != vol || doc.SizeMiB != 16 || len(doc.UsedBy) != 1 ||
			doc.UsedBy[0] != name || doc.Running != 1 {
			t.Fatalf("inspect of a volume a running sandbox mounts: %s", raw)
		}
	}
	if _, err := msb.InspectVolume(ctx, "no-such-volume"); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("inspect of a missing volume: %v", err)
	}
	if err := msb.RemoveVolume(ctx, vol, true); !errors.Is(err, msb.ErrBusy) {
		t.Fatalf("removing a volume a running sandbox mounts: %v", err)
	}
	if sb.BootTime() <= 0 || sb.Name() != name {
		t.Fatalf("boot time %v, name %q", sb.BootTime(), sb.Name())
	}
	// The same name again is taken.
	_, err = msb.NewSandboxContext(ctx, name)
	if !errors.Is(err, msb.ErrAlreadyExists) {
		t.Fatalf("name taken: %v", err)
	}
	info, err := sb.Info(ctx)
	if err != nil || info.Status != "running" || !info.Running() || info.CPUs != 2 ||
		info.MemoryMiB != 256 || info.Image != "default" || info.Pid <= 0 {
		t.Fatalf("info: %+v %v", info, err)
	}
	list, err := msb.List(ctx)
	found := false
	for _, s := range list {
		found = found || s.Name == name
	}
	if err != nil || !found {
		t.Fatalf("list: %v %v", list, err)
	}
	// Another handle by name: its Close leaves the sandbox running.
	other, err := msb.GetSandbox(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	res, err := other.Exec(ctx, "sh -c 'echo $LIFE'")
	if err != nil || string(res.Stdout) != "1\n" {
		t.Fatalf("exec by name: %q %v", res.Stdout, err)
	}
	other.Close()
	if _, err := other.Exec(ctx, "true"); !errors.Is(err, msb.ErrClosed) {
		t.Fatalf("exec on a closed handle: %v", err)
	}
	if info, _ := sb.Info(ctx); info.Status != "running" {
		t.Fatalf("a got handle's Close stopped it: %s", info.Status)
	}
	log, err := sb.LogPath()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(log); err != nil {
		t.Fatalf("log %s: %v", log, err)
	}
	if js, err := sb.Inspect(ctx); err != nil || !strings.Contains(string(js), name) {
		t.Fatalf("inspect: %s %v", js, err)
	}

	// Stopped: commands and files say it is not running, and how to
	// start it.
	stopCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = sb.Stop(stopCtx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Stop(ctx); err != nil {
		t.Fatalf("stopping a stopped sandbox: %v", err)
	}
	if info, _ := sb.Info(ctx); info.Status != "stopped" {
		t.Fatalf("after stop: %s", info.Status)
	}
	_, err = sb.Exec(ctx, "true")
	if !errors.Is(err, msb.ErrNotRunning) {
		t.Fatalf("exec on a stopped sandbox: %v", err)
	}
	dead, _ := msb.GetSandbox(ctx, name)
	_, err = dead.Exec(ctx, "true")
	if !errors.Is(err, msb.ErrNotRunning) {
		t.Fatalf("exec on a stopped sandbox by name: %v", err)
	}
	contains(t, "message", err.Error(), "start")
	_, err = dead.FS().ReadFile(ctx, "/etc/hostname")
	if !errors.Is(err, msb.ErrNotRunning) {
		t.Fatalf("read on a stopped sandbox: %v", err)
	}

	// Started again, with its disk as it was.
	if err := sb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(ctx); err != nil {
		t.Fatalf("starting a running sandbox: %v", err)
	}
	if res, err := sb.Exec(ctx, "true"); err != nil || res.ExitCode != 0 {
		t.Fatalf("exec after start: %v", err)
	}
	if err := sb.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := sb.Info(ctx); info.Status != "stopped" {
		t.Fatalf("after kill: %s", info.Status)
	}
	// A stopped sandbox still holds its volume, unless forced.
	if err := msb.RemoveVolume(ctx, vol, false); !errors.Is(err, msb.ErrBusy) {
		t.Fatalf("removing a volume a stopped sandbox mounts: %v", err)
	}
	// Close of a handle that made it removes it.
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := msb.GetSandbox(ctx, name); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("after Close: %v", err)
	}
	// The volume outlives it, with what it wrote.
	vols, err := msb.ListVolumes(ctx)
	var listed *msb.VolumeInfo
	for i := range vols {
		if vols[i].Name == vol {
			listed = &vols[i]
		}
	}
	if err != nil || listed == nil || listed.Users != 0 || listed.UsedBytes == 0 {
		t.Fatalf("volume list: %+v %v", vols, err)
	}
	if b, err := os.ReadFile(listed.Path + "/kept"); err != nil || string(b) != "outlives\n" {
		t.Fatalf("the volume's file on the host: %q %v", b, err)
	}
	if err := msb.RemoveVolume(ctx, vol, false); err != nil {
		t.Fatal(err)
	}
	if _, err := msb.GetVolume(ctx, vol); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("after remove: %v", err)
	}
	if err := sb.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := sb.Start(ctx); !errors.Is(err, msb.ErrClosed) {
		t.Fatalf("start after Close: %v", err)
	}
}

// Keep: Close releases the handle only; Remove deletes.
func TestKeepAndRemove(t *testing.T) {
	ctx := testCtx(t)
	name := unique("keep")
	sb, err := msb.NewSandboxContext(ctx, name, msb.Keep())
	if err != nil {
		t.Fatal(err)
	}
	sb.Close()
	again, err := msb.GetSandbox(ctx, name)
	if err != nil {
		t.Fatalf("a kept sandbox is gone after Close: %v", err)
	}
	if info, _ := again.Info(ctx); info.Status != "running" {
		t.Fatalf("kept: %s", info.Status)
	}
	if err := again.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := msb.GetSandbox(ctx, name); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("after Remove: %v", err)
	}
	// A context that ends during the boot: the call returns, and the
	// sandbox is removed once its boot is over.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = msb.NewSandboxContext(short, name)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("boot under a short context: %v", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := msb.GetSandbox(ctx, name)
		if errors.Is(err, msb.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned boot's sandbox is still there: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestStats(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	if _, err := sb.Exec(ctx, "true"); err != nil {
		t.Fatal(err)
	}
	st, err := sb.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != sb.Name() || !st.Running || st.Status != "running" || st.CPUs != 1 ||
		st.MemoryLimitBytes != 512<<20 || st.MemoryRSSBytes == 0 || st.Uptime <= 0 || st.CPUTime <= 0 {
		t.Fatalf("stats: %+v", st)
	}
	if st.Guest && (st.Processes == 0 || st.MemoryTotalBytes == 0 || st.DiskTotalBytes == 0) {
		t.Fatalf("the guest's numbers: %+v", st)
	}
	all, err := msb.AllStats(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range all {
		found = found || s.Name == sb.Name()
	}
	if !found {
		t.Fatalf("AllStats lacks %s: %+v", sb.Name(), all)
	}
}

// The seeds' plugins from Go: the built-ins by type and a plugin process
// (in Python, from the protocol alone: it denies every exec of
// `exfiltrate`), asked in order
// (docs/plugins.md).
func TestPlugins(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	plugin := dir + "/deny.py"
	os.WriteFile(plugin, msbtest.DenyExecPlugin("deny", "exfiltrate", "not that"), 0o644)
	sb, err := msb.NewSandboxContext(ctx, unique("plugins"),
		msb.Plugin(msb.NewAuditLog(dir+"/audit")),
		msb.Plugin(&msb.RateLimiter{ExecPerSec: 100, BytesPerSec: 1 << 20}),
		msb.PluginProcess("python3 "+plugin))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Remove(ctx)
	if res, err := sb.Exec(ctx, "echo hi", msb.Check()); err != nil || string(res.Stdout) != "hi\n" {
		t.Fatalf("exec: %v %+v", err, res)
	}
	_, err = sb.ExecArgs(ctx, []string{"echo", "exfiltrate"})
	if !errors.Is(err, msb.ErrPolicyRefused) || !strings.Contains(err.Error(), "plugin deny: not that") {
		t.Fatalf("a denied exec: %v", err)
	}
	raw, err := sb.Inspect(ctx)
	if err != nil || !strings.Contains(string(raw), `"bytes":"1048576"`) &&
		!strings.Contains(string(raw), `"bytes": "1048576"`) {
		t.Fatalf("the rate-limiter's bytes in the record: %v %s", err, raw)
	}
	audit, _ := os.ReadFile(dir + "/audit/" + sb.Name() + ".jsonl")
	if !strings.Contains(string(audit), `"exec_before"`) {
		t.Fatalf("audit log: %q", audit)
	}
}

// serve is a guest's web servers on ports 80, 81 and 82 (busybox httpd).
const serve = "mkdir -p /www && echo hello from the guest > /www/index.html && " +
	"httpd -p 80 -h /www && httpd -p 81 -h /www && exec httpd -f -p 82 -h /www"

// Published ports as bound (msb port): a host port of 0 and a guest port
// alone get free host ports, told by Ports, and each binding reaches the
// guest's server; a sandbox with none, or not running, has none, and
// one that does not exist is ErrNotFound.
func TestSandboxPorts(t *testing.T) {
	ctx := testCtx(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fixed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sb, err := msb.NewSandboxContext(ctx, unique("goports"),
		msb.Ports("0:80", "81", fmt.Sprintf("127.0.0.1:%d:82/tcp", fixed)),
		msb.Cmd("sh", "-c", serve))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ports, err := sb.Ports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 3 {
		t.Fatalf("ports: %+v", ports)
	}
	seen := map[int]bool{}
	for i, p := range ports {
		if p.GuestPort != 80+i || p.HostIP != "127.0.0.1" || p.HostPort <= 0 || seen[p.HostPort] {
			t.Fatalf("port %d: %+v (all: %+v)", i, p, ports)
		}
		seen[p.HostPort] = true
	}
	if ports[2].HostPort != fixed || ports[2].Addr() != fmt.Sprintf("127.0.0.1:%d", fixed) {
		t.Fatalf("the fixed host port: %+v, want %d", ports[2], fixed)
	}
	for _, p := range ports {
		var body []byte
		for end := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
			r, err := http.Get("http://" + p.Addr() + "/index.html")
			if err == nil {
				body, err = io.ReadAll(r.Body)
				r.Body.Close()
			}
			if err == nil || time.Now().After(end) {
				break
			}
		}
		if string(body) != "hello from the guest\n" {
			t.Fatalf("GET through %+v: %q", p, body)
		}
	}
	if none, err := sharedSandbox(t).Ports(ctx); err != nil || len(none) != 0 {
		t.Fatalf("a sandbox that publishes none: %+v %v", none, err)
	}
	if err := sb.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if none, err := sb.Ports(ctx); err != nil || len(none) != 0 {
		t.Fatalf("a stopped sandbox's ports: %+v %v", none, err)
	}
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Ports(ctx); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("the ports of a removed sandbox: %v", err)
	}
}
