// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// A sandbox made with Sync pushes itself when Stop stops it (msb run
// --sync), against a registry on loopback as the remote: refused before
// anything boots without a remote and with Ephemeral; SetSync turns it
// off and on in place; Stop's push is LastSync, and what it pushed pulls
// back, keeping the setting.
func TestSyncOnStop(t *testing.T) {
	host := seedImages(t)
	ctx := testCtx(t)
	if old, ok := os.LookupEnv("MSB_REMOTE"); ok {
		os.Unsetenv("MSB_REMOTE")
		defer os.Setenv("MSB_REMOTE", old)
	}
	name := unique("synced")
	_, err := msb.NewSandboxContext(ctx, name, msb.Sync())
	if !errors.Is(err, msb.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Sync with no remote: %v", err)
	}
	contains(t, "message", err.Error(), "remote")
	if _, err := msb.GetSandbox(ctx, name); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("a refused Sync left a sandbox: %v", err)
	}
	remote := host + "/gosync"
	if err := msb.SetRemote(ctx, remote, false); err != nil {
		t.Fatal(err)
	}
	defer msb.SetRemote(context.Background(), "", false)
	if _, err := msb.NewSandboxContext(ctx, name, msb.Sync(), msb.Ephemeral()); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("Sync with Ephemeral: %v", err)
	}

	sb, err := msb.NewSandboxContext(ctx, name, msb.Sync())
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	syncs := func(want bool) {
		t.Helper()
		if on, err := sb.Syncs(ctx); err != nil || on != want {
			t.Fatalf("Syncs: %v %v, want %v", on, err, want)
		}
	}
	syncs(true)
	if err := sb.SetSync(ctx, false); err != nil {
		t.Fatal(err)
	}
	syncs(false)
	if err := sb.SetSync(ctx, true); err != nil {
		t.Fatal(err)
	}
	syncs(true)
	if _, err := sb.Shell(ctx, "echo kept > /root/mark; sync"); err != nil {
		t.Fatal(err)
	}
	if sb.LastSync() != nil {
		t.Fatalf("pushed before a stop: %+v", sb.LastSync())
	}
	// A stop takes a push's progress, and nothing else of a push's.
	if err := sb.Stop(ctx, msb.SyncForce()); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("Stop with SyncForce: %v", err)
	}
	if info, err := sb.Info(ctx); err != nil || info.Status != "running" {
		t.Fatalf("a refused Stop stopped it: %+v %v", info, err)
	}
	var stopped syncEvents
	if err := sb.Stop(ctx, msb.SyncProgress(stopped.add)); err != nil {
		t.Fatal(err)
	}
	up := sb.LastSync()
	if up == nil || up.Name != name || !strings.Contains(up.Reference, remote+"/"+name+":latest") ||
		up.Digest == "" || up.Transferred == 0 {
		t.Fatalf("Stop's push: %+v", up)
	}
	stopped.check(t, "stop's push", up, "reading", "uploading")
	// A stop of a stopped sandbox pushes nothing again.
	var again syncEvents
	if err := sb.Stop(ctx, msb.SyncProgress(again.add)); err != nil || sb.LastSync() != up || len(again.evs) != 0 {
		t.Fatalf("second stop: %v %+v %+v", err, sb.LastSync(), again.evs)
	}

	pulled, err := msb.Pull(ctx, remote+"/"+name, msb.SyncName(name+"-b"))
	if err != nil {
		t.Fatal(err)
	}
	defer pulled.Remove(context.Background())
	if got := pulled.LastSync(); got.Digest != up.Digest || got.Chunks != up.Chunks {
		t.Fatalf("pulled %+v, pushed %+v", got, up)
	}
	if on, err := pulled.Syncs(ctx); err != nil || !on {
		t.Fatalf("the pulled sandbox does not keep the setting: %v %v", on, err)
	}
}

