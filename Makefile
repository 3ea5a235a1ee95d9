# SPDX-License-Identifier: Apache-2.0
# microsandbox build. `make` builds everything into build/ laid out like an
# install prefix (bin/, lib/, libexec/msb/, share/msb/), so build/bin/msb runs
# in place; `make install` copies that tree to $(PREFIX).

PREFIX ?= /usr/local
B ?= build
CC ?= cc
MUSLCC ?= musl-gcc
CLANG ?= clang
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation
CPPFLAGS += -Iinclude -Isrc/common -Isrc/proto -Isrc/lib -Isrc/engine -Isrc/image -Isrc/sync \
	-DMSB_DEFAULT_PREFIX='"$(PREFIX)"'
# libcurl is not linked: the registry client loads it on first use
# (src/image/curlapi.h says why).
# The version, read once from the header that declares it.
MSB_VERSION := $(shell sed -n 's/^\#define MSB_VERSION "\(.*\)"/\1/p' include/msb.h)
# The directories of the parts libmsb and the supervisor are built from, for
# what includes their headers (the library, the unit tests, fuzz targets over it).
SRC_INC := -Isrc/net -Isrc/fs -Isrc/tls -Isrc/http -Isrc/secrets -Isrc/plugins

LIBS := -ljson-c -lsqlite3 -lssl -lcrypto -lyaml -lzstd -lpthread -ldl -lm
# libmsb.so loads SQLite, OpenSSL, libyaml and zstd on their first call
# (src/lib/lazylibs.c says why); libmsb.a's users link them as LIBS says.
SO_LIBS := -ljson-c -lpthread -ldl
LAZY_SRC := src/lib/lazylibs.c
# The supervisor's seccomp allow-list (src/supervisor/seccomp.c).
SUP_LIBS := -lseccomp

