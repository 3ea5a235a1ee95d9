// SPDX-License-Identifier: Apache-2.0

package msb_test

// The seeds' Go snippets (shared/seeds: the product's promise), run as
// written, against the stand-ins for python:3.12 and node:20 from a local
// registry.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// log stands for the seeds' own logging; what it wrote is in logged.
func log(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, line)
	loggedMu.Lock()
	logged = append(logged, line)
	loggedMu.Unlock()
}

var (
	loggedMu sync.Mutex
	logged   []string
)

func TestSeedSecrets(t *testing.T) {
	seedImages(t)
	ctx := testCtx(t)
	key := "sk-test-" + strconv.Itoa(os.Getpid()) + "-real-value"

	sb, err := msb.NewSandbox("agent",
		msb.Image("python:3.12"),
		msb.SecretEnv("OPENAI_API_KEY", key, "api.openai.com"),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()

	// Inside the sandbox: echo $OPENAI_API_KEY -> msb_placeholder_...
	res, err := sb.Exec(ctx, `sh -c 'echo $OPENAI_API_KEY; echo $SEED_IMAGE'`)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(res.Stdout), "\n")
	if !strings.HasPrefix(lines[0], "msb_placeholder_") || lines[1] != "python:3.12" {
		t.Fatalf("guest sees %q", res.Stdout)
	}
	// The real value is nowhere in the guest: not in any process's
	// environment, not on its disk.
	res, err = sb.Shell(ctx, "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; "+
		"find /etc /root /tmp /run -type f 2>/dev/null | xargs grep -l '"+key+"' 2>/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Stdout), key) {
		t.Fatalf("the secret's value reached the guest: %q", res.Stdout)
	}
	// A value kept nowhere cannot come back: the sandbox cannot start
	// again once stopped, and says why.
	if err := sb.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	err = sb.Start(ctx)
	if err == nil {
		t.Fatal("a sandbox with a SecretEnv value started again")
	}
	t.Logf("start after stop: %v", err)
}

