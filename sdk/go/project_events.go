// SPDX-License-Identifier: Apache-2.0

package msb

// The progress callback of a project's calls, in a file of its own: a
// file that exports to C may only declare in its preamble (project.go
// defines the C side that calls it).

/*
#include <msb.h>
*/
import "C"

import (
	"runtime/cgo"
	"time"
	"unsafe"
)

//export goProjectEvent
func goProjectEvent(ctx unsafe.Pointer, e *C.msb_project_event) {
	f := cgo.Handle(uintptr(ctx)).Value().(func(ProjectEvent))
	str := func(p *C.char) string {
		if p == nil {
			return ""
		}
		return C.GoString(p)
	}
	f(ProjectEvent{Sandbox: str(e.sandbox), Name: str(e.name), What: str(e.what),
		Duration: time.Duration(e.ms) * time.Millisecond, Detail: str(e.detail)})
}
