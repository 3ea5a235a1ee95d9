# SPDX-License-Identifier: Apache-2.0
"""The README's two complete programs (its quickstart, and the same
without asyncio) run as they are written, offline, and print what the
README says they print."""

import os
import re
import subprocess
import sys

from .pysdk import SDK


def block_after(text, heading):
    """The first ```python block after @heading."""
    rest = text[text.index(heading):]
    m = re.search(r"```python\n(.*?)```", rest, re.S)
    return m.group(1)


def test_readme_programs_run(home):
    with open(os.path.join(SDK, "README.md")) as f:
        readme = f.read()
    quick = block_after(readme, "## Quickstart")
    blocking = block_after(readme, "## Without asyncio")
    env = dict(os.environ, PYTHONPATH=os.path.join(SDK, "src"))
    for code, want in ((quick, r"0 6\.1\.\S+\n\nhi\n\n"),
                       (blocking, r"6\.1\.\S+\n1\n2\n")):
        p = subprocess.run([sys.executable, "-c", code], capture_output=True,
                           text=True, env=env, timeout=300, cwd="/")
        assert p.returncode == 0, p.stderr
        assert re.fullmatch(want, p.stdout), p.stdout
