// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <stdlib.h>
#include <msb.h>
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// refusal is the first option given that is not served (a plugin of a
// type of its own, a Go filesystem), as an ErrNotSupported.
func (c *sandboxConfig) refusal(op string) error {
	errs := append(append([]error{}, c.refused...), c.net.refused...)
	for _, v := range c.volumes {
		if v.refused != nil {
			errs = append(errs, v.refused)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	e := *errs[0].(*Error)
	e.Op = op
	return &e
}

// fill writes the configuration into @out, its memory in @m; a negative
// code with @cerr filled when something given is wrong.
func (c *sandboxConfig) fill(m *cmem, name string, out *C.msb_sandbox_config, cerr *C.msb_error) (ret C.int) {
	out.name = m.strAlways(name)
	defer func() {
		if m.nul != "" {
			ret = C.int(codeInvalid)
			copyMessage(cerr, m.bad("").(*Error).Message)
		}
	}()
	out.image = m.str(c.image)
	out.cpus = C.uint(c.cpus)
	if r := c.memoryMiBC(m, &out.memory_mib, cerr); r < 0 {
		return r
	}
	out.disk_mib = C.uint64_t(c.diskMiB)
	if c.disk != "" {
		if r := C.msb_parse_memory(m.strAlways(c.disk), &out.disk_mib, cerr); r < 0 {
			return r
		}
	}
	out.env = m.strv(c.env)
	out.workdir = m.str(c.workdir)
	out.user = m.str(c.user)
	out.kernel = m.str(c.kernel)
	if c.bootTimeout > 0 {
		out.boot_timeout_ms = C.uint(c.bootTimeout.Milliseconds())
	}
	out.cmd = m.strv(c.cmd)
	if c.entrypointSet {
		out.entrypoint = m.strvAlways(c.entrypoint)
	}
	out.image_cmd = cbool(c.imageCmd)
	out.ephemeral = cbool(c.ephemeral)

	out.net.deny_all = cbool(c.net.denyAll)
	out.net.allow = m.strv(c.net.allow)
	out.net.allow_cidr = m.strv(c.net.allowCidr)
	out.net.block_cidr = m.strv(c.net.blockCidr)
	out.net.dns_nameserver = m.str(c.net.nameserver)
	out.net.ports = m.strv(c.ports)
	out.net.plugin = m.str(c.net.plugin)
	out.net.allow_host = m.strv(c.net.allowHost)

	if n := len(c.volumes); n > 0 {
		vs := (*C.msb_volume)(m.alloc(n * int(unsafe.Sizeof(C.msb_volume{}))))
		cvs := unsafe.Slice(vs, n)
		for i, spec := range c.volumes {
			cv := &cvs[i]
			switch spec.kind {
			case 0:
				cv.kind = C.MSB_VOLUME_HOST
			case 1:
				cv.kind = C.MSB_VOLUME_MEMORY
			case 2:
				cv.kind = C.MSB_VOLUME_PLUGIN
			case 3:
				cv.kind = C.MSB_VOLUME_NAMED
			}
			cv.guest_path = m.strAlways(spec.guestPath)
			cv.source = m.str(spec.source)
			cv.arg = m.str(spec.arg)
			cv.dir = m.str(spec.dir)
			cv.size_mib = C.uint64_t(spec.sizeMiB)
			cv.readonly = cbool(spec.readonly)
			cv.direct_io = cbool(spec.direct)
			cv.overlay_mib = C.uint64_t(spec.overlay)
			switch spec.cache {
			case "":
			case "never":
				cv.cache = C.MSB_VOLUME_CACHE_NEVER
			case "auto":
				cv.cache = C.MSB_VOLUME_CACHE_AUTO
			case "always":
				cv.cache = C.MSB_VOLUME_CACHE_ALWAYS
			default:
				copyMessage(cerr, fmt.Sprintf("volume %s: cache mode %q is none of never, "+
					"auto and always", spec.guestPath, spec.cache))
				return C.int(codeInvalid)
			}
			if spec.timeout < 0 {
				copyMessage(cerr, fmt.Sprintf("volume %s: a negative cache timeout", spec.guestPath))
				return C.int(codeInvalid)
			}
			cv.cache_timeout_ms = C.uint32_t(min(spec.timeout.Milliseconds(), 1<<31))
		}
		out.volumes = vs
		out.nvolumes = C.size_t(n)
	}

	injected := map[string]bool{}
	if n := len(c.secrets); n > 0 {
		ss := unsafe.Slice((*C.msb_secret)(m.alloc(n*int(unsafe.Sizeof(C.msb_secret{})))), n)
		for i, s := range c.secrets {
			if places, ok := c.injects[s.env]; ok {
				ss[i].inject = m.strAlways(strings.Join(places, ","))
				injected[s.env] = true
			}
			ss[i].env = m.strAlways(s.env)
			ss[i].ref = m.strAlways(s.ref)
			ss[i].hosts = m.strAlways(s.hosts)
			switch s.source {
			case 0:
				ss[i].source = C.MSB_SECRET_VALUE
			case 1:
				ss[i].source = C.MSB_SECRET_ENV
			case 2:
				ss[i].source = C.MSB_SECRET_FILE
			}
		}
		out.secrets = &ss[0]
		out.nsecrets = C.size_t(n)
	}
	for env := range c.injects {
		if !injected[env] {
			copyMessage(cerr, fmt.Sprintf("msb.SecretInject names %s, which is no secret of "+
				"this sandbox: give it with msb.SecretEnv, SecretFromEnv or SecretFromFile", env))
			return C.int(codeInvalid)
		}
	}
	out.on_secret_violation = m.str(c.onSecretViolation)

	if n := len(c.tlsBypass); n > 0 {
		out.tls_bypass = (**C.char)(unsafe.Pointer(m.strvAlways(c.tlsBypass)))
		out.ntls_bypass = C.size_t(n)
	}
	cas := append([]string{}, c.tlsCA...)
	for _, path := range c.tlsCAFiles {
		var pem *C.char
		if r := C.msb_tls_ca_read(m.strAlways(path), &pem, cerr); r < 0 {
			return r
		}
		cas = append(cas, C.GoString(pem))
		C.free(unsafe.Pointer(pem))
	}
	if n := len(cas); n > 0 {
		out.tls_upstream_ca = (**C.char)(unsafe.Pointer(m.strvAlways(cas)))
		out.ntls_upstream_ca = C.size_t(n)
	}
	return 0
}

// memoryMiBC writes the memory asked for (Memory's text parsed as msb
// run --memory does, else MemoryMiB) into @out.
func (c *sandboxConfig) memoryMiBC(m *cmem, out *C.uint64_t, cerr *C.msb_error) C.int {
	*out = C.uint64_t(c.memoryMiB)
	if c.memory != "" {
		return C.msb_parse_memory(m.strAlways(c.memory), out, cerr)
	}
	return 0
}

// copyMessage puts @msg into @e as libmsb would (cut to fit).
func copyMessage(e *C.msb_error, msg string) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&e.message[0])), len(e.message))
	n := copy(b[:len(b)-1], msg)
	b[n] = 0
	e.code = C.int(codeInvalid)
}
