"""Webhook endpoints as the engine's database side sees them: which claimed rows go, where, with what body.

Registered as the "webhook" destination kind (`integrations.destinations`). A claim loads the rows' endpoints
and events by the rows' ids (a handful of queries per claim, however many rows). A disabled endpoint holds its
rows; an ordered one lets only its oldest unfinished row go (`outbox.py` says why and how). Results count
towards the endpoint's health: `failing_since` marks the first failure of a streak and a success clears it;
five days of failures (WEBHOOKS_DISABLE_AFTER_DAYS), or one 410 Gone, disable the endpoint and email the
account once. Retries follow the engine's one schedule (`engine/retry.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from referloop.integrations.destinations import ConnectorOptions, Destined, Row
from referloop.integrations.engine.tries import Result
from referloop.integrations.models import Delivery, DeliveryState
from referloop.integrations.webhooks import alerts, outbox
from referloop.integrations.webhooks.models import WebhookEndpoint, WebhookEvent
from referloop.providers.base import Connector
from referloop.providers.webhooks import NAME, AddressPolicy, Destination, WebhookConnector

LOST_TRY_SENTENCE = (
    "The worker sending this event stopped before it recorded an answer (its lease ran out), so the endpoint may "
    "or may not have it; it is sent again with the same webhook-id, so the receiver can drop a duplicate."
)
UNREADABLE_SECRET = (
    "The endpoint's signing secret can't be decrypted with this deployment's key: rotate the secret to send again."
)


def address_policy() -> AddressPolicy:
    """What this deployment allows besides public https (settings: WEBHOOKS_ALLOW_HTTP / _LOOPBACK)."""
    return AddressPolicy(allow_http=settings.WEBHOOKS_ALLOW_HTTP, allow_loopback=settings.WEBHOOKS_ALLOW_LOOPBACK)


def destination_of(endpoint: WebhookEndpoint, policy: AddressPolicy, now: datetime | None = None) -> Destined:
    """Where the endpoint's events go now, signed with every secret valid at `now`; or why they wait."""
    reason = outbox.hold_reason(endpoint)
    try:
        secrets = endpoint.signing_secrets(now)
    except ValueError:
        return Destined(endpoint.pk, None, UNREADABLE_SECRET)
    destination = Destination(endpoint_id=endpoint.pk, url=endpoint.url, secrets=secrets, policy=policy)
    return Destined(endpoint.pk, destination, reason or "")


def disable_after() -> timedelta:
    return timedelta(days=settings.WEBHOOKS_DISABLE_AFTER_DAYS)


class WebhookKind:
    """The "webhook" destination kind. It keeps nothing between claims: an endpoint is one small row."""

    name = NAME
    lost_try_sentence = LOST_TRY_SENTENCE
    credentials_hold_reason = "The endpoint refused the request's credentials."  # webhooks have no such outcome

    def connector(self, options: ConnectorOptions) -> Connector:
        return WebhookConnector.with_timeout(options.timeout)

    def destinations(self, rows: Sequence[Row]) -> dict[int, Destined]:
        links = {
            pk: (endpoint_id, event_type)
            for pk, endpoint_id, event_type in Delivery.objects.filter(pk__in=[row.id for row in rows]).values_list(
                "id", "endpoint_id", "event__type"
            )
        }
        endpoints = WebhookEndpoint.objects.in_bulk({endpoint_id for endpoint_id, _ in links.values()})
        policy, now = address_policy(), timezone.now()
        built = {pk: destination_of(endpoint, policy, now) for pk, endpoint in endpoints.items()}
        ordered = {pk for pk, endpoint in endpoints.items() if endpoint.ordered and endpoint.enabled}
        firsts = outbox.first_unfinished(ordered)
        found: dict[int, Destined] = {}
        waiting_turn: list[int] = []
        for row in rows:
            endpoint_id, event_type = links[row.id]
            destined = built[endpoint_id]
            test = event_type == outbox.TEST_EVENT
            if test and destined.hold_reason and destined.destination is not None:
                destined = Destined(endpoint_id, destined.destination)  # a test goes even to a disabled endpoint
            elif endpoint_id in ordered and not test and not destined.hold_reason:
                first = firsts.get(endpoint_id)
                if first is not None and first != row.id:
                    destined = Destined(endpoint_id, None, outbox.ORDER_WAIT_REASON)
                    waiting_turn.append(first)
            found[row.id] = destined
        # The oldest row may itself be held for its turn with nothing left ahead of it to release it (rows resent
        # or made ordered meanwhile): it goes now, so an ordered endpoint can't stall.
        outbox.release_waiting(waiting_turn, now)
        return found

    def payloads(self, rows: Sequence[Row]) -> dict[int, Mapping[str, object]]:
        events = (
            Delivery.objects.filter(pk__in=[row.id for row in rows])
            .select_related("event")
            .only("id", "event__event_id", "event__type", "event__payload", "event__created_at")
        )
        return {delivery.pk: _payload(delivery.event) for delivery in events if delivery.event is not None}

    def after_results(self, applied: Sequence[tuple[Result, str]]) -> list[object]:
        return list(endpoint_health(applied, timezone.now()))

    def send_notices(self, notices: Sequence[object]) -> None:
        alerts.send_notices(notice for notice in notices if isinstance(notice, alerts.EndpointDisabled))

    def release_ready(self) -> int:
        # A disabled endpoint's rows are released by enabling it (a person's choice: send or skip them), and an
        # ordered endpoint's waiting rows by the claim: nothing here is released behind anyone's back.
        return 0


