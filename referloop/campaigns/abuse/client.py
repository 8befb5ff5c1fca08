"""The client behind a public request: IP address and user agent, recorded on leads and referrers.

REMOTE_ADDR is the peer that connected to us. Behind a reverse proxy that is the proxy, so a deployment names its
proxy's header (`TRUSTED_PROXY_HEADER`, e.g. X-Forwarded-For) and how many proxies append to it
(`TRUSTED_PROXY_COUNT`). Each proxy appends the address it received the request from, so the client is the
COUNT-th address from the right; everything left of it was written by the client and is never trusted.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

USER_AGENT_MAX_LENGTH = 300


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None
    user_agent: str

    def model_fields(self) -> dict[str, Any]:
        """The values for a Lead or Referrer's `client_ip` and `user_agent` columns."""
        return {"client_ip": self.ip, "user_agent": self.user_agent}


def client_info(request: HttpRequest) -> ClientInfo:
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX_LENGTH]
    return ClientInfo(ip=client_ip(request) or None, user_agent=user_agent)


def client_ip(request: HttpRequest) -> str:
    """The client's address ("" if none is known). Also django-ratelimit's RATELIMIT_IP_META_KEY."""
    remote = _valid_ip(request.META.get("REMOTE_ADDR", "")) or ""
    header = getattr(settings, "TRUSTED_PROXY_HEADER", "")
    if not header or not from_trusted_proxy(remote):
        return remote
    raw = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
    hops = [hop.strip() for hop in raw.split(",") if hop.strip()]
    count = max(1, int(getattr(settings, "TRUSTED_PROXY_COUNT", 1)))
    if len(hops) < count:
        # Fewer hops than proxies: the request did not come through all of them (or the header was dropped).
        # The connecting peer is then the most specific address we can trust.
        return remote
    return _valid_ip(hops[-count]) or remote


def from_trusted_proxy(remote: str) -> bool:
    """Whether the connecting peer may speak for the client: it is inside TRUSTED_PROXY_NETWORKS, or none is set."""
    networks = getattr(settings, "TRUSTED_PROXY_NETWORKS", [])
    if not networks:
        return True
    if not remote:
        return False
    peer = ipaddress.ip_address(remote)
    return any(peer.version == network.version and peer in network for network in networks)


def _valid_ip(value: str) -> str | None:
    """`value` as a normalized IP address, accepting the "1.2.3.4:port" and "[v6]:port" forms proxies write."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(value.split("%", 1)[0])  # no scope id ("fe80::1%eth0"): not stored, not keyed
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:  # a dual-stack listener writes IPv4 clients this way
        return str(ip.ipv4_mapped)
    return str(ip)
