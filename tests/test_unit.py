# SPDX-License-Identifier: Apache-2.0
"""The C unit tests (under ASan and UBSan) and a fuzzing run, under pytest."""

import os
import re
import shutil
import subprocess
import tempfile

from conftest import BUILD, ROOT


def test_unit_suite_sanitized():
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    p = subprocess.run([os.path.join(BUILD, "tests", "unit")], capture_output=True,
                       text=True, env=env, timeout=600)
    out = p.stdout + p.stderr
    m = re.search(r"^unit: (\d+) passed, (\d+) failed$", out, re.M)
    assert m, out[-4000:]
    assert int(m.group(1)) > 0 and int(m.group(2)) == 0, out[-4000:]
    assert p.returncode == 0, out[-4000:]
    assert "Sanitizer" not in out, out[-4000:]


# Each target's seeds replayed and a short run beyond them: a guard against
# a change that breaks a parser outright. The real fuzzing is
# bench/fuzz_long.sh's 10 million executions a target (docs/security.md).
FUZZ_SECONDS = 8


def _fuzz(target, seconds, seeds=None):
    """Run a libFuzzer target for a while; any crash or sanitizer report fails."""
    corpus = tempfile.mkdtemp(prefix=f"msb-fuzz-{target}-")
    dirs = [corpus] + ([os.path.join(ROOT, "fuzz", "corpus", seeds)] if seeds else [])
    try:
        p = subprocess.run([os.path.join(BUILD, "fuzz", target),
                            f"-max_total_time={seconds}", "-rss_limit_mb=1024",
                            *dirs], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-4000:]
        assert "Done" in p.stderr, p.stderr[-2000:]
    finally:
        shutil.rmtree(corpus, ignore_errors=True)


def test_fuzz_frame_parser():
    """Arbitrary bytes from the guest into the agent-link frame parser."""
    _fuzz("frame", FUZZ_SECONDS, "frame")


def test_fuzz_guest_events():
    """Arbitrary GEVENT payloads from the guest into the event log."""
    _fuzz("event", FUZZ_SECONDS)


def test_fuzz_peer_requests():
    """Arbitrary PEER payloads from the guest into the supervisor's check."""
    _fuzz("spawnreq", FUZZ_SECONDS, "spawnreq")


def test_fuzz_net_stack():
    """Arbitrary guest frames (and host socket events) into src/net/."""
    _fuzz("net", FUZZ_SECONDS, "net")


def test_fuzz_tar_headers():
    """Arbitrary tar headers and pax records, as msb load reads them."""
    _fuzz("tar", FUZZ_SECONDS)


def test_fuzz_virtqueue_walker():
    """Hostile descriptor chains and rings into src/fs/virtqueue.c."""
    _fuzz("virtq", FUZZ_SECONDS, "virtq")


def test_fuzz_fuse_dispatcher():
    """Hostile FUSE request chains into src/fs/fuse.c over the memory and
    passthrough backends (nothing may appear outside the volume)."""
    _fuzz("fuse", FUZZ_SECONDS, "fuse")


def test_fuzz_http1_rewriter():
    """Guest HTTP/1.1 requests, split anyhow, into src/http/http1.c: what it
    emits must frame again as the same one request."""
    _fuzz("http1", FUZZ_SECONDS, "http1")


def test_fuzz_http1_answers_scrubbed():
    """A server's answers, split anyhow, into the secrets guard
    (src/secrets/guard_resp.c over src/http/http1_resp.c): nothing the
    guest gets may hold a secret's value, however the framing cuts it."""
    _fuzz("http1_resp", FUZZ_SECONDS, "http1_resp")


def test_fuzz_tls_interception_filter():
    """A guest flow's bytes (and a server's answers) into
    src/tls/intercept.c: ClientHellos parsed by OpenSSL, the sniffing of
    plain HTTP, and flows passed byte for byte."""
    _fuzz("tls_flow", FUZZ_SECONDS, "tls_flow")


def test_fuzz_log_escaping():
    """Guest bytes, split anyhow and mixed with msb's lines, into
    src/supervisor/logtext.c: no control byte, no C1 control, no line that
    passes for msb's own reaches the log."""
    _fuzz("logtext", FUZZ_SECONDS)


def test_fuzz_qmp_client():
    """QEMU's monitor lines, split anyhow, into src/engine/qmp.c: every
    pending command is answered exactly once, whatever arrives."""
    _fuzz("qmp", FUZZ_SECONDS)


def test_fuzz_vhost_user_device():
    """QEMU's vhost-user messages, with memfds and eventfds, and the guest
    memory they map, into src/fs/vhost_user.c."""
    _fuzz("vhost_user", FUZZ_SECONDS, "vhost_user")


def test_fuzz_vhost_user_net_device():
    """The same records against the network stack's virtio-net device
    (src/net/vnet.c): the guest's frames behind their virtio-net headers,
    the stack's answers into its receive buffers."""
    _fuzz("vnet", FUZZ_SECONDS, "vnet")


def test_fuzz_registry_responses():
    """A registry's manifests, indexes, Bearer challenges and error bodies
    into src/image/manifest.c and registry.c."""
    _fuzz("registry", FUZZ_SECONDS, "registry")


def test_fuzz_layer_unpack():
    """Layer tar streams (every header hostile) into src/image/unpack.c:
    nothing may appear, change or go outside the layer's root."""
    _fuzz("unpack", FUZZ_SECONDS, "unpack")


def test_fuzz_layer_tar_stream():
    # Hostile layers into the tar stream mkfs.erofs --tar reads (the
    # unpacker's corpus): the stream comes out clean or is refused.
    _fuzz("tarstream", FUZZ_SECONDS, "unpack")


def test_fuzz_sandboxfile_loader():
    """Sandboxfiles (YAML with anchors, aliases, merge keys, any bytes)
    into src/lib/sandboxfile.c: a project, or one message that names the
    file, and nothing leaked."""
    _fuzz("sandboxfile", FUZZ_SECONDS, "sandboxfile")


def test_fuzz_sandbox_artifacts():
    """A sandbox artifact's manifest, config blob (made a record config as
    an untrusted pull makes it) and chunks, as a registry may send them,
    into src/sync/."""
    _fuzz("artifact", FUZZ_SECONDS, "artifact")


def test_fuzz_plugin_replies():
    """What a plugin process sends (answers to calls, hellos) into the hook
    protocol's parser, src/plugins/wire.c: accepted answers stay within
    the bounds the supervisor relies on."""
    _fuzz("hook_reply", FUZZ_SECONDS, "hook_reply")


def test_fuzz_plugin_artifacts():
    """A plugin artifact's manifest, its metadata and the registry's index,
    as a registry may send them, into src/lib/plugmeta.c: accepted files
    have safe paths and bounded sizes, accepted metadata names a process
    plugin and reads back the same once written."""
    _fuzz("plugin_meta", FUZZ_SECONDS, "plugin_meta")
