// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <stdint.h>
#include <stdlib.h>
#include <msb.h>

extern void goImageEvent(void *ctx, msb_pull_progress *p);

static void msb_go_image_event(void *ctx, const msb_pull_progress *p)
{
	goImageEvent(ctx, (msb_pull_progress *)p);
}

static void msb_go_pull_progress(msb_pull_opts *o, uintptr_t h)
{
	o->progress = msb_go_image_event;
	o->ctx = (void *)h;
}

static void msb_go_load_progress(msb_load_opts *o, uintptr_t h)
{
	o->progress = msb_go_image_event;
	o->ctx = (void *)h;
}
*/
import "C"

import (
	"context"
	"fmt"
	"runtime/cgo"
	"strings"
	"time"
	"unsafe"
)

// ImageInfo is an image in the local store (docs/images.md).
type ImageInfo struct {
	Reference string // as shown: "python:3.12"
	Canonical string // "docker.io/library/python:3.12"
	Digest    string // of the manifest (or index) it resolved to
	ID        string // of its config
	Size      uint64 // compressed layers
	Layers    uint
	PulledAt  time.Time
}

func imageInfoFromC(c *C.msb_image_info) ImageInfo {
	return ImageInfo{Reference: goString(&c.reference[0]), Canonical: goString(&c.canonical[0]),
		Digest: goString(&c.digest[0]), ID: goString(&c.id[0]), Size: uint64(c.size),
		Layers: uint(c.layers), PulledAt: unixTime(c.pulled_at)}
}

// ImageEvent is how an image pull or load is going, as ImageProgress
// reports it (msb pull's progress lines).
type ImageEvent struct {
	// Phase is "resolving" (the manifest), "downloading" (a blob),
	// "converting" (a layer into its disk image) or "repaired" (a stored
	// layer image was damaged and is made again).
	Phase       string
	Digest      string // the blob, when there is one
	Done, Total uint64 // bytes of that blob downloaded, of all
	Index       uint   // which layer (from 0, the bottom one)
	Count       uint   // of how many
}

func imageEventFromC(p *C.msb_pull_progress) ImageEvent {
	str := func(s *C.char) string {
		if s == nil {
			return ""
		}
		return C.GoString(s)
	}
	return ImageEvent{Phase: str(p.phase), Digest: str(p.digest), Done: uint64(p.done),
		Total: uint64(p.total), Index: uint(p.index), Count: uint(p.count)}
}

// ImageOption changes an image pull or load.
type ImageOption interface {
	applyImage(c *imageConfig)
}

type imageConfig struct {
	progress func(ImageEvent)
}

type imageFunc func(c *imageConfig)

func (f imageFunc) applyImage(c *imageConfig) { f(c) }

// ImageProgress calls @f with each step of a PullImage or LoadImage as
// it happens, one call at a time, from the threads doing the work: @f
// should return quickly. If the call's context ends first, the work goes
// on and so do the calls, until it is over.
func ImageProgress(f func(ImageEvent)) ImageOption {
	return imageFunc(func(c *imageConfig) { c.progress = f })
}

func imageOptions(opts []ImageOption) imageConfig {
	var cfg imageConfig
	for _, o := range opts {
		if o != nil {
			o.applyImage(&cfg)
		}
	}
	return cfg
}

// PullImage fetches the image @ref (linux/amd64) from its registry,
// verifies every blob and converts each layer once (ErrImagePull,
// ErrImageNotFound). NewSandbox pulls a missing image by itself; this is
// for pulling ahead. @insecure allows plain http to a registry that is
// not on loopback. ImageProgress reports how it goes.
func PullImage(ctx context.Context, ref string, insecure bool, opts ...ImageOption) (*ImageInfo, error) {
	cfg := imageOptions(opts)
	var ci C.msb_image_info
	err := blocking(ctx, "pull "+ref, func(cerr *C.msb_error) C.int {
		var m cmem
		defer m.free()
		o := (*C.msb_pull_opts)(m.alloc(int(unsafe.Sizeof(C.msb_pull_opts{}))))
		o.insecure = cbool(insecure)
		if cfg.progress != nil {
			h := cgo.NewHandle(cfg.progress)
			defer h.Delete()
			C.msb_go_pull_progress(o, C.uintptr_t(h))
		}
		cr := m.strAlways(ref)
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		return C.msb_image_pull(cr, o, &ci, cerr)
	})
	if err != nil {
		return nil, err
	}
	info := imageInfoFromC(&ci)
	return &info, nil
}

