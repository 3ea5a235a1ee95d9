// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	msb "github.com/microsandbox/microsandbox/sdk/go"
	"github.com/microsandbox/microsandbox/sdk/go/msbtest"
)

// An image's record, with the OCI config a sandbox's defaults come from.
func TestInspectImage(t *testing.T) {
	seedImages(t)
	ctx := testCtx(t)
	raw, err := msb.InspectImage(ctx, "python:3.12")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Reference string `json:"reference"`
		Config    struct {
			Config struct {
				Env []string `json:"Env"`
			} `json:"config"`
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	found := false
	for _, kv := range doc.Config.Config.Env {
		found = found || kv == "SEED_IMAGE=python:3.12"
	}
	if doc.Reference != "python:3.12" || !found {
		t.Fatalf("python:3.12's record: %s", raw)
	}
	if _, err := msb.InspectImage(ctx, "nosuch:1"); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("a missing image: %v", err)
	}
	if _, err := msb.InspectImage(ctx, "bad\x00ref"); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("a NUL in the reference: %v", err)
	}
}

// imageDigest is the stored image @ref's manifest digest.
func imageDigest(t *testing.T, ctx context.Context, ref string) string {
	t.Helper()
	list, err := msb.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range list {
		if im.Reference == ref {
			return im.Digest
		}
	}
	t.Fatalf("%s is not stored", ref)
	return ""
}

// untar is what the tar at @path holds, by name.
func untar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag == tar.TypeReg {
			if out[h.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// An image saved as an OCI layout tar (msb save) loads back under
// another tag with the same manifest and config; the docker format adds
// the manifest.json docker load reads. A missing image, the built-in one
// and an unknown format are refused, and a refused save leaves no file.
func TestSaveImage(t *testing.T) {
	seedImages(t)
	ctx := testCtx(t)
	dir := t.TempDir()
	want := imageDigest(t, ctx, "python:3.12")

	oci := filepath.Join(dir, "python.tar")
	if err := msb.SaveImage(ctx, "python:3.12", oci, msb.SaveOCI); err != nil {
		t.Fatal(err)
	}
	files := untar(t, oci)
	if files["oci-layout"] == nil || files["index.json"] == nil || files["manifest.json"] != nil ||
		files["blobs/sha256/"+strings.TrimPrefix(want, "sha256:")] == nil {
		t.Fatalf("the OCI tar holds %d files, want oci-layout, index.json and the manifest %s", len(files), want)
	}
	info, err := msb.LoadImage(ctx, oci, "gosaved:1")
	if err != nil {
		t.Fatal(err)
	}
	defer msb.RemoveImage(context.Background(), "gosaved:1")
	if info.Reference != "gosaved:1" || info.Digest != want || info.Layers != 1 {
		t.Fatalf("loaded back: %+v, want the digest %s", info, want)
	}
	raw, err := msb.InspectImage(ctx, "gosaved:1")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "its config", string(raw), "SEED_IMAGE=python:3.12")

	docker := filepath.Join(dir, "python-docker.tar")
	if err := msb.SaveImage(ctx, "gosaved:1", docker, msb.SaveDocker); err != nil {
		t.Fatal(err)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(untar(t, docker)["manifest.json"], &manifest); err != nil {
		t.Fatalf("the docker tar's manifest.json: %v", err)
	}
	if len(manifest) != 1 || len(manifest[0].RepoTags) != 1 ||
		!strings.Contains(manifest[0].RepoTags[0], "gosaved:1") || len(manifest[0].Layers) != 1 {
		t.Fatalf("manifest.json: %+v", manifest)
	}

	gone := filepath.Join(dir, "nosuch.tar")
	if err := msb.SaveImage(ctx, "nosuch:1", gone, msb.SaveOCI); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("save of a missing image: %v", err)
	}
	if _, err := os.Stat(gone); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused save left %s: %v", gone, err)
	}
	if err := msb.SaveImage(ctx, "default", gone, msb.SaveOCI); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("save of the built-in image: %v", err)
	}
	if err := msb.SaveImage(ctx, "python:3.12", gone, msb.SaveFormat(7)); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("an unknown format: %v", err)
	}
}

// blob writes @b into the OCI layout @dir and returns its descriptor.
func blob(t *testing.T, dir, mediaType string, b []byte) map[string]any {
	t.Helper()
	sum := sha256.Sum256(b)
	hx := hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", hx), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"mediaType": mediaType, "digest": "sha256:" + hx, "size": len(b)}
}

