// SPDX-License-Identifier: Apache-2.0

package msb_test

// The tests boot real sandboxes (QEMU, under KVM or TCG) from the libmsb
// that pkg-config names, in a private $MSB_HOME. Booting costs seconds
// under TCG, so tests share sandboxes: one "shared" sandbox of the
// built-in image for commands and files, and one per seed snippet.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// repoRoot is the repository's top directory (this module is sdk/go).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "msb-go-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(home, 0o755)
	os.Setenv("MSB_HOME", home)
	code := m.Run()
	if shared.sb != nil {
		shared.sb.Close()
	}
	registryStop()
	// Whatever a failed test left behind.
	if list, err := msb.List(context.Background()); err == nil {
		for _, s := range list {
			if sb, err := msb.GetSandbox(context.Background(), s.Name); err == nil {
				sb.Remove(context.Background())
			}
		}
	}
	os.RemoveAll(home)
	os.Exit(code)
}

// testCtx is a context for one test: generous, since TCG is slow and
// the machine may be loaded.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var shared struct {
	once sync.Once
	sb   *msb.Sandbox
	err  error
}

// sharedSandbox is one sandbox of the built-in image that tests which
// only run commands and touch files share.
func sharedSandbox(t *testing.T) *msb.Sandbox {
	t.Helper()
	shared.once.Do(func() {
		shared.sb, shared.err = msb.NewSandbox("go-shared")
	})
	if shared.err != nil {
		t.Fatalf("booting the shared sandbox: %v", shared.err)
	}
	return shared.sb
}

// ---- the seeds' images, from a local registry ----------------------------------

var registry struct {
	once sync.Once
	host string
	cmd  *exec.Cmd
	dir  string
	err  error
	skip string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// seedImages makes python:3.12 and node:20 (small busybox stand-ins,
// tests/images/seed.py) available as the seeds name them: pushed to a
// Debian docker-registry on loopback, pulled from it by its address, and
// stored under the short names with LoadImage. It returns the
// registry's host:port.
func seedImages(t *testing.T) string {
	t.Helper()
	registry.once.Do(func() {
		bin, err := exec.LookPath("docker-registry")
		if err != nil {
			registry.skip = "docker-registry is not installed (./setup --test installs it)"
			return
		}
		registry.dir, registry.err = os.MkdirTemp("", "msb-go-registry-")
		if registry.err != nil {
			return
		}
		port, err := freePort()
		if err != nil {
			registry.err = err
			return
		}
		registry.host = fmt.Sprintf("127.0.0.1:%d", port)
		cfg := filepath.Join(registry.dir, "config.yml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nlog:\n  level: error\n"+
			"storage:\n  filesystem:\n    rootdirectory: %s/data\n"+
			"http:\n  addr: %s\n", registry.dir, registry.host)), 0o644)
		registry.cmd = exec.Command(bin, "serve", cfg)
		if registry.err = registry.cmd.Start(); registry.err != nil {
			return
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", registry.host, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				registry.err = fmt.Errorf("docker-registry does not listen on %s", registry.host)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		out, err := exec.Command("python3", filepath.Join(repoRoot(), "tests", "images", "seed.py"),
			"http://"+registry.host, filepath.Join(registry.dir, "layouts")).Output()
		if err != nil {
			registry.err = fmt.Errorf("tests/images/seed.py: %v", err)
			return
		}
		var layouts map[string]string
		if registry.err = json.Unmarshal(out, &layouts); registry.err != nil {
			return
		}
		ctx := context.Background()
		for ref, dir := range layouts {
			// The pull path, from the registry by its address...
			if _, err := msb.PullImage(ctx, registry.host+"/"+ref, false); err != nil {
				registry.err = err
				return
			}
			// ...and the seed's own name for the same image.
			if _, err := msb.LoadImage(ctx, dir, ref); err != nil {
				registry.err = err
				return
			}
		}
	})
	if registry.skip != "" {
		t.Skip(registry.skip)
	}
	if registry.err != nil {
		t.Fatalf("seed images: %v", registry.err)
	}
	return registry.host
}

func registryStop() {
	if registry.cmd != nil && registry.cmd.Process != nil {
		registry.cmd.Process.Kill()
		registry.cmd.Wait()
	}
	if registry.dir != "" {
		os.RemoveAll(registry.dir)
	}
}

// unique is a sandbox name no other test uses.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

// contains fails the test unless @s holds @sub.
func contains(t *testing.T, what, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%s: %q does not contain %q", what, s, sub)
	}
}
