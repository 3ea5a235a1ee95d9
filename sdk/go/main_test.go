// SPDX-License-Identifier: Apache-2.0

package msb_test

// The tests boot real sandboxes (QEMU, under KVM or TCG) from the libmsb
// that pkg-config names, in a private $MSB_HOME. Booting costs seconds
// under TCG, so tests share sandboxes: one "shared" sandbox of the
// built-in image for commands and files, and one per seed snippet.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
	"github.com/microsandbox/microsandbox/sdk/go/msbtest"
)

func TestMain(m *testing.M) {
	cleanup, err := msbtest.Home("msb-go-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if shared.sb != nil {
		shared.sb.Close()
	}
	registry.Stop()
	cleanup()
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

var (
	registry msbtest.OnceRegistry
	seeds    struct {
		once sync.Once
		err  error
	}
)

// seedImages makes python:3.12 and node:20 (small busybox stand-ins,
// tests/images/seed.py) available as the seeds name them: pushed to a
// Debian docker-registry on loopback, pulled from it by its address, and
// stored under the short names with LoadImage. It returns the
// registry's host:port.
func seedImages(t *testing.T) string {
	t.Helper()
	reg := registry.Get(t)
	seeds.once.Do(func() { seeds.err = msbtest.SeedImages(context.Background(), reg) })
	if seeds.err != nil {
		t.Fatalf("seed images: %v", seeds.err)
	}
	return reg.Host
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

// events collects what a progress callback reports, from libmsb's
// threads.
type events[T any] struct {
	mu  sync.Mutex
	evs []T
}

func (e *events[T]) add(ev T) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}
