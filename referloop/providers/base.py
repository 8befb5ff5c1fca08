"""What a destination supplies to the delivery engine: a connector (no Django, like every provider package).

The engine (`referloop.integrations.engine`) claims due deliveries, paces them per rate key, writes attempts,
retries and alerts; it knows no destination. A destination is one `Connector`: given a claim's destination
(the connector's own frozen settings) and payload, it tries once and says what came of it as a `Tried`.

    ServiceTitan (`providers/servicetitan/connector.py`): look the booking up by externalId when an earlier try
    may have created it, else create it. A try costs one or two API calls.
    Outbound webhooks (`providers/webhooks/connector.py`): sign and POST one event. Receivers deduplicate by the
    event id, so an unclear try is simply sent again.

The Django side of each destination (`integrations/<name>/`) says whether it is ready (an incomplete setup holds
leads, never fails them) and loads each claimed row's destination and payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from referloop.providers.transport import AsyncSender


class Outcome(StrEnum):
    """What one try came to; the engine's Attempt rows store these values."""

    DELIVERED = "delivered"
    FOUND_EXISTING = "found_existing"  # an earlier try, whose answer was lost, had already delivered it
    TRANSIENT = "transient"  # try again on the retry schedule
    AMBIGUOUS = "ambiguous"  # it may have arrived: the next try settles that first (or relies on deduplication)
    PERMANENT = "permanent"  # the destination refused it; resending unchanged would fail again
    CREDENTIALS = "credentials"  # the destination refused our credentials: hold until they are fixed
    INVALID_DATA = "invalid_data"  # the lead's data can't be turned into a request


@dataclass
class Progress:
    """How far a try got, for the engine to judge a try it had to stop (deadline, shutdown)."""

    started: bool = False  # past its send time: the try has begun
    sent: bool = False  # a request that makes something (a create, a POST) may have reached the destination


@dataclass(frozen=True)
class Tried:
    """One try as the connector saw it. `requests` are what went over the wire, as sent: never a token, secret
    or authorization header (a webhook's signature header is kept: it proves nothing without the secret)."""

    outcome: Outcome
    sentence: str  # one sentence for a person: what happened and what comes next
    remote_id: int | None = None  # the id the destination gave what it made (a ServiceTitan booking id)
    external_id: str = ""  # our own key for it, sent along (ServiceTitan's externalId, a webhook-id)
    response_status: int | None = None
    response_text: str = ""  # the destination's own words (an error body), kept for the account
    retry_after: float | None = None
    rate_limited: bool = False  # the destination said "too many requests": pause every claim of the rate key
    may_exist: bool = False  # it may have arrived: the next try must settle that first
    requests: tuple[Mapping[str, object], ...] = ()
    warnings: tuple[str, ...] = ()  # what was left out of the request and why (a partial address): shown on the attempt
    context: Mapping[str, object] = field(default_factory=dict)  # where it went (environment, base URL)


class Connector(Protocol):
    """One destination's code, as the engine calls it. Implementations hold no per-claim state."""

    name: str  # the Delivery.connector value, e.g. "servicetitan"
    label: str  # the destination in a sentence, e.g. "ServiceTitan"

    def calls_per_try(self, settle_first: bool, payload: Mapping[str, object] | None = None) -> int:
        """Rate slots one try of this payload takes (a ServiceTitan settle lookup is a second call, a
        known-customer lookup the claim could not answer another)."""
        ...

    async def deliver(
        self,
        destination: Any,
        payload: Mapping[str, object],
        *,
        settle_first: bool,
        sender: AsyncSender,
        progress: Progress,
    ) -> Tried:
        """Try once. Never raises for anything the destination or the network does; sets `progress.sent`
        before the request that makes something goes out. `settle_first`: an earlier try may have arrived."""
        ...

    def unanswered(self, what: str, *, sent: bool, settle_first: bool) -> Tried:
        """The try stopped without an answer (`what` says why): ambiguous if `sent`, else transient."""
        ...
