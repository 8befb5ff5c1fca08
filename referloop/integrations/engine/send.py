"""Sending one delivery: payload, the lookup an earlier unclear try calls for, the create, and what came of it.

Runs on the event loop and touches no database: everything comes in the Claim and goes out in the Result.
The request summary kept with the Attempt has the method, path, query and body as sent (the lead's contact
data is what the account sent us), and never a header: no access token, client secret or app key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from django.utils import timezone

from referloop.integrations.engine.tries import RELEASED, Claim, Result
from referloop.integrations.models import AttemptOutcome
from referloop.providers.servicetitan import (
    AmbiguousError,
    AsyncServiceTitanClient,
    Booking,
    CredentialsRejected,
    PayloadError,
    PermanentError,
    ServiceTitanError,
    TokenCache,
    TransientError,
    build_booking_body,
)
from referloop.providers.servicetitan import calls as st_calls
from referloop.providers.servicetitan.transport import AsyncSender

logger = logging.getLogger(__name__)


@dataclass
class Progress:
    """How far a send got, for the worker to judge a send it had to cancel at shutdown."""

    started: bool = False  # past its send time: the try has begun
    create_sent: bool = False  # the create request may have reached ServiceTitan


async def send(
    claim: Claim,
    sender: AsyncSender,
    *,
    timeout: httpx.Timeout | None = None,
    deadline: float = 90.0,
    token_cache: TokenCache | None = None,
    progress: Progress | None = None,
) -> Result:
    """Try the claim once; never raises for anything ServiceTitan or the network does (only on cancellation)."""
    progress = progress or Progress()
    progress.started = True
    attempt = _Attempt(claim, timezone.now(), time.perf_counter())
    if claim.setup_error or claim.credentials is None or claim.booking_provider_id is None:
        return attempt.result(AttemptOutcome.PERMANENT, sentence=claim.setup_error or "The connection is incomplete.")
    try:
        body = build_booking_body(claim.mapping, claim.record, claim.custom_fields)
    except PayloadError as exc:
        attempt.summary["problems"] = [problem.describe() for problem in exc.problems]
        return attempt.result(AttemptOutcome.INVALID_DATA, sentence=exc.message)
    attempt.external_id = str(body.get("externalId") or "")
    client = AsyncServiceTitanClient(claim.credentials, sender=sender, timeout=timeout, token_cache=token_cache)
    try:
        async with asyncio.timeout(deadline):
            return await _lookup_then_create(client, claim, body, attempt, progress)
    except TimeoutError:
        return attempt.unanswered(progress, f"ServiceTitan did not answer within {deadline:g} seconds")
    except ServiceTitanError as exc:
        return attempt.failed(exc, progress)
    except Exception as exc:  # a bug must cost one retry, not the worker
        logger.exception("delivery %s: unexpected error while sending", claim.delivery_id)
        return attempt.unanswered(progress, f"referloop hit an unexpected error ({type(exc).__name__})")


async def _lookup_then_create(
    client: AsyncServiceTitanClient, claim: Claim, body: dict[str, object], attempt: _Attempt, progress: Progress
) -> Result:
    provider = claim.booking_provider_id
    assert provider is not None and claim.credentials is not None
    if claim.lookup_first and attempt.external_id:
        lookup = st_calls.find_bookings_by_external_id(claim.credentials, provider, attempt.external_id)
        attempt.note_request(lookup.method, lookup.path, params=dict(lookup.params))
        found = await client.find_bookings_by_external_id(provider, attempt.external_id)
        if found:
            return attempt.adopted(min(found, key=lambda booking: booking.id))
    create = st_calls.create_booking(claim.credentials, provider, body)
    attempt.note_request(create.method, create.path, body=body)
    progress.create_sent = True
    booking = await client.create_booking(provider, body)
    return attempt.created(booking)


class _Attempt:
    """Collects what one try did and turns it into a Result."""

    def __init__(self, claim: Claim, started_at: datetime, clock_start: float) -> None:
        self.claim = claim
        self.started_at = started_at
        self.clock_start = clock_start
        self.external_id = ""
        self.summary: dict[str, Any] = {"requests": []}
        if claim.credentials is not None:
            self.summary["environment"] = claim.credentials.environment.name
            self.summary["base_url"] = claim.credentials.environment.api_base_url

    def note_request(self, method: str, path: str, **parts: object) -> None:
        self.summary["requests"].append({"method": method, "path": path, **parts})

    def result(self, outcome: str, **values: Any) -> Result:
        return Result(
            claim=self.claim,
            outcome=outcome,
            started_at=self.started_at,
            duration_ms=round((time.perf_counter() - self.clock_start) * 1000),
            request_summary=self.summary,
            external_id=self.external_id,
            **values,
        )

    def created(self, booking: Booking) -> Result:
        return self.result(
            AttemptOutcome.DELIVERED,
            response_status=200,
            booking_id=booking.id,
            sentence=f"Created booking {booking.id} in ServiceTitan.",
        )

    def adopted(self, booking: Booking) -> Result:
        return self.result(
            AttemptOutcome.FOUND_EXISTING,
            response_status=200,
            booking_id=booking.id,
            sentence=(
                f"ServiceTitan already had booking {booking.id} for External Id {self.external_id} from an earlier "
                "try whose answer was lost, so referloop kept it instead of creating a second one."
            ),
        )

    def failed(self, exc: ServiceTitanError, progress: Progress) -> Result:
        details: dict[str, Any] = {
            "response_status": exc.status,
            "response_text": exc.servicetitan_text or "",
            "sentence": exc.message,
        }
        if isinstance(exc, CredentialsRejected):
            return self.result(AttemptOutcome.CREDENTIALS, lookup_next=self.claim.lookup_first, **details)
        if isinstance(exc, PermanentError) or exc.permanent:
            return self.result(AttemptOutcome.PERMANENT, **details)
        if isinstance(exc, AmbiguousError):
            return self.result(AttemptOutcome.AMBIGUOUS, lookup_next=True, **details)
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        rate_limited = exc.status == 429
        # A 429 is refused at the gate, so nothing was created; any other failure after the create went out
        # (a 5xx, a lost connection) costs one lookup next time rather than risking a second booking.
        lookup_next = self.claim.lookup_first or (progress.create_sent and not rate_limited)
        return self.result(
            AttemptOutcome.TRANSIENT,
            retry_after=retry_after,
            rate_limited=rate_limited,
            lookup_next=lookup_next,
            **details,
        )

    def unanswered(self, progress: Progress, what: str) -> Result:
        if progress.create_sent:
            return self.result(
                AttemptOutcome.AMBIGUOUS,
                lookup_next=True,
                sentence=f"{what} after the booking was sent, so it may exist; the next try looks it up first.",
            )
        return self.result(
            AttemptOutcome.TRANSIENT,
            lookup_next=self.claim.lookup_first,
            sentence=f"{what} before the booking was sent; it will be tried again.",
        )


def released(claim: Claim, until: datetime | None = None) -> Result:
    """A claimed row given back unsent (shutdown before its send time, or its tenant was paused): no Attempt."""
    return Result(claim=claim, outcome=RELEASED, started_at=timezone.now(), release_until=until)


def interrupted(claim: Claim, progress: Progress) -> Result:
    """A send cancelled at shutdown. Nothing sent: given back. Create sent: ambiguous, and due again at once."""
    if not progress.create_sent:
        return released(claim)
    return Result(
        claim=claim,
        outcome=AttemptOutcome.AMBIGUOUS,
        started_at=timezone.now(),
        lookup_next=True,
        retry_now=True,
        sentence=(
            "The worker was stopped while waiting for ServiceTitan's answer, so the booking may exist; "
            "the next try looks it up first."
        ),
    )
