"""ServiceTitan as a delivery-engine connector: one lead becomes one booking, never two.

A try builds the booking body from the mapping and the lead's record, and creates the booking. When an earlier
try may have created it (its answer was lost, its worker died), the booking is first looked up by externalId
(the lead's code) and adopted if found: that lookup is what "settles" an ambiguous try, and it is the second
API call a try can cost. When Is First Time Client comes From ServiceTitan and the claim did not already know the
answer (first_time.py), one phone lookup among the customers goes before the create, bounded in time: if
ServiceTitan cannot answer, the booking goes out with the mapping's fallback value and a warning.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from referloop.providers.base import Outcome, Progress, Tried
from referloop.providers.mapping import CustomSource, FieldMapping
from referloop.providers.transport import AsyncSender

from .auth import Credentials, TokenCache
from .client import AsyncServiceTitanClient
from .errors import AmbiguousError, CredentialsRejected, PermanentError, ServiceTitanError, TransientError
from .first_time import KNOWN_CUSTOMER, LOOKUP_SECONDS, Found, Plan, lookup_warning, with_answer
from .models import Booking
from .payload import PayloadError, build_booking
from .recording import RequestRecorder

logger = logging.getLogger(__name__)

MAY_EXIST = "so the booking may exist; the next try looks it up first."


@dataclass(frozen=True)
class Destination:
    """One integration's ServiceTitan settings, as a claim carries them (loaded once, shared by its claims)."""

    credentials: Credentials
    booking_provider_id: int
    mapping: Mapping[str, FieldMapping] = field(repr=False)
    custom_sources: tuple[CustomSource, ...] = ()


class ServiceTitanConnector:
    name = "servicetitan"
    label = "ServiceTitan"

    def __init__(
        self,
        *,
        timeout: httpx.Timeout | None = None,
        token_cache: TokenCache | None = None,
        lookup_seconds: float = LOOKUP_SECONDS,
    ) -> None:
        self.timeout = timeout
        self.token_cache = token_cache
        self.lookup_seconds = lookup_seconds

    def calls_per_try(self, settle_first: bool, payload: Mapping[str, object] | None = None) -> int:
        plan = payload.get(KNOWN_CUSTOMER) if payload is not None else None
        return (2 if settle_first else 1) + (plan.calls if isinstance(plan, Plan) else 0)

    async def deliver(
        self,
        destination: Any,
        payload: Mapping[str, object],
        *,
        settle_first: bool,
        sender: AsyncSender,
        progress: Progress,
    ) -> Tried:
        assert isinstance(destination, Destination)
        attempt = _Attempt(destination, settle_first)
        plan = payload.get(KNOWN_CUSTOMER)
        plan = plan if isinstance(plan, Plan) else None
        if plan is not None and not plan.ask_phone:  # known before the try: no call to make
            attempt.known = Found(plan.customer_id, plan.matched_by)
        try:
            # Built before any call: a lead that can't become a booking costs none (the lookup only changes Yes/No).
            built = build_booking(destination.mapping, with_answer(payload, attempt.known), destination.custom_sources)
        except PayloadError as exc:
            problems = [problem.describe() for problem in exc.problems]
            return attempt.tried(Outcome.INVALID_DATA, exc.message, extra={"problems": problems})
        attempt.warnings = built.warnings
        attempt.external_id = str(built.body.get("externalId") or "")
        recorder = RequestRecorder(sender)
        client = AsyncServiceTitanClient(
            destination.credentials, sender=recorder, timeout=self.timeout, token_cache=self.token_cache
        )
        attempt.requests = recorder.sent
        try:
            if attempt.settle_first and attempt.external_id:
                adopted = await _settle(client, destination, attempt)
                if adopted is not None:
                    return adopted
            if plan is not None and plan.ask_phone:
                attempt.known = await _look_up(client, plan, self.lookup_seconds)
                if attempt.known.failed:
                    attempt.warnings += (lookup_warning(attempt.known.failed, plan.fallback),)
                else:
                    built = build_booking(
                        destination.mapping, with_answer(payload, attempt.known), destination.custom_sources
                    )
            return await _create(client, destination, built.body, attempt, progress)
        except ServiceTitanError as exc:
            return attempt.failed(exc, progress)

    def unanswered(self, what: str, *, sent: bool, settle_first: bool) -> Tried:
        if sent:
            return Tried(Outcome.AMBIGUOUS, f"{what} after the booking was sent, {MAY_EXIST}", may_exist=True)
        return Tried(
            Outcome.TRANSIENT, f"{what} before the booking was sent; it will be tried again.", may_exist=settle_first
        )


