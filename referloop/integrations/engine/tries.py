"""The two records that travel through the engine: a claimed Claim, and the Result of trying it.

Both are plain frozen data with no ORM objects, so a Claim can be sent on the event loop and a Result written
back in the database thread without either side touching the other's world.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from referloop.integrations.models import AttemptOutcome
from referloop.providers.servicetitan import Credentials, CustomSource, FieldMapping, LeadRecord

# Not an attempt: the row was claimed but never sent (shutdown, or its tenant was paused) and goes back.
RELEASED = "released"

SUCCESS_OUTCOMES = frozenset({AttemptOutcome.DELIVERED, AttemptOutcome.FOUND_EXISTING})
RETRY_OUTCOMES = frozenset({AttemptOutcome.TRANSIENT, AttemptOutcome.AMBIGUOUS})


@dataclass(frozen=True)
class Claim:
    """One claimed delivery with everything needed to send it."""

    delivery_id: int
    integration_id: int
    number: int  # this try's attempt number
    lease_owner: str  # with `number`, what a result must match to be written (a late worker's is not)
    rate_key: str
    send_at: float  # epoch seconds: this row's slot in its tenant's budget
    lookup_first: bool  # an earlier try may have created the booking: look it up by externalId first
    first_attempt_at: datetime
    credentials: Credentials | None
    booking_provider_id: int | None
    mapping: Mapping[str, FieldMapping] = field(repr=False)
    record: LeadRecord = field(repr=False)
    custom_fields: tuple[CustomSource, ...] = ()
    setup_error: str = ""  # a setting that stops the try before any request (no tenant id, environment off)


@dataclass(frozen=True)
class Result:
    claim: Claim
    outcome: str  # an AttemptOutcome, or RELEASED
    started_at: datetime
    duration_ms: int = 0
    request_summary: Mapping[str, object] = field(default_factory=dict)
    response_status: int | None = None
    response_text: str = ""
    sentence: str = ""
    booking_id: int | None = None
    external_id: str = ""
    retry_after: float | None = None
    rate_limited: bool = False  # a 429: pause the tenant for `retry_after`
    lookup_next: bool = False  # the booking may exist: the next try looks it up first
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