// A snapshot goes to the registry and comes back as a snapshot: a second
// push is up to date, a pull under another name holds the same kind, a
// second pull of it is up to date, and a sandbox pull of it says it is a
// snapshot (ErrKind).
func TestSnapshotPushPull(t *testing.T) {
	host := seedImages(t)
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	name := unique("gosnap")
	snap, err := sb.Snapshot(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Remove(context.Background(), true)
	ref := host + "/gosnap/" + name + ":v1"
	var pushed, fetched syncEvents
	up, err := snap.Push(ctx, msb.SyncRef(ref), msb.SyncProgress(pushed.add))
	if err != nil || up.Digest == "" || up.Transferred == 0 || up.UpToDate {
		t.Fatalf("push: %+v %v", up, err)
	}
	if again, err := snap.Push(ctx); err != nil || !again.UpToDate || again.Digest != up.Digest {
		t.Fatalf("second push (to where it went): %+v %v", again, err)
	}
	if _, err := snap.Push(ctx, msb.SyncName("x")); !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("push with a pull's option: %v", err)
	}
	pulled, err := msb.PullSnapshot(ctx, ref, msb.SyncName(name+"-b"), msb.SyncProgress(fetched.add))
	if err != nil {
		t.Fatal(err)
	}
	defer pulled.Remove(context.Background(), true)
	if pulled.Name() != name+"-b" || pulled.LastSync().Digest != up.Digest {
		t.Fatalf("pulled %q %+v", pulled.Name(), pulled.LastSync())
	}
	// Their progress: resolved first, then the disk read and uploaded, or
	// downloaded, to its last chunk and byte.
	pushed.check(t, "push", up, "reading", "uploading")
	fetched.check(t, "pull", pulled.LastSync(), "downloading")
	mine, err := snap.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := pulled.Info(ctx); err != nil || info.Kind != mine.Kind || info.Image != mine.Image {
		t.Fatalf("pulled snapshot %+v %v, pushed %+v", info, err, mine)
	}
	if again, err := msb.PullSnapshot(ctx, ref, msb.SyncName(name+"-b")); err != nil || !again.LastSync().UpToDate {
		t.Fatalf("a second pull of what it holds: %v", err)
	}
	if _, err := msb.Pull(ctx, ref, msb.SyncName(name+"-c")); !errors.Is(err, msb.ErrKind) ||
		!strings.Contains(err.Error(), "snapshot") {
		t.Fatalf("a sandbox pull of a snapshot: %v", err)
	}
}

// A sandbox pulled where its image is missing pulls the image too, and
// SyncProgress tells that pull's own events in phase "image" (Image),
// before the disk's chunks are downloaded.
func TestSyncProgressOfTheImage(t *testing.T) {
	host := seedImages(t)
	ctx := testCtx(t)
	name := unique("goimgsync")
	sb, err := msb.NewSandboxContext(ctx, name, msb.Image(host+"/python:3.12"))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ref := host + "/gosync/" + name + ":v1"
	up, err := sb.Push(ctx, msb.SyncRef(ref))
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Close(); err != nil { // here: below, $MSB_HOME is another
		t.Fatal(err)
	}
	t.Setenv("MSB_HOME", t.TempDir()) // an empty store: no image
	var evs syncEvents
	pulled, err := msb.Pull(ctx, ref, msb.SyncProgress(evs.add))
	if err != nil {
		t.Fatal(err)
	}
	defer pulled.Remove(context.Background())
	var image []msb.ImageEvent
	rest := syncEvents{}
	for _, ev := range evs.evs {
		if ev.Phase == "image" {
			if ev.Image == nil {
				t.Fatalf("an image event without the pull's: %+v", ev)
			}
			image = append(image, *ev.Image)
		} else {
			rest.evs = append(rest.evs, ev)
		}
	}
	downloaded := false
	for _, ev := range image {
		downloaded = downloaded || ev.Phase == "downloading" && strings.HasPrefix(ev.Digest, "sha256:") &&
			ev.Total > 0 && ev.Done == ev.Total && ev.Count > 0
	}
	if !downloaded {
		t.Fatalf("the image pull's events: %+v", image)
	}
	rest.check(t, "pull", pulled.LastSync(), "downloading")
	if got := pulled.LastSync(); got.Digest != up.Digest {
		t.Fatalf("pulled %+v, pushed %+v", got, up)
	}
}

// syncEvents collects what SyncProgress reports.
type syncEvents struct{ events[msb.SyncEvent] }

// check fails the test unless the events of @what resolved first, then
// went through @phases in order (each at least once, nothing else), the
// last phase counting up from before its last chunk to the last chunk
// and byte of @info's disk.
func (e *syncEvents) check(t *testing.T, what string, info *msb.SyncInfo, phases ...string) {
	t.Helper()
	evs := e.evs
	if len(evs) < 2 || evs[0].Phase != "resolving" {
		t.Fatalf("%s's progress: %+v", what, evs)
	}
	at := -1
	var first, prev msb.SyncEvent // of the last phase
	for _, ev := range evs[1:] {
		if ev.Image != nil {
			t.Fatalf("%s's progress: an image event in phase %q", what, ev.Phase)
		}
		if at < len(phases)-1 && ev.Phase == phases[at+1] {
			at++
			first, prev = ev, ev
		} else if at < 0 || ev.Phase != phases[at] {
			t.Fatalf("%s's progress: %q out of order (want %v): %+v", what, ev.Phase, phases, evs)
		}
		// (parallel downloads each report their own bytes: libmsb
		// reports the most so far, so a bar only grows)
		if at == len(phases)-1 && (ev.ChunksDone < prev.ChunksDone || ev.Done < prev.Done) {
			t.Fatalf("%s's progress went back: %+v after %+v", what, ev, prev)
		}
		prev = ev
	}
	end := evs[len(evs)-1]
	if at != len(phases)-1 || first.ChunksDone >= first.ChunksTotal || end.ChunksTotal != info.Chunks ||
		end.ChunksDone != end.ChunksTotal || end.Total != info.DiskBytes || end.Done != end.Total {
		t.Fatalf("%s's progress from %+v to %+v, of %+v", what, first, end, info)
	}
}
