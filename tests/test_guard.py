"""The SSRF guard: URLs from chat reach public addresses only, however they are spelled."""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UnsafeURLError
from bot.feeds.fetch import Fetcher
from bot.feeds.guard import (
    GuardedResolver,
    RefusedAddressError,
    check_url,
    guarded_socket_factory,
    is_public_ip,
    parse_ip_literal,
)

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",
    "172.32.0.0",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]
REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",
    "100.127.255.255",
    "0.0.0.0",
    "0.1.2.3",
    "255.255.255.255",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "192.0.2.1",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "fec0::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::127.0.0.1",  # IPv4-compatible
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001:db8::1",
]


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_are_allowed(ip):
    assert is_public_ip(ip)
    assert is_public_ip(ipaddress.ip_address(ip))


@pytest.mark.parametrize("ip", REFUSED)
def test_non_public_addresses_are_refused(ip):
    assert not is_public_ip(ip)


def test_garbage_is_not_public():
    assert not is_public_ip("not an address")


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_ipv4_wrapped_in_ipv6_is_judged_by_the_ipv4(value):
    v4 = ipaddress.IPv4Address(value)
    mapped = ipaddress.IPv6Address(0xFFFF_0000_0000 | value)
    nat64 = ipaddress.IPv6Address((0x64FF9B << 96) | value)
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | 1)
    verdict = is_public_ip(v4)
    assert is_public_ip(mapped) == verdict
    assert is_public_ip(nat64) == verdict
    assert is_public_ip(sixtofour) == verdict


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_legacy_ipv4_spelling_means_the_same_address(value):
    octets = value.to_bytes(4, "big")
    spellings = [
        str(value),
        hex(value),
        ".".join(f"0{b:o}" for b in octets),
        f"{octets[0]}.{int.from_bytes(octets[1:], 'big')}",
        f"{octets[0]}.{octets[1]}.{int.from_bytes(octets[2:], 'big')}",
        f"0x{octets[0]:x}.{int.from_bytes(octets[1:], 'big')}",
    ]
    for spelling in spellings:
        assert parse_ip_literal(spelling) == ipaddress.IPv4Address(value), spelling
    # inet_aton is what getaddrinfo uses: our reading must agree with it.
    assert socket.inet_aton(spellings[2]) == octets


def test_hostnames_are_not_literals():
    assert parse_ip_literal("example.org") is None
    assert parse_ip_literal("1password.com") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/feed",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://017700000001/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1%25eth0]/",
        "http://0.0.0.0:8080/",
        "http://0/",
        "http://10.0.0.1./",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://api.localhost/",
        "https://100.64.1.1/",
    ],
)
def test_check_url_refuses_private_hosts_in_every_spelling(url):
    with pytest.raises(UnsafeURLError) as raised:
        check_url(url)
    assert raised.value.permanent
    assert "refused" in str(raised.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.org/", "only http and https"),
        ("ftp://example.org/feed", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("http://user:pw@example.org/", "user name or password"),
        ("http://example.org@127.0.0.1/", "user name or password"),
        ("http://evil.example\\@127.0.0.1/", "not a valid URL"),
        ("http:///feed", "no host"),
        ("http://1.2.3.4.5/", "malformed numeric host"),
        ("http://256.1.1.1/", "malformed numeric host"),
        ("http://foo.09/", "malformed numeric host"),
    ],
)
def test_check_url_names_the_reason(url, reason):
    with pytest.raises(UnsafeURLError, match=reason):
        check_url(url)


def test_check_url_accepts_public_urls_and_normalises_numeric_hosts():
    assert check_url("https://Example.ORG/feed?x=1") == "https://example.org/feed?x=1"
    assert check_url("http://134744072/rss") == "http://8.8.8.8/rss"
    assert check_url("http://0x8.0x8.0x8.0x8/") == "http://8.8.8.8/"
    assert check_url("http://[2606:4700:4700::1111]:8080/") == "http://[2606:4700:4700::1111]:8080/"


