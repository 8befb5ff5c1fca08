"""When to try a delivery again: a fixed table with jitter, Retry-After as a floor, and a 24-hour limit.

A small pure function rather than tenacity: tenacity's wait strategies expect its own in-process retry loop
(a RetryCallState per call), while our retries are rows in the database that any worker picks up later; the
schedule is one table and one `max()`, and a pure function is trivially tested with a seeded `random.Random`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

MINUTE = 60.0
HOUR = 60 * MINUTE


@dataclass(frozen=True)
class RetryPolicy:
    """About 10 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 3 h, until 24 h after the first try."""

    delays: tuple[float, ...] = (10.0, 30.0, 2 * MINUTE, 10 * MINUTE, 30 * MINUTE, HOUR)
    then_every: float = 3 * HOUR
    give_up_after: float = 24 * HOUR
    # Each delay is stretched or shrunk by up to this share, so rows that failed together (a ServiceTitan
    # outage) don't all come back in the same second.
    jitter: float = 0.2

    def delay(self, failures: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after the `failures`-th failed try (1 for the first); never less than Retry-After."""
        step = max(failures, 1) - 1
        base = self.delays[step] if step < len(self.delays) else self.then_every
        spread = (rng or random).uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
        return max(base * spread, retry_after or 0.0)

    def next_attempt(
        self,
        *,
        now: datetime,
        first_attempt_at: datetime | None,
        failures: int,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """When to try next, or None to give up (the row becomes *failed*).

        The last try is moved up to the 24-hour mark rather than skipped, so a delivery gets its full day.
        """
        started = first_attempt_at or now
        deadline = started + timedelta(seconds=self.give_up_after)
        if now >= deadline:
            return None
        wanted = now + timedelta(seconds=self.delay(failures, retry_after, rng))
        return min(wanted, deadline)


DEFAULT_POLICY = RetryPolicy()
