"""Which addresses a webhook may be sent to: the one rule, used when an endpoint is saved and at every send.

A webhook URL is typed by a customer, so without this rule referloop would POST wherever it is told: to its own
database port on 127.0.0.1, to a service on the private network, or to the cloud metadata address that hands out
credentials. Checking only when the URL is saved is not enough: the name can later resolve elsewhere (DNS
rebinding), so the worker resolves the name once per try, checks every address it got, and connects to those
very addresses (`connector.PinnedResolver`), never asking DNS a second time.

A name that resolves to several addresses is refused if any one of them is refused: the connection may go to any
of them, and a public name with a private address among its records is a trick, not an accident.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# (network, what it is) for the classes a person should recognise; anything else that is not a public unicast
# address falls through to the flags at the end of `address_class`.
_NAMED: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (ipaddress.ip_network("10.0.0.0/8"), "a private network address (10.0.0.0/8)"),
    (ipaddress.ip_network("172.16.0.0/12"), "a private network address (172.16.0.0/12)"),
    (ipaddress.ip_network("192.168.0.0/16"), "a private network address (192.168.0.0/16)"),
    (ipaddress.ip_network("fc00::/7"), "a private network address (fc00::/7)"),
    (ipaddress.ip_network("169.254.0.0/16"), "a link-local address (169.254.0.0/16)"),
    (ipaddress.ip_network("fe80::/10"), "a link-local address (fe80::/10)"),
    (ipaddress.ip_network("100.64.0.0/10"), "a shared carrier-grade NAT address (100.64.0.0/10)"),
    # Python 3.11 calls these global, but no public receiver lives there.
    (ipaddress.ip_network("fec0::/10"), "a site-local address (fec0::/10, deprecated, still routed inside networks)"),
    (ipaddress.ip_network("192.0.0.0/24"), "an IETF protocol assignment (192.0.0.0/24)"),
)


@dataclass(frozen=True)
class AddressPolicy:
    """What the deployment allows besides public https: plain http (development), loopback (tests)."""

    allow_http: bool = False
    allow_loopback: bool = False


class AddressRefused(Exception):
    """The URL or one of its addresses may not be sent to; `message` is one sentence for the account."""

    def __init__(self, message: str, *, address: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.address = address


@dataclass(frozen=True)
class Resolved:
    """One checked address of a URL's host, as the connection must use it."""

    host: str  # the URL's host (an ASCII name or an IP literal)
    address: str  # the IP address, as text
    family: int  # socket.AF_INET or socket.AF_INET6
    port: int


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), which is where packets really go."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_class(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is, in words (loopback included), or None for a public one."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        found = address_class(inner)
        return f"{found}, inside the IPv6 address {ip}" if found else None
    if ip.is_loopback:
        return "a loopback address (this machine)"
    if ip in _METADATA:
        return "the cloud metadata address, which hands out the server's credentials"
    for network, words in _NAMED:
        if ip.version == network.version and ip in network:
            return words
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "an address reserved for special use, not a public internet address"
    return None


def is_loopback(ip: IPAddress) -> bool:
    inner = embedded_ipv4(ip)
    return (inner or ip).is_loopback


def refused_reason(ip: IPAddress, policy: AddressPolicy) -> str | None:
    """Why `ip` may not be sent to under `policy`, or None when it may."""
    if policy.allow_loopback and is_loopback(ip):
        return None
    return address_class(ip)


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: what is resolved and what is connected to."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA-encoded names), IPv6 without brackets
    port: int


def parse_url(url: str, policy: AddressPolicy) -> Target:
    """The URL's scheme, host and port, or AddressRefused saying what is wrong with it (no DNS here)."""
    try:
        parsed = URL(url.strip())
    except (ValueError, TypeError) as exc:
        raise AddressRefused(f"“{url}” is not a valid URL.") from exc
    scheme = (parsed.scheme or "").lower()
    if scheme not in {"https", "http"} or not parsed.raw_host:
        raise AddressRefused("The URL must start with https:// and name a host, like https://example.com/webhooks.")
    if scheme == "http" and not policy.allow_http:
        raise AddressRefused("The URL must use https://: events carry personal data, so plain http is not allowed.")
    if parsed.user is not None or parsed.password is not None:
        raise AddressRefused("The URL must not contain a user name or password; verify the signature instead.")
    if parsed.fragment:
        raise AddressRefused("The URL must not contain a fragment (the part after #).")
    host = parsed.raw_host
    if host.endswith(".."):  # as aiohttp asks the resolver: a fully qualified name keeps one trailing dot
        host = host.rstrip(".") + "."
    port = parsed.port or (443 if scheme == "https" else 80)
    return Target(url=str(parsed), scheme=scheme, host=host, port=port)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_addresses(target: Target, found: Sequence[tuple[int, str]], policy: AddressPolicy) -> list[Resolved]:
    """The resolved `(family, address)` pairs as `Resolved`, or AddressRefused naming the first refused one."""
    checked: list[Resolved] = []
    for family, text in found:
        ip = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is link-local anyway
        reason = refused_reason(ip, policy)
        if reason is not None:
            where = target.host if _literal(target.host) is not None else f"{target.host} ({ip})"
            raise AddressRefused(
                f"referloop does not send webhooks to {where}: it is {reason}. Use a public https URL.",
                address=str(ip),
            )
        if all(item.address != str(ip) for item in checked):
            checked.append(Resolved(host=target.host, address=str(ip), family=family, port=target.port))
    if not checked:
        raise AddressRefused(f"{target.host} has no address to send to.")
    return checked


def _pairs(infos: Sequence[tuple[object, ...]]) -> list[tuple[int, str]]:
    pairs = []
    for info in infos:
        family, sockaddr = info[0], info[4]
        assert isinstance(family, int) and isinstance(sockaddr, tuple)
        if family in (socket.AF_INET, socket.AF_INET6):
            pairs.append((int(family), str(sockaddr[0])))
    return pairs


def _literal_pairs(target: Target) -> list[tuple[int, str]] | None:
    ip = _literal(target.host)
    if ip is None:
        return None
    return [(socket.AF_INET if ip.version == 4 else socket.AF_INET6, str(ip))]


async def resolve(url: str, policy: AddressPolicy) -> tuple[Target, list[Resolved]]:
    """At send time: resolve the URL's host once and check every address (AddressRefused if one is refused)."""
    target = parse_url(url, policy)
    pairs = _literal_pairs(target)
    if pairs is None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise LookupFailed(f"The address of {target.host} could not be found ({exc.strerror}).") from exc
        pairs = _pairs(infos)
    return target, check_addresses(target, pairs, policy)


def check_url(url: str, policy: AddressPolicy) -> str | None:
    """When an endpoint is saved: what is wrong with the URL in a sentence, or None. Resolves its host now."""
    try:
        target = parse_url(url, policy)
        pairs = _literal_pairs(target)
        if pairs is None:
            try:
                infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError):
                return f"The address of {target.host} could not be found: check the host name."
            pairs = _pairs(infos)
        check_addresses(target, pairs, policy)
    except AddressRefused as exc:
        return exc.message
    return None


class LookupFailed(Exception):
    """DNS had no answer for the host (it may have one later): a transient failure, not a refusal."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
