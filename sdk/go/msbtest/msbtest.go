// SPDX-License-Identifier: Apache-2.0

// Package msbtest has what tests that drive real sandboxes through the Go
// SDK share (this module's own, and the Terraform provider's in
// terraform/): a private state directory, a registry on loopback
// (Debian's docker-registry), and the seeds' images (small stand-ins for
// python:3.12 and node:20 made by tests/images/seed.py). It is for tests
// inside this repository: it finds tests/ from its own source file.
package msbtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Home makes a private state directory and points $MSB_HOME at it. Its
// cleanup removes whatever sandboxes and snapshots a failed test left
// behind, then the directory.
func Home(prefix string) (cleanup func(), err error) {
	home, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	os.Chmod(home, 0o755) // QEMU may run as a uid of its own
	os.Setenv("MSB_HOME", home)
	return func() {
		ctx := context.Background()
		if list, err := msb.List(ctx); err == nil {
			for _, s := range list {
				if sb, err := msb.GetSandbox(ctx, s.Name); err == nil {
					sb.Remove(ctx)
				}
			}
		}
		if snaps, err := msb.Snapshots(ctx); err == nil {
			for _, s := range snaps {
				if sn, err := msb.GetSnapshot(ctx, s.Name); err == nil {
					sn.Remove(ctx, true)
				}
			}
		}
		os.RemoveAll(home)
	}, nil
}

// ErrNoRegistry: docker-registry is not installed (./setup --test
// installs it); tests that need a registry skip.
var ErrNoRegistry = errors.New("docker-registry is not installed (./setup --test installs it)")

// Registry is a docker-registry serving plain http on a free loopback
// port, its storage in a directory of its own.
type Registry struct {
	Host string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	dir  string
}

// StartRegistry starts one and waits until it listens.
func StartRegistry() (*Registry, error) {
	dir, err := os.MkdirTemp("", "msb-registry-")
	if err != nil {
		return nil, err
	}
	return startRegistry(dir, filepath.Join(dir, "data"), "")
}

// ErrNoHtpasswd: htpasswd (apache2-utils) is not installed; tests of
// registry logins skip.
var ErrNoHtpasswd = errors.New("htpasswd is not installed (apache2-utils)")

// WithLogin starts a second registry that serves what @r stores (the
// same storage) on a port of its own, and answers only requests that log
// in as @user with @password (an htpasswd file, bcrypt, as registries
// keep them). Its Stop leaves @r's storage alone.
func (r *Registry) WithLogin(user, password string) (*Registry, error) {
	bin, err := exec.LookPath("htpasswd")
	if err != nil {
		return nil, ErrNoHtpasswd
	}
	dir, err := os.MkdirTemp("", "msb-registry-auth-")
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "htpasswd")
	if out, err := exec.Command(bin, "-Bbc", file, user, password).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("htpasswd: %v: %s", err, out)
	}
	return startRegistry(dir, filepath.Join(r.dir, "data"),
		fmt.Sprintf("auth:\n  htpasswd:\n    realm: msb-test\n    path: %s\n", file))
}

// startRegistry runs docker-registry with its config in @dir (removed by
// Stop), its storage in @data, and @auth as its auth section.
func startRegistry(dir, data, auth string) (*Registry, error) {
	r := &Registry{dir: dir}
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		r.Stop()
		return nil, ErrNoRegistry
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Stop()
		return nil, err
	}
	r.Host = l.Addr().String()
	l.Close()
	cfg := filepath.Join(r.dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: error\n"+
		"storage:\n  filesystem:\n    rootdirectory: %s\n%s"+
		"http:\n  addr: %s\n", data, auth, r.Host)), 0o644)
	r.cmd = exec.Command(bin, "serve", cfg)
	if err := r.cmd.Start(); err != nil {
		r.Stop()
		return nil, err
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", r.Host, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return r, nil
		}
		if time.Now().After(deadline) {
			r.Stop()
			return nil, fmt.Errorf("docker-registry does not listen on %s", r.Host)
		}
	}
}

