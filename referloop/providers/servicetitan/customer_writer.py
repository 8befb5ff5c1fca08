"""ServiceTitan customers as a delivery-engine connector ("st_customer"): return fields and matching referrers.

Two kinds of try, by payload:

- a **write** PATCHes one customer's return fields (`customFields` only) with the values its kind read when the
  try was claimed: the referrer's link, code and qualified count. A PATCH of the same values twice leaves the same
  record, so a try whose answer was lost is simply made again (no settling lookup): one call a try.
- a **match** finds the customer a referrer who just joined is: the claim already asked the local index (email,
  phone); otherwise one `find_customers_by_phone` call. "Nobody" is an answer, delivered, not a failure. The
  match itself writes nothing to ServiceTitan: its kind links the referrer and asks for a write, so one customer
  only ever has one write in flight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from referloop.providers.base import Outcome, Progress, Tried
from referloop.providers.transport import AsyncSender

from .auth import Credentials, TokenCache
from .client import AsyncServiceTitanClient
from .errors import CredentialsRejected, PermanentError, ServiceTitanError, TransientError
from .recording import RequestRecorder

NAME = "st_customer"
WRITE = "write"
MATCH = "match"
MATCHED = "servicetitan.customer_match"  # the attempt context key a match's answer travels back in


@dataclass(frozen=True)
class Destination:
    """The integration's ServiceTitan credentials (loaded once per claim, shared by its rows)."""

    credentials: Credentials


def write_payload(customer_id: int, values: Mapping[int, str], names: Mapping[int, str], request: int) -> dict:
    """What a write try sends: `values` by custom field type id; `names` for the attempt's log."""
    return {
        "action": WRITE,
        "customer_id": customer_id,
        "values": dict(values),
        "names": dict(names),
        "request": request,
    }


def match_payload(known_customer_id: int | None, matched_by: str, phone_digits: str) -> dict:
    """What a match try needs: the index's answer if it had one, else the phone to ask ServiceTitan about."""
    return {"action": MATCH, "customer_id": known_customer_id, "matched_by": matched_by, "phone": phone_digits}


def nothing_payload(sentence: str) -> dict:
    """A row with nothing to do any more (the link or the mapping went away): delivered without a call."""
    return {"action": "nothing", "sentence": sentence}


class CustomerConnector:
    name = NAME
    label = "ServiceTitan"

    def __init__(self, *, timeout: httpx.Timeout | None = None, token_cache: TokenCache | None = None) -> None:
        self.timeout = timeout
        self.token_cache = token_cache

    def calls_per_try(self, settle_first: bool, payload: Mapping[str, object] | None = None) -> int:
        if payload is None:
            return 1
        if payload.get("action") == WRITE:
            return 1
        if payload.get("action") == MATCH:
            return 0 if payload.get("customer_id") is not None or not payload.get("phone") else 1
        return 0

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
        action = payload.get("action")
        if action not in (WRITE, MATCH):
            return Tried(Outcome.DELIVERED, str(payload.get("sentence") or "Nothing to write."))
        recorder = RequestRecorder(sender)
        client = AsyncServiceTitanClient(
            destination.credentials, sender=recorder, timeout=self.timeout, token_cache=self.token_cache
        )
        context: dict[str, object] = {"environment": destination.credentials.environment.name}
        try:
            if action == WRITE:
                return await _write(client, payload, recorder, context, progress)
            return await _match(client, payload, recorder, context)
        except ServiceTitanError as exc:
            return _failed(exc, recorder, context)

    def unanswered(self, what: str, *, sent: bool, settle_first: bool) -> Tried:
        # A PATCH is safe to repeat and a lookup changes nothing: no answer is simply tried again.
        return Tried(Outcome.TRANSIENT, f"{what} before ServiceTitan answered; it will be tried again.")


async def _write(
    client: AsyncServiceTitanClient,
    payload: Mapping[str, object],
    recorder: RequestRecorder,
    context: dict[str, object],
    progress: Progress,
) -> Tried:
    customer_id = int(str(payload["customer_id"]))
    raw_values = payload.get("values")
    raw_names = payload.get("names")
    values = {int(key): str(value) for key, value in (raw_values.items() if isinstance(raw_values, Mapping) else ())}
    names = {int(key): str(value) for key, value in (raw_names.items() if isinstance(raw_names, Mapping) else ())}
    progress.sent = True
    await client.update_customer_custom_fields(customer_id, values)
    written = {names.get(type_id, str(type_id)): value for type_id, value in values.items()}
    shown = ", ".join(f"{name} = {value}" for name, value in written.items())
    return Tried(
        Outcome.DELIVERED,
        f"Wrote customer {customer_id}'s return fields in ServiceTitan: {shown}.",
        remote_id=customer_id,
        response_status=200,
        requests=tuple(recorder.sent),
        context={**context, "written": written, "request": payload.get("request")},
    )


async def _match(
    client: AsyncServiceTitanClient,
    payload: Mapping[str, object],
    recorder: RequestRecorder,
    context: dict[str, object],
) -> Tried:
    known = payload.get("customer_id")
    matched_by = str(payload.get("matched_by") or "")
    if known is None and payload.get("phone"):
        customers = await client.find_customers_by_phone(str(payload["phone"]))
        found = min((customer.id for customer in customers), default=None)  # a shared phone: the oldest
        known, matched_by = found, "phone" if found is not None else ""
    answer = {"customer_id": known, "matched_by": matched_by}
    if known is None:
        sentence = "No ServiceTitan customer has this referrer's email or phone, so nothing was linked."
    else:
        sentence = f"The referrer is ServiceTitan customer {known} (same {matched_by})."
    return Tried(
        Outcome.DELIVERED,
        sentence,
        remote_id=int(str(known)) if known is not None else None,
        response_status=200 if recorder.sent else None,
        requests=tuple(recorder.sent),
        context={**context, MATCHED: answer},
    )


def _failed(exc: ServiceTitanError, recorder: RequestRecorder, context: dict[str, object]) -> Tried:
    details: dict[str, Any] = {
        "response_status": exc.status,
        "response_text": exc.servicetitan_text or "",
        "requests": tuple(recorder.sent),
        "context": context,
    }
    if isinstance(exc, CredentialsRejected):
        return Tried(Outcome.CREDENTIALS, exc.message, **details)
    if isinstance(exc, PermanentError) or exc.permanent:
        return Tried(Outcome.PERMANENT, exc.message, **details)
    retry_after = exc.retry_after if isinstance(exc, TransientError) else None
    return Tried(Outcome.TRANSIENT, exc.message, retry_after=retry_after, rate_limited=exc.status == 429, **details)
