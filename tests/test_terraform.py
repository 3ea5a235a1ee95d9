# SPDX-License-Identifier: Apache-2.0
"""The Terraform provider's own tests (terraform/: go test ./...), under
pytest. Unit tests speak the plugin protocol to the provider directly;
acceptance tests have a Terraform-compatible CLI (OpenTofu, built once by
./setup --test with scripts/build-opentofu.sh and cached; or
$TF_ACC_TERRAFORM_PATH) plan, apply, import and destroy real sandboxes
through terraform-plugin-testing. Go's module cache is filled by ./setup
--test (go mod download); nothing is downloaded here (GOPROXY=off)."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from test_go_sdk import GO, go_env

MODULE = os.path.join(ROOT, "terraform")
TOFU_VERSION = "v1.12.6"


def cli():
    """The CLI acceptance tests drive, or None."""
    if os.environ.get("TF_ACC_TERRAFORM_PATH"):
        return os.environ["TF_ACC_TERRAFORM_PATH"]
    cache = os.environ.get("MSB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "microsandbox")
    for cand in (os.path.join(cache, f"opentofu-{TOFU_VERSION}", "tofu"),
                 shutil.which("tofu"), shutil.which("terraform")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def go_test(run, tf=None):
    env = go_env()
    env.pop("TF_ACC_TERRAFORM_PATH", None)
    if tf:
        env["TF_ACC_TERRAFORM_PATH"] = tf
    p = subprocess.run([GO, "test", "-count=1", "-timeout", "15m", "-v", "-run", run, "./..."],
                       cwd=MODULE, capture_output=True, text=True, env=env, timeout=1200)
    out = p.stdout + p.stderr
    summary = "\n".join(l for l in out.splitlines()
                        if l.startswith(("--- FAIL", "--- SKIP", "ok", "FAIL", "panic")))
    assert p.returncode == 0, out[-8000:]
    assert "--- FAIL" not in out, summary
    return out


@pytest.mark.skipif(not GO, reason="no Go toolchain (Go >= 1.25) on this host")
def test_terraform_unit():
    out = go_test("^TestUnit")
    passed = len(re.findall(r"^\s*--- PASS: TestUnit", out, re.M))
    assert passed >= 6, f"only {passed} unit tests passed\n{out[-4000:]}"


@pytest.mark.skipif(not GO, reason="no Go toolchain (Go >= 1.25) on this host")
@pytest.mark.skipif(not cli(), reason="no Terraform-compatible CLI: ./setup --test builds "
                    "OpenTofu (scripts/build-opentofu.sh), or set TF_ACC_TERRAFORM_PATH")
def test_terraform_acceptance():
    out = go_test("^TestAcc", cli())
    for name in ("TestAccSandboxLifecycle", "TestAccSeeds", "TestAccSeedSnapshot", "TestAccSeedPlugins",
                 "TestAccSeedSync", "TestAccPluginRegistry", "TestAccSeedSpawn"):
        assert re.search(rf"^--- PASS: {name} ", out, re.M), f"{name} did not pass\n{out[-4000:]}"
