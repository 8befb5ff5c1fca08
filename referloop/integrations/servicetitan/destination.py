"""ServiceTitan as the engine's database side sees it: which claimed rows can go, where, with what record.

Registered as the "servicetitan" destination kind (`integrations.destinations`). An integration's credentials,
mapping and custom fields are read once per claim (and cached between claims) and shared by its rows; leads come
with their referrer and campaign in one query. Results count towards the integration's health: a failure streak
or rejected credentials set Needs attention and email the account once per episode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from django.db import connection

from referloop.integrations import alerts, outbox
from referloop.integrations.destinations import ConnectorOptions, Destined, Row
from referloop.integrations.engine.tries import Result
from referloop.integrations.models import DeliveryState, Integration, IntegrationChange
from referloop.integrations.records import custom_fields_of, load_records
from referloop.integrations.servicetitan.credentials import EnvironmentNotAllowed, credentials_for
from referloop.providers.base import Connector, Outcome
from referloop.providers.servicetitan import TokenCache
from referloop.providers.servicetitan.connector import Destination, ServiceTitanConnector

NAME = "servicetitan"
LOST_TRY_SENTENCE = (
    "The worker sending this lead stopped before it recorded an answer (its lease ran out), so ServiceTitan "
    "may or may not have the booking; the next try looks it up by External Id first, so it is never created twice."
)


def destined_of(integration: Integration) -> Destined:
    """Where the integration's leads go now, or why they wait: an incomplete setup holds, it never fails."""
    reason = outbox.hold_reason(integration) or ""
    if reason:
        return Destined(integration.pk, None, reason)
    try:
        credentials = credentials_for(integration)
    except EnvironmentNotAllowed as exc:
        return Destined(integration.pk, None, f"{exc} Choose Production or Integration on the Connection tab.")
    except ValueError as exc:
        return Destined(
            integration.pk, None, f"The ServiceTitan connection is incomplete ({exc}): finish it on the Connection tab."
        )
    if integration.booking_provider_id is None:
        return Destined(integration.pk, None, "The Booking Provider Value is missing: enter it on the Connection tab.")
    destination = Destination(
        credentials=credentials,
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
        self._entries: dict[int, tuple[tuple[object, str], float, Destined]] = {}

    def get(self, integration_ids: Iterable[int]) -> dict[int, Destined]:
        stamps = _stamps(set(integration_ids))
        now = self.clock()
        stale = [
            pk
            for pk, stamp in stamps.items()
            if pk not in self._entries or self._entries[pk][0] != stamp or now - self._entries[pk][1] > self.ttl
        ]
        for pk, destined in (load_destinations(stale) if stale else {}).items():
            self._entries[pk] = (stamps[pk], now, destined)
        return {pk: self._entries[pk][2] for pk in stamps if pk in self._entries}


def _stamps(ids: set[int]) -> dict[int, tuple[object, str]]:
    """Each integration's (updated_at, state), in plain SQL: the ORM's compile cost more than the query, and
    the stamp is only compared with the one read here last time, so the raw column value will do."""
    if not ids:
        return {}
    table = Integration._meta.db_table
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, updated_at, state FROM {table} WHERE id IN ({marks})", list(ids))  # noqa: S608
        return {pk: (updated_at, state) for pk, updated_at, state in cursor.fetchall()}


class ServiceTitanKind:
    """The "servicetitan" destination kind; a worker keeps one for its whole run (its cache with it)."""

    name = NAME
    lost_try_sentence = LOST_TRY_SENTENCE
    credentials_hold_reason = outbox.CREDENTIALS_REJECTED_REASON

    def __init__(self) -> None:
        self.cache = DestinationCache()

    def connector(self, options: ConnectorOptions) -> Connector:
        token_cache = options.token_cache
        assert token_cache is None or isinstance(token_cache, TokenCache)
        return ServiceTitanConnector(timeout=options.timeout, token_cache=token_cache)

    def destinations(self, rows: Sequence[Row]) -> dict[int, Destined]:
        by_integration = self.cache.get({row["integration_id"] for row in rows})
        return {row["id"]: by_integration[row["integration_id"]] for row in rows}

    def payloads(self, rows: Sequence[Row]) -> dict[int, Mapping[str, object]]:
        records = load_records({row["lead_id"] for row in rows})
        return {row["id"]: records[row["lead_id"]] for row in rows}

    def after_results(self, applied: Sequence[tuple[Result, str]]) -> list[object]:
        return list(_integration_health(applied))

    def send_notices(self, notices: Sequence[object]) -> None:
        alerts.send_alerts([notice for notice in notices if isinstance(notice, alerts.Alert)])


def _integration_health(applied: Sequence[tuple[Result, str]]) -> list[alerts.Alert]:
    """Failure streaks, Needs attention and credentials rejected, from the results that took effect.

    Only deliveries that ended *failed* count towards the streak; a try that will be retried does not.
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
        failed = [result for result, state in items[last_success + 1 :] if state == DeliveryState.FAILED]
        if failed:
            alert = alerts.note_failures(
                integration_id, len(failed), restart=last_success >= 0, sentence=failed[-1].sentence
            )
            found += filter(None, [alert])
    return found


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
