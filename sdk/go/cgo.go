// SPDX-License-Identifier: Apache-2.0

package msb

/*
#cgo pkg-config: libmsb
#include <stdlib.h>
#include <string.h>
#include <msb.h>
*/
import "C"

import (
	"strings"
	"unsafe"
)

// cmem holds the C memory one call's arguments live in: strings and
// NULL-terminated string vectors that libmsb reads but never keeps. Go
// memory holding pointers cannot be handed to C, so every configuration
// struct is built here and freed when the call returns.
type cmem struct {
	ptrs []unsafe.Pointer
	nul  string // the first string given with a NUL byte in it
}

// bad is an ErrInvalid for a string that held a NUL byte (C would have
// cut it short there, silently), or nil.
func (m *cmem) bad(op string) error {
	if m.nul == "" {
		return nil
	}
	return newError(op, codeInvalid, "%q contains a NUL byte, which no name, "+
		"path, argument or value may hold", m.nul)
}

func (m *cmem) alloc(n int) unsafe.Pointer {
	if n <= 0 {
		n = 1
	}
	p := C.calloc(1, C.size_t(n))
	m.ptrs = append(m.ptrs, p)
	return p
}

// str is @s as a C string, or NULL for "".
func (m *cmem) str(s string) *C.char {
	if s == "" {
		return nil
	}
	return m.strAlways(s)
}

// strAlways is @s as a C string, "" included.
func (m *cmem) strAlways(s string) *C.char {
	if m.nul == "" && strings.IndexByte(s, 0) >= 0 {
		m.nul = s
	}
	p := C.CString(s)
	m.ptrs = append(m.ptrs, unsafe.Pointer(p))
	return p
}

// strv is @v as a NULL-terminated vector, or NULL for none.
func (m *cmem) strv(v []string) **C.char {
	if v == nil {
		return nil
	}
	return m.strvAlways(v)
}

// strvAlways is @v as a NULL-terminated vector, an empty one included.
func (m *cmem) strvAlways(v []string) **C.char {
	arr := (**C.char)(m.alloc((len(v) + 1) * int(unsafe.Sizeof((*C.char)(nil)))))
	s := unsafe.Slice(arr, len(v)+1)
	for i, x := range v {
		s[i] = m.strAlways(x)
	}
	return arr
}

func (m *cmem) free() {
	for _, p := range m.ptrs {
		C.free(p)
	}
	m.ptrs = nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// goString is a fixed-size C char array as a Go string.
func goString(p *C.char) string {
	return C.GoString(p)
}
