// SPDX-License-Identifier: Apache-2.0

package msb_test

// tests/sdk/vectors.json: the cases every SDK runs against one sandbox of
// the built-in image, to behave alike (the C runner is the reference).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
	"github.com/microsandbox/microsandbox/sdk/go/msbtest"
)

type vectorExpect struct {
	Stdout         *string `json:"stdout"`
	StdoutB64      string  `json:"stdout_b64"`
	Stderr         *string `json:"stderr"`
	StderrContains string  `json:"stderr_contains"`
	StdoutSize     *int    `json:"stdout_size"`
	ExitCode       int     `json:"exit_code"`
	Signal         int     `json:"signal"`
	TimedOut       bool    `json:"timed_out"`
	Size           int64   `json:"size"`
	Type           string  `json:"type"`
	Mode           uint32  `json:"mode"`
}

type vectorExec struct {
	Name      string            `json:"name"`
	Argv      []string          `json:"argv"`
	Command   string            `json:"command"`
	Stdin     *string           `json:"stdin"`
	StdinB64  string            `json:"stdin_b64"`
	Env       map[string]string `json:"env"`
	Cwd       string            `json:"cwd"`
	User      string            `json:"user"`
	TimeoutMs int               `json:"timeout_ms"`
	Expect    vectorExpect      `json:"expect"`
}

type vectorWrite struct {
	Name       string       `json:"name"`
	Path       string       `json:"path"`
	Content    *string      `json:"content"`
	ContentB64 string       `json:"content_b64"`
	Mode       uint32       `json:"mode"`
	Parents    bool         `json:"parents"`
	Expect     vectorExpect `json:"expect"`
}

type vectorError struct {
	Name      string   `json:"name"`
	Op        string   `json:"op"`
	Argv      []string `json:"argv"`
	User      string   `json:"user"`
	Path      string   `json:"path"`
	Exclusive bool     `json:"exclusive"`
	Content   string   `json:"content"`
	Sandbox   string   `json:"sandbox"`
	Error     string   `json:"error"`
	Result    *bool    `json:"result"`
}

type vectors struct {
	Version int          `json:"version"`
	Exec    []vectorExec `json:"exec"`
	Files   struct {
		Dir   string        `json:"dir"`
		Write []vectorWrite `json:"write"`
		List  struct {
			Path           string   `json:"path"`
			Names          []string `json:"names"`
			RecursiveNames []string `json:"recursive_names"`
		} `json:"list"`
		Mkdir struct {
			Path    string       `json:"path"`
			Parents bool         `json:"parents"`
			Expect  vectorExpect `json:"expect"`
		} `json:"mkdir"`
		Rename struct {
			From, To, Content string
		} `json:"rename"`
		Remove struct {
			Path      string `json:"path"`
			Recursive bool   `json:"recursive"`
		} `json:"remove"`
	} `json:"files"`
	Errors []vectorError `json:"errors"`
}

func loadVectors(t *testing.T) *vectors {
	path := filepath.Join(msbtest.RepoRoot(), "tests", "sdk", "vectors.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("no tests/sdk/vectors.json")
	}
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if v.Version != 1 {
		t.Fatalf("%s: version %d, this runner reads 1", path, v.Version)
	}
	return &v
}

