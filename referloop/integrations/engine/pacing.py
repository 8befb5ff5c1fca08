"""The last guard before the wire: one tenant's calls leave this process evenly spaced, never in a burst.

The bucket (ratelimit.py) plans evenly spaced send times, but a busy event loop, a slow token fetch or a slow
claim can wake several planned sends late and let them out together; a burst is what a 1-second sliding window
(ServiceTitan's, the sandbox's) punishes, because the next second's calls then land in the same window. This
httpx transport spaces the calls that actually go out per (host, tenant, app key) at least 1/rate apart, rate
being a little under the limit and a little over the planned pace, so it only bites after a stall. It sees
every API call, including the lookup before a create and the repeat after a token refresh. Token requests
(no tenant in the path) pass.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable

import httpx

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
        calls_per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._interval = 1.0 / calls_per_second
        self._clock = clock
        self._last: dict[PacingKey, float] = {}
        self.waits = 0  # calls that were held back: a sign the planned pacing slipped

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = pacing_key(request)
        if key is not None:
            await self._take_turn(key)
        return await self._inner.handle_async_request(request)

    async def _take_turn(self, key: PacingKey) -> None:
        # Spaced from the previous call that actually went out, not from a reserved moment: a late-waking
        # event loop then still lets calls out one interval apart instead of all at once.
        waited = False
        while True:
            now = self._clock()
            ready = self._last.get(key, -math.inf) + self._interval
            if now >= ready:
                self._last[key] = now
                self.waits += waited
                return
            waited = True
            await asyncio.sleep(ready - now)

    async def aclose(self) -> None:
        await self._inner.aclose()


def wire_rate(limit_per_second: float) -> float:
    """One call a second under the limit (59 of 60): room for the network to bunch two calls up."""
    return max(limit_per_second - 1.0, limit_per_second * 0.5)


def paced_client(concurrency: int, limit_per_second: float, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """The worker's one shared client: a pool as large as the number of sends in flight, paced per tenant."""
    pool = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8)
    inner = httpx.AsyncHTTPTransport(limits=pool)
    return httpx.AsyncClient(transport=PacedTransport(inner, wire_rate(limit_per_second)), timeout=timeout)