func TestSeedNetwork(t *testing.T) {
	seedImages(t)
	ctx := testCtx(t)

	// As written: the DNS hook runs here, in Go (docs/plugins.md).
	var seen []string
	var mu sync.Mutex
	log := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf(format, args...))
	}
	sb, err := msb.NewSandbox("worker",
		msb.Image("node:20"),
		msb.Network(
			msb.Allow("api.openai.com", "*.stripe.com"),
			msb.OnDns(func(q msb.DnsQuery) msb.DnsAction {
				log("dns: %s", q.Name)
				return msb.DnsAllow
			}),
			msb.BlockCidr("169.254.0.0/16", "10.0.0.0/8"),
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	// An allowed name reaches OnDns (a refused one never does).
	if _, err := sb.Shell(ctx, "nslookup -type=a api.openai.com 10.0.2.3; true"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	contains(t, "what OnDns saw", strings.Join(seen, "\n"), "dns: api.openai.com")
	mu.Unlock()
	// A name outside the allowlist gets NXDOMAIN at once; a blocked
	// range is refused at once; both leave a line in the log.
	res, err := sb.Shell(ctx, "nslookup evil.example 10.0.2.3; echo dns=$?; "+
		"echo | nc -w 5 10.1.2.3 80; echo nc=$?")
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.Stdout) + string(res.Stderr)
	if strings.Contains(out, "dns=0") || strings.Contains(out, "nc=0") {
		t.Fatalf("the policy let something through: %q", out)
	}
	logPath, _ := sb.LogPath()
	logb, _ := os.ReadFile(logPath)
	contains(t, "sandbox log", string(logb), "evil.example")
	contains(t, "sandbox log", string(logb), "10.1.2.3")
	js, err := sb.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Config struct {
			Net struct {
				Allow     []string `json:"allow"`
				BlockCidr []string `json:"block_cidr"`
			} `json:"net"`
		} `json:"config"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	n := doc.Config.Net
	if strings.Join(n.Allow, ",") != "api.openai.com,*.stripe.com" ||
		strings.Join(n.BlockCidr, ",") != "169.254.0.0/16,10.0.0.0/8" {
		t.Fatalf("recorded policy: %+v", n)
	}
}

// AuditFs is the seeds' filesystem in Go, wrapping the passthrough.
type AuditFs struct{ inner msb.PassthroughFs }

func (a *AuditFs) Open(ctx msb.Context, ino uint64, flags uint32) (uint64, error) {
	log("open ino=%d pid=%d", ino, ctx.Pid)
	return a.inner.Open(ctx, ino, flags)
}

func TestSeedVolumes(t *testing.T) {
	seedImages(t)
	ctx := testCtx(t)
	// "./data" as the seed has it: relative to the current directory.
	wd, _ := os.Getwd()
	dir := t.TempDir()
	os.Chdir(dir)
	defer os.Chdir(wd)
	os.Mkdir("data", 0o755)
	os.WriteFile("data/from-host.txt", []byte("host\n"), 0o644)

	// As written: AuditFs's Open runs here, in Go; every other call
	// (reads and writes too) stays in the native passthrough.
	sb, err := msb.NewSandbox("app",
		msb.Image("python:3.12"),
		msb.Volume("/data", &AuditFs{msb.NewPassthrough("./data")}),
		msb.Volume("/cache", msb.NewMemFs()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	res, err := sb.Shell(ctx, "cat /data/from-host.txt && echo guest > /data/from-guest.txt && "+
		"echo c > /cache/c && grep ' /cache ' /proc/mounts | cut -d' ' -f3")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %v (%s)", res, err, res.Stderr)
	}
	if string(res.Stdout) != "host\nvirtiofs\n" {
		t.Fatalf("guest: %q", res.Stdout)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "data", "from-guest.txt"))
	if string(b) != "guest\n" {
		t.Fatalf("host sees %q", b)
	}
	// The memory filesystem is nowhere on the host's disk.
	if _, err := os.Stat(filepath.Join(dir, "data", "c")); err == nil {
		t.Fatal("/cache wrote to the host directory")
	}
	loggedMu.Lock()
	opened := false
	for _, l := range logged {
		opened = opened || (strings.HasPrefix(l, "open ino=") && !strings.HasSuffix(l, "pid=0"))
	}
	loggedMu.Unlock()
	if !opened {
		t.Fatalf("AuditFs saw no open: %q", logged)
	}
	// A Go filesystem that wraps no built-in one is refused, saying how.
	_, err = msb.NewSandbox(unique("bare"), msb.Volume("/data", struct{ n int }{1}))
	if !errors.Is(err, msb.ErrNotSupported) {
		t.Fatalf("a bare Go filesystem: %v", err)
	}
	contains(t, "its refusal", err.Error(), "wraps no built-in one")
}

// seedWorkers is how many workers the snapshot seed forks here (the seed
// says 100; bench/snapshot.py measures that many). MSB_GO_SEED_WORKERS
// changes it.
func seedWorkers() int {
	if n, err := strconv.Atoi(os.Getenv("MSB_GO_SEED_WORKERS")); err == nil && n > 0 {
		return n
	}
	return 4
}

func TestSeedSnapshot(t *testing.T) {
	seedImages(t)
	ctx := testCtx(t)
	n := seedWorkers()

	sb, err := msb.NewSandbox("base", msb.Image("python:3.12"))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	// No pip in the stand-in image: the exit status is data, not an error.
	res, err := sb.Exec(ctx, "pip install numpy pandas torch")
	if err != nil || res.ExitCode != 127 {
		t.Fatalf("pip: %+v %v", res, err)
	}
	sb.Shell(ctx, "echo installed > /root/deps")

	snap, err := sb.Snapshot(ctx, "ml-ready")
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Remove(context.Background(), true)

	// Fork the workers from the same baseline.
	workers := make([]*msb.Sandbox, n)
	var g errgroup.Group
	for i := range n {
		g.Go(func() error {
			w, err := snap.Restore(ctx, fmt.Sprintf("w-%d", i),
				msb.Env("WORKER_ID", strconv.Itoa(i)))
			workers[i] = w
			return err
		})
	}
	err = g.Wait()
	for _, w := range workers {
		if w != nil {
			defer w.Close()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range workers {
		res, err := w.Shell(ctx, "echo $WORKER_ID; cat /root/deps; hostname")
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%d\ninstalled\nw-%d\n", i, i)
		if string(res.Stdout) != want {
			t.Fatalf("worker %d: %q, want %q", i, res.Stdout, want)
		}
	}
	info, err := snap.Info(ctx)
	if err != nil || info.Kind != "full" || info.Source != "base" || info.Users != uint(n) {
		t.Fatalf("snapshot info: %+v %v", info, err)
	}
	// A restore takes only what a restore can change.
	_, err = snap.Restore(ctx, "w-bad", msb.Image("node:20"))
	if !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("restore with an image: %v", err)
	}
	contains(t, "message", err.Error(), "msb.Image")
	// The snapshot is used: removing it without force is refused.
	if err := snap.Remove(ctx, false); !errors.Is(err, msb.ErrBusy) {
		t.Fatalf("remove a used snapshot: %v", err)
	}
}

// The seed's push and pull, against a registry on loopback as the remote:
// the shared sandbox goes up while it runs, a second push sends only what
// changed, and it comes back under another name, stopped.
func TestSeedSyncAndSpawnRefused(t *testing.T) {
	host := seedImages(t)
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	if _, _, err := msb.Remote(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("remote before one is set: %v", err)
	}
	if err := msb.SetRemote(ctx, host+"/go", false); err != nil {
		t.Fatal(err)
	}
	defer msb.SetRemote(context.Background(), "", false)
	if r, insecure, err := msb.Remote(ctx); err != nil || r != host+"/go" || insecure {
		t.Fatalf("remote: %q %v %v", r, insecure, err)
	}
	up, err := sb.Push(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if up.Name != sb.Name() || !strings.Contains(up.Reference, host+"/go/"+sb.Name()) ||
		up.Digest == "" || up.Chunks == 0 || up.Transferred == 0 || up.UpToDate {
		t.Fatalf("push: %+v", up)
	}
	// Only the chunks the running guest changed since go again, and the
	// new push is based on the first.
	again, err := sb.Push(ctx)
	if err != nil || again.Transferred >= again.Chunks || again.Parent != up.Digest {
		t.Fatalf("second push: %+v %v", again, err)
	}
	if _, err := sb.Push(ctx, msb.SyncTrust()); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("push with a pull's option: %v", err)
	}
	name := unique("pulled")
	pulled, err := msb.Pull(ctx, sb.Name(), msb.SyncName(name))
	if err != nil {
		t.Fatal(err)
	}
	defer pulled.Remove(context.Background())
	if ps := pulled.LastSync(); pulled.Name() != name || ps.Digest != again.Digest || ps.Chunks != again.Chunks {
		t.Fatalf("pull: %q %+v", pulled.Name(), ps)
	}
	if info, err := pulled.Info(ctx); err != nil || info.Status != "stopped" {
		t.Fatalf("pulled sandbox: %+v %v", info, err)
	}
	if _, err := msb.Pull(ctx, host+"/go/no-such-sandbox"); err == nil {
		t.Fatal("pulled a sandbox that was never pushed")
	}
	if _, err := msb.Pull(ctx, sb.Name(), msb.SyncRef("x")); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("pull with a push's option: %v", err)
	}
	rt, err := msb.CurrentRuntime(ctx)
	if !errors.Is(err, msb.ErrNotSupported) || rt != nil {
		t.Fatalf("current runtime: %v", err)
	}
}
