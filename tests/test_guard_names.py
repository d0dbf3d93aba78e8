"""A feed URL from chat whose *name* leads to this machine is refused when connecting.

A literal like 127.0.0.1 or the word localhost is refused before any request (test_guard.py);
a name is only known to be private once it resolves, so only the connect-time guard stops it.
This machine's own host name resolves to one of its own (loopback or LAN) addresses on
ordinary hosts; the listener takes every local address, so any connection would be counted.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from bot.commands import Commands, Invocation
from bot.errors import UnsafeURLError
from bot.feeds.fetch import Fetcher
from tests.feedserver import ConnectionCounter
from tests.test_commands import MOD, make_settings


def _own_name() -> str:
    """This host's name when it resolves only to non-public addresses, else skip."""
    name = socket.gethostname()
    try:
        answers = {a[4][0] for a in socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)}
    except OSError:
        pytest.skip(f"{name} does not resolve here")
    if not answers or any(ipaddress.ip_address(a).is_global for a in answers):
        pytest.skip(f"{name} resolves to a public address here: {answers}")
    return name


async def test_a_name_that_resolves_to_this_machine_is_never_connected_to():
    name = _own_name()
    async with ConnectionCounter(host="0.0.0.0") as listener, Fetcher() as fetcher:
        url = f"http://{name}:{listener.port}/feed"
        with pytest.raises(UnsafeURLError, match="refused"):
            await fetcher.fetch_feed(url, trusted=False)
        with pytest.raises(UnsafeURLError, match="refused"):
            await fetcher.fetch_page(url, trusted=False)
    assert listener.accepted == 0


async def test_feeds_add_from_chat_refuses_such_a_name(tmp_path):
    from bot.startup import open_runtime

    name = _own_name()
    async with (
        ConnectionCounter(host="0.0.0.0") as listener,
        open_runtime(make_settings(tmp_path, allow_private=False), {}) as rt,
    ):
        url = f"http://{name}:{listener.port}/feed"
        reply = await Commands(rt).handle(
            Invocation("slack", "slack:C0NEWS", MOD, f"feeds add {url}")
        )
        feeds = rt.db.execute("SELECT count(*) FROM feeds WHERE url LIKE ?", [f"%{name}%"])
        assert not reply.ok and f"refused {name}" in reply.text
        assert feeds.fetchone()[0] == 0
    assert listener.accepted == 0
