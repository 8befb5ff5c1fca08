"""Asking for return-field writes and customer matches: Delivery rows of the "st_customer" connector, in bulk.

A write is asked for per (integration, customer): `CustomerWrite.requested` goes up and a pending Delivery is
created unless one is already open (pending or held; the partial unique constraint `one_open_write_per_customer`
makes a concurrent second insert a no-op). The values are read when the try is claimed, so ten changes before
the try are one PATCH; a change made while a try is in flight is seen after it (`requested` > what it read).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db.models import F
from django.utils import timezone

from referloop.campaigns.models import Referrer
from referloop.integrations.models import ConnectionState, Delivery, DeliveryState, Integration
from referloop.integrations.servicetitan.return_fields.models import (
    CustomerMatch,
    CustomerWrite,
    JoinAction,
    ReturnFields,
)
from referloop.providers.servicetitan.customer_writer import NAME

CHUNK = 500  # ids per IN (…): well under SQLite's variable limit
SOURCE_SYNC = "servicetitan"  # Referrer.source of referrers the customer sync created (they are linked already)


def returns_of(integration_id: int) -> ReturnFields | None:
    return ReturnFields.objects.filter(integration_id=integration_id).first()


def request_writes(integration_id: int, customer_ids: Iterable[int], now: datetime | None = None) -> int:
    """A write for each customer, if the integration maps return fields; the number of new Delivery rows."""
    returns = returns_of(integration_id)
    if returns is None or not returns.mapped:
        return 0
    integration = Integration.objects.get(pk=integration_id)
    now = now or timezone.now()
    made = 0
    for chunk in _chunks(sorted(set(customer_ids))):
        CustomerWrite.objects.bulk_create(
            [CustomerWrite(integration_id=integration_id, customer_id=pk, requested=0) for pk in chunk],
            ignore_conflicts=True,
        )
        writes = CustomerWrite.objects.filter(integration_id=integration_id, customer_id__in=chunk)
        writes.update(requested=F("requested") + 1)
        ids = list(writes.values_list("pk", flat=True))
        open_ = set(
            Delivery.objects.filter(
                customer_write_id__in=ids, state__in=[DeliveryState.PENDING, DeliveryState.HELD]
            ).values_list("customer_write_id", flat=True)
        )
        rows = [_row(integration, now, customer_write_id=pk) for pk in ids if pk not in open_]
        made += len(Delivery.objects.bulk_create(rows, ignore_conflicts=True))
    return made


def request_matches(referrers: Sequence[Referrer], now: datetime | None = None) -> int:
    """A match for each referrer who joined not through the customer sync, where the campaign's integration
    says "Link to an existing ServiceTitan customer". Runs in the referrer's transaction; no call is made here."""
    wanted = [referrer for referrer in referrers if referrer.source != SOURCE_SYNC]
    if not wanted:
        return 0
    now = now or timezone.now()
    by_campaign: dict[int, list[Referrer]] = {}
    for referrer in wanted:
        by_campaign.setdefault(referrer.campaign_id, []).append(referrer)
    made = 0
    linking = ReturnFields.objects.filter(
        join_action=JoinAction.LINK, integration__campaign_id__in=by_campaign
    ).select_related("integration")
    for returns in linking:
        integration = returns.integration
        for referrer in by_campaign[integration.campaign_id]:
            match, created = CustomerMatch.objects.get_or_create(integration=integration, referrer=referrer)
            if created:
                Delivery.objects.create(**_fields(integration, now), customer_match=match)
                made += 1
    return made


def match_joined(referrer: Referrer) -> None:
    """The referrer-joined hook (one referrer: the public page, the API, a person, a CSV row)."""
    request_matches([referrer])


def _row(integration: Integration, now: datetime, **target: object) -> Delivery:
    return Delivery(**_fields(integration, now), **target)


def _fields(integration: Integration, now: datetime) -> dict[str, object]:
    # Not connected: held until it is (release_ready); the values are read only when the try is made.
    connected = integration.state == ConnectionState.CONNECTED and integration.tenant_id is not None
    reason = "" if connected else HOLD_NOT_CONNECTED
    return {
        "connector": NAME,
        "integration": integration,
        "state": DeliveryState.PENDING if connected else DeliveryState.HELD,
        "reason": reason,
        "held_reason": reason,
        "held_at": None if connected else now,
        "rate_key": integration.rate_key,
        "next_attempt_at": now if connected else None,
        "created_at": now,
    }


HOLD_NOT_CONNECTED = "ServiceTitan is not connected: the customer's fields are written once it is."


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
