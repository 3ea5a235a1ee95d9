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

// The plugin registry (docs/plugins.md, "The registry"): plugins are
// published to any OCI registry as artifacts, found by search, installed
// into $MSB_HOME/plugins pinned by digest, and loaded by name with
// msb.Plugin(msb.InstalledPlugin(name)). A plugin registry is
// REGISTRY/NAMESPACE; where one is asked for, "" means
// $MSB_PLUGIN_REGISTRY's.

// PluginInfo is a plugin as published, found or installed.
type PluginInfo struct {
	Name        string
	Version     string
	Kind        string   // "process": a command speaking the hook protocol
	Language    string   // informative: "python", "node"...
	Hooks       []string // the hooks it asks for
	Command     string   // run with /bin/sh -c in its files
	Description string
	Reference   string    // published as, or installed from
	Digest      string    // the artifact's manifest digest
	Path        string    // installed: its files' directory, else ""
	Size        uint64    // bytes of its files
	Files       uint      // how many
	InstalledAt time.Time // zero when not installed
	Verified    bool      // InstalledPlugins: its files still match their digests
}

func pluginInfoFromC(c *C.msb_plugin_info) PluginInfo {
	var hooks []string
	if h := goString(&c.hooks[0]); h != "" {
		hooks = strings.Split(h, ",")
	}
	return PluginInfo{
		Name:        goString(&c.name[0]),
		Version:     goString(&c.version[0]),
		Kind:        goString(&c.kind[0]),
		Language:    goString(&c.language[0]),
		Hooks:       hooks,
		Command:     goString(&c.command[0]),
		Description: goString(&c.description[0]),
		Reference:   goString(&c.reference[0]),
		Digest:      goString(&c.digest[0]),
		Path:        goString(&c.path[0]),
		Size:        uint64(c.size),
		Files:       uint(c.files),
		InstalledAt: unixTime(c.installed_at),
		Verified:    c.verified != 0,
	}
}

// InstalledPlugin is the installed plugin @name, for Plugin:
// msb.Plugin(msb.InstalledPlugin("msb-dlp")). The sandbox runs it as a
// plugin process in its files, checked against the digest it was
// installed at now and at every start.
func InstalledPlugin(name string) *PluginInfo { return &PluginInfo{Name: name} }

// await runs @call in a goroutine of its own, so that @ctx can end the
// wait (the call itself goes on).
func await[T any](ctx context.Context, op string, call func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("msb: %s: %w", op, err)
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := call()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return zero, fmt.Errorf("msb: %s: %w", op, ctx.Err())
	}
}

// pluginCall runs a libmsb call of the plugin registry that fills in one
// plugin's info, with @args as C strings (the first required, the others
// NULL when "").
func pluginCall(ctx context.Context, op string, args []string,
	call func(a []*C.char, out *C.msb_plugin_info, cerr *C.msb_error) C.int) (*PluginInfo, error) {
	return await(ctx, op, func() (*PluginInfo, error) {
		m := &cmem{}
		defer m.free()
		ca := make([]*C.char, len(args))
		for i, a := range args {
			if i == 0 {
				ca[i] = m.strAlways(a)
			} else {
				ca[i] = m.str(a)
			}
		}
		if err := m.bad(op); err != nil {
			return nil, err
		}
		var out C.msb_plugin_info
		var cerr C.msb_error
		if r := call(ca, &out, &cerr); r < 0 {
			return nil, cError(op, r, &cerr)
		}
		info := pluginInfoFromC(&out)
		return &info, nil
	})
}

// PublishPlugin pushes the plugin in directory @dir (its metadata in
// dir/plugin.json, every other file one of its files) to @registry as
// NAME:VERSION and NAME:latest, and enters it in the registry's index.
func PublishPlugin(ctx context.Context, dir, registry string) (*PluginInfo, error) {
	return pluginCall(ctx, "publish plugin "+dir, []string{dir, registry},
		func(a []*C.char, out *C.msb_plugin_info, cerr *C.msb_error) C.int {
			return C.msb_plugin_publish(a[0], a[1], out, cerr)
		})
}

// InstallPlugin installs @what (NAME, NAME:VERSION or NAME@DIGEST in
// @registry, or a whole reference HOST/REPO:TAG) under $MSB_HOME/plugins,
// every blob checked against its digest; an installed one of that name
// is replaced. ErrNotFound when the registry has no such plugin.
func InstallPlugin(ctx context.Context, what, registry string) (*PluginInfo, error) {
	return pluginCall(ctx, "install plugin "+what, []string{what, registry},
		func(a []*C.char, out *C.msb_plugin_info, cerr *C.msb_error) C.int {
			return C.msb_plugin_install(a[0], a[1], out, cerr)
		})
}

// InspectPlugin is the installed plugin @name, verified: ErrDamaged when
// its files no longer match its digest, ErrNotFound when none of that
// name is installed.
func InspectPlugin(ctx context.Context, name string) (*PluginInfo, error) {
	return pluginCall(ctx, "inspect plugin "+name, []string{name},
		func(a []*C.char, out *C.msb_plugin_info, cerr *C.msb_error) C.int {
			return C.msb_plugin_inspect(a[0], out, cerr)
		})
}

// RemovePlugin uninstalls the plugin @name; sandboxes that load it then
// fail to start, saying so.
func RemovePlugin(ctx context.Context, name string) error {
	_, err := pluginCall(ctx, "remove plugin "+name, []string{name},
		func(a []*C.char, _ *C.msb_plugin_info, cerr *C.msb_error) C.int {
			return C.msb_plugin_remove(a[0], cerr)
		})
	return err
}

// pluginList turns a libmsb array of plugins into a slice, freeing it.
func pluginList(arr *C.msb_plugin_info, n C.size_t) []PluginInfo {
	defer C.free(unsafe.Pointer(arr))
	out := make([]PluginInfo, 0, int(n))
	for _, ci := range unsafe.Slice(arr, int(n)) {
		out = append(out, pluginInfoFromC(&ci))
	}
	return out
}

// InstalledPlugins is every installed plugin, by name, each verified
// (PluginInfo.Verified).
func InstalledPlugins(ctx context.Context) ([]PluginInfo, error) {
	return await(ctx, "list plugins", func() ([]PluginInfo, error) {
		var arr *C.msb_plugin_info
		var n C.size_t
		var cerr C.msb_error
		if r := C.msb_plugin_list(&arr, &n, &cerr); r < 0 {
			return nil, cError("list plugins", r, &cerr)
		}
		return pluginList(arr, n), nil
	})
}

// SearchPlugins is the entries of @registry's index whose name,
// description, language, kind or hooks hold @query (case ignored; ""
// for all), by name.
func SearchPlugins(ctx context.Context, registry, query string) ([]PluginInfo, error) {
	op := fmt.Sprintf("search plugins for %q", query)
	return await(ctx, op, func() ([]PluginInfo, error) {
		m := &cmem{}
		defer m.free()
		cr, cq := m.str(registry), m.str(query)
		if err := m.bad(op); err != nil {
			return nil, err
		}
		var arr *C.msb_plugin_info
		var n C.size_t
		var cerr C.msb_error
		if r := C.msb_plugin_search(cr, cq, &arr, &n, &cerr); r < 0 {
			return nil, cError(op, r, &cerr)
		}
		return pluginList(arr, n), nil
	})
}
