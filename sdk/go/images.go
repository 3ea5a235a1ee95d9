// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <stdlib.h>
#include <msb.h>
*/
import "C"

import (
	"context"
	"fmt"
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

// PullImage fetches the image @ref (linux/amd64) from its registry,
// verifies every blob and converts each layer once (ErrImagePull,
// ErrImageNotFound). NewSandbox pulls a missing image by itself; this is
// for pulling ahead. @insecure allows plain http to a registry that is
// not on loopback.
func PullImage(ctx context.Context, ref string, insecure bool) (*ImageInfo, error) {
	var ci C.msb_image_info
	err := blocking(ctx, "pull "+ref, func(cerr *C.msb_error) C.int {
		var m cmem
		defer m.free()
		var o C.msb_pull_opts
		o.insecure = cbool(insecure)
		cr := m.strAlways(ref)
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		return C.msb_image_pull(cr, &o, &ci, cerr)
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
func LoadImage(ctx context.Context, path, tag string) (*ImageInfo, error) {
	var ci C.msb_image_info
	err := blocking(ctx, "load "+path, func(cerr *C.msb_error) C.int {
		var m cmem
		defer m.free()
		var o C.msb_load_opts
		o.tag = m.str(tag)
		cp := m.strAlways(path)
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		return C.msb_image_load(cp, &o, &ci, cerr)
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
