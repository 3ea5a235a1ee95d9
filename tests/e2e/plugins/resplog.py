# SPDX-License-Identifier: Apache-2.0
"""A --plugin-process for tests/e2e/test_tls.py's response hook: writes
every HTTP answer it is shown (request, status, head, body) to $LOG as
JSON lines, tags answers to requests with `mark=1` in their line with an
X-Resp-Hook header, and blocks answers that say `forbidden-answer`."""

import json
import os
import sys

sys.path.insert(0, os.environ["MSB_PY_SDK"])
from microsandbox.plugin import Plugin, deny, modify  # noqa: E402

LOG = os.environ["LOG"]
p = Plugin("resplog")


@p.hook("http_response")
def http_response(call):
    with open(LOG, "a") as f:
        f.write(json.dumps({
            "tls": call.tls, "host": call.host, "request": call.request,
            "status": call.status, "head": call.head,
            "body": (call.body or b"").decode("latin-1"),
            "streamed": call.body_streamed}) + "\n")
    if call.body and b"forbidden-answer" in call.body:
        return deny("an answer it may not have")
    if "mark=1" in call.request:
        return modify(head=call.head[:-2] + "X-Resp-Hook: 1\r\n\r\n")


p.run()
