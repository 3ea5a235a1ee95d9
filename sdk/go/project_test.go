// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// A Sandboxfile project from Go: a bad file's error says where, then one
// small project (one sandbox of the built-in image) is brought up,
// listed, driven by key (exec, a script, its logs), brought up again
// (nothing changes), restarted, stopped and brought down. Two boots.
func TestProject(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()

	bad := filepath.Join(dir, "Bad")
	_, err := msb.ParseProject(ctx, []byte("sandboxes:\n  web:\n    memroy: 1G\n"), bad)
	var se *msb.SandboxfileError
	if !errors.As(err, &se) || se.File != bad || se.Line != 3 || se.Column != 5 {
		t.Fatalf("a bad key: %v (%#v), want a SandboxfileError at %s:3:5", err, se, bad)
	}
	if !errors.Is(err, msb.ErrInvalid) || !strings.Contains(err.Error(), "did you mean 'memory'") {
		t.Errorf("a bad key: %v", err)
	}
	if _, err := msb.LoadProject(ctx, filepath.Join(dir, "Missing")); !errors.Is(err, msb.ErrNotFound) {
		t.Errorf("a missing file: %v, want ErrNotFound", err)
	}

	name := fmt.Sprintf("goproj-%d", os.Getpid())
	file := filepath.Join(dir, "Sandboxfile")
	os.WriteFile(file, []byte("name: "+name+"\nsandboxes:\n  web:\n"+
		"    env: { GREETING: hello }\n    scripts:\n"+
		"      greet: echo \"$GREETING from web\"\n      fail: exit 3\n"), 0o644)
	p, err := msb.LoadProject(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Name() != name || p.File() != file {
		t.Errorf("name %q file %q", p.Name(), p.File())
	}
	if s := p.Sandboxes(); len(s) != 1 || s[0] != (msb.ProjectSandbox{Key: "web", Name: name + "-web"}) {
		t.Errorf("sandboxes %v", s)
	}
	var cfg struct {
		Sandboxes map[string]struct{ Env []string }
	}
	js, err := p.Config()
	if err != nil || json.Unmarshal(js, &cfg) != nil || fmt.Sprint(cfg.Sandboxes["web"].Env) != "[GREETING=hello]" {
		t.Errorf("config: %v %s", err, js)
	}
	ps := func() string {
		t.Helper()
		list, err := p.Ps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, e := range list {
			s = append(s, e.Key+" "+e.Name+" "+e.Status+" "+e.State)
		}
		return strings.Join(s, "; ")
	}
	if got := ps(); got != "web "+name+"-web missing missing" {
		t.Errorf("ps before up: %q", got)
	}

	var events []string
	progress := msb.ProjectProgress(func(e msb.ProjectEvent) { events = append(events, e.Sandbox+" "+e.What) })
	if err := p.Up(ctx, progress); err != nil {
		t.Fatal(err)
	}
	defer p.Down(ctx)
	if !strings.Contains(strings.Join(events, ","), "web created") {
		t.Errorf("up's events: %v", events)
	}
	if got := ps(); got != "web "+name+"-web running current" {
		t.Errorf("ps after up: %q", got)
	}
	r, err := p.ExecArgs(ctx, "web", []string{"sh", "-c", "echo $GREETING"})
	if err != nil || string(r.Stdout) != "hello\n" {
		t.Errorf("exec: %v %+v", err, r)
	}
	if r, err := p.Run(ctx, "web", "greet"); err != nil || string(r.Stdout) != "hello from web\n" {
		t.Errorf("run greet: %v %+v", err, r)
	}
	if r, err := p.Run(ctx, "web", "fail"); err != nil || r.ExitCode != 3 {
		t.Errorf("run fail: %v %+v", err, r)
	}
	if _, err := p.Run(ctx, "web", "no-such-script"); !errors.Is(err, msb.ErrNotFound) {
		t.Errorf("run of no script: %v", err)
	}
	if _, err := p.Exec(ctx, "nope", "true"); !errors.Is(err, msb.ErrInvalid) {
		t.Errorf("exec in no sandbox: %v", err)
	}
	if log, err := p.Logs(ctx, "web", 0); err != nil || !strings.Contains(log, "ready in") {
		t.Errorf("logs: %v %q", err, log)
	}
	if log, err := p.Logs(ctx, "web", 2); err != nil || strings.Count(log, "\n") != 2 {
		t.Errorf("logs, tail 2: %v %q", err, log)
	}

	events = nil
	if err := p.Up(ctx, progress); err != nil || strings.Join(events, ",") != "web up-to-date" {
		t.Errorf("up again: %v %v", err, events)
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := p.Exec(ctx, "web", "cat /proc/uptime"); err != nil || r.ExitCode != 0 {
		t.Errorf("exec after restart: %v %+v", err, r)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ps(); got != "web "+name+"-web stopped current" {
		t.Errorf("ps after stop: %q", got)
	}
	if err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ps(); got != "web "+name+"-web missing missing" {
		t.Errorf("ps after down: %q", got)
	}
}
