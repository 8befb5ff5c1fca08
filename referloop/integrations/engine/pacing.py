"""The last guard before the wire: no more than N calls per tenant in any second leave this process.

The bucket (ratelimit.py) plans evenly spaced send times, but a busy event loop can wake several planned sends
late and let them out together. This httpx transport counts what actually goes out per (host, tenant, app key)
in a 1-second sliding window, the way ServiceTitan counts, and holds a call back for the few milliseconds it
takes to stay under the window. It sees every API call, including the lookups before a create and the repeat
after a token refresh, which the claim could only estimate. Token requests (no tenant in the path) pass.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import Callable

import httpx

WINDOW_SECONDS = 1.0
_TENANT_IN_PATH = re.compile(r"/tenant/(\d+)(?:/|$)")

PacingKey = tuple[str, str, str]


def pacing_key(request: httpx.Request) -> PacingKey | None:
    """(host:port, tenant id, app key) of an API call; None for calls outside a tenant (the token endpoint)."""
    match = _TENANT_IN_PATH.search(request.url.path)
    if match is None:
        return None
    host = f"{request.url.host}:{request.url.port or ''}"
    return host, match.group(1), request.headers.get("ST-App-Key", "")


class PacedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        calls_per_window: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._limit = max(1, calls_per_window)
        self._clock = clock
        self._sent: dict[PacingKey, deque[float]] = {}
        self.waits = 0  # calls that were held back: a sign the planned pacing slipped

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = pacing_key(request)
        if key is not None:
            await self._take_turn(key)
        return await self._inner.handle_async_request(request)

    async def _take_turn(self, key: PacingKey) -> None:
        sent = self._sent.setdefault(key, deque())
        waited = False
        while True:
            now = self._clock()
            while sent and sent[0] <= now - WINDOW_SECONDS:
                sent.popleft()
            if len(sent) < self._limit:
                sent.append(now)
                self.waits += waited
                return
            waited = True
            await asyncio.sleep(sent[0] + WINDOW_SECONDS - now)

    async def aclose(self) -> None:
        await self._inner.aclose()


def paced_client(concurrency: int, calls_per_second: float, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """The worker's one shared client: a pool as large as the number of sends in flight, paced per tenant.

    The window allows one call less than the limit (59 of 60): room for the network to bunch two calls up.
    """
    pool = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8)
    inner = httpx.AsyncHTTPTransport(limits=pool)
    limit = max(1, math.floor(calls_per_second) - 1)
    return httpx.AsyncClient(transport=PacedTransport(inner, limit), timeout=timeout)
