# SPDX-License-Identifier: Apache-2.0
"""The guest's NIC as the supervisor's vhost-user-net device
(MSB_NET_VHOST_USER=1, src/net/vnet.c): the same stack, policy and
resolver as over QEMU's netdev stream, with checksum offloads negotiated.

test_net.py's cases that cover the link (both families, ICMP, UDP, DNS
over UDP and TCP, TCP both ways with the bytes checksummed, the policy's
denials) and test_plugins.py's byte rate run again here on the vhost-user
link: this module's `msb` sets MSB_NET_VHOST_USER=1 for every sandbox. Then what
is the link's own: the offloads the guest negotiated, a restart (a new
listener and connection each launch), the snapshot's fallback to the disk
alone (QEMU 7.2 cannot migrate the device without dirty logging), a bad
value refused. Needs root and dnsmasq, as test_net.py.
"""

import json

import pytest

from conftest import Msb, unique

from fakenet import internet  # noqa: F401
from test_net import (guest, log,  # noqa: F401
                      test_default_policy_denies_and_logs,
                      test_default_policy_denies_and_logs_ipv6,
                      test_dns_answers_and_rebinding_protection,
                      test_dns_over_tcp, test_eth0_gateway_and_resolver,
                      test_eth0_ipv6, test_http_by_name, test_http_over_ipv6,
                      test_ping_beyond_the_gateway,
                      test_tcp_download_and_upload_checksummed,
                      test_udp_over_ipv6)
from test_plugins import box, test_rate_limiter_bytes_a_second  # noqa: F401

VHOST = {"MSB_NET_VHOST_USER": "1"}
STREAM = {"MSB_NET_VHOST_USER": "0"}


@pytest.fixture(scope="module")
def msb(home):
    """Every sandbox of this module on the vhost-user link unless a test
    says otherwise: the cases imported from test_net.py and test_plugins.py
    (the byte rate's bucket holds the guest's frames in its ring) too."""
    m = Msb(home)
    m.env.update(VHOST)
    return m


def boot(msb, *flags):
    name = unique("vnet")
    msb("run", "--name", name, "-d", "--dns-nameserver", "198.51.100.2",
        *flags, env=VHOST, check=0)
    return name


@pytest.fixture(scope="module")
def default_sb(msb, internet):  # noqa: F811
    name = boot(msb)
    yield name
    msb("rm", "-f", name)


def features(msb, name):
    """The virtio features the guest's driver negotiated, by bit."""
    rc, out, err = guest(msb, name,
                         "cat /sys/class/net/eth0/device/features")
    assert rc == 0, err
    return out.strip()


def test_the_link_is_vhost_user_with_offloads(msb, default_sb):
    argv = open(f"{msb.home}/sandboxes/{default_sb}/engine.log").read()
    assert "vhost-user,id=net0" in argv
    f = features(msb, default_sb)
    # VIRTIO_NET_F_CSUM, GUEST_CSUM, GUEST_TSO4, GUEST_TSO6, VERSION_1
    assert (f[0], f[1], f[7], f[8], f[32]) == ("1",) * 5, f
    # no segmentation asked of the device: the link's MTU already is 64 KiB
    assert (f[11], f[12]) == ("0", "0"), f
    rc, out, _ = guest(msb, default_sb, "cat /sys/class/net/eth0/mtu")
    assert out.strip() == "65520"


def test_the_stream_link_stays_the_default(msb, internet):  # noqa: F811
    plain = Msb(msb.home)
    plain.env.pop("MSB_NET_VHOST_USER", None)
    name = unique("vnet")
    plain("run", "--name", name, "-d", check=0)
    try:
        argv = open(f"{msb.home}/sandboxes/{name}/engine.log").read()
        assert "stream,id=net0" in argv and "vhost-user" not in argv
        f = features(plain, name)
        assert f[0] == "0", f  # no virtio-net header: no offloads
    finally:
        plain("rm", "-f", name)


def test_restart_takes_a_new_connection(msb, internet):  # noqa: F811
    name = boot(msb)
    try:
        msb("stop", name, check=0)
        msb("start", name, env=VHOST, check=0)
        rc, out, err = guest(msb, name, "wget -q -O - http://web.test/")
        assert rc == 0, err
        assert out == "hello from the fake internet\n"
        f = features(msb, name)
        assert f[0] == "1", f
    finally:
        msb("rm", "-f", name)


def test_snapshot_is_the_disk_alone_and_restores(msb, internet):  # noqa: F811
    name, snap, fork = boot(msb), unique("vnetsnap"), unique("vnetfork")
    try:
        msb("exec", name, "--", "sh", "-c", "echo disk > /root/d.txt",
            check=0)
        info = json.loads(msb.out("snapshot", name, "--name", snap,
                                  "--format", "json"))
        assert info["kind"] == "disk" and "vhost-user" in info["reason"]
        # paused and resumed, its network still working
        rc, out, err = guest(msb, name, "nslookup web.test")
        assert rc == 0 and "198.51.100.2" in out, (out, err)
        # a disk snapshot's restore boots afresh: on vhost-user again
        msb("restore", snap, "--name", fork, "-d", env=VHOST, check=0)
        assert msb.out("exec", fork, "--", "cat",
                       "/root/d.txt") == "disk\n"
        rc, out, err = guest(msb, fork, "nslookup web.test")
        assert rc == 0 and "198.51.100.2" in out, (out, err)
        assert features(msb, fork)[0] == "1"
    finally:
        for n in (name, fork):
            msb("rm", "-f", n)
        msb("snapshot", "rm", "--force", snap)


def test_a_bad_value_is_refused(msb):
    name = unique("vnet")
    p = msb("run", "--name", name, "-d", env={"MSB_NET_VHOST_USER": "yes"})
    msb("rm", "-f", name)
    assert p.returncode != 0
    assert b"invalid MSB_NET_VHOST_USER 'yes'" in p.stderr, p.stderr


def test_a_full_snapshot_restores_on_a_stream(msb, internet):  # noqa: F811
    """A restored VM's RAM is a private copy no other process can map: with
    MSB_NET_VHOST_USER=1 it still comes back on the stream link, working."""
    name, snap, fork = unique("vnet"), unique("vnetsnap"), unique("vnetfork")
    msb("run", "--name", name, "-d", "--dns-nameserver", "198.51.100.2",
        env=STREAM, check=0)
    try:
        info = json.loads(msb.out("snapshot", name, "--name", snap,
                                  "--format", "json"))
        assert info["kind"] == "full", info
        msb("restore", snap, "--name", fork, "-d", env=VHOST, check=0)
        argv = open(f"{msb.home}/sandboxes/{fork}/engine.log").read()
        assert "stream,id=net0" in argv and "vhost-user" not in argv
        rc, out, err = guest(msb, fork, "nslookup web.test")
        assert rc == 0 and "198.51.100.2" in out, (out, err)
    finally:
        for n in (name, fork):
            msb("rm", "-f", n)
        msb("snapshot", "rm", "--force", snap)
