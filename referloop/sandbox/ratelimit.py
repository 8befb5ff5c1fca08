"""A 1-second sliding-window limit per (app key, tenant), as ServiceTitan counts "per application per tenant".

Whether ServiceTitan uses a sliding window or a token bucket is unconfirmed; a sliding window is the
stricter of the two for bursts, which is what a client should be tested against.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable


class SlidingWindowLimiter:
    def __init__(self, window_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_seconds
        self._clock = clock
        self._calls: dict[Hashable, deque[float]] = {}

    def acquire(self, key: Hashable, limit: int | None) -> int | None:
        """Count one call: None if allowed, else whole seconds to wait (at least 1). Refusals do not count."""
        if limit is None:
            return None
        now = self._clock()
        calls = self._calls.setdefault(key, deque())
        while calls and calls[0] <= now - self._window:
            calls.popleft()
        if len(calls) >= limit:
            return max(1, math.ceil(calls[0] + self._window - now))
        calls.append(now)
        return None

    def reset(self) -> None:
        self._calls.clear()