// LoadImage reads an image without a registry: @path is an OCI image
// layout (a directory or a tar of one) or a docker save archive; @tag
// names it ("" keeps the archive's name). Every blob is verified first.
// ImageProgress reports its layers' conversion.
func LoadImage(ctx context.Context, path, tag string, opts ...ImageOption) (*ImageInfo, error) {
	cfg := imageOptions(opts)
	var ci C.msb_image_info
	err := blocking(ctx, "load "+path, func(cerr *C.msb_error) C.int {
		var m cmem
		defer m.free()
		o := (*C.msb_load_opts)(m.alloc(int(unsafe.Sizeof(C.msb_load_opts{}))))
		o.tag = m.str(tag)
		if cfg.progress != nil {
			h := cgo.NewHandle(cfg.progress)
			defer h.Delete()
			C.msb_go_load_progress(o, C.uintptr_t(h))
		}
		cp := m.strAlways(path)
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		return C.msb_image_load(cp, o, &ci, cerr)
	})
	if err != nil {
		return nil, err
	}
	info := imageInfoFromC(&ci)
	return &info, nil
}

// Images is every image in the local store.
func Images(ctx context.Context) ([]ImageInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: list images: %w", err)
	}
	var arr *C.msb_image_info
	var n C.size_t
	var cerr C.msb_error
	if r := C.msb_image_list(&arr, &n, &cerr); r < 0 {
		return nil, cError("list images", r, &cerr)
	}
	defer C.free(unsafe.Pointer(arr))
	out := make([]ImageInfo, 0, int(n))
	for i := range unsafe.Slice(arr, int(n)) {
		out = append(out, imageInfoFromC(&unsafe.Slice(arr, int(n))[i]))
	}
	return out, nil
}

// RemoveImage forgets @ref and deletes what no other image and no
// sandbox uses.
func RemoveImage(ctx context.Context, ref string) error {
	return blocking(ctx, "remove image "+ref, func(cerr *C.msb_error) C.int {
		cr := C.CString(ref)
		defer C.free(unsafe.Pointer(cr))
		return C.msb_image_remove(cr, cerr)
	})
}

// InspectImage is the image @ref's record as the JSON document msb image
// inspect prints: reference, digests, layers and its OCI config (Env,
// Cmd, Entrypoint, WorkingDir, User). ErrNotFound when it is not stored.
func InspectImage(ctx context.Context, ref string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: inspect image %s: %w", ref, err)
	}
	var m cmem
	defer m.free()
	cr := m.strAlways(ref)
	if m.nul != "" {
		return nil, m.bad("inspect image")
	}
	var js *C.char
	var cerr C.msb_error
	if r := C.msb_image_inspect_json(cr, &js, &cerr); r < 0 {
		return nil, cError("inspect image "+ref, r, &cerr)
	}
	defer C.free(unsafe.Pointer(js))
	return []byte(C.GoString(js)), nil
}

// SaveFormat is the kind of tar SaveImage writes.
type SaveFormat int

const (
	// SaveOCI is an OCI image layout (msb save).
	SaveOCI SaveFormat = C.MSB_SAVE_OCI
	// SaveDocker is the OCI layout with the manifest.json docker load
	// reads (msb save --format docker).
	SaveDocker SaveFormat = C.MSB_SAVE_DOCKER
)

// SaveImage writes the stored image @ref as a tar at @path (msb save), in
// @format; LoadImage reads either back. The tar is written beside @path
// and renamed over it when complete, so a failed save leaves no partial
// file; "-" writes it to this program's standard output. The built-in
// "default" image is not an OCI image and is refused (ErrInvalid);
// ErrNotFound when @ref is not stored.
func SaveImage(ctx context.Context, ref, path string, format SaveFormat) error {
	if format != SaveOCI && format != SaveDocker {
		return newError("save "+ref, codeInvalid,
			"unknown save format %d: use msb.SaveOCI or msb.SaveDocker", int(format))
	}
	return blocking(ctx, "save "+ref, func(cerr *C.msb_error) C.int {
		var m cmem
		defer m.free()
		cr, cp := m.strAlways(ref), m.strAlways(path)
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		return C.msb_image_save(cr, cp, C.int(format), cerr)
	})
}

