# SPDX-License-Identifier: Apache-2.0
"""--tls-bypass and --tls-upstream-ca (docs/secrets.md): refused with a
clear message when wrong, before anything is made; kept in the sandbox's
record as lowercase names and PEM text (never a path), shown by
'msb inspect', and read back by the supervisor at every start. One guest
boot: every refusal happens before one."""

import json
import os
import sqlite3
import subprocess

import pytest

from conftest import unique


def make_ca(d, name, cn):
    """A self-signed CA made by the openssl tool; returns (pem path, the
    certificate as 'openssl x509' writes it)."""
    key, pem = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", pem, "-days", "2",
                    "-subj", f"/CN={cn}/O=msb tests"],
                   check=True, capture_output=True)
    canon = subprocess.run(["openssl", "x509", "-in", pem], check=True,
                           capture_output=True, text=True).stdout
    return pem, key, canon


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tlsflags"))
    a_pem, a_key, a = make_ca(d, "a", "Upstream A")
    b_pem, _, b = make_ca(d, "b", "Upstream B")
    c_pem, _, c = make_ca(d, "c", "Upstream C")
    bundle = os.path.join(d, "bundle.pem")
    with open(bundle, "w") as f:   # as system bundles are: text between
        f.write("# Upstream B\n" + open(b_pem).read() +
                "\n# Upstream C\n" + open(c_pem).read())
    return {"dir": d, "a": a_pem, "a_key": a_key, "bundle": bundle,
            "canon": [a, b, c]}


def refused(msb, *args, status=125):
    """msb run with @args fails with @status (125: msb's own failure, as
    the README says of run), makes no sandbox, and returns its message."""
    name = unique("tlsbad")
    p = msb("run", "--name", name, "-d", *args, check=status)
    assert name not in msb.out("ps", "-a", "-q").split()
    return p.stderr.decode()


def test_help_lists_both_flags(msb):
    out = msb.out("run", "--help")
    assert "--tls-bypass DOMAIN" in out and "--tls-upstream-ca FILE" in out


def test_bad_ca_files_refused_naming_the_file(msb, certs):
    d = certs["dir"]
    missing = os.path.join(d, "missing.pem")
    err = refused(msb, "--tls-upstream-ca", missing)
    assert f"cannot read CA file '{missing}': No such file or directory" in err
    assert "--tls-upstream-ca takes a PEM file" in err

    notpem = os.path.join(d, "notes.txt")
    with open(notpem, "w") as f:
        f.write("this is not a certificate\n")
    err = refused(msb, "--tls-upstream-ca", notpem)
    assert f"CA file '{notpem}' holds no PEM certificate" in err
    assert "-----BEGIN CERTIFICATE-----" in err     # what to give instead

    der = os.path.join(d, "a.der")
    subprocess.run(["openssl", "x509", "-in", certs["a"], "-outform", "der",
                    "-out", der], check=True)
    err = refused(msb, "--tls-upstream-ca", der)
    assert f"CA file '{der}' is binary, not PEM text (a DER certificate?)" in err
    assert "openssl x509 -inform der" in err

    # a certificate with its key: the key would be stored; refused
    withkey = os.path.join(d, "withkey.pem")
    with open(withkey, "w") as f:
        f.write(open(certs["a"]).read() + open(certs["a_key"]).read())
    err = refused(msb, "--tls-upstream-ca", withkey)
    assert f"CA file '{withkey}' holds a private key (block 2" in err

    cut = os.path.join(d, "cut.pem")
    with open(cut, "w") as f:
        f.write(open(certs["a"]).read()[:300])
    err = refused(msb, "--tls-upstream-ca", cut)
    assert f"CA file '{cut}': block 1 is cut short or corrupt" in err

    err = refused(msb, *["--tls-upstream-ca", certs["a"]] * 9)
    assert "too many --tls-upstream-ca files (at most 8" in err


@pytest.mark.parametrize("bad", ["exa mple.com", "*.*.example.com",
                                 "example.com.", "a/b"])
def test_bad_bypass_names_refused(msb, bad):
    err = refused(msb, "--tls-bypass", "ok.example", "--tls-bypass", bad)
    assert (f"invalid --tls-bypass name '{bad}': use a domain such as "
            "example.com or *.example.com") in err


def test_empty_bypass_name_refused(msb):
    err = refused(msb, "--tls-bypass", "ok.example", "--tls-bypass", "")
    assert "invalid --tls-bypass '': an empty entry" in err


def test_too_many_bypass_names_refused(msb):
    args = []
    for i in range(65):
        args += ["--tls-bypass", f"h{i}.example"]
    assert "too many --tls-bypass names (at most 64)" in refused(msb, *args)


@pytest.fixture(scope="module")
def sb(msb, certs):
    name = unique("tls")
    msb("run", "--name", name, "-d", "--tls-bypass", "Bank.EXAMPLE",
        "--tls-bypass", "*.pinned.example", "--tls-upstream-ca", certs["a"],
        "--tls-upstream-ca", certs["bundle"], check=0)
    yield name
    msb("rm", "-f", name)


def record(msb, name):
    db = sqlite3.connect(os.path.join(msb.home, "msb.db"))
    try:
        return db.execute("SELECT config FROM sandboxes WHERE name = ?",
                          (name,)).fetchone()[0]
    finally:
        db.close()


def test_inspect_shows_names_and_subjects(msb, sb, certs):
    info = json.loads(msb.out("inspect", sb))
    assert info["status"] == "running"   # the supervisor took them
    cfg = info["config"]
    assert cfg["tls_bypass"] == ["bank.example", "*.pinned.example"]
    cas = cfg["tls_upstream_ca"]
    assert [c["subject"] for c in cas] == [
        f"O=msb tests,CN=Upstream {x}" for x in "ABC"]
    # each certificate alone, as OpenSSL writes it: the bundle's comments
    # are gone
    assert [c["pem"] for c in cas] == certs["canon"]


def test_record_holds_pem_text_not_paths(msb, sb, certs):
    rec = record(msb, sb)
    assert rec.count("-----BEGIN CERTIFICATE-----") == 3
    assert certs["dir"] not in rec and ".pem" not in rec
    assert "PRIVATE KEY" not in rec and "# Upstream" not in rec


def test_supervisor_reads_the_record_at_start(msb, sb, certs):
    """Stopped, with the files gone: the record is all a start has. The
    supervisor checks it again; a record edited into what the library
    refuses fails the start, before any boot, saying so."""
    msb("stop", "-t", "0", sb, check=0)
    for f in ("a", "bundle"):
        os.unlink(certs[f])
    good = record(msb, sb)
    cfg = json.loads(good)
    cfg["tls_upstream_ca"][1]["pem"] = "junk"
    db = sqlite3.connect(os.path.join(msb.home, "msb.db"))
    db.execute("UPDATE sandboxes SET config = ? WHERE name = ?",
               (json.dumps(cfg), sb))
    db.commit()
    db.close()
    p = msb("start", sb)
    assert p.returncode != 0
    assert ("tls_upstream_ca[1] in the record holds no PEM certificate"
            in p.stderr.decode()), p.stderr
    cfg = json.loads(good)
    cfg["tls_bypass"] = ["bad name"]
    db = sqlite3.connect(os.path.join(msb.home, "msb.db"))
    db.execute("UPDATE sandboxes SET config = ? WHERE name = ?",
               (json.dumps(cfg), sb))
    db.commit()
    db.close()
    p = msb("start", sb)
    assert p.returncode != 0
    assert "invalid tls_bypass name 'bad name' in the record" in p.stderr.decode()