def _payload(event: WebhookEvent) -> Mapping[str, object]:
    return {"id": event.event_id, "body": event.body()}


def endpoint_health(applied: Sequence[tuple[Result, str]], now: datetime) -> list[alerts.EndpointDisabled]:
    """Failure streaks and disabling, from the results that took effect; ordered endpoints' next rows go out."""
    by_endpoint: dict[int, list[Result]] = {}
    finished: set[int] = set()
    for result, state in applied:
        if result.released:
            continue
        by_endpoint.setdefault(result.claim.destination_id, []).append(result)
        if state in (DeliveryState.DELIVERED, DeliveryState.FAILED):
            finished.add(result.claim.destination_id)
    notices = []
    for endpoint_id, results in by_endpoint.items():
        last_success = max((i for i, result in enumerate(results) if result.succeeded), default=-1)
        failures = results[last_success + 1 :]
        streak = WebhookEndpoint.objects.filter(pk=endpoint_id)
        if not failures:
            streak.filter(failing_since__isnull=False).update(failing_since=None)
            continue
        started = min(result.started_at for result in failures)
        if last_success >= 0:  # a success earlier in this batch: the streak starts after it
            streak.update(failing_since=started)
        else:
            streak.filter(failing_since__isnull=True).update(failing_since=started)
        notice = _disable_if_due(endpoint_id, failures[-1], now)
        if notice is not None:
            notices.append(notice)
    ordered = set(WebhookEndpoint.objects.filter(pk__in=finished, ordered=True).values_list("pk", flat=True))
    outbox.release_next_in_order(ordered, now)
    return notices


def _disable_if_due(endpoint_id: int, latest: Result, now: datetime) -> alerts.EndpointDisabled | None:
    """Disable on 410 Gone, or once the streak is older than the limit: by a conditional update, so once."""
    candidates = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True)
    gone = latest.tried is not None and latest.tried.response_status == 410
    if gone:
        reason = f"It answered 410 Gone, which means it no longer wants these events. {latest.sentence}"
    else:
        limit = disable_after()
        candidates = candidates.filter(failing_since__lte=now - limit)
        reason = f"Every try to send it an event has failed for {_days(limit)}. The latest: {latest.sentence}"
    reason = reason[:500]
    if not candidates.update(enabled=False, disabled_reason=reason, disabled_at=now):
        return None
    outbox.hold_pending(endpoint_id, (outbox.DISABLED_PREFIX + reason)[: outbox.REASON_LIMIT], now)
    return alerts.EndpointDisabled(endpoint_id, reason)


def _days(span: timedelta) -> str:
    days = span.total_seconds() / 86400
    return f"{days:g} day{'' if days == 1 else 's'}"
