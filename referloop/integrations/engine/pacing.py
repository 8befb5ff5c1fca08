"""The last guard before the wire: one tenant's calls leave this process evenly spaced, never in a burst.

The bucket (ratelimit.py) plans send times one interval apart, but a busy event loop, a slow token fetch or a
slow claim can wake several planned sends late and let them out together; a burst is what a 1-second sliding
window (ServiceTitan's, the sandbox's) punishes, because the calls of the next second then land in the same
window. This httpx transport lets the calls that actually go out per (host, tenant, app key) leave on a grid
one interval apart, the same interval as the plan: what was delayed goes out late, never closer together.
With 58.2 calls a second planned, any 1-second window holds 59 calls at most, and ServiceTitan would have
to bunch our calls up by about 30 ms to count 61. It sees every API call, including the lookup before a
create and the repeat after a token refresh; token requests (no tenant in the path) pass.
"""

from __future__ import annotations

import asyncio
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
        self._due: dict[PacingKey, float] = {}  # the tenant's next place on the grid
        self._locks: dict[PacingKey, asyncio.Lock] = {}
        self.waits = 0  # calls that were held back: a sign the planned pacing slipped

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = pacing_key(request)
        if key is not None:
            await self._take_turn(key)
        return await self._inner.handle_async_request(request)

    async def _take_turn(self, key: PacingKey) -> None:
        # One waiter at a time per tenant (asyncio.Lock is first come, first served), on a grid one interval
        # apart. A call that wakes a little late keeps the grid, so small wake-up delays don't add up; after a
        # real stall the grid restarts from the late call, so the calls that piled up behind it still leave
        # one interval apart instead of all at once.
        async with self._locks.setdefault(key, asyncio.Lock()):
            now = self._clock()
            at = max(self._due.get(key, now), now)
            if at > now:
                self.waits += 1
                await asyncio.sleep(at - now)
            sent = self._clock()
            self._due[key] = max(at, sent - self._interval / 2) + self._interval

    async def aclose(self) -> None:
        await self._inner.aclose()


class ShardedTransport(httpx.AsyncBaseTransport):
    """Several connection pools, one picked per tenant.

    httpcore's pool checks every connection against every waiting request each time a request starts or ends,
    so one pool of 64 connections costs more CPU than the requests themselves. A tenant needs only a few
    connections (its calls are paced), so tenants are spread over small pools by their key.
    """

    def __init__(self, shards: int, limits: httpx.Limits) -> None:
        tls = httpx.create_ssl_context()  # loading the CA bundle takes ~50 ms: once, not once per pool
        self._shards = [httpx.AsyncHTTPTransport(verify=tls, limits=limits) for _ in range(max(1, shards))]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = pacing_key(request)
        shard = self._shards[hash(key) % len(self._shards)] if key is not None else self._shards[0]
        return await shard.handle_async_request(request)

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


def paced_client(concurrency: int, calls_per_second: float, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """The worker's one shared client: pools as large as the sends in flight, paced per tenant."""
    limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8)
    inner = ShardedTransport(max(1, concurrency // 4), limits)
    return httpx.AsyncClient(transport=PacedTransport(inner, calls_per_second), timeout=timeout)
