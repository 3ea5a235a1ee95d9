# SPDX-License-Identifier: Apache-2.0
"""The connect hook from Python code (docs/plugins.md): on_connect sees
each new connection of the guest the policy let through, with its
destination, and allows it or refuses it (the guest's connect is reset);
a hook that raises or answers what it may not refuses it too, and the
program goes on serving. One sandbox serves the cases; its guest
fetches from servers of this test on the host's loopback
(Network(allow_host=[...]), the gateway 10.0.2.2 in the guest), each of
which counts the requests that reached it."""

import pytest

from .pysdk import run, serve_http, unique
from microsandbox import (ConnectAction, ConnectRequest, InvalidArgument,
                          Network, Sandbox)
from microsandbox import blocking


def serve():
    """A server whose answer names its port."""
    me = []
    srv = serve_http(lambda *_: f"served on {me[0].port}\n".encode())
    me.append(srv)
    return srv


class Hook:
    """Allows `open`'s port, denies `closed`'s with a reason, `plain`'s
    with DENY, raises on `buggy`'s and answers True on `odd`'s."""

    def __init__(self, webs):
        self.webs = webs
        self.seen = []

    def __call__(self, c):
        assert isinstance(c, ConnectRequest)
        self.seen.append(c)
        port = {w.server_address[1]: k for k, w in self.webs.items()}.get(
            c.port)
        if port == "closed":
            return ConnectAction.deny("not this port")
        if port == "plain":
            return ConnectAction.DENY
        if port == "buggy":
            raise RuntimeError("a bug in the hook")
        if port == "odd":
            return True
        return ConnectAction.ALLOW


@pytest.fixture(scope="module")
def hooked(home):
    webs = {k: serve() for k in ("open", "closed", "plain", "buggy", "odd")}
    hook = Hook(webs)
    sb = run(Sandbox.create(unique("pyconnect"), network=Network(
        allow_host=[w.server_address[1] for w in webs.values()],
        on_connect=hook)))
    try:
        yield sb, hook, webs
    finally:
        run(sb.remove(force=True))
        for w in webs.values():
            w.shutdown()


def fetch(sb, web):
    return run(sb.exec(f"wget -q -O- "
                       f"http://10.0.2.2:{web.server_address[1]}/",
                       shell=True))


def log_of(sb):
    with open(sb.log_path(), errors="replace") as f:
        return f.read()


def test_an_allowed_connection_is_seen_with_its_destination(hooked):
    sb, hook, webs = hooked
    web = webs["open"]
    r = fetch(sb, web)
    assert r.stdout == f"served on {web.server_address[1]}\n", r
    assert web.hits == 1
    assert ConnectRequest("tcp", "10.0.2.2", web.server_address[1]) \
        in hook.seen, hook.seen


def test_a_denied_connection_fails_in_the_guest(hooked):
    sb, hook, webs = hooked
    for k in ("closed", "plain"):
        web = webs[k]
        r = fetch(sb, web)
        assert r.exit_code != 0 and "served" not in r.stdout, r
        assert web.hits == 0, k
        assert ConnectRequest("tcp", "10.0.2.2", web.server_address[1]) \
            in hook.seen, hook.seen
    assert "plugin python-sdk: not this port" in log_of(sb)
    assert "plugin python-sdk: on_connect" in log_of(sb)


def test_a_hook_that_raises_or_answers_wrongly_denies(hooked, capfd):
    sb, hook, webs = hooked
    for k in ("buggy", "odd"):
        r = fetch(sb, webs[k])
        assert r.exit_code != 0 and "served" not in r.stdout, r
        assert webs[k].hits == 0, k
    err = capfd.readouterr().err
    assert "on_connect raised (refused)" in err, err
    assert "RuntimeError: a bug in the hook" in err, err
    assert "on_connect returned True: return ConnectAction.ALLOW" in err, err
    assert "python-sdk: on_connect raised RuntimeError" in log_of(sb)
    # this program and its hook server go on
    web = webs["open"]
    assert fetch(sb, web).stdout == f"served on {web.server_address[1]}\n"


def test_bad_connect_hooks_are_refused_at_create(home):
    with pytest.raises(InvalidArgument, match="on_connect= takes a function"):
        Sandbox.create("x", network=Network(on_connect="deny"))

    async def later(c):
        return ConnectAction.ALLOW
    with pytest.raises(InvalidArgument, match="on_connect= takes a plain"):
        blocking.Sandbox.create("x", network=Network(on_connect=later))
    with pytest.raises(InvalidArgument, match="takes a reason"):
        ConnectAction.deny(13)