// PruneResult is what PruneImages deleted.
type PruneResult struct {
	FreedBytes uint64 // host disk given back
	Files      uint   // blobs, layers and debris removed
}

// PruneImages deletes the blobs and layers that no image, sandbox or
// snapshot uses, and what interrupted pulls left over an hour ago (msb
// image prune). RemoveImage prunes what it frees by itself; this is for
// what the sandboxes and snapshots of a removed image kept until they
// went. Pulls in progress and a prune wait for each other.
func PruneImages(ctx context.Context) (*PruneResult, error) {
	var freed C.uint64_t
	var files C.unsigned
	err := blocking(ctx, "prune images", func(cerr *C.msb_error) C.int {
		return C.msb_image_prune(&freed, &files, cerr)
	})
	if err != nil {
		return nil, err
	}
	return &PruneResult{FreedBytes: uint64(freed), Files: uint(files)}, nil
}

// LoginOption changes a registry login (RegistryLogin).
type LoginOption interface {
	applyLogin(c *loginConfig)
}

type loginConfig struct {
	insecure bool
}

type loginFunc func(c *loginConfig)

func (f loginFunc) applyLogin(c *loginConfig) { f(c) }

// LoginInsecure asks a registry that is not on loopback over plain http,
// as PullImage's @insecure and SyncInsecure do; without it such a
// registry is asked over https. Loopback registries are always http.
func LoginInsecure() LoginOption { return loginFunc(func(c *loginConfig) { c.insecure = true }) }

// RegistryLogin keeps @user and @password for @registry (a host, with
// its port if it has one: "ghcr.io", "127.0.0.1:5000") in
// $MSB_HOME/auth.json (mode 0600), as msb registry login does; pulls from
// that registry (PullImage, NewSandbox, Pull) and pushes to it send them
// from then on. They are checked with the registry first, as docker login
// checks them, and nothing is stored (a login kept before stays as it
// was) when the registry refuses them (ErrPermission, "HOST refused the
// login of 'USER' ..."), cannot be reached (syscall.EHOSTUNREACH:
// "cannot reach registry HOST (https) ...") or has a certificate that
// cannot be verified (ErrPermission). LoginInsecure asks a registry not on
// loopback over plain http. A registry with a '/', or a user with a ':',
// is ErrInvalid.
func RegistryLogin(ctx context.Context, registry, user, password string, opts ...LoginOption) error {
	op := "login to " + registry
	var cfg loginConfig
	for _, o := range opts {
		if o != nil {
			o.applyLogin(&cfg)
		}
	}
	if strings.IndexByte(password, 0) >= 0 { // (not quoted in the error, as other values are)
		return newError(op, codeInvalid, "the password contains a NUL byte, which no "+
			"value may hold")
	}
	return blocking(ctx, op, func(cerr *C.msb_error) C.int {
		var m cmem
		defer m.free()
		cr, cu, cp := m.strAlways(registry), m.strAlways(user), m.strAlways(password)
		// The C copy of the password is cleared before it is freed.
		defer clear(unsafe.Slice((*byte)(unsafe.Pointer(cp)), len(password)))
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		o := (*C.msb_login_options)(m.alloc(int(unsafe.Sizeof(C.msb_login_options{}))))
		o.insecure = cbool(cfg.insecure)
		return C.msb_registry_login_with(cr, cu, cp, o, cerr)
	})
}

// RegistryLogout forgets the credentials kept for @registry (msb
// registry logout); ErrNotFound when there are none.
func RegistryLogout(ctx context.Context, registry string) error {
	return blocking(ctx, "logout from "+registry, func(cerr *C.msb_error) C.int {
		var m cmem
		defer m.free()
		cr := m.strAlways(registry)
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		return C.msb_registry_logout(cr, cerr)
	})
}
