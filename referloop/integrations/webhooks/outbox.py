"""Webhook delivery rows: one per endpoint and event, held while the endpoint is disabled, released when enabled.

The same rules as ServiceTitan's outbox (`integrations/servicetitan/outbox.py`, `integrations/deliveries.py`):
nothing is lost. An event for a disabled endpoint is written *held* with the reason and sent once the endpoint is
enabled again; the engine retries a failed try on its usual schedule.

Endpoints set to "deliver in order" get one event at a time, oldest first (by delivery id, which is the order
the events were recorded in): the claim holds a later row with `ORDER_WAIT_REASON`, and each finished row
(delivered, or failed for good after its day of retries) releases the next one. A row that failed for good does
not block the rest: ordered means "never two at once, never a newer one first", not "stop at the first failure".
Test events skip both the order and the disabled state, so an endpoint can be tried before it is enabled.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Min, QuerySet
from django.utils import timezone

from referloop.integrations import deliveries
from referloop.integrations.models import Delivery, DeliveryState
from referloop.integrations.webhooks.models import WebhookEndpoint, WebhookEvent
from referloop.providers.webhooks import NAME

TEST_EVENT = "webhook.test"
DISABLED_PREFIX = "The endpoint is disabled: "
ORDER_WAIT_REASON = "Waiting for an earlier event: this endpoint receives its events one at a time, in order."
REASON_LIMIT = 500  # Delivery.reason and held_reason
SKIPPED_WHILE_DISABLED = "Not sent: the endpoint was disabled when this event happened and was enabled without them."


def hold_reason(endpoint: WebhookEndpoint) -> str | None:
    """Why the endpoint's events can't be sent now, or None when they can."""
    if not endpoint.enabled:
        return (DISABLED_PREFIX + (endpoint.disabled_reason or "it was turned off."))[:REASON_LIMIT]
    return None


def new_delivery(endpoint: WebhookEndpoint, event: WebhookEvent, now: datetime) -> Delivery:
    """The row that sends `event` to `endpoint`: pending, or held while the endpoint is disabled."""
    reason = None if event.type == TEST_EVENT else hold_reason(endpoint)
    delivery = Delivery(
        connector=NAME,
        endpoint=endpoint,
        event=event,
        state=DeliveryState.PENDING,
        rate_key=endpoint.rate_key,
        next_attempt_at=now,
        created_at=now,
    )
    if reason:
        for name, value in deliveries.held(reason, now).items():
            setattr(delivery, name, value)
    return delivery


def release_held(endpoint: WebhookEndpoint, now: datetime | None = None) -> int:
    """Every held row of the endpoint goes out (an ordered endpoint's claim holds all but the oldest again)."""
    now = now or timezone.now()
    return Delivery.objects.filter(endpoint=endpoint, state=DeliveryState.HELD).update(
        **deliveries.released(now), rate_key=endpoint.rate_key
    )


def skip_held(endpoint: WebhookEndpoint, now: datetime | None = None) -> int:
    """Enabled without the backlog: the events held while it was disabled are marked skipped, with the reason."""
    return Delivery.objects.filter(endpoint=endpoint, state=DeliveryState.HELD).update(
        state=DeliveryState.SKIPPED, reason=SKIPPED_WHILE_DISABLED, released_at=now or timezone.now()
    )


def hold_pending(endpoint_id: int, reason: str, now: datetime | None = None) -> int:
    """Stop sending: due and retrying rows wait. A row being sent right now finishes its try (its result is kept,
    and if it is to be retried, the next claim holds it)."""
    return Delivery.objects.filter(
        endpoint_id=endpoint_id, state=DeliveryState.PENDING, lease_expires_at__isnull=True
    ).update(**deliveries.held(reason, now or timezone.now()))


def resend(rows: QuerySet[Delivery], now: datetime | None = None) -> int:
    """Failed, skipped or delivered rows go out again, with the same webhook-id and body, and a fresh day of retries.

    A receiver that deduplicates by webhook-id ignores a resend of an event it already processed: that is the
    point of the id. To see a new request arrive, send a test event instead.
    """
    now = now or timezone.now()
    return rows.filter(
        state__in=[DeliveryState.FAILED, DeliveryState.SKIPPED, DeliveryState.DELIVERED], lease_expires_at__isnull=True
    ).update(**deliveries.resent(now, settle_first=False))


def first_unfinished(endpoint_ids: Iterable[int]) -> dict[int, int]:
    """Per ordered endpoint, its oldest row not yet delivered or failed for good: the only one that may be sent."""
    ids = set(endpoint_ids)
    if not ids:
        return {}
    rows = (
        Delivery.objects.filter(endpoint_id__in=ids, state__in=[DeliveryState.PENDING, DeliveryState.HELD])
        .exclude(event__type=TEST_EVENT)
        .order_by()
        .values("endpoint_id")
        .annotate(first=Min("id"))
        .values_list("endpoint_id", "first")
    )
    return {endpoint_id: first for endpoint_id, first in rows if endpoint_id is not None}


def release_waiting(delivery_ids: Iterable[int], now: datetime | None = None) -> int:
    """These rows, if held waiting for their turn, become due now."""
    now = now or timezone.now()
    return Delivery.objects.filter(
        pk__in=set(delivery_ids), state=DeliveryState.HELD, held_reason=ORDER_WAIT_REASON
    ).update(**deliveries.released(now))


def release_next_in_order(endpoint_ids: Iterable[int], now: datetime | None = None) -> int:
    """A row of each endpoint finished: its next waiting row (the oldest one held for its turn) goes out."""
    ids = set(endpoint_ids)
    if not ids:
        return 0
    nexts = (
        Delivery.objects.filter(endpoint_id__in=ids, state=DeliveryState.HELD, held_reason=ORDER_WAIT_REASON)
        .order_by()
        .values("endpoint_id")
        .annotate(first=Min("id"))
        .values_list("first", flat=True)
    )
    return release_waiting(list(nexts), now)
