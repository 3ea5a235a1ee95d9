# SPDX-License-Identifier: Apache-2.0
"""The guest agent against the protocol document, with no msb in between:
tests/agent/drive.py boots QEMU itself and speaks the frames directly
(credit windows, 1024-stream limit, bad ids, persistence, fatal paths)."""

import os
import subprocess
import sys

from conftest import BUILD, ROOT


def test_agent_protocol_driver():
    share = os.path.join(BUILD, "share", "msb")
    p = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "agent", "drive.py"),
         "--kernel", os.path.join(share, "kernel", "vmlinuz-cloud"),
         "--initrd", os.path.join(share, "initramfs-cloud.cpio"),
         "--layer", os.path.join(share, "images", "default", "layer.erofs")],
        capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (p.stdout[-6000:], p.stderr[-3000:])
