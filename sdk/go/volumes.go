// SPDX-License-Identifier: Apache-2.0

package msb

import (
	"fmt"
	"time"
)

// A volume is a filesystem the host serves and the guest mounts at a path
// (docs/filesystems.md). Writes on either side are seen by the other at
// once. The backends are served by the sandbox's supervisor, a process of
// its own: the built-in ones below, or a C plugin (NewPluginFs).

// MemFs is a filesystem in host RAM, gone with the sandbox (msb run
// --volume-mem).
type MemFs struct {
	SizeMiB uint64 // 0: 64 MiB
}

// NewMemFs is an in-memory filesystem of 64 MiB (set SizeMiB for more).
func NewMemFs() *MemFs { return &MemFs{} }

// PassthroughFs is a host directory, passed through (msb run --volume):
// the guest cannot reach outside it.
type PassthroughFs struct {
	Dir string // relative: to the current directory
}

// NewPassthrough is the host directory @dir as a volume.
func NewPassthrough(dir string) PassthroughFs { return PassthroughFs{Dir: dir} }

// Context is the guest process behind a filesystem request, as a
// filesystem hook sees it.
type Context struct {
	Pid, Uid, Gid uint32
}

// Open is the passthrough's open, for a filesystem written in Go that
// wraps it (the seeds' AuditFs: `return a.inner.Open(ctx, ino, flags)`):
// it lets the call go on, natively, in the sandbox's supervisor (the
// values returned are not used).
func (p PassthroughFs) Open(ctx Context, ino uint64, flags uint32) (uint64, error) {
	return 0, nil
}

// OverlayFs shows the guest a host directory but keeps the guest's
// changes in host RAM, never writing the directory (--volume
// DIR:PATH:overlay=SIZE).
type OverlayFs struct {
	Dir     string
	SizeMiB uint64 // 0: 256 MiB
}

// NewOverlay is the host directory @dir under a RAM upper layer.
func NewOverlay(dir string) *OverlayFs { return &OverlayFs{Dir: dir} }

// PluginFs is a filesystem from a shared object implementing msb_fs.h,
// loaded into the supervisor (msb run --volume-plugin PATH.so:GUEST:ARG).
type PluginFs struct {
	Path string // the .so
	Arg  string // its argument
	Dir  string // a host directory handed to it (one it may wrap)
}

// NewPluginFs is the plugin at @path given @arg.
func NewPluginFs(path, arg string) *PluginFs { return &PluginFs{Path: path, Arg: arg} }

// VolumeOption changes how a volume is mounted.
type VolumeOption interface {
	applyVolume(v *volumeSpec)
}

type volumeFunc func(v *volumeSpec)

func (f volumeFunc) applyVolume(v *volumeSpec) { f(v) }

// ReadOnly mounts the volume read-only, enforced by the host (even root
// in the guest remounting it read-write gets EROFS).
func ReadOnly() VolumeOption { return volumeFunc(func(v *volumeSpec) { v.readonly = true }) }

// DirectIO has reads and writes bypass the guest's page cache (fast
// streaming; shared mmap of its files fails).
func DirectIO() VolumeOption { return volumeFunc(func(v *volumeSpec) { v.direct = true }) }

// Cache is what the guest's kernel may cache of the volume (msb run -v
// ...:cache=MODE, docs/filesystems.md): "never" (nothing; direct I/O),
// "auto" (names and attributes for a second, data until an open or a
// changed mtime) or "always" (names and attributes for a day, data across
// opens: for a volume only this sandbox writes). Without it, file data is
// cached until the next open and names and attributes not at all.
func Cache(mode string) VolumeOption { return volumeFunc(func(v *volumeSpec) { v.cache = mode }) }

// CacheTimeout is how long the guest may keep names and attributes
// (msb run -v ...:timeout=SECONDS; at most a day), instead of Cache's own.
func CacheTimeout(d time.Duration) VolumeOption {
	return volumeFunc(func(v *volumeSpec) { v.timeout = d })
}

type volumeSpec struct {
	hooked    any // a filesystem written in Go wrapping this one (hooks.go)
	guestPath string
	kind      int // 0 host, 1 memory, 2 plugin, 3 named
	source    string
	arg, dir  string
	sizeMiB   uint64
	overlay   uint64
	readonly  bool
	direct    bool
	cache     string
	timeout   time.Duration
	refused   error
}

// Volume mounts @backend at @guestPath (absolute; not /proc, /sys, /dev,
// /run, /etc or below). @backend is a *MemFs, a PassthroughFs (or
// pointer), an *OverlayFs, a *PluginFs or a NamedVolume (or pointer), or
// a filesystem written in Go that holds one of them in a field (its
// inner, as the seeds' AuditFs) or returns it from an Inner() any
// method: the inner one is served natively by the sandbox's supervisor,
// and the calls the Go type has methods for (Open, Lookup, Create,
// Mkdir, Unlink, Rmdir, Rename, with the signatures of docs/plugins.md's
// fs hook) are asked of it in this program first (hooks.go): a nil error
// lets the call go on, an error refuses it (its syscall.Errno, or
// EACCES). One that wraps no built-in is refused with ErrNotSupported.
func Volume(guestPath string, backend any, opts ...VolumeOption) Option {
	return option("Volume", func(c *sandboxConfig) {
		v := volumeSpec{guestPath: guestPath}
		if !builtinVolume(&v, backend) {
			if inner := innerOf(backend); inner != nil && len(fsOpsOf(backend)) > 0 &&
				builtinVolume(&v, inner) {
				v.hooked = backend
			} else {
				v.refused = notServed(fmt.Sprintf("the volume at %s has a filesystem "+
					"written in Go (%T) that wraps no built-in one or overrides no "+
					"call: hold a msb.NewPassthrough, msb.NewMemFs, msb.NewOverlay, "+
					"NamedVolume or msb.NewPluginFs in a field (or return it from "+
					"Inner() any) and give it an Open, Lookup, Create, Mkdir, Unlink, "+
					"Rmdir or Rename method", guestPath, backend))
			}
		}
		for _, o := range opts {
			o.applyVolume(&v)
		}
		c.volumes = append(c.volumes, v)
	})
}

// builtinVolume fills @v for a built-in backend @backend; false if it is
// not one.
func builtinVolume(v *volumeSpec, backend any) bool {
	{
		switch b := backend.(type) {
		case *MemFs:
			v.kind, v.sizeMiB = 1, b.SizeMiB
		case MemFs:
			v.kind, v.sizeMiB = 1, b.SizeMiB
		case PassthroughFs:
			v.kind, v.source = 0, b.Dir
		case *PassthroughFs:
			v.kind, v.source = 0, b.Dir
		case *OverlayFs:
			v.kind, v.source, v.overlay = 0, b.Dir, b.SizeMiB
			if v.overlay == 0 {
				v.overlay = 256
			}
		case *PluginFs:
			v.kind, v.source, v.arg, v.dir = 2, b.Path, b.Arg, b.Dir
		case NamedVolume:
			v.kind, v.source = 3, b.Name
		case *NamedVolume:
			v.kind, v.source = 3, b.Name
		default:
			return false
		}
	}
	return true
}