// readJSON reads the JSON file @path into @v.
func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// withLayer writes, in @dir, the OCI layout @saved (a saved image of one
// manifest) with one layer more on top, holding /unique with @content: an
// image that shares its base with the one saved and has a layer of its
// own.
func withLayer(t *testing.T, saved, dir string, content []byte) {
	t.Helper()
	for name, b := range untar(t, saved) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var index struct {
		SchemaVersion int              `json:"schemaVersion"`
		Manifests     []map[string]any `json:"manifests"`
	}
	readJSON(t, filepath.Join(dir, "index.json"), &index)
	blobPath := func(desc map[string]any) string {
		return filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(desc["digest"].(string), "sha256:"))
	}
	var manifest map[string]any
	readJSON(t, blobPath(index.Manifests[0]), &manifest)
	cdesc := manifest["config"].(map[string]any)
	var config map[string]any
	readJSON(t, blobPath(cdesc), &config)

	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	tw.WriteHeader(&tar.Header{Name: "unique", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write(content)
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	layers := manifest["layers"].([]any)
	layers = append(layers, blob(t, dir, layers[0].(map[string]any)["mediaType"].(string), gz.Bytes()))
	manifest["layers"] = layers
	rootfs := config["rootfs"].(map[string]any)
	diffID := sha256.Sum256(raw.Bytes())
	rootfs["diff_ids"] = append(rootfs["diff_ids"].([]any), "sha256:"+hex.EncodeToString(diffID[:]))
	cb, _ := json.Marshal(config)
	manifest["config"] = blob(t, dir, cdesc["mediaType"].(string), cb)
	mb, _ := json.Marshal(manifest)
	mdesc := blob(t, dir, index.Manifests[0]["mediaType"].(string), mb)
	index.Manifests = []map[string]any{mdesc}
	ib, _ := json.Marshal(index)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), ib, 0o644); err != nil {
		t.Fatal(err)
	}
}

// PruneImages deletes what no image and no sandbox uses: an image of a
// layer of its own, removed while a sandbox booted from it exists, keeps
// that layer (the sandbox runs on it) until the sandbox goes; the prune
// after that frees it, and a second prune finds nothing.
func TestPruneImages(t *testing.T) {
	seedImages(t)
	ctx := testCtx(t)
	dir := t.TempDir()
	saved := filepath.Join(dir, "python.tar")
	if err := msb.SaveImage(ctx, "python:3.12", saved, msb.SaveOCI); err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 256<<10)
	rand.Read(content)
	layout := filepath.Join(dir, "layout")
	withLayer(t, saved, layout, content)
	if _, err := msb.LoadImage(ctx, layout, "goprune:1"); err != nil {
		t.Fatal(err)
	}
	sb, err := msb.NewSandboxContext(ctx, unique("goprune"), msb.Image("goprune:1"))
	if err != nil {
		msb.RemoveImage(context.Background(), "goprune:1")
		t.Fatal(err)
	}
	defer sb.Close()
	sum := sha256.Sum256(content)
	res, err := sb.Shell(ctx, "sha256sum /unique")
	if err != nil || !strings.HasPrefix(string(res.Stdout), hex.EncodeToString(sum[:])) {
		t.Fatalf("the sandbox's own layer: %+v %v", res, err)
	}
	if err := msb.RemoveImage(ctx, "goprune:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Shell(ctx, "cat /unique > /dev/null"); err != nil {
		t.Fatalf("the sandbox after its image was removed: %v", err)
	}
	if err := sb.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	freed, err := msb.PruneImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if freed.Files == 0 || freed.FreedBytes < uint64(len(content)) {
		t.Fatalf("the prune after the sandbox went: %+v, want its %d-byte layer", freed, len(content))
	}
	if again, err := msb.PruneImages(ctx); err != nil || again.Files != 0 || again.FreedBytes != 0 {
		t.Fatalf("a second prune: %+v %v", again, err)
	}
	if _, err := msb.InspectImage(ctx, "python:3.12"); err != nil {
		t.Fatalf("the prune took the image it was built on: %v", err)
	}
}

