# SPDX-License-Identifier: Apache-2.0
"""Metrics: msb stats and msb ps show what a running sandbox uses, from the
host (CPU time, disk blocks, network bytes) and from the guest (memory in
use, its root, its processes)."""

import json
import re
import time


def stats(msb, name):
    out = msb.out("stats", "--no-stream", "--format", "json", name)
    (s,) = json.loads(out)
    return s


def test_stats_of_a_running_sandbox(msb, shared):
    before = stats(msb, shared)
    assert before["name"] == shared and before["running"] and before["guest"]
    assert 0 < before["memory_used_bytes"] < before["memory_limit_bytes"]
    assert before["memory_total_bytes"] <= before["memory_limit_bytes"]
    assert before["processes"] > 0
    assert 0 < before["disk_used_bytes"] < before["disk_total_bytes"]
    assert before["cpu_percent"] >= 0 and before["cpu_time_ns"] > 0
    assert before["uptime_ms"] > 0 and before["memory_rss_bytes"] > 0
    # disk and network move with what the guest does
    msb("exec", shared, "--", "sh", "-c",
        "dd if=/dev/urandom of=/root/stats.bin bs=1M count=8 2>/dev/null; "
        "sync; nslookup stats.invalid 10.0.2.3 >/dev/null 2>&1; true",
        check=0)
    after = stats(msb, shared)
    assert after["disk_bytes"] >= before["disk_bytes"] + (7 << 20), (before, after)
    assert after["net_tx_bytes"] > before["net_tx_bytes"]
    assert after["net_rx_bytes"] > before["net_rx_bytes"]
    assert after["cpu_time_ns"] > before["cpu_time_ns"]
    msb("exec", shared, "--", "rm", "/root/stats.bin", check=0)
    # the table and msb ps show use against limits
    table = msb.out("stats", "--no-stream", shared)
    assert table.splitlines()[0].split()[:3] == ["NAME", "CPU", "%"]
    assert re.search(rf"^{shared}\s+\d+\.\d%\s+\S+ / 512MiB", table, re.M), table
    ps = msb.out("ps")
    assert re.search(rf"^{shared}\s+default\s+running\s+\d+%/1\s+\S+iB/512Mi", ps,
                     re.M), ps
    raw = msb.out("ps", "--format", "json")
    me = [s for s in json.loads(raw) if s["name"] == shared][0]
    assert me["cpu_percent"] is not None and me["memory_used_bytes"] > 0
    # one decimal, as the table and docs/api-protocol.md show it (not
    # json-c's 87.599999999999994)
    raw += msb.out("stats", "--no-stream", "--format", "json", shared)
    assert re.findall(r'"cpu_percent":\s*(\S+?)[,\s}]', raw) and all(
        re.fullmatch(r"\d+\.\d", v)
        for v in re.findall(r'"cpu_percent":\s*(\S+?)[,\s}]', raw)), raw


def test_freed_guest_memory_goes_back_to_the_host(msb, shared):
    """Free page reporting: memory the guest touched and freed again
    leaves the host's resident set of its VMM (within a generous wait:
    the guest reports free 2 MiB blocks a few seconds after they are
    freed). Without it the host keeps every page the guest touched."""
    msb("exec", shared, "--", "sh", "-c",
        "mkdir -p /mnt/fill && mount -t tmpfs -o size=256M fill /mnt/fill && "
        "dd if=/dev/zero of=/mnt/fill/f bs=1M count=128 2>/dev/null", check=0)
    filled = stats(msb, shared)["memory_rss_bytes"]
    msb("exec", shared, "--", "sh", "-c",
        "rm /mnt/fill/f && umount /mnt/fill", check=0)
    rss = filled
    for _ in range(60):
        rss = stats(msb, shared)["memory_rss_bytes"]
        if rss < filled - (96 << 20):
            break
        time.sleep(0.5)
    assert rss < filled - (96 << 20), (filled >> 20, rss >> 20)


def test_stats_errors_and_stopped(msb):
    p = msb("stats", "--no-stream", "no-such-box")
    assert p.returncode == 1 and b"no sandbox named 'no-such-box'" in p.stderr
    assert msb("stats", "--no-stream", "../x").returncode == 2
    assert b"--no-stream" in msb("stats", "--help", check=0).stdout
