# SPDX-License-Identifier: Apache-2.0
"""The TypeScript SDK's own tests (sdk/typescript: node --test), under
pytest, one pytest test per test file. The addon is compiled against this
build's libmsb (pkg-config) and the tests, which are TypeScript, with the
tsc that ./setup --test installed (npm ci); they boot real sandboxes, run
the shared vectors and the seeds' snippets. Nothing is downloaded here."""

import glob
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT

SDK = os.path.join(ROOT, "sdk", "typescript")
NODE = shutil.which("node")
TSC = os.path.join(SDK, "node_modules", ".bin", "tsc")
SPECS = sorted(os.path.basename(p)[:-len(".test.ts")]
               for p in glob.glob(os.path.join(SDK, "test", "*.test.ts")))

pytestmark = [
    pytest.mark.skipif(not NODE, reason="no Node.js (20 or later) on this host"),
    pytest.mark.skipif(not os.path.exists(TSC),
                       reason="TypeScript is not installed in sdk/typescript "
                              "(./setup --test runs npm ci there)"),
]


def env():
    e = dict(os.environ, PKG_CONFIG_PATH=os.path.join(BUILD, "lib", "pkgconfig"))
    # The tests make their own $MSB_HOME.
    e.pop("MSB_HOME", None)
    e.pop("MSB_PREFIX", None)
    return e


@pytest.fixture(scope="module")
def compiled():
    """The addon against this build, and the tests compiled (and so the
    seeds' snippets and every test type-checked against index.d.ts)."""
    for cmd in ([NODE, "scripts/build-native.js"], [TSC, "-p", "tsconfig.json"]):
        p = subprocess.run(cmd, cwd=SDK, capture_output=True, text=True, env=env(),
                           timeout=600)
        assert p.returncode == 0, f"{' '.join(cmd)}:\n{p.stdout}{p.stderr}"
    return os.path.join(SDK, "build", "spec")


@pytest.mark.parametrize("spec", SPECS)
def test_ts_sdk(compiled, spec):
    js = os.path.join(compiled, f"{spec}.test.js")
    p = subprocess.run([NODE, "--enable-source-maps", "--test", "--test-reporter=tap",
                        "--test-concurrency=1", js],
                       cwd=SDK, capture_output=True, text=True, env=env(), timeout=1500)
    out = p.stdout + p.stderr
    failed = [l for l in out.splitlines() if re.match(r"\s*not ok ", l)]
    assert p.returncode == 0, "\n".join(failed) + "\n" + out[-8000:]
    passed = int(re.search(r"^# pass (\d+)", out, re.M).group(1))
    assert re.search(r"^# fail 0$", out, re.M), out[-8000:]
    assert passed >= 5, f"only {passed} TypeScript tests passed in {spec}\n{out[-4000:]}"


NPM = shutil.which("npm")

CONSUMER_TS = """
import { Sandbox, splitCommand, validName, InvalidArgumentError, type ExecResult } from "microsandbox";
const words: string[] = splitCommand("echo 'a b'");
async function run(sb: Sandbox): Promise<ExecResult> { return sb.exec(words); }
export { run };
try { validName("-bad"); } catch (e) { if (!(e instanceof InvalidArgumentError)) throw e; }
"""


@pytest.mark.skipif(not NPM, reason="no npm on this host")
def test_ts_install(tmp_path):
    """npm install of the package from the repository, offline, as a user
    does it: the install script builds the addon against libmsb found by
    pkg-config; the package then loads as an ES module and as CommonJS,
    and a TypeScript consumer type-checks against the installed types."""
    proj = tmp_path / "consumer"
    proj.mkdir()
    (proj / "package.json").write_text('{"name": "consumer", "version": "1.0.0", "private": true}')
    e = dict(env(), npm_config_cache=str(tmp_path / "npm-cache"))
    p = subprocess.run([NPM, "install", "--offline", "--no-audit", "--no-fund", "--install-links", SDK],
                       cwd=proj, capture_output=True, text=True, env=e, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    pkg = proj / "node_modules" / "microsandbox"
    assert (pkg / "build" / "msb.node").exists(), "the install script did not build the addon\n" + p.stderr
    assert not (pkg / "test").exists(), "the tests were packed"
    check = ("const { Sandbox, splitCommand, validName, InvalidArgumentError } = m;"
             "validName('ok-name');"
             "try { validName('-bad'); process.exit(3); } catch (e) { if (!(e instanceof InvalidArgumentError)) throw e; }"
             "console.log(typeof Sandbox.create, splitCommand(\"a 'b c'\").join('|'));")
    for code in (f"import('microsandbox').then((m) => {{ {check} }})",
                 f"const m = require('microsandbox'); {check}"):
        p = subprocess.run([NODE, "-e", code], cwd=proj, capture_output=True, text=True, env=e,
                           timeout=60)
        assert p.returncode == 0 and p.stdout == "function a|b c\n", p.stdout + p.stderr
    (proj / "index.ts").write_text(CONSUMER_TS)
    (proj / "tsconfig.json").write_text(
        '{"compilerOptions": {"module": "node16", "moduleResolution": "node16", "strict": true,'
        f' "noEmit": true, "types": ["node"], "typeRoots": ["{SDK}/node_modules/@types"]}},'
        ' "files": ["index.ts"]}')
    p = subprocess.run([TSC, "-p", "tsconfig.json"], cwd=proj, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