async def _settle(client: AsyncServiceTitanClient, destination: Destination, attempt: _Attempt) -> Tried | None:
    """An earlier try may have created the booking: adopt it if ServiceTitan has it."""
    found = await client.find_bookings_by_external_id(destination.booking_provider_id, attempt.external_id)
    return attempt.adopted(min(found, key=lambda booking: booking.id)) if found else None


async def _create(
    client: AsyncServiceTitanClient,
    destination: Destination,
    body: dict[str, object],
    attempt: _Attempt,
    progress: Progress,
) -> Tried:
    progress.sent = True
    booking = await client.create_booking(destination.booking_provider_id, body)
    return attempt.created(booking)


async def _look_up(client: AsyncServiceTitanClient, plan: Plan, seconds: float) -> Found:
    """One phone lookup, given `seconds` at most (pacing included): the booking never waits longer for it."""
    try:
        async with asyncio.timeout(seconds):
            customers = await client.find_customers_by_phone(plan.ask_phone)
    except TimeoutError:
        return Found(None, phone=plan.ask_phone, asked=True, failed=f"it did not answer within {seconds:g} seconds")
    except ServiceTitanError as exc:
        return Found(None, phone=plan.ask_phone, asked=True, failed=exc.message)
    customer_id = min((customer.id for customer in customers), default=None)  # a shared phone: the oldest
    return Found(customer_id, "phone" if customer_id is not None else "", phone=plan.ask_phone, asked=True)


class _Attempt:
    """Collects what one try did and turns it into a Tried."""

    def __init__(self, destination: Destination, settle_first: bool) -> None:
        self.settle_first = settle_first
        self.external_id = ""
        self.warnings: tuple[str, ...] = ()
        self.known: Found | None = None  # what the known-customer lookup found, when the mapping asks for it
        self.requests: list[Mapping[str, object]] = []
        environment = destination.credentials.environment
        self.context: dict[str, object] = {"environment": environment.name, "base_url": environment.api_base_url}

    def tried(self, outcome: Outcome, sentence: str, extra: Mapping[str, object] | None = None, **values: Any) -> Tried:
        return Tried(
            outcome,
            sentence,
            external_id=self.external_id,
            warnings=self.warnings,
            requests=tuple(self.requests),
            context={**self.context, **self._known_context(), **(extra or {})},
            **values,
        )

    def _known_context(self) -> dict[str, object]:
        return {KNOWN_CUSTOMER: self.known.as_context()} if self.known is not None else {}

    def created(self, booking: Booking) -> Tried:
        return self.tried(
            Outcome.DELIVERED,
            f"Created booking {booking.id} in ServiceTitan.",
            response_status=200,
            remote_id=booking.id,
        )

    def adopted(self, booking: Booking) -> Tried:
        return self.tried(
            Outcome.FOUND_EXISTING,
            f"ServiceTitan already had booking {booking.id} for External Id {self.external_id} from an earlier "
            "try whose answer was lost, so referloop kept it instead of creating a second one.",
            response_status=200,
            remote_id=booking.id,
        )

    def failed(self, exc: ServiceTitanError, progress: Progress) -> Tried:
        details: dict[str, Any] = {"response_status": exc.status, "response_text": exc.servicetitan_text or ""}
        if isinstance(exc, CredentialsRejected):
            return self.tried(Outcome.CREDENTIALS, exc.message, may_exist=self.settle_first, **details)
        if isinstance(exc, PermanentError) or exc.permanent:
            return self.tried(Outcome.PERMANENT, exc.message, **details)
        if isinstance(exc, AmbiguousError):
            return self.tried(Outcome.AMBIGUOUS, exc.message, may_exist=True, **details)
        retry_after = exc.retry_after if isinstance(exc, TransientError) else None
        rate_limited = exc.status == 429
        # A 429 is refused at the gate, so nothing was created; any other failure after the create went out
        # (a 5xx, a lost connection) costs one lookup next time rather than risking a second booking.
        may_exist = self.settle_first or (progress.sent and not rate_limited)
        return self.tried(
            Outcome.TRANSIENT,
            exc.message,
            retry_after=retry_after,
            rate_limited=rate_limited,
            may_exist=may_exist,
            **details,
        )