// Registry logins (msb registry login/logout), against a docker-registry
// with an htpasswd file serving the seeds' images: a pull is refused
// without credentials; a login with a wrong password is refused by the
// registry (ErrPermission) and stores nothing, so a pull still needs a
// login; the right one is kept, and a wrong one after it leaves it as it
// was; a pull works once logged in and is refused again after the
// logout. The credentials are kept in $MSB_HOME/auth.json, mode 0600, and
// bad input is refused.
func TestRegistryLogin(t *testing.T) {
	seedImages(t)
	ctx := testCtx(t)
	password := fmt.Sprintf("pw-%x", sha256.Sum256([]byte(unique("pw"))))[:24]
	auth, err := registry.Get(t).WithLogin("gosdk", password)
	if errors.Is(err, msbtest.ErrNoHtpasswd) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Stop()
	ref := auth.Host + "/python:3.12"
	refused := func(when, says string) {
		t.Helper()
		_, err := msb.PullImage(ctx, ref, false)
		// (msb_image_pull reports every failure as MSB_E_PULL; the
		// message says why)
		if !errors.Is(err, msb.ErrImagePull) {
			t.Fatalf("a pull %s: %v", when, err)
		}
		contains(t, "message", err.Error(), says)
	}
	refused("before a login", "needs a login")

	authJSON := filepath.Join(os.Getenv("MSB_HOME"), "auth.json")
	wrong := func(when string) {
		t.Helper()
		err := msb.RegistryLogin(ctx, auth.Host, "gosdk", "wrong")
		if !errors.Is(err, msb.ErrPermission) {
			t.Fatalf("a login with a wrong password %s: %v", when, err)
		}
		contains(t, "a wrong login", err.Error(), "refused the login of 'gosdk'")
		contains(t, "a wrong login", err.Error(), "nothing was stored")
	}
	wrong("before any")
	if b, err := os.ReadFile(authJSON); err == nil && strings.Contains(string(b), auth.Host) {
		t.Fatalf("a refused login was stored: %s", b)
	}
	refused("after a refused login", "needs a login")
	if err := msb.RegistryLogin(ctx, auth.Host, "gosdk", password); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(authJSON)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("auth.json: %v %v", st, err)
	}
	kept, err := os.ReadFile(authJSON)
	if err != nil || !strings.Contains(string(kept), auth.Host) {
		t.Fatalf("auth.json after the login: %s %v", kept, err)
	}
	wrong("after the right one")
	if b, err := os.ReadFile(authJSON); err != nil || !bytes.Equal(b, kept) {
		t.Fatalf("a refused login changed auth.json: %s %v", b, err)
	}
	info, err := msb.PullImage(ctx, ref, false)
	if err != nil {
		t.Fatal(err)
	}
	defer msb.RemoveImage(context.Background(), ref)
	if want := imageDigest(t, ctx, "python:3.12"); info.Digest != want {
		t.Fatalf("pulled %+v, want the digest %s", info, want)
	}

	if err := msb.RegistryLogout(ctx, auth.Host); err != nil {
		t.Fatal(err)
	}
	refused("after the logout", "needs a login")
	if err := msb.RegistryLogout(ctx, auth.Host); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("a second logout: %v", err)
	}

	for _, bad := range [][3]string{{auth.Host + "/x", "u", "p"}, {"", "u", "p"},
		{auth.Host, "a:b", "p"}, {auth.Host, "", "p"}, {"nul\x00host", "u", "p"}} {
		if err := msb.RegistryLogin(ctx, bad[0], bad[1], bad[2]); !errors.Is(err, msb.ErrInvalid) {
			t.Fatalf("login %q: %v", bad, err)
		}
	}
	err = msb.RegistryLogin(ctx, auth.Host, "gosdk", "secret\x00word")
	if !errors.Is(err, msb.ErrInvalid) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("a NUL in the password: %v", err)
	}
}

