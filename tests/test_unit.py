# SPDX-License-Identifier: Apache-2.0
"""The C unit tests (under ASan and UBSan) and a fuzzing run, under pytest."""

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

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


def test_fuzz_reach_tool():
    """fuzz/reach.py, the call graph docs/security.md reads to say a change
    is out of a target's reach: a path through a call, a function the
    harness cannot reach, and one its sources do not define."""
    def reach(*funcs):
        return subprocess.run([sys.executable, "fuzz/reach.py", "event", "--",
                               *funcs], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
    p = reach("msb_tlv_next", "msb_pcp_rec")
    assert (p.returncode, p.stdout) == (0, (
        "msb_tlv_next: reachable: msb_tlv_next <- msb_event_parse "
        "<- LLVMFuzzerTestOneInput\n"
        "msb_pcp_rec: not reachable\n")), p
    p = reach("msb_home_ready")
    assert (p.returncode, p.stdout) == (
        1, "msb_home_ready: not defined in these sources\n"), p


def _tls_size(path):
    out = subprocess.run(["readelf", "-lW", path], capture_output=True,
                         text=True, check=True).stdout
    sizes = [int(line.split()[5], 16) for line in out.splitlines()
             if line.split()[:1] == ["TLS"]]
    return sum(sizes)


def _globals(path, *flags):
    out = subprocess.run(["nm", "-g", "--defined-only", *flags, path],
                         capture_output=True, text=True, check=True).stdout
    return {w[2] for w in (line.split() for line in out.splitlines())
            if len(w) == 3 and w[1] in "TDBR"}


def test_library_thread_local_storage_is_small():
    """Every thread of every process that links libmsb gets its own zeroed
    copy of the library's thread-local storage, at start for the threads
    the process has: a buffer kept there (192 KiB once) costs each of them
    whether it calls the library or not."""
    lib = os.path.join(BUILD, "lib", "libmsb.so.0")
    assert _tls_size(lib) <= 16 * 1024, _tls_size(lib)
    assert _tls_size(os.path.join(BUILD, "bin", "msb")) <= 16 * 1024


def test_cli_links_the_api_alone():
    """msb links the library in (docs/performance.md, "The CLI's start,
    linked in"), yet reaches it through the API alone, as an SDK does:
    the object it links defines, as globals, exactly what libmsb.so
    exports beyond util.o's helpers, and it loads no library but libc."""
    obj = _globals(os.path.join(BUILD, "obj", "libmsb-cli.o"))
    exported = _globals(os.path.join(BUILD, "lib", "libmsb.so.0"), "-D")
    util = _globals(os.path.join(BUILD, "obj", "src", "common", "util.o"))
    assert obj and all(name.startswith("msb_") for name in obj), obj
    assert obj == exported - util, (obj ^ (exported - util))
    out = subprocess.run(["readelf", "-d", os.path.join(BUILD, "bin", "msb")],
                         capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\).*\[(.*)\]", out))
    assert needed <= {"libc.so.6", "ld-linux-x86-64.so.2"}, needed


# Each target's seeds replayed and a short run beyond them: a guard against
# a change that breaks a parser outright. The real fuzzing is
# bench/fuzz_long.sh's 10 million executions a target (docs/security.md).
# A target is one process on one CPU: they run side by side, one per CPU
# (at most four), each test waiting for its own.
FUZZ_SECONDS = 8

# (test, target, seed corpus under fuzz/corpus, what it feeds where)
FUZZ = [
    ("test_fuzz_frame_parser", "frame", "frame",
     "Arbitrary bytes from the guest into the agent-link frame "
     "parser."),
    ("test_fuzz_guest_events", "event", None,
     "Arbitrary GEVENT payloads from the guest into the event log."),
    ("test_fuzz_peer_requests", "spawnreq", "spawnreq",
     "Arbitrary PEER payloads from the guest into the supervisor's "
     "check."),
    ("test_fuzz_net_stack", "net", "net",
     "Arbitrary guest frames (and host socket events) into src/net/."),
    ("test_fuzz_tar_headers", "tar", None,
     "Arbitrary tar headers and pax records, as msb load reads them."),
    ("test_fuzz_virtqueue_walker", "virtq", "virtq",
     "Hostile descriptor chains and rings into src/fs/virtqueue.c."),
    ("test_fuzz_fuse_dispatcher", "fuse", "fuse",
     "Hostile FUSE request chains into src/fs/fuse.c over the memory "
     "and passthrough backends (nothing may appear outside the "
     "volume)."),
    ("test_fuzz_http1_rewriter", "http1", "http1",
     "Guest HTTP/1.1 requests, split anyhow, into src/http/http1.c: "
     "what it emits must frame again as the same one request."),
    ("test_fuzz_http1_answers_scrubbed", "http1_resp", "http1_resp",
     "A server's answers, split anyhow, into the secrets guard "
     "(src/secrets/guard_resp.c over src/http/http1_resp.c): nothing "
     "the guest gets may hold a secret's value, however the framing "
     "cuts it."),
    ("test_fuzz_tls_interception_filter", "tls_flow", "tls_flow",
     "A guest flow's bytes (and a server's answers) into "
     "src/tls/intercept.c: ClientHellos parsed by OpenSSL, the "
     "sniffing of plain HTTP, and flows passed byte for byte."),
    ("test_fuzz_log_escaping", "logtext", None,
     "Guest bytes, split anyhow and mixed with msb's lines, into "
     "src/supervisor/logtext.c: no control byte, no C1 control, no "
     "line that passes for msb's own reaches the log."),
    ("test_fuzz_qmp_client", "qmp", None,
     "QEMU's monitor lines, split anyhow, into src/engine/qmp.c: "
     "every pending command is answered exactly once, whatever "
     "arrives."),
    ("test_fuzz_vhost_user_device", "vhost_user", "vhost_user",
     "QEMU's vhost-user messages, with memfds and eventfds, and the "
     "guest memory they map, into src/fs/vhost_user.c."),
    ("test_fuzz_vhost_user_net_device", "vnet", "vnet",
     "The same records against the network stack's virtio-net device "
     "(src/net/vnet.c): the guest's frames behind their virtio-net "
     "headers, the stack's answers into its receive buffers."),
    ("test_fuzz_registry_responses", "registry", "registry",
     "A registry's manifests, indexes, Bearer challenges and error "
     "bodies into src/image/manifest.c and registry.c."),
    ("test_fuzz_layer_unpack", "unpack", "unpack",
     "Layer tar streams (every header hostile) into "
     "src/image/unpack.c: nothing may appear, change or go outside "
     "the layer's root."),
    ("test_fuzz_layer_tar_stream", "tarstream", "unpack",
     "Hostile layers into the tar stream mkfs.erofs --tar reads (the "
     "unpacker's corpus): the stream comes out clean or is refused."),
    ("test_fuzz_sandboxfile_loader", "sandboxfile", "sandboxfile",
     "Sandboxfiles (YAML with anchors, aliases, merge keys, any "
     "bytes) into src/lib/sandboxfile.c: a project, or one message "
     "that names the file, and nothing leaked."),
    ("test_fuzz_sandbox_artifacts", "artifact", "artifact",
     "A sandbox artifact's manifest, config blob (made a record "
     "config as an untrusted pull makes it) and chunks, as a "
     "registry may send them, into src/sync/."),
    ("test_fuzz_plugin_replies", "hook_reply", "hook_reply",
     "What a plugin process sends (answers to calls, hellos) into "
     "the hook protocol's parser, src/plugins/wire.c: accepted "
     "answers stay within the bounds the supervisor relies on."),
    ("test_fuzz_plugin_artifacts", "plugin_meta", "plugin_meta",
     "A plugin artifact's manifest, its metadata and the registry's "
     "index, as a registry may send them, into src/lib/plugmeta.c: "
     "accepted files have safe paths and bounded sizes, accepted "
     "metadata names a process plugin and reads back the same once "
     "written."),
]


class Fuzzers:
    """The selected targets' short runs, started together on a pool of
    one worker per CPU; check() waits for one and judges it."""

    def __init__(self, names):
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, min(os.cpu_count() or 1, 4)))
        self.runs = {target: self.pool.submit(_fuzz, target, FUZZ_SECONDS, seeds)
                     for name, target, seeds, _ in FUZZ if name in names}

    def check(self, target):
        p = self.runs[target].result()
        assert p.returncode == 0, p.stderr[-4000:]
        assert "Done" in p.stderr, p.stderr[-2000:]


@pytest.fixture(scope="module")
def fuzzers(request):
    f = Fuzzers({item.name for item in request.session.items})
    yield f
    f.pool.shutdown(wait=True)


def _fuzz(target, seconds, seeds=None):
    """Run a libFuzzer target for a while: what it printed and returned
    (any crash or sanitizer report fails it)."""
    corpus = tempfile.mkdtemp(prefix=f"msb-fuzz-{target}-")
    dirs = [corpus] + ([os.path.join(ROOT, "fuzz", "corpus", seeds)] if seeds else [])
    try:
        return subprocess.run([os.path.join(BUILD, "fuzz", target),
                               f"-max_total_time={seconds}", "-rss_limit_mb=1024",
                               *dirs], capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(corpus, ignore_errors=True)


def _fuzz_test(name, target, seeds, doc):
    def test(fuzzers):
        fuzzers.check(target)
    test.__name__ = test.__qualname__ = name
    test.__doc__ = doc
    return test


for _row in FUZZ:
    globals()[_row[0]] = _fuzz_test(*_row)