def test_allow_private_still_refuses_other_schemes_and_userinfo():
    assert check_url("http://127.1:8080/feed", allow_private=True) == "http://127.0.0.1:8080/feed"
    with pytest.raises(UnsafeURLError):
        check_url("file:///etc/passwd", allow_private=True)
    with pytest.raises(UnsafeURLError):
        check_url("http://a:b@127.0.0.1/", allow_private=True)


class MapResolver(AbstractResolver):
    """A stand-in DNS: names resolve to the addresses given, as a hostile DNS server might."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers

    async def resolve(self, host, port=0, family=socket.AF_INET) -> list[ResolveResult]:
        if host not in self.answers:
            raise OSError(f"no such name {host}")
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for ip in self.answers[host]
        ]

    async def close(self) -> None:
        pass


async def test_resolver_refuses_a_name_whose_answers_are_all_private(connection_counter):
    resolver = GuardedResolver(MapResolver({"evil.example": ["127.0.0.1", "10.0.0.1"]}))
    connector = aiohttp.TCPConnector(resolver=resolver)
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as raised:
            await session.get(f"http://evil.example:{connection_counter.port}/")
    assert isinstance(raised.value.os_error, RefusedAddressError)
    assert "127.0.0.1 (loopback)" in str(raised.value.os_error)
    assert connection_counter.accepted == 0


async def test_resolver_keeps_only_public_answers():
    resolver = GuardedResolver(MapResolver({"mixed.example": ["10.0.0.1", "8.8.8.8"]}))
    answers = await resolver.resolve("mixed.example", 80)
    assert [a["host"] for a in answers] == ["8.8.8.8"]


async def test_socket_factory_alone_stops_a_private_address(connection_counter):
    """DNS said public at check time, private at connect time: the socket check still holds."""
    rebinding = MapResolver({"rebind.example": ["127.0.0.1"]})
    connector = aiohttp.TCPConnector(resolver=rebinding, socket_factory=guarded_socket_factory())
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as raised:
            await session.get(f"http://rebind.example:{connection_counter.port}/")
    assert isinstance(raised.value.os_error, RefusedAddressError)
    assert connection_counter.accepted == 0


async def test_socket_factory_lets_allowed_addresses_through(connection_counter):
    only_loopback = guarded_socket_factory(lambda ip: ip.is_loopback)
    connector = aiohttp.TCPConnector(socket_factory=only_loopback)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(connection_counter.url()) as response,
    ):
        assert await response.read() == b"hi"
    assert connection_counter.accepted == 1


@pytest.mark.parametrize(
    "spelling",
    ["127.0.0.1", "127.1", "2130706433", "0x7f.1", "0x7f000001", "[::ffff:127.0.0.1]", "localhost"],
)
async def test_guarded_fetch_makes_no_connection_to_loopback(connection_counter, spelling):
    url = f"http://{spelling}:{connection_counter.port}/feed"
    async with Fetcher() as fetcher:
        with pytest.raises(UnsafeURLError):
            await fetcher.fetch_feed(url, trusted=False)
        with pytest.raises(UnsafeURLError):
            await fetcher.fetch_page(url, trusted=False)
    assert connection_counter.accepted == 0


async def test_guarded_fetch_with_allow_private_reaches_loopback(connection_counter):
    async with Fetcher(allow_private=True) as fetcher:
        result = await fetcher.fetch_feed(connection_counter.url("/feed"), trusted=False)
    assert result.body == b"hi"
    assert connection_counter.accepted == 1


async def test_the_fetchers_guarded_session_refuses_loopback_even_past_the_url_check(
    connection_counter,
):
    """aiohttp never asks the resolver about an IP literal, so behind a URL check that
    missed a spelling only the socket factory stands: the guarded session itself (not just
    `fetch_feed`'s URL check) must refuse to connect to 127.0.0.1."""
    async with Fetcher() as fetcher:
        session = fetcher._guarded
        assert session is not None
        with pytest.raises((UnsafeURLError, aiohttp.ClientError)):
            await session.get(f"http://127.0.0.1:{connection_counter.port}/feed")
    assert connection_counter.accepted == 0
