"""ServiceTitan as the engine's database side sees it: which claimed rows can go, where, with what record.

Registered as the "servicetitan" destination kind (`integrations.destinations`). An integration's credentials,
mapping and custom fields are read once per claim (and cached between claims) and shared by its rows; leads come
with their referrer and campaign in one query. Results count towards the integration's health: a failure streak
or rejected credentials set Needs attention and email the account once per episode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from django.conf import settings
from django.utils import timezone

from referloop.integrations import alerts
from referloop.integrations.destinations import ConnectorOptions, Destined, Row
from referloop.integrations.engine import queries
from referloop.integrations.engine.queries import IntegrationStamp
from referloop.integrations.engine.tries import Result
from referloop.integrations.models import Delivery, DeliveryState, Integration, IntegrationChange
from referloop.integrations.records import custom_fields_of, load_records
from referloop.integrations.servicetitan import known_customers, outbox
from referloop.integrations.servicetitan.credentials import credentials_for
from referloop.integrations.servicetitan.follower import store as follower_store
from referloop.integrations.servicetitan.known_customers import Learnt, ToCheck
from referloop.integrations.servicetitan.readiness import CREDENTIALS_REJECTED_REASON, readiness
from referloop.integrations.webhooks import events as webhook_events
from referloop.providers.base import Connector, Outcome
from referloop.providers.servicetitan import TokenCache
from referloop.providers.servicetitan.connector import Destination, ServiceTitanConnector
from referloop.providers.servicetitan.first_time import KNOWN_CUSTOMER, Found, lookup_fallback

NAME = "servicetitan"
LOST_TRY_SENTENCE = (
    "The worker sending this lead stopped before it recorded an answer (its lease ran out), so ServiceTitan "
    "may or may not have the booking; the next try looks it up by External Id first, so it is never created twice."
)


def destined_of(integration: Integration) -> Destined:
    """Where the integration's leads go now, or why they wait: the one readiness rule decides, so an incomplete
    setup (no Booking Provider Value, an environment this deployment no longer allows) holds and never fails."""
    ready = readiness(integration)
    if not ready.can_send:
        return Destined(integration.pk, None, ready.hold_reason)
    assert integration.booking_provider_id is not None  # readiness checked it, and the environment and secrets
    destination = Destination(
        credentials=credentials_for(integration),
        booking_provider_id=integration.booking_provider_id,
        mapping=integration.mapping(),
        custom_sources=tuple(custom_fields_of(integration.campaign)),
    )
    return Destined(integration.pk, destination)


def load_destinations(integration_ids: Iterable[int]) -> dict[int, Destined]:
    integrations = Integration.objects.filter(pk__in=set(integration_ids)).select_related("campaign")
    return {
        integration.pk: destined_of(integration)
        for integration in integrations.prefetch_related("campaign__custom_fields")
    }


class DestinationCache:
    """Destinations kept between claims: building one (decrypting the secret, checking the mapping) costs about a
    millisecond, and a busy worker claims for the same integrations several times a second.

    Each claim still reads every integration's `updated_at` and `state` (one small query), so a saved change
    or a state flipped by a conditional update (credentials rejected) is seen at the next claim; `ttl` bounds
    what neither shows, such as a campaign's custom fields being edited.
    """

    def __init__(self, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[int, tuple[IntegrationStamp, float, Destined]] = {}

    def get(self, integration_ids: Iterable[int]) -> dict[int, Destined]:
        stamps = {stamp.id: stamp for stamp in queries.integration_stamps(set(integration_ids))}
        now = self.clock()
        stale = [
            pk
            for pk, stamp in stamps.items()
            if pk not in self._entries or self._entries[pk][0] != stamp or now - self._entries[pk][1] > self.ttl
        ]
        for pk, destined in (load_destinations(stale) if stale else {}).items():
            self._entries[pk] = (stamps[pk], now, destined)
        return {pk: self._entries[pk][2] for pk in stamps if pk in self._entries}

    def loaded(self, integration_id: int) -> Destined | None:
        """The destination the last `get` returned, without asking the database again."""
        entry = self._entries.get(integration_id)
        return entry[2] if entry is not None else None


class ServiceTitanKind:
    """The "servicetitan" destination kind; a worker keeps one for its whole run (its cache with it)."""

    name = NAME
    lost_try_sentence = LOST_TRY_SENTENCE
    credentials_hold_reason = CREDENTIALS_REJECTED_REASON

    def __init__(self) -> None:
        self.cache = DestinationCache()

    def connector(self, options: ConnectorOptions) -> Connector:
        token_cache = options.token_cache
        assert token_cache is None or isinstance(token_cache, TokenCache)
        return ServiceTitanConnector(
            timeout=options.timeout,
            token_cache=token_cache,
            lookup_seconds=settings.SERVICETITAN_CUSTOMER_LOOKUP_SECONDS,
        )

    def destinations(self, rows: Sequence[Row]) -> dict[int, Destined]:
        # Every ServiceTitan row has its integration and lead (the `delivery_has_one_destination` constraint).
        integration_of = {row.id: row.integration_id for row in rows if row.integration_id is not None}
        by_integration = self.cache.get(set(integration_of.values()))
        return {pk: by_integration[integration_id] for pk, integration_id in integration_of.items()}

    def payloads(self, rows: Sequence[Row]) -> dict[int, Mapping[str, object]]:
        lead_of = {row.id: row.lead_id for row in rows if row.lead_id is not None}
        records = load_records(set(lead_of.values()))
        payloads = {pk: records[lead_id] for pk, lead_id in lead_of.items()}
        return known_customers.with_plans(payloads, self._to_check(rows, payloads))

    def _to_check(self, rows: Sequence[Row], payloads: Mapping[int, Mapping[str, object]]) -> list[ToCheck]:
        """The rows whose integration sends Is First Time Client From ServiceTitan (`destinations` loaded them)."""
        found = []
        for row in rows:
            destined = self.cache.loaded(row.integration_id) if row.integration_id is not None else None
            destination = destined.destination if destined is not None else None
            fallback = lookup_fallback(destination.mapping) if isinstance(destination, Destination) else None
            if fallback is not None and row.id in payloads and row.integration_id is not None:
                record = payloads[row.id]
                email, phone = str(record.get("lead.email") or ""), str(record.get("lead.phone") or "")
                found.append(ToCheck(row.id, row.integration_id, fallback, email, phone))
        return found

    def after_results(self, applied: Sequence[tuple[Result, str]]) -> list[object]:
        webhook_events.on_deliveries_written(applied)  # lead.booked / lead.delivery_failed, in this transaction
        follow_bookings([result.claim.delivery_id for result, state in applied if state == DeliveryState.DELIVERED])
        remember_known_customers([result for result, _ in applied])
        return list(_integration_health(applied))

    def release_ready(self) -> int:
        held = Integration.objects.filter(
            pk__in=Delivery.objects.filter(connector=NAME, state=DeliveryState.HELD).values("integration_id")
        ).select_related("campaign")
        return sum(outbox.release_held(integration) for integration in held)

    def send_notices(self, notices: Sequence[object]) -> None:
        alerts.send_alerts([notice for notice in notices if isinstance(notice, alerts.Alert)])


def follow_bookings(delivery_ids: Sequence[int]) -> None:
    """Delivered rows become followed bookings (follower/), in the results' transaction."""
    if not delivery_ids:
        return
    rows = Delivery.objects.filter(pk__in=delivery_ids, remote_id__isnull=False, lead__isnull=False)
    now = timezone.now()
    follower_store.start(
        [
            follower_store.Booked(integration_id, lead_id, booking_id, at or now)
            for integration_id, lead_id, booking_id, at in rows.values_list(
                "integration_id", "lead_id", "remote_id", "delivered_at"
            )
            if booking_id is not None
        ]
    )