LIB_SRC := src/common/util.c src/common/buf.c src/common/isolation.c \
	src/common/suggest.c \
	src/proto/proto.c src/engine/qemu.c src/engine/qmp.c src/engine/save.c \
	src/engine/launcher.c src/engine/vmmroot.c src/engine/guest.c \
	$(filter-out $(LAZY_SRC),$(wildcard src/lib/*.c)) \
	$(filter-out src/image/unpack.c src/image/tarstream.c src/image/inflate.c src/image/msb-unpack.c,$(wildcard src/image/*.c)) \
	$(wildcard src/sync/*.c)
# The layer unpacker is a helper process of its own, the only user of libarchive.
UNPACK_SRC := src/image/unpack.c src/image/tarstream.c src/image/inflate.c \
	src/image/msb-unpack.c
SUP_SRC := $(wildcard src/supervisor/*.c)
# The network stack lives in the supervisor (and the unit tests and fuzzer);
# the library checks rules with its policy parser.
NET_SRC := $(filter-out src/net/policy.c,$(wildcard src/net/*.c))
LIB_SRC += src/net/policy.c
# Secrets: the library parses, reads and seals them at every create and
# start; the supervisor keeps them in its vault.
LIB_SRC += src/secrets/spec.c src/secrets/secret.c
# The FUSE dispatcher and the filesystem backends serve volumes from the
# supervisor (and are driven directly by the unit tests and the fuzzer).
FS_SRC := $(wildcard src/fs/*.c)
# The vhost-user device side: volumes and the guest's NIC (src/net/vnet.c).
VHOST_SRC := src/fs/vhost_user.c src/fs/virtqueue.c
# TLS interception (its CA and leaf certificates), the HTTP/1.1 request
# rewriter and secrets run in the supervisor.
TLS_SRC := $(wildcard src/tls/*.c) $(wildcard src/http/*.c) \
	src/secrets/vault.c src/secrets/guard.c src/secrets/guard_resp.c \
	src/secrets/guard_ws.c src/secrets/scrub.c
# Plugins (docs/plugins.md): the hook protocol's messages, the keeper of
# plugin processes and the built-ins run in the supervisor; the library
# checks the built-ins' options (options.c, with the protocol's names).
PLUGIN_LIB_SRC := src/plugins/options.c src/plugins/wire.c
PLUGIN_SRC := $(filter-out $(PLUGIN_LIB_SRC),$(wildcard src/plugins/*.c))
LIB_SRC += $(PLUGIN_LIB_SRC)
CLI_SRC := $(wildcard src/cli/*.c)
AGENT_SRC := $(wildcard src/agent/*.c) src/proto/proto.c
HDRS := $(wildcard include/*.h src/*/*.h)

LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
SUP_OBJ := $(SUP_SRC:%.c=$(B)/obj/%.o) $(NET_SRC:%.c=$(B)/obj/%.o) \
	$(FS_SRC:%.c=$(B)/obj/%.o) $(TLS_SRC:%.c=$(B)/obj/%.o) \
	$(PLUGIN_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o)

SHARE := $(B)/share/msb
KERNEL := $(SHARE)/kernel/vmlinuz-cloud
INITRAMFS := $(SHARE)/initramfs-cloud.cpio
IMAGE := $(SHARE)/images/default/layer.erofs
KERNEL_MSB := $(SHARE)/kernel/vmlinux-msb
INITRAMFS_MSB := $(SHARE)/initramfs-msb.cpio

all: $(B)/bin/msb $(B)/lib/libmsb.so $(B)/lib/pkgconfig/libmsb.pc \
	$(B)/libexec/msb/msb-supervisor \
	$(B)/libexec/msb/msb-unpack $(B)/libexec/msb/mkfs.erofs \
	$(B)/include/msb.h $(B)/include/msb_net_plugin.h $(B)/include/msb_fs.h \
	guest examples $(B)/tests/fs-conformance $(B)/tests/sdk-vectors $(B)/tests/gatefs.so \
	$(B)/tests/forbid.so $(B)/tests/msb-inject

# The project's kernel takes minutes to build (once per config: cached);
# NO_KERNEL_BUILD=1 skips it and sandboxes boot Debian's cloud kernel.
guest: $(KERNEL) $(INITRAMFS) $(INITRAMFS_MSB) $(IMAGE)
ifneq ($(NO_KERNEL_BUILD),1)
guest: $(KERNEL_MSB)
endif

$(B)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(SRC_INC) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -c -o $@ $<

$(B)/lib/libmsb.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/lib/libmsb.so: $(LIB_OBJ) $(LAZY_SRC:%.c=$(B)/obj/%.o)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libmsb.so.0 -Wl,--no-undefined -o $@.0 $^ $(SO_LIBS)
	ln -sf libmsb.so.0 $@

# pkg-config's description of the library (SDKs find libmsb with it). The
# build tree's names the build tree, so PKG_CONFIG_PATH=build/lib/pkgconfig
# finds a library run in place; `make install` writes one naming $(PREFIX).
# Libs carries an rpath, so a program linked with it (a Go or Rust SDK
# user's) finds libmsb.so.0 where the .pc says, with no LD_LIBRARY_PATH or
# ldconfig.
define pc_file
mkdir -p $(dir $(2)) && printf '%s\n' 'prefix=$(1)' 'libdir=$${prefix}/lib' \
	'includedir=$${prefix}/include' '' 'Name: libmsb' \
	'Description: microsandbox, a microVM per sandbox: the C library every SDK binds' \
	'Version: $(MSB_VERSION)' \
	'Libs: -L$${libdir} -Wl,-rpath,$${libdir} -lmsb' \
	'Libs.private: $(LIBS)' 'Cflags: -I$${includedir}' > $(2)
endef

$(B)/lib/pkgconfig/libmsb.pc: include/msb.h Makefile
	$(call pc_file,$(abspath $(B)),$@)

$(B)/include/%.h: include/%.h
	@mkdir -p $(dir $@)
	cp $< $@

$(B)/libexec/msb/msb-supervisor: $(SUP_OBJ) $(B)/lib/libmsb.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(SUP_OBJ) $(B)/lib/libmsb.a $(LIBS) $(SUP_LIBS)

$(B)/libexec/msb/msb-unpack: $(UNPACK_SRC:%.c=$(B)/obj/%.o) $(B)/obj/src/common/util.o
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ -larchive -ldeflate -lisal -lcrypto -ldl

# erofs-utils >= 1.8's mkfs.erofs, for msb-unpack --mkfs-tar: built from
# Debian's source once (cached). Optional: without it layers are unpacked
# for the system's mkfs.erofs (slower), so a failure here only says so.
$(B)/libexec/msb/mkfs.erofs: scripts/build-erofs-utils.sh
	scripts/build-erofs-utils.sh $@ || \
		echo "mkfs.erofs with --tar not built: layers will be unpacked for the system's mkfs.erofs (slower)"

# The CLI goes through the library's API like any SDK user, but links the
# library in rather than loading libmsb.so: libmsb-cli.o is the objects of
# libmsb.so in one, with every symbol the library hides made local, so a
# call the API does not offer still fails to link. The small helpers of
# util.o and suggest.o, which the library hides too, stay outside it, one
# copy for both. json-c is linked in as well. Loading the two libraries
# cost every command 0.14 ms of its start (docs/performance.md, "The
# CLI's start, linked in").
CLI_COMMON := $(B)/obj/src/common/util.o $(B)/obj/src/common/suggest.o
$(B)/obj/libmsb-cli.o: $(filter-out $(CLI_COMMON),$(LIB_OBJ)) \
		$(LAZY_SRC:%.c=$(B)/obj/%.o)
	$(CC) -r -nostdlib -o $@.tmp $^
	objcopy --localize-hidden $@.tmp $@
	rm -f $@.tmp

$(B)/bin/msb: $(CLI_OBJ) $(CLI_COMMON) $(B)/obj/libmsb-cli.o
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(CLI_OBJ) $(CLI_COMMON) $(B)/obj/libmsb-cli.o \
		-Wl,-Bstatic -ljson-c -Wl,-Bdynamic -lpthread -ldl

# ---- guest ---------------------------------------------------------------

$(SHARE)/msb-agent: $(AGENT_SRC) $(wildcard src/agent/*.h) src/proto/proto.h \
		src/common/bytes.h
	@mkdir -p $(dir $@)
	$(MUSLCC) -static -Os -Wall -Wextra -Isrc/proto -Isrc/common -o $@ $(AGENT_SRC)

$(KERNEL): scripts/fetch-kernel.sh
	scripts/fetch-kernel.sh $(SHARE)/kernel

$(INITRAMFS): $(SHARE)/msb-agent $(KERNEL) scripts/mkinitramfs.sh
	scripts/mkinitramfs.sh $(SHARE)/msb-agent $(SHARE)/kernel/modules-cloud $@

$(KERNEL_MSB): kernel/microvm.config scripts/build-kernel.sh
	scripts/build-kernel.sh $(SHARE)/kernel

$(INITRAMFS_MSB): $(SHARE)/msb-agent scripts/mkinitramfs.sh
	scripts/mkinitramfs.sh $(SHARE)/msb-agent "" $@

$(IMAGE): scripts/mkimage-default.sh
	scripts/mkimage-default.sh $(SHARE)/images/default

# The POSIX conformance tool the volume tests run inside guests
# (tests/fs/conformance.c): static, so it runs on any image.
$(B)/tests/fs-conformance: tests/fs/conformance.c
	@mkdir -p $(dir $@)
	$(MUSLCC) -static -O2 -Wall -Wextra -Wno-unused-result -o $@ $<

# A volume plugin whose fsync waits at a gate the test holds
# (tests/e2e/test_volumes_slow.py).
$(B)/tests/gatefs.so: tests/fs/gatefs.c include/msb_fs.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wall -Wextra -Wno-unused-parameter -Iinclude -shared -fPIC -o $@ $<

# The shared SDK test vectors (tests/sdk/vectors.json) through the C API,
# as every SDK runs them through its own (tests/e2e/test_vectors.py).
$(B)/tests/sdk-vectors: tests/sdk/vectors.c $(B)/lib/libmsb.so include/msb.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wall -Wextra -Iinclude -o $@ $< -L$(B)/lib -lmsb \
		-Wl,-rpath,'$$ORIGIN/../lib' -ljson-c -lcrypto

# A test's hand inside a confined supervisor (tests/e2e/test_escape.py).
$(B)/tests/forbid.so: tests/escape/forbid.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wall -Wextra -Wno-unused-parameter -shared -fPIC -o $@ $< -ldl

# A test's hand inside a confined QEMU (tests/e2e/test_escape.py).
$(B)/tests/msb-inject: tests/escape/inject.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wall -Wextra -o $@ $<

# ---- examples ------------------------------------------------------------

examples: $(B)/examples/hello $(B)/examples/net_plugin.so $(B)/examples/dlp_plugin.so \
	$(B)/examples/auditfs.so $(B)/examples/hellofs.so

# Filesystem plugins (include/msb_fs.h): hooks (AuditFs) and a backend.
$(B)/examples/%fs.so: examples/%fs.c include/msb_fs.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wall -Wextra -Wno-unused-parameter -Iinclude -shared -fPIC -o $@ $<

# on_http: the seeds' DLP example (block a request whose body matches).
$(B)/examples/dlp_plugin.so: examples/dlp_plugin.c include/msb_net_plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wall -Wextra -Wno-unused-parameter -Iinclude -shared -fPIC -o $@ $<

$(B)/examples/net_plugin.so: examples/net_plugin.c include/msb_net_plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wall -Wextra -Wno-unused-parameter -Iinclude -shared -fPIC -o $@ $<

$(B)/examples/hello: examples/hello.c $(B)/lib/libmsb.so include/msb.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wall -Wextra -Iinclude -o $@ $< -L$(B)/lib -lmsb \
		-Wl,-rpath,'$$ORIGIN/../lib'

# ---- containerd shim ----------------------------------------------------

# containerd-shim-msb-v2 (shim/, Go over sdk/go and libmsb): containerd's
# runtime v2 shim, so containerd and Kubernetes run pods as microsandboxes
# (docs/kubernetes.md). Built with `make` when Go is installed; its modules
# come from the module cache or the Go proxy (shim/go.sum pins each).
# Its rpath is $ORIGIN/../lib (not the build tree's libmsb.pc's), so the
# binary finds libmsb.so in the build tree and, once installed, beside it.
GO ?= $(shell command -v go 2>/dev/null || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; })
SHIM := $(B)/bin/containerd-shim-msb-v2
ifneq ($(GO),)
all: $(SHIM)
endif
shim: $(SHIM)

# Go's build cache does not see a changed C header ('go help cache'): the
# headers' digest in CGO_CFLAGS, which it keys on, has a changed msb.h
# recompile the Go SDK instead of reusing its old struct layouts. Nor does
# it key on pkg-config's -L: the library directory's digest there keeps a
# package built against another tree's libmsb (one since deleted, or
# older) from being linked here.
$(SHIM): $(wildcard shim/*.go) shim/go.mod shim/go.sum $(wildcard sdk/go/*.go) sdk/go/go.mod \
		$(B)/lib/libmsb.so $(B)/include/msb.h
	@[ -n "$(GO)" ] || { echo "make: the containerd shim needs Go (>= 1.22)" >&2; exit 1; }
	@mkdir -p $(B)/obj/shim
	printf '%s\n' 'Name: libmsb' 'Description: microsandbox (for the shim)' 'Version: 0' \
		'Libs: -L$(abspath $(B))/lib -lmsb' \
		'Cflags: -I$(abspath $(B))/include' > $(B)/obj/shim/libmsb.pc
	cd shim && PKG_CONFIG_PATH=$(abspath $(B))/obj/shim CGO_ENABLED=1 \
		CGO_CFLAGS="-g -O2 -DMSB_HEADERS_SHA256_$$(cat $(abspath $(B))/include/*.h | sha256sum | cut -c1-16) -DMSB_LIBDIR_SHA256_$$(printf %s $(abspath $(B))/lib | sha256sum | cut -c1-16)" \
		CGO_LDFLAGS='-Wl,-rpath,$$ORIGIN/../lib' \
		$(GO) build -trimpath -o $(abspath $@) \
		-ldflags "-X main.version=$(MSB_VERSION)" .

# ---- tests ---------------------------------------------------------------

SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
UNIT_SRC := $(wildcard tests/unit/*.c)

# (the filesystem plugin examples are loaded by tests/unit/test_fs.c)
$(B)/tests/unit: $(UNIT_SRC) $(LIB_SRC) $(SUP_SRC) $(NET_SRC) $(FS_SRC) $(TLS_SRC) \
		$(PLUGIN_SRC) $(HDRS) $(B)/examples/auditfs.so $(B)/examples/hellofs.so
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(SRC_INC) -Itests/unit -O1 -g $(WARN) $(SAN) -o $@ \
		$(UNIT_SRC) $(LIB_SRC) $(NET_SRC) $(FS_SRC) $(TLS_SRC) $(PLUGIN_SRC) $(LIBS)

# The supervisor under ASan and UBSan, booted by tests/e2e/test_asan.py
# (MSB_SUPERVISOR) to run real guests through every part of it.
$(B)/tests/msb-supervisor-asan: $(SUP_SRC) $(NET_SRC) $(FS_SRC) $(TLS_SRC) \
		$(PLUGIN_SRC) $(LIB_SRC) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(SRC_INC) -O1 -g $(WARN) $(SAN) -o $@ $(SUP_SRC) \
		$(NET_SRC) $(FS_SRC) $(TLS_SRC) $(PLUGIN_SRC) $(LIB_SRC) \
		$(LIBS) $(SUP_LIBS)

$(B)/fuzz/frame: fuzz/frame.c src/proto/proto.c src/proto/proto.h src/common/bytes.h
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/proto -Isrc/common \
		-o $@ fuzz/frame.c src/proto/proto.c

# Arbitrary frames into the network stack's input (fuzz/net.c).
$(B)/fuzz/net: fuzz/net.c $(NET_SRC) $(wildcard src/net/*.h) $(VHOST_SRC) \
		src/net/policy.c src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/net -Iinclude \
		-Isrc/tls -Isrc/common -Isrc/fs \
		-o $@ fuzz/net.c $(NET_SRC) $(VHOST_SRC) src/net/policy.c src/common/buf.c \
		src/common/util.c

# The tar headers of archives given to msb load (fuzz/tar.c).
$(B)/fuzz/tar: fuzz/tar.c src/image/tar.c src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		-o $@ fuzz/tar.c src/image/tar.c src/common/util.c

# Hostile descriptor chains for the virtqueue walker (fuzz/virtq_fuzz.c).
$(B)/fuzz/virtq: fuzz/virtq_fuzz.c src/fs/virtqueue.c src/fs/virtqueue.h
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/fs \
		-o $@ fuzz/virtq_fuzz.c src/fs/virtqueue.c

# FUSE requests from a hostile guest into the dispatcher and the memory
# and passthrough backends (fuzz/fuse_fuzz.c).
BACKEND_SRC := $(wildcard $(addprefix src/fs/,fuse.c memory.c passthrough.c \
	overlay.c proxy.c plugin.c))
$(B)/fuzz/fuse: fuzz/fuse_fuzz.c $(BACKEND_SRC) src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc/fs \
		-Isrc/common -o $@ fuzz/fuse_fuzz.c $(BACKEND_SRC) \
		src/common/util.c -ldl

# Guest HTTP/1.1 requests into the framer and rewriter (fuzz/http1.c).
$(B)/fuzz/http1: fuzz/http1.c src/http/http1.c src/http/http1.h \
		src/common/buf.c src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) -Isrc/http \
		-o $@ fuzz/http1.c src/http/http1.c src/common/buf.c src/common/util.c

# A server's answers into the secrets guard's scrubbing (fuzz/http1_resp.c).
GUARD_FUZZ_SRC := src/secrets/guard.c src/secrets/guard_resp.c \
	src/secrets/guard_ws.c src/secrets/scrub.c src/secrets/vault.c \
	src/secrets/spec.c src/http/http1.c src/http/http1_resp.c \
	src/http/ws.c src/common/buf.c \
	src/common/util.c
$(B)/fuzz/http1_resp: fuzz/http1_resp.c $(GUARD_FUZZ_SRC) $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		-Isrc/http -Isrc/secrets -Isrc/tls -Isrc/net \
		-o $@ fuzz/http1_resp.c $(GUARD_FUZZ_SRC) -ljson-c

# A guest flow's bytes into the interception filter (fuzz/tls_flow.c).
$(B)/fuzz/tls_flow: fuzz/tls_flow.c src/tls/intercept.c src/tls/ca.c \
		src/common/buf.c src/common/util.c $(wildcard src/tls/*.h) $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) -Isrc/tls \
		-o $@ fuzz/tls_flow.c src/tls/intercept.c src/tls/ca.c \
		src/common/buf.c src/common/util.c -lssl -lcrypto

# QEMU's monitor lines into the QMP client (fuzz/qmp.c).
$(B)/fuzz/qmp: fuzz/qmp.c src/engine/qmp.c src/engine/qmp.h src/common/buf.c \
		src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		-o $@ fuzz/qmp.c src/engine/qmp.c src/common/buf.c src/common/util.c -ljson-c

# Guest bytes escaped into a sandbox's log (fuzz/logtext.c).
$(B)/fuzz/logtext: fuzz/logtext.c src/supervisor/logtext.c src/supervisor/logtext.h
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/supervisor \
		-o $@ fuzz/logtext.c src/supervisor/logtext.c

# Guest events into the supervisor's event log (fuzz/event.c).
$(B)/fuzz/event: fuzz/event.c src/supervisor/evlog.c src/supervisor/evlog.h \
		src/proto/proto.c src/proto/proto.h src/common/bytes.h
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/supervisor -Isrc/proto -Isrc/common \
		-o $@ fuzz/event.c src/supervisor/evlog.c src/proto/proto.c -ljson-c

# A guest's peer requests into the supervisor's check, and a copy's
# archive into its worker's (fuzz/spawnreq.c).
$(B)/fuzz/spawnreq: fuzz/spawnreq.c src/supervisor/spawnreq.c \
		src/supervisor/spawnreq.h src/proto/proto.c src/proto/proto.h \
		src/common/bytes.h
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/supervisor -Isrc/proto -Isrc/common \
		-o $@ fuzz/spawnreq.c src/supervisor/spawnreq.c src/proto/proto.c \
		-ljson-c

# QEMU's vhost-user messages and the guest memory they map, into the
# device (fuzz/vhost_user.c).
$(B)/fuzz/vhost_user: fuzz/vhost_user.c $(VHOST_SRC) src/fs/vhost_user.h \
		src/fs/virtqueue.h src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/fs \
		-Iinclude -Isrc/common \
		-o $@ fuzz/vhost_user.c $(VHOST_SRC) src/common/util.c

# The same records against the network stack's virtio-net device
# (src/net/vnet.c): the guest's frames behind their virtio-net headers.
$(B)/fuzz/vnet: fuzz/vhost_user.c $(VHOST_SRC) src/fs/vhost_user.h \
		src/fs/virtqueue.h $(NET_SRC) $(wildcard src/net/*.h) src/net/policy.c \
		src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -DFUZZ_VNET -Isrc/fs \
		-Isrc/net -Iinclude -Isrc/tls -Isrc/common \
		-o $@ fuzz/vhost_user.c $(VHOST_SRC) $(NET_SRC) src/net/policy.c \
		src/common/buf.c src/common/util.c

# What a registry sends: manifests, indexes, challenges, error bodies
# (fuzz/registry.c).
# (store.c checks a layer's disk and its recorded size: layercheck.c and
# the database's open, state.c.)
$(B)/fuzz/registry: fuzz/registry.c src/image/registry.c src/image/manifest.c \
		src/image/ref.c src/image/auth.c src/image/store.c src/image/curlapi.c \
		src/image/layercheck.c src/lib/state.c src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		-o $@ fuzz/registry.c src/image/manifest.c src/image/ref.c \
		src/image/auth.c src/image/store.c src/image/curlapi.c \
		src/image/layercheck.c src/lib/state.c \
		src/common/util.c -ljson-c -lssl -lcrypto -lsqlite3

# Layer tar streams into the stream converter (fuzz/tarstream.c).
# (a streamed layer's ring, piece and read buffer small: 8 MiB, 1 MiB and
# 256 KiB allocated for every run, their shadow poisoned by ASan, were
# most of a run's time, and a small ring wraps and waits more often)
INFLATE_FUZZ := -DINFLATE_RING=65536 -DINFLATE_PIECE=16384 \
	-DINFLATE_IN_BUF=4096
$(B)/fuzz/tarstream: fuzz/tarstream.c src/image/tarstream.c src/image/unpack.c \
		src/image/inflate.c src/image/unpack.h src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		$(INFLATE_FUZZ) \
		-o $@ fuzz/tarstream.c src/image/tarstream.c src/image/unpack.c \
		src/image/inflate.c src/common/util.c -larchive -ldeflate -lisal -lcrypto -lz

# Layer tar streams into the unpacker (fuzz/unpack.c).
$(B)/fuzz/unpack: fuzz/unpack.c src/image/unpack.c src/image/inflate.c \
		src/image/unpack.h src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		-o $@ fuzz/unpack.c src/image/unpack.c src/image/inflate.c \
		src/common/util.c -larchive -ldeflate -lisal -lcrypto

# Sandboxfiles into the project loader (fuzz/sandboxfile.c), over the
# library's own checks.
$(B)/fuzz/sandboxfile: fuzz/sandboxfile.c $(LIB_SRC) $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		$(SRC_INC) -o $@ fuzz/sandboxfile.c $(LIB_SRC) $(LIBS)

# A sandbox artifact's manifest, config blob and chunks, as a registry may
# send them, into src/sync/ (fuzz/artifact.c).
$(B)/fuzz/artifact: fuzz/artifact.c $(LIB_SRC) $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		$(SRC_INC) -o $@ fuzz/artifact.c $(LIB_SRC) $(LIBS)

# A plugin's answers and hellos into the hook protocol's parser
# (fuzz/hook_reply.c).
$(B)/fuzz/hook_reply: fuzz/hook_reply.c src/plugins/wire.c src/plugins/wire.h \
		src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) -Isrc/plugins \
		-o $@ fuzz/hook_reply.c src/plugins/wire.c src/common/util.c -ljson-c

# A plugin artifact's manifest, metadata and the registry's index, as a
# registry may send them (fuzz/plugin_meta.c).
$(B)/fuzz/plugin_meta: fuzz/plugin_meta.c src/lib/plugmeta.c src/image/ref.c \
		src/common/util.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		-o $@ fuzz/plugin_meta.c src/lib/plugmeta.c src/image/ref.c \
		src/common/util.c -ljson-c

FUZZ := frame net tar virtq fuse http1 http1_resp tls_flow qmp vhost_user vnet event \
	registry unpack tarstream logtext sandboxfile artifact hook_reply plugin_meta \
	spawnreq

unit: $(B)/tests/unit
	$(B)/tests/unit

# The host's programs (msb, the supervisor, msb-unpack, libmsb) under ASan
# and UBSan, for the end-to-end tests (MSB_BUILD=build-asan).
asan:
	$(MAKE) B=build-asan CFLAGS="-O1 -g" \
		CC="$(CC) -fsanitize=address,undefined -fno-omit-frame-pointer"

fuzz: $(FUZZ:%=$(B)/fuzz/%)

# make print-VAR: a variable's value (fuzz/reach.py reads the sources and
# flags of a target's rule this way).
print-%:
	@: $(info $($*))

# The whole suite: unit tests under sanitizers, a fuzzing run, and the
# end-to-end tests that boot real guests. Prints "N passed, N failed" last.
test: all $(B)/tests/unit $(B)/tests/msb-supervisor-asan $(FUZZ:%=$(B)/fuzz/%)
	tests/run-all.sh $(B)

bench: all
	bench/run.sh $(B)

install: all
	mkdir -p $(DESTDIR)$(PREFIX)
	cp -a $(B)/bin $(B)/lib $(B)/libexec $(B)/include $(DESTDIR)$(PREFIX)/
	$(call pc_file,$(PREFIX),$(DESTDIR)$(PREFIX)/lib/pkgconfig/libmsb.pc)
	mkdir -p $(DESTDIR)$(PREFIX)/share
	rm -rf $(DESTDIR)$(PREFIX)/share/msb
	cp -a $(SHARE) $(DESTDIR)$(PREFIX)/share/msb

clean:
	rm -rf $(B)/obj $(B)/bin $(B)/lib $(B)/libexec $(B)/tests $(B)/fuzz \
		$(B)/examples $(SHARE)/msb-agent $(INITRAMFS) $(INITRAMFS_MSB)

.PHONY: asan all guest examples unit fuzz test bench install clean shim