func unb64(t *testing.T, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errName is the libmsb code name an error carries ("MSB_E_NOT_FOUND").
func errName(err error) string {
	var e *msb.Error
	if errors.As(err, &e) {
		return e.Name
	}
	if err == nil {
		return "no error"
	}
	return "not an *msb.Error: " + err.Error()
}

func TestVectorsExec(t *testing.T) {
	v := loadVectors(t)
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	for _, c := range v.Exec {
		t.Run(c.Name, func(t *testing.T) {
			if c.Command != "" {
				words, err := msb.SplitCommand(c.Command)
				if err != nil || !reflect.DeepEqual(words, c.Argv) {
					t.Fatalf("%q splits to %q (%v), want %q", c.Command, words, err, c.Argv)
				}
			}
			var opts []msb.ExecOption
			if c.Stdin != nil {
				opts = append(opts, msb.Stdin(strings.NewReader(*c.Stdin)))
			}
			if c.StdinB64 != "" {
				opts = append(opts, msb.Stdin(bytes.NewReader(unb64(t, c.StdinB64))))
			}
			for k, val := range c.Env {
				opts = append(opts, msb.Env(k, val))
			}
			if c.Cwd != "" {
				opts = append(opts, msb.Workdir(c.Cwd))
			}
			if c.User != "" {
				opts = append(opts, msb.User(c.User))
			}
			if c.TimeoutMs > 0 {
				opts = append(opts, msb.Timeout(time.Duration(c.TimeoutMs)*time.Millisecond))
			}
			var res *msb.ExecResult
			var err error
			if c.Command != "" {
				res, err = sb.Exec(ctx, c.Command, opts...)
			} else {
				res, err = sb.ExecArgs(ctx, c.Argv, opts...)
			}
			if err != nil {
				t.Fatal(err)
			}
			e := c.Expect
			if e.Stdout != nil && string(res.Stdout) != *e.Stdout {
				t.Errorf("stdout %q, want %q", res.Stdout, *e.Stdout)
			}
			if e.StdoutB64 != "" && !bytes.Equal(res.Stdout, unb64(t, e.StdoutB64)) {
				t.Errorf("stdout differs (%d bytes)", len(res.Stdout))
			}
			if e.StdoutSize != nil && len(res.Stdout) != *e.StdoutSize {
				t.Errorf("stdout is %d bytes, want %d", len(res.Stdout), *e.StdoutSize)
			}
			if e.Stderr != nil && string(res.Stderr) != *e.Stderr {
				t.Errorf("stderr %q, want %q", res.Stderr, *e.Stderr)
			}
			if !strings.Contains(string(res.Stderr), e.StderrContains) {
				t.Errorf("stderr %q lacks %q", res.Stderr, e.StderrContains)
			}
			if res.ExitCode != e.ExitCode || res.Signal != e.Signal || res.TimedOut != e.TimedOut {
				t.Errorf("exit %d signal %d timed out %v, want %d %d %v", res.ExitCode,
					res.Signal, res.TimedOut, e.ExitCode, e.Signal, e.TimedOut)
			}
		})
	}
}

func fileType(fi *msb.FileInfo) string {
	switch {
	case fi.IsDir():
		return "dir"
	case fi.Mode()&fs.ModeSymlink != 0:
		return "symlink"
	case fi.Mode().IsRegular():
		return "file"
	}
	return "other"
}

func TestVectorsFiles(t *testing.T) {
	v := loadVectors(t)
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	f := sb.FS()
	vf := v.Files
	if err := f.MkdirAll(ctx, vf.Dir); err != nil {
		t.Fatal(err)
	}
	for _, w := range vf.Write {
		t.Run("write "+w.Name, func(t *testing.T) {
			var data []byte
			if w.Content != nil {
				data = []byte(*w.Content)
			} else {
				data = unb64(t, w.ContentB64)
			}
			var opts []msb.FileOption
			if w.Mode != 0 {
				opts = append(opts, msb.Mode(fs.FileMode(w.Mode)))
			}
			if w.Parents {
				opts = append(opts, msb.Parents())
			}
			if err := f.WriteFile(ctx, w.Path, data, opts...); err != nil {
				t.Fatal(err)
			}
			got, err := f.ReadFile(ctx, w.Path)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, %v", len(got), err)
			}
			st, err := f.Stat(ctx, w.Path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != w.Expect.Size || fileType(st) != w.Expect.Type ||
				uint32(st.Mode().Perm()) != w.Expect.Mode {
				t.Fatalf("stat: size %d type %s mode %o, want %d %s %o", st.Size(),
					fileType(st), st.Mode().Perm(), w.Expect.Size, w.Expect.Type, w.Expect.Mode)
			}
		})
	}
	names := func(opts ...msb.FileOption) []string {
		list, err := f.ReadDir(ctx, vf.List.Path, opts...)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range list {
			out = append(out, e.Name())
		}
		return out
	}
	if got := names(); !reflect.DeepEqual(got, vf.List.Names) {
		t.Errorf("list: %q, want %q", got, vf.List.Names)
	}
	if got := names(msb.Recursive()); !reflect.DeepEqual(got, vf.List.RecursiveNames) {
		t.Errorf("recursive list: %q, want %q", got, vf.List.RecursiveNames)
	}
	var mo []msb.FileOption
	if vf.Mkdir.Parents {
		mo = append(mo, msb.Parents())
	}
	if err := f.Mkdir(ctx, vf.Mkdir.Path, mo...); err != nil {
		t.Fatal(err)
	}
	if st, err := f.Stat(ctx, vf.Mkdir.Path); err != nil || fileType(st) != vf.Mkdir.Expect.Type ||
		uint32(st.Mode().Perm()) != vf.Mkdir.Expect.Mode {
		t.Errorf("mkdir: %v %v", st, err)
	}
	if err := f.Rename(ctx, vf.Rename.From, vf.Rename.To); err != nil {
		t.Fatal(err)
	}
	if b, err := f.ReadFile(ctx, vf.Rename.To); err != nil || string(b) != vf.Rename.Content {
		t.Errorf("after rename: %q %v", b, err)
	}
	if ok, _ := f.Exists(ctx, vf.Rename.From); ok {
		t.Error("the renamed file is still there")
	}
	var ro []msb.FileOption
	if vf.Remove.Recursive {
		ro = append(ro, msb.Recursive())
	}
	if err := f.Remove(ctx, vf.Remove.Path, ro...); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Exists(ctx, vf.Remove.Path); ok {
		t.Error("the removed tree is still there")
	}
}

func TestVectorsErrors(t *testing.T) {
	v := loadVectors(t)
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	f := sb.FS()
	for _, c := range v.Errors {
		t.Run(c.Name, func(t *testing.T) {
			var err error
			var result any
			var fo []msb.FileOption
			if c.User != "" {
				fo = append(fo, msb.User(c.User))
			}
			switch c.Op {
			case "exec":
				var eo []msb.ExecOption
				if c.User != "" {
					eo = append(eo, msb.User(c.User))
				}
				_, err = sb.ExecArgs(ctx, c.Argv, eo...)
			case "read":
				_, err = f.ReadFile(ctx, c.Path, fo...)
			case "stat":
				_, err = f.Stat(ctx, c.Path, fo...)
			case "exists":
				result, err = f.Exists(ctx, c.Path, fo...)
			case "mkdir":
				if c.Exclusive {
					fo = append(fo, msb.Exclusive())
				}
				err = f.Mkdir(ctx, c.Path, fo...)
			case "write":
				err = f.WriteFile(ctx, c.Path, []byte(c.Content), fo...)
			case "remove":
				err = f.Remove(ctx, c.Path, fo...)
			case "open":
				_, err = msb.GetSandbox(ctx, c.Sandbox)
			default:
				t.Fatalf("unknown op %q", c.Op)
			}
			if c.Result != nil {
				if err != nil || result != *c.Result {
					t.Fatalf("got %v, %v; want %v", result, err, *c.Result)
				}
				return
			}
			if got := errName(err); got != c.Error {
				t.Fatalf("error %s (%v), want %s", got, err, c.Error)
			}
		})
	}
}
