"""The two records that travel through the engine: a Claim (a leased delivery), and the Result of trying it.

Both are plain frozen data with no ORM objects, so a Claim can be sent on the event loop and a Result written
back in the database thread without either side touching the other's world. Neither names a destination: a
claim carries its connector's name, and the connector's own frozen `destination` and `payload`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from referloop.providers.base import Outcome, Tried
from referloop.providers.transport import MAX_RETRY_AFTER_SECONDS

# Not an attempt: the row was claimed but never sent (shutdown, or its tenant was paused) and goes back.
RELEASED = "released"

SUCCESS_OUTCOMES = frozenset({Outcome.DELIVERED, Outcome.FOUND_EXISTING})
RETRY_OUTCOMES = frozenset({Outcome.TRANSIENT, Outcome.AMBIGUOUS})


@dataclass(frozen=True)
class Claim:
    """One leased delivery with everything its connector needs to try it."""

    delivery_id: int
    connector: str  # the connector's name (Delivery.connector)
    destination_id: int  # the integration's (or endpoint's) id: whose health a result counts towards
    number: int  # this try's attempt number
    lease_owner: str  # with `number`, what a result must match to be written (a late worker's is not)
    rate_key: str
    send_at: float  # epoch seconds: this row's slot in its rate key's budget
    settle_first: bool  # an earlier try may have arrived: the connector settles that before sending again
    first_attempt_at: datetime
    destination: Any = field(repr=False)  # the connector's frozen settings, shared by the destination's claims
    payload: Mapping[str, object] = field(repr=False)


@dataclass(frozen=True)
class Result:
    claim: Claim
    outcome: str  # an Outcome, or RELEASED
    started_at: datetime
    duration_ms: int = 0
    tried: Tried | None = None  # None when the row was given back unsent
    retry_now: bool = False  # interrupted by a shutdown, not failed: try again at once, not on the schedule
    release_until: datetime | None = None  # RELEASED: when the row is due again (None: at once)

    @property
    def released(self) -> bool:
        return self.outcome == RELEASED

    @property
    def succeeded(self) -> bool:
        return self.outcome in SUCCESS_OUTCOMES

    @property
    def retryable(self) -> bool:
        return self.outcome in RETRY_OUTCOMES

    @property
    def sentence(self) -> str:
        return self.tried.sentence if self.tried else ""

    @property
    def rate_limited(self) -> bool:
        return self.tried is not None and self.tried.rate_limited

    @property
    def retry_after(self) -> float | None:
        """The destination's Retry-After, capped: a connector's parsing is not trusted to bound it, and a huge
        value would overflow the dates the results are written with (and so block every result)."""
        if self.tried is None or self.tried.retry_after is None:
            return None
        return min(max(self.tried.retry_after, 0.0), MAX_RETRY_AFTER_SECONDS)

    @property
    def may_exist(self) -> bool:
        return self.tried is not None and self.tried.may_exist

    def request_summary(self) -> dict[str, object]:
        """What the Attempt keeps of the requests: where they went, and each as it was sent."""
        if self.tried is None:
            return {}
        return {**self.tried.context, "requests": [dict(request) for request in self.tried.requests]}
