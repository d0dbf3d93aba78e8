"""SSRF guard: which URLs and addresses a fetch of an untrusted URL may reach.

Three layers, each enough on its own for what it sees:
- `check_url`: the URL's syntax (http/https only, no userinfo, literal hosts in every legacy
  form normalised and checked, `localhost` names refused). Run on every redirect hop.
- `GuardedResolver`: drops DNS answers that are not public; no public answer -> refused.
- `guarded_socket_factory`: checks the exact address aiohttp is about to connect to, so a DNS
  answer that changes between check and connect, or a path that skips the resolver (IP
  literals), cannot reach a private address.

Deliberately not here: fetching, following redirects (fetch.py re-checks each hop), and any
guarding of the feed URLs that ops wrote in the config (those are trusted; the links inside
those feeds are not).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable

import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from bot.errors import UnsafeURLError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]
AddrInfo = tuple[int, int, int, str, tuple]

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked in order; the first match names the reason. `is_global` is the backstop after these.
_DENIED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("0.0.0.0/8"), "'this network' (0.0.0.0/8)"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT (100.64.0.0/10)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local (cloud metadata lives here)"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "IETF protocol assignment"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
)
_DENIED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/96"), "IPv4-compatible IPv6 (deprecated)"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/32"), "Teredo tunnel"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("fc00::/7"), "unique-local"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)
_GLOBAL_UNICAST_V6 = _V6("2000::/3")
_NAT64 = _V6("64:ff9b::/96")


def refusal_reason(ip: str | IPAddress) -> str | None:
    """Why `ip` is not a public address ('loopback', 'private'...), or None when it is public.

    Addresses that embed an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by the
    embedded address: `::ffff:127.0.0.1` is loopback however it is spelled.
    """
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            inner = refusal_reason(embedded)
            return f"{inner}, embeds {embedded}" if inner else None
        return _first_match(addr, _DENIED_V6) or _v6_backstop(addr)
    reason = _first_match(addr, _DENIED_V4)
    return reason or (None if addr.is_global else "not globally routable")


def is_public_ip(ip: str | IPAddress) -> bool:
    """True when a guarded fetch may connect to `ip`; the default address policy."""
    try:
        return refusal_reason(ip) is None
    except ValueError:
        return False


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def _first_match(addr: IPAddress, table: tuple) -> str | None:
    for network, reason in table:
        if addr in network:
            return reason
    return None


def _v6_backstop(addr: ipaddress.IPv6Address) -> str | None:
    if addr not in _GLOBAL_UNICAST_V6:
        return "outside the global unicast range 2000::/3"
    return None if addr.is_global else "not globally routable"


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a literal host means, in any form a resolver accepts; None for a name.

    IPv4 follows the WHATWG URL rules, which match inet_aton: 1-4 dot-separated parts in
    decimal, 0x-hex or 0-octal, the last part filling the remaining bytes, so `2130706433`,
    `0x7f.1`, `127.1` and `0177.0.0.1` are all 127.0.0.1.
    """
    host = host.strip("[]")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeURLError(f"malformed IPv6 address {host!r}") from None
    parts = host.removesuffix(".").split(".")
    if not _is_number(parts[-1]):
        return None
    numbers = [_parse_number(part, host) for part in parts]
    return _ipv4_from_numbers(numbers, host)


def _is_number(part: str) -> bool:
    if part[:2].lower() == "0x":
        return all(c in "0123456789abcdefABCDEF" for c in part[2:])
    return part.isdigit() and part.isascii()


def _parse_number(part: str, host: str) -> int:
    try:
        if part[:2].lower() == "0x":
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8)
        return int(part, 10)
    except ValueError:
        raise UnsafeURLError(f"malformed numeric host {host!r}") from None


def _ipv4_from_numbers(numbers: list[int], host: str) -> ipaddress.IPv4Address:
    *head, last = numbers
    if len(numbers) > 4 or any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise UnsafeURLError(f"malformed numeric host {host!r}")
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def check_url(
    url: str, *, allow_private: bool = False, allowed: AddressPolicy = is_public_ip
) -> str:
    """The URL, normalised, if a guarded fetch may request it; else UnsafeURLError saying why.

    Syntax only: names are checked again when resolved and at connect time. `allowed` is the
    address policy for literal hosts; `allow_private` keeps only the scheme/userinfo checks.
    """
    parsed = _parse(url)
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURLError(f"only http and https URLs are allowed, not {parsed.scheme or '?'}:")
    host = parsed.raw_host
    if not host:
        raise UnsafeURLError(f"URL has no host: {url}")
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise UnsafeURLError("URLs with a user name or password are not allowed")
    ip = parse_ip_literal(host)
    if ip is not None:
        parsed = parsed.with_host(str(ip))
    if not allow_private:
        _refuse_private_host(host, ip, allowed)
    return str(parsed)


def _parse(url: str) -> yarl.URL:
    try:
        return yarl.URL(url.strip())
    except (ValueError, TypeError) as exc:
        raise UnsafeURLError(f"not a valid URL: {exc}") from None


def _refuse_private_host(host: str, ip: IPAddress | None, allowed: AddressPolicy) -> None:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        raise UnsafeURLError(f"refused {host}: it names this machine (localhost)")
    if ip is not None and not allowed(ip):
        reason = refusal_reason(ip) or "not allowed by policy"
        raise UnsafeURLError(f"refused {host}: {ip} is not a public address ({reason})")


class RefusedAddressError(OSError):
    """Raised inside aiohttp's connect path; fetch.py turns it into UnsafeURLError."""


def _describe(ip: IPAddress) -> str:
    return f"{ip} ({refusal_reason(ip) or 'not allowed by policy'})"


class GuardedResolver(AbstractResolver):
    """Wraps a resolver and keeps only answers the policy allows; none left -> refused."""

    def __init__(
        self, inner: AbstractResolver | None = None, *, allowed: AddressPolicy = is_public_ip
    ):
        self._inner = inner or DefaultResolver()
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        kept = [a for a in answers if self._allowed(ipaddress.ip_address(a["host"]))]
        if not kept:
            refused = ", ".join(_describe(ipaddress.ip_address(a["host"])) for a in answers)
            log.warning("guard.dns_refused host=%s answers=%s", host, refused)
            raise RefusedAddressError(f"refused {host}: it resolves only to {refused}")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def guarded_socket_factory(
    allowed: AddressPolicy = is_public_ip,
) -> Callable[[AddrInfo], socket.socket]:
    """A TCPConnector `socket_factory` that refuses to create a socket for a refused address.

    aiohttp hands it the exact (family, type, proto, canonname, sockaddr) it will connect to,
    so this is the last word: no trace-hook peer check after connect is needed.
    """

    def factory(addr_info: AddrInfo) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        ip = ipaddress.ip_address(sockaddr[0])
        if not allowed(ip):
            log.warning("guard.connect_refused address=%s", ip)
            raise RefusedAddressError(f"refused to connect to {_describe(ip)}, not public")
        return socket.socket(family=family, type=type_, proto=proto)

    return factory
