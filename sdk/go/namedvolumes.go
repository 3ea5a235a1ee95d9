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
	"strings"
	"time"
	"unsafe"
)

// A named volume is a directory the host keeps apart from any sandbox,
// mounted by name (msb run -v NAME:/path) by as many sandboxes as like at
// once: it outlives them, and what one writes the others see. Its size,
// if it has one, holds for all of them together (docs/filesystems.md).

// NamedVolume is the named volume @Name as a backend for Volume; mounting
// one that does not exist yet makes it, with no size limit.
type NamedVolume struct {
	Name string
}

// NewNamedVolume is the named volume @name as a backend for Volume.
func NewNamedVolume(name string) NamedVolume { return NamedVolume{Name: name} }

// VolumeInfo is a named volume's record (msb volume ls).
type VolumeInfo struct {
	Name      string
	SizeMiB   uint64 // 0: no limit but the host's disk
	UsedBytes uint64 // host disk its files take
	CreatedAt time.Time
	Project   string // the project that made it, or ""
	Path      string // its files, on the host
	Users     uint   // sandboxes that mount it (any status)
	Running   uint   // of those, the running ones
}

func volumeInfoFromC(c *C.msb_volume_info) VolumeInfo {
	return VolumeInfo{
		Name:      goString(&c.name[0]),
		SizeMiB:   uint64(c.size_mib),
		UsedBytes: uint64(c.used_bytes),
		CreatedAt: unixTime(c.created_at),
		Project:   goString(&c.project[0]),
		Path:      goString(&c.path[0]),
		Users:     uint(c.users),
		Running:   uint(c.running),
	}
}

// volumeName is @name in C memory (the caller frees it), refusing a NUL
// byte in it.
func volumeName(op, name string) (*C.char, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return nil, newError(op, codeInvalid, "%q contains a NUL byte, which no "+
			"name may hold", name)
	}
	return C.CString(name), nil
}

// CreateVolume makes the named volume @name of at most @sizeMiB MiB (0:
// no limit; at most 1024G). ErrAlreadyExists if the name is taken.
func CreateVolume(ctx context.Context, name string, sizeMiB uint64) (*VolumeInfo, error) {
	return volumeCall(ctx, "create volume "+name, name,
		func(cname *C.char, ci *C.msb_volume_info, cerr *C.msb_error) C.int {
			return C.msb_volume_create(cname, C.uint64_t(sizeMiB), ci, cerr)
		})
}

// GetVolume is the named volume @name's record (ErrNotFound if there is
// none).
func GetVolume(ctx context.Context, name string) (*VolumeInfo, error) {
	return volumeCall(ctx, "volume "+name, name,
		func(cname *C.char, ci *C.msb_volume_info, cerr *C.msb_error) C.int {
			return C.msb_volume_info_get(cname, ci, cerr)
		})
}

// InspectVolume is the named volume @name's record as the JSON document
// msb volume inspect prints: name, size_mib, used_bytes, created_at, path,
// project, used_by (the name of each sandbox that mounts it) and running
// (how many of them run).
// ErrNotFound if there is none.
func InspectVolume(ctx context.Context, name string) ([]byte, error) {
	op := "inspect volume " + name
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: %s: %w", op, err)
	}
	cname, err := volumeName(op, name)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cname))
	var js *C.char
	var cerr C.msb_error
	if r := C.msb_volume_inspect_json(cname, &js, &cerr); r < 0 {
		return nil, cError(op, r, &cerr)
	}
	defer C.free(unsafe.Pointer(js))
	return []byte(C.GoString(js)), nil
}

// volumeCall runs a libmsb call on the named volume @name that fills in
// its record.
func volumeCall(ctx context.Context, op, name string,
	call func(cname *C.char, ci *C.msb_volume_info, cerr *C.msb_error) C.int) (*VolumeInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: %s: %w", op, err)
	}
	cname, err := volumeName(op, name)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cname))
	var ci C.msb_volume_info
	var cerr C.msb_error
	if r := call(cname, &ci, &cerr); r < 0 {
		return nil, cError(op, r, &cerr)
	}
	info := volumeInfoFromC(&ci)
	return &info, nil
}

// ListVolumes is every named volume, by name.
func ListVolumes(ctx context.Context) ([]VolumeInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: list volumes: %w", err)
	}
	var arr *C.msb_volume_info
	var n C.size_t
	var cerr C.msb_error
	if r := C.msb_volume_list(&arr, &n, &cerr); r < 0 {
		return nil, cError("list volumes", r, &cerr)
	}
	defer C.free(unsafe.Pointer(arr))
	out := make([]VolumeInfo, 0, int(n))
	for _, ci := range unsafe.Slice(arr, int(n)) {
		out = append(out, volumeInfoFromC(&ci))
	}
	return out, nil
}

// RemoveVolume deletes the named volume @name and its files. ErrBusy
// while a running sandbox mounts it, and (unless @force) while a stopped
// one does (it could not start again).
func RemoveVolume(ctx context.Context, name string, force bool) error {
	op := "remove volume " + name
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("msb: %s: %w", op, err)
	}
	cname, err := volumeName(op, name)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cname))
	var cerr C.msb_error
	if r := C.msb_volume_remove(cname, cbool(force), &cerr); r < 0 {
		return cError(op, r, &cerr)
	}
	return nil
}
