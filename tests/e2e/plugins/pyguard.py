# SPDX-License-Identifier: Apache-2.0
"""A --plugin-process in Python for tests/e2e/test_plugins.py: logs every
hook it sees to $LOG (JSON lines), denies `blocked.test` and exec of
`forbidden`, answers `plugin.test`, rewrites `echo REWRITE-ME` and tags
execs with PYGUARD=1, refuses lookups of files named secret.txt, and
redacts CONFIDENTIAL in the bodies of HTTP answers (whose heads it is
told of first)."""

import json
import os
import sys

sys.path.insert(0, os.environ["MSB_PY_SDK"])
from microsandbox.plugin import Plugin, answer, deny, modify, rewrite  # noqa: E402

LOG = os.environ["LOG"]
p = Plugin("pyguard")


def log(call):
    with open(LOG, "a") as f:
        f.write(json.dumps({"hook": call.hook, **{
            k: v for k, v in call._msg.items()
            if k not in ("type", "id", "body_b64")}}) + "\n")


@p.hook("lifecycle")
def lifecycle(call):
    log(call)


@p.hook("exec_before")
def exec_before(call):
    log(call)
    if call.argv[0] == "forbidden":
        return deny("no forbidden here")
    argv = call.argv
    if argv[-1] == "REWRITE-ME":
        argv = argv[:-1] + ["rewritten-by-pyguard"]
    return rewrite(argv=argv, env=call.env + ["PYGUARD=1"])


@p.hook("exec_after")
def exec_after(call):
    log(call)


@p.hook("dns")
def dns(call):
    log(call)
    if call.name == "blocked.test":
        return deny("blocked by pyguard")
    if call.name == "plugin.test":
        return answer(["192.0.2.55"])


@p.hook("connect")
def connect(call):
    log(call)
    if call.port == 9:
        return deny("port 9")


@p.hook("fs", fs_ops=["lookup", "open", "create"])
def fs(call):
    if call.op != "lookup":
        log(call)
    if call.op == "lookup" and call.name == "secret.txt":
        return deny("not this file", errno=13)


@p.hook("http_response")
def http_response(call):
    log(call)
    if call.body and b"CONFIDENTIAL" in call.body:
        return modify(call.body.replace(b"CONFIDENTIAL", b"[redacted]"))


@p.hook("http_response_head")
def http_response_head(call):
    log(call)


p.run()