def remember_known_customers(results: Sequence[Result]) -> None:
    """What the tries learnt about their leads being customers: cached, and the leads marked (known_customers.py)."""
    learnt = {
        result.claim.delivery_id: (result.claim.destination_id, found)
        for result in results
        if result.tried is not None
        and (found := Found.from_context(result.tried.context.get(KNOWN_CUSTOMER))) is not None
    }
    if not learnt:
        return
    lead_of = dict(Delivery.objects.filter(pk__in=learnt, lead__isnull=False).values_list("pk", "lead_id"))
    known_customers.remember(
        (Learnt(integration_id, lead_of[pk], found) for pk, (integration_id, found) in learnt.items() if pk in lead_of),
        timezone.now(),
    )


def _integration_health(applied: Sequence[tuple[Result, str]]) -> list[alerts.Alert]:
    """Failure streaks, Needs attention and credentials rejected, from the results that took effect.

    The streak counts failed tries since the last booking: deliveries that ended *failed*, and tries that will be
    retried (ServiceTitan down, a 5xx, a timeout). A 429 is ServiceTitan pacing us, not failing: it never counts.
    """
    found: list[alerts.Alert] = []
    by_integration: dict[int, list[tuple[Result, str]]] = {}
    for result, state in applied:
        by_integration.setdefault(result.claim.destination_id, []).append((result, state))
    alerts.note_successes(
        key for key, items in by_integration.items() if any(state == DeliveryState.DELIVERED for _, state in items)
    )
    for integration_id, items in by_integration.items():
        rejected = [result for result, _ in items if result.outcome == Outcome.CREDENTIALS]
        if rejected:
            found += filter(None, [_credentials_rejected(integration_id, rejected[-1].sentence)])
        last_success = max((i for i, (_, state) in enumerate(items) if state == DeliveryState.DELIVERED), default=-1)
        after = items[last_success + 1 :]
        failed = [result for result, state in after if state == DeliveryState.FAILED or _retried_failure(result)]
        if failed:
            alert = alerts.note_failures(
                integration_id,
                len(failed),
                restart=last_success >= 0,
                sentence=failed[-1].sentence,
                ended=any(state == DeliveryState.FAILED for _, state in after),
            )
            found += filter(None, [alert])
    return found


def _retried_failure(result: Result) -> bool:
    return result.outcome in (Outcome.TRANSIENT, Outcome.AMBIGUOUS) and not result.rate_limited


def _credentials_rejected(integration_id: int, sentence: str) -> alerts.Alert | None:
    alert = alerts.note_credentials_rejected(integration_id, sentence)
    if alert is not None:
        integration = Integration.objects.select_related("campaign").get(pk=integration_id)
        IntegrationChange.objects.create(
            integration=integration,
            summary=f"ServiceTitan rejected the credentials; new leads are held until they are fixed. {sentence}"[:500],
        )
        outbox.hold_pending(integration, outbox.hold_reason(integration) or sentence)
    return alert
