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
// wraps it (the seeds' AuditFs). Filesystems in Go are not served yet
// (a volume with one is refused with ErrNotSupported), so this returns
// ErrNotSupported: a volume's requests are served by the sandbox's
// supervisor, not by this program. A C plugin can wrap the passthrough
// (NewPluginFs with Dir; examples/auditfs.c).
func (p PassthroughFs) Open(ctx Context, ino uint64, flags uint32) (uint64, error) {
	return 0, newError("open", codeNotSupported,
		"filesystem calls in Go are not served: the supervisor serves %s", p.Dir)
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
// pointer), an *OverlayFs, a *PluginFs or a NamedVolume (or pointer). Any other type (a filesystem
// written in Go) is refused with ErrNotSupported: volumes are served by
// the sandbox's supervisor, and Go filesystems cannot be carried there
// yet; write it in C against msb_fs.h and use NewPluginFs.
func Volume(guestPath string, backend any, opts ...VolumeOption) Option {
	return option("Volume", func(c *sandboxConfig) {
		v := volumeSpec{guestPath: guestPath}
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
			v.refused = notServed(fmt.Sprintf("the volume at %s has a filesystem "+
				"written in Go (%T), which is not supported yet: volumes are served "+
				"by the sandbox's supervisor; use msb.NewPassthrough, msb.NewMemFs, "+
				"msb.NewOverlay, or a C plugin (msb_fs.h) with msb.NewPluginFs",
				guestPath, backend))
		}
		for _, o := range opts {
			o.applyVolume(&v)
		}
		c.volumes = append(c.volumes, v)
	})
}
