"""The last guard before the wire: one tenant's calls leave this process evenly spaced, never in a burst.

The bucket (ratelimit.py) plans send times one interval apart, but a busy event loop, a slow token fetch or a
slow claim can wake several planned sends late and let them out together; a burst is what a 1-second sliding
window (ServiceTitan's, the sandbox's) punishes, because the calls of the next second then land in the same
window. This sender wrapper lets the calls that actually go out per rate key (the claim's: for ServiceTitan,
environment, tenant and app) leave on a grid one interval apart, the same interval as the plan: what was
delayed goes out late, never closer together. With 58.2 calls a second planned, any 1-second window holds 59
calls at most, and ServiceTitan would have to bunch our calls up by about 30 ms to count 61. It sees every call
of a try, including a lookup before a create and the repeat after a token refresh; requests marked unpaced
(token requests) pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from referloop.providers.transport import AiohttpSender, Answer, AsyncSender, Outgoing


class PacedSender:
    """One shared pool; `for_key(rate_key)` gives the sender a try of that rate key uses."""

    def __init__(
        self,
        inner: AsyncSender,
        calls_per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._interval = 1.0 / calls_per_second
        self._clock = clock
        self._due: dict[str, float] = {}  # the rate key's next place on the grid
        self._locks: dict[str, asyncio.Lock] = {}
        self.waits = 0  # calls that were held back: a sign the planned pacing slipped

    def for_key(self, rate_key: str) -> AsyncSender:
        return _KeySender(self, rate_key)

    async def send(self, request: Outgoing, rate_key: str) -> Answer:
        if request.paced:
            await self._take_turn(rate_key)
        return await self._inner.send(request)

    async def _take_turn(self, key: str) -> None:
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


class _KeySender:
    """The shared paced pool as one rate key's sender; closing it leaves the pool open."""

    def __init__(self, pool: PacedSender, rate_key: str) -> None:
        self._pool = pool
        self._rate_key = rate_key

    async def send(self, request: Outgoing) -> Answer:
        return await self._pool.send(request, self._rate_key)

    async def aclose(self) -> None:
        pass


def paced_sender(concurrency: int, calls_per_second: float) -> PacedSender:
    """The worker's one shared sender: a pool as large as the sends in flight, paced per tenant."""
    return PacedSender(AiohttpSender(connections=concurrency + 8), calls_per_second)
