// SPDX-License-Identifier: Apache-2.0

package msb

// The progress callbacks of image pulls and loads, of pushes and pulls
// and of copies, in a file of their own: a file that exports to C may
// only declare in its preamble (images.go, sync.go and files.go define
// the C side that calls them, with a runtime/cgo Handle of the Go
// function as the context).

/*
#include <stdint.h>
#include <msb.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

//export goImageEvent
func goImageEvent(ctx unsafe.Pointer, p *C.msb_pull_progress) {
	f := cgo.Handle(uintptr(ctx)).Value().(func(ImageEvent))
	f(imageEventFromC(p))
}

//export goSyncEvent
func goSyncEvent(ctx unsafe.Pointer, p *C.msb_sync_progress) {
	f := cgo.Handle(uintptr(ctx)).Value().(func(SyncEvent))
	f(syncEventFromC(p))
}

//export goCopyEvent
func goCopyEvent(ctx unsafe.Pointer, path *C.char, done, total C.uint64_t) {
	f := cgo.Handle(uintptr(ctx)).Value().(func(CopyEvent))
	f(CopyEvent{Path: C.GoString(path), Done: uint64(done), Total: uint64(total)})
}