// Stop kills the registry and removes its directory (its storage, unless
// it is another's: WithLogin).
func (r *Registry) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
	os.RemoveAll(r.dir)
}

// OnceRegistry is a Registry a test binary starts at its first use and
// shares: Get skips the test when docker-registry is not installed.
type OnceRegistry struct {
	once sync.Once
	reg  *Registry
	err  error
}

// Get is the registry, started at the first call.
func (o *OnceRegistry) Get(t testing.TB) *Registry {
	t.Helper()
	o.once.Do(func() { o.reg, o.err = StartRegistry() })
	if errors.Is(o.err, ErrNoRegistry) {
		t.Skip(o.err)
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	return o.reg
}

// Stop stops it, if it was started.
func (o *OnceRegistry) Stop() {
	if o.reg != nil {
		o.reg.Stop()
	}
}

// SeedImages stores python:3.12 and node:20 under the seeds' short names
// (msb.LoadImage of OCI layouts). With @reg, they are pushed to it too and
// pulled from it by its address first, the path an image pull takes.
func SeedImages(ctx context.Context, reg *Registry) error {
	dir, err := os.MkdirTemp("", "msb-seeds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	base := "-"
	if reg != nil {
		base = "http://" + reg.Host
	}
	out, err := exec.Command("python3", filepath.Join(RepoRoot(), "tests", "images", "seed.py"),
		base, dir).Output()
	if err != nil {
		return fmt.Errorf("tests/images/seed.py: %v", err)
	}
	var layouts map[string]string
	if err := json.Unmarshal(out, &layouts); err != nil {
		return err
	}
	for ref, d := range layouts {
		if reg != nil {
			if _, err := msb.PullImage(ctx, reg.Host+"/"+ref, false); err != nil {
				return err
			}
		}
		if _, err := msb.LoadImage(ctx, d, ref); err != nil {
			return err
		}
	}
	return nil
}

// pluginPrelude is a plugin process's side of the hook protocol in
// Python (docs/plugins.md: length-prefixed JSON on descriptor 3).
const pluginPrelude = `
import json, socket, struct, time
s = socket.socket(fileno=3)
def read():
    h = s.recv(4, socket.MSG_WAITALL)
    if len(h) < 4: raise SystemExit
    return json.loads(s.recv(struct.unpack(">I", h)[0], socket.MSG_WAITALL))
def send(m):
    b = json.dumps(m).encode(); s.sendall(struct.pack(">I", len(b)) + b)
`

// pyQuote is @s as a Python string literal.
func pyQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// DenyExecPlugin is the source of a plugin process in Python, written
// from the hook protocol alone: it says hello as @name asking for
// exec_before, and denies every exec whose argv holds @word, saying
// @reason; it allows the rest.
func DenyExecPlugin(name, word, reason string) []byte {
	return []byte(pluginPrelude + fmt.Sprintf(`
while True:
    m = read()
    if m["type"] == "hello":
        send({"type": "hello", "name": %s, "hooks": ["exec_before"]})
    elif m["type"] == "call":
        bad = %s in m["argv"]
        send({"type": "reply", "id": m["id"], "verdict": "deny" if bad else "allow",
              "reason": %s})
`, pyQuote(name), pyQuote(word), pyQuote(reason)))
}

// AllowPlugin is the source of a plugin process in Python that says
// hello as @name asking for exec_before, allows each exec after waiting
// @delay, and exits after @calls of them.
func AllowPlugin(name string, delay time.Duration, calls int) []byte {
	return []byte(pluginPrelude + fmt.Sprintf(`
n = 0
while n < %d:
    m = read()
    if m["type"] == "hello":
        send({"type": "hello", "name": %s, "hooks": ["exec_before"]})
    elif m["type"] == "call":
        time.sleep(%g)
        send({"type": "reply", "id": m["id"], "verdict": "allow"})
        n += 1
`, calls, pyQuote(name), delay.Seconds()))
}
