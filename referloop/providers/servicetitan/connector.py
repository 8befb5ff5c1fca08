"""ServiceTitan as a delivery-engine connector: one lead becomes one booking, never two.

A try builds the booking body from the mapping and the lead's record, and creates the booking. When an earlier
try may have created it (its answer was lost, its worker died), the booking is first looked up by externalId
(the lead's code) and adopted if found: that lookup is what "settles" an ambiguous try, and it is the second
API call a try can cost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from referloop.providers.base import Outcome, Progress, Tried
from referloop.providers.mapping import CustomSource, FieldMapping
from referloop.providers.transport import Answer, AsyncSender, Outgoing

from .auth import Credentials, TokenCache
from .client import AsyncServiceTitanClient
from .errors import AmbiguousError, CredentialsRejected, PermanentError, ServiceTitanError, TransientError
from .models import Booking
from .payload import PayloadError, build_booking_body

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

    def __init__(self, *, timeout: httpx.Timeout | None = None, token_cache: TokenCache | None = None) -> None:
        self.timeout = timeout
        self.token_cache = token_cache

    def calls_per_try(self, settle_first: bool) -> int:
        return 2 if settle_first else 1

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
        try:
            body = build_booking_body(destination.mapping, payload, destination.custom_sources)
        except PayloadError as exc:
            problems = [problem.describe() for problem in exc.problems]
            return attempt.tried(Outcome.INVALID_DATA, exc.message, extra={"problems": problems})
        attempt.external_id = str(body.get("externalId") or "")
        recorder = _Recorder(sender)
        client = AsyncServiceTitanClient(
            destination.credentials, sender=recorder, timeout=self.timeout, token_cache=self.token_cache
        )
        attempt.requests = recorder.sent
        try:
            return await _settle_then_create(client, destination, body, attempt, progress)
        except ServiceTitanError as exc:
            return attempt.failed(exc, progress)

    def unanswered(self, what: str, *, sent: bool, settle_first: bool) -> Tried:
        if sent:
            return Tried(Outcome.AMBIGUOUS, f"{what} after the booking was sent, {MAY_EXIST}", may_exist=True)
        return Tried(
            Outcome.TRANSIENT, f"{what} before the booking was sent; it will be tried again.", may_exist=settle_first
        )


async def _settle_then_create(
    client: AsyncServiceTitanClient,
    destination: Destination,
    body: dict[str, object],
    attempt: _Attempt,
    progress: Progress,
) -> Tried:
    provider = destination.booking_provider_id
    if attempt.settle_first and attempt.external_id:
        found = await client.find_bookings_by_external_id(provider, attempt.external_id)
        if found:
            return attempt.adopted(min(found, key=lambda booking: booking.id))
    progress.sent = True
    booking = await client.create_booking(provider, body)
    return attempt.created(booking)


class _Recorder:
    """Keeps each API request as it went out (method, path, query, body): never a header, never a token call."""

    def __init__(self, inner: AsyncSender) -> None:
        self.inner = inner
        self.sent: list[Mapping[str, object]] = []

    async def send(self, request: Outgoing) -> Answer:
        if request.paced:  # token requests carry the client secret in their form: never kept
            entry: dict[str, object] = {"method": request.method, "path": urlsplit(request.url).path}
            if request.params:
                entry["params"] = dict(request.params)
            if request.json is not None:
                entry["body"] = request.json
            self.sent.append(entry)
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Attempt:
    """Collects what one try did and turns it into a Tried."""

    def __init__(self, destination: Destination, settle_first: bool) -> None:
        self.settle_first = settle_first
        self.external_id = ""
        self.requests: list[Mapping[str, object]] = []
        environment = destination.credentials.environment
        self.context: dict[str, object] = {"environment": environment.name, "base_url": environment.api_base_url}

    def tried(self, outcome: Outcome, sentence: str, extra: Mapping[str, object] | None = None, **values: Any) -> Tried:
        return Tried(
            outcome,
            sentence,
            external_id=self.external_id,
            requests=tuple(self.requests),
            context={**self.context, **(extra or {})},
            **values,
        )

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