// LoginInsecure reaches libmsb: a registry not on loopback (this host's
// own address, on a port nothing listens on) is asked over https without
// it, the error saying to try --insecure, and over plain http with it.
// Neither login is stored.
func TestRegistryLoginInsecure(t *testing.T) {
	ctx := testCtx(t)
	// The address this host would send from (no packet is sent).
	c, err := net.Dial("udp", "192.0.2.1:9")
	if err != nil {
		t.Skipf("no route off this host: %v", err)
	}
	ip := c.LocalAddr().(*net.UDPAddr).IP
	c.Close()
	if ip.IsLoopback() || ip.IsUnspecified() {
		t.Skipf("this host's address is %s, on loopback", ip)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	host := ln.Addr().String() // a port nothing listens on once it is closed
	ln.Close()
	authJSON := filepath.Join(os.Getenv("MSB_HOME"), "auth.json")

	err = msb.RegistryLogin(ctx, host, "gosdk", "pw")
	if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("a login to %s over https: %v", host, err)
	}
	contains(t, "a login over https", err.Error(), "cannot reach registry "+host+" (https)")
	contains(t, "a login over https", err.Error(), "--insecure")

	err = msb.RegistryLogin(ctx, host, "gosdk", "pw", msb.LoginInsecure())
	if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("an insecure login to %s: %v", host, err)
	}
	contains(t, "an insecure login", err.Error(), "cannot reach registry "+host+" (http)")
	if strings.Contains(err.Error(), "--insecure") {
		t.Fatalf("an insecure login is told to use --insecure: %v", err)
	}
	if b, err := os.ReadFile(authJSON); err == nil && strings.Contains(string(b), host) {
		t.Fatalf("a login that reached no registry was stored: %s", b)
	}
}

// imageEvents collects what ImageProgress reports.
type imageEvents struct{ events[msb.ImageEvent] }

// ImageProgress reports a pull's and a load's steps as they happen: a
// pull into an empty store resolves, downloads each layer to its last
// byte and converts it; a load of an image with a layer of its own
// converts that layer. Every event names a layer of the image's count.
func TestImageProgress(t *testing.T) {
	host := seedImages(t)
	ctx := testCtx(t)
	dir := t.TempDir()
	saved := filepath.Join(dir, "python.tar")
	if err := msb.SaveImage(ctx, "python:3.12", saved, msb.SaveOCI); err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 64<<10)
	rand.Read(content)
	layout := filepath.Join(dir, "layout")
	withLayer(t, saved, layout, content)

	var loaded imageEvents
	info, err := msb.LoadImage(ctx, layout, "goprogress:1", msb.ImageProgress(loaded.add))
	if err != nil {
		t.Fatal(err)
	}
	removed := false
	defer func() {
		if !removed {
			msb.RemoveImage(context.Background(), "goprogress:1")
		}
	}()
	top := false
	for _, ev := range loaded.evs {
		if ev.Count != info.Layers || ev.Index >= ev.Count {
			t.Fatalf("load event %+v of an image of %d layers", ev, info.Layers)
		}
		top = top || ev.Phase == "converting" && ev.Index == info.Layers-1 &&
			strings.HasPrefix(ev.Digest, "sha256:")
	}
	if !top {
		t.Fatalf("the load's events do not convert its own layer: %+v", loaded.evs)
	}

	if err := msb.RemoveImage(ctx, "goprogress:1"); err != nil { // before $MSB_HOME changes
		t.Fatal(err)
	}
	removed = true

	// A pull into an empty store: every layer is downloaded.
	t.Setenv("MSB_HOME", filepath.Join(dir, "home"))
	var pulled imageEvents
	info, err = msb.PullImage(ctx, host+"/python:3.12", false, msb.ImageProgress(pulled.add))
	if err != nil {
		t.Fatal(err)
	}
	evs := pulled.evs
	if len(evs) == 0 || evs[0].Phase != "resolving" {
		t.Fatalf("the pull's events: %+v", evs)
	}
	last := map[string]msb.ImageEvent{}
	converted := map[uint]bool{}
	for _, ev := range evs[1:] {
		if ev.Count != info.Layers || ev.Index >= ev.Count || !strings.HasPrefix(ev.Digest, "sha256:") {
			t.Fatalf("pull event %+v of an image of %d layers", ev, info.Layers)
		}
		switch ev.Phase {
		case "downloading":
			last[ev.Digest] = ev
		case "converting":
			converted[ev.Index] = true
		}
	}
	if len(last) != int(info.Layers) || len(converted) != int(info.Layers) {
		t.Fatalf("%d layers, %d downloaded and %d converted: %+v", info.Layers, len(last), len(converted), evs)
	}
	for d, ev := range last {
		if ev.Total == 0 || ev.Done != ev.Total {
			t.Fatalf("layer %s's last download event: %+v", d, ev)
		}
	}
}
