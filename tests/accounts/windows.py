"""Keeping rate-limit tests off the clock.

django-ratelimit counts in fixed windows whose ends are set by the clock (plus a per-key offset), so a burst
that straddles an end is counted in two windows. A test that checks an exact limit first picks a key (an email
or an IP) whose current window has more than ten minutes left, so the whole burst is counted in one window.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.test import RequestFactory
from django_ratelimit.core import get_usage

ROOM_SECONDS = 600


def key_with_room(candidates: Iterable[str], group: str, rate: str, by_ip: bool = False) -> str:
    for value in candidates:
        request = RequestFactory().post("/", REMOTE_ADDR=value if by_ip else "192.0.2.1")
        key = "ip" if by_ip else (lambda _group, _request, value=value: value)
        usage = get_usage(request, group=group, key=key, rate=rate, increment=False)
        assert usage is not None
        if usage["count"] == 0 and usage["time_left"] > ROOM_SECONDS:
            return value
    raise AssertionError("no candidate key has a fresh window")
