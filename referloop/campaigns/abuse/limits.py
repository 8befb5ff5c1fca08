"""Rate limits on the public forms: per client IP and per campaign, counted by django-ratelimit in Django's cache.

Only a submission that passed the bot checks and validated counts (a person fixing a typo is never charged);
it is counted before anything is written, so concurrent posts can't all slip under the limit. The IP limit is
per campaign: many real people share one address (an office, a mobile carrier's NAT), and one campaign's abuse
must not lock those people out of every other business's form. The campaign's hourly ceiling is the owner's
(Campaign Settings → General). A cache outage fails open (logged): the bot checks still stand, and turning away
every real lead would be worse than letting a burst through.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage

from referloop.campaigns.abuse.client import client_ip
from referloop.campaigns.abuse.formguard import FormKind
from referloop.campaigns.models import Campaign

logger = logging.getLogger("referloop.public_forms")

# One IPv6 client usually holds a whole /64, so it is counted as one address.
IPV6_PREFIX = 64


@dataclass(frozen=True)
class Limited:
    scope: Literal["ip", "campaign"]
    retry_after: int  # seconds until the window that refused it ends


def client_network(address: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network one client owns: an IPv4 address on its own, an IPv6 address's /64. The one definition of "one
    client" for the rate limits, the login lockout (accounts/throttling.py) and "Suspicious" (suspicious.py)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        return ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False)
    return ipaddress.ip_network(ip)


def ip_key(address: str) -> str:
    """The client's network as a counter key: the IPv4 address, or the IPv6 /64's first address."""
    return str(client_network(address).network_address)


def consume(request: HttpRequest, campaign: Campaign, kind: FormKind) -> Limited | None:
    """Count one submission against the client's and the campaign's limits; the limit it exceeds, or None.

    The IP is checked first, so one abusive address can't spend the whole campaign's budget once it is over
    its own limit.
    """
    address = client_ip(request)
    if address:
        wait = _over(request, f"public-{kind}-ip:{campaign.pk}", ip_key(address), settings.PUBLIC_FORM_IP_RATE)
        if wait is not None:
            return Limited("ip", wait)
    wait = _over(request, f"public-{kind}-campaign", str(campaign.pk), f"{campaign.public_submissions_per_hour}/h")
    if wait is not None:
        return Limited("campaign", wait)
    return None


def too_many_requests(request: HttpRequest, campaign: Campaign, limited: Limited) -> HttpResponse:
    """The friendly 429 page, with Retry-After."""
    response = render(request, "public/too_many_requests.html", {"campaign": campaign, "limited": limited}, status=429)
    response["Retry-After"] = str(limited.retry_after)
    return response


def _over(request: HttpRequest, group: str, value: str, rate: str) -> int | None:
    """Count one hit; the seconds until the window ends if this hit is over the limit, else None."""
    try:
        usage = get_usage(request, group=group, key=lambda _group, _request: value, rate=rate, increment=True)
    except Exception:  # the cache is down: fail open, see the module docstring
        logger.warning("public form rate limit %s not checked: the cache failed", group, exc_info=True)
        return None
    if usage is None or not usage["should_limit"]:
        return None
    return max(1, int(usage["time_left"]))
