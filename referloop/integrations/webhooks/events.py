"""The events an account's webhook endpoints can subscribe to, and where each one is raised.

An event row and its delivery rows are written in the transaction of what they report, so an event is never
lost and never sent for something that was rolled back:

- `referrer.joined`: in the referrer's own transaction (`campaigns.referrers.on_referrer_joined`);
- `lead.created`: in the transaction that admits the lead (`campaigns.admission.on_lead_admitted`: at creation,
  or when the friend confirms their email);
- `lead.booked` and `lead.delivery_failed`: in the transaction that writes the ServiceTitan delivery's result
  (`ServiceTitanKind.after_results` calls `on_deliveries_written`).

Every body is `{"type": ..., "timestamp": ..., "data": {...}}`; `data` names the lead, referrer and campaign by
id, name, email and referral code, and never carries a secret. An event that no endpoint of the account wants is
not written at all. New event types (qualification, rewards) are one more entry in EVENT_TYPES and one call of
`emit` where the thing happens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone

from referloop.campaigns.models import Campaign, Lead, Referrer
from referloop.integrations.models import Delivery, DeliveryState
from referloop.integrations.webhooks.models import WebhookEndpoint, WebhookEvent, event_timestamp
from referloop.integrations.webhooks.outbox import TEST_EVENT, new_delivery
from referloop.runtime import plain_sql

if TYPE_CHECKING:
    from referloop.integrations.engine.tries import Result

REFERRER_JOINED = "referrer.joined"
LEAD_CREATED = "lead.created"
LEAD_BOOKED = "lead.booked"
LEAD_DELIVERY_FAILED = "lead.delivery_failed"

# Every event type an endpoint can subscribe to, with what it means (the screens show these words).
EVENT_TYPES: dict[str, str] = {
    REFERRER_JOINED: "A referrer joined a campaign and got their referral link.",
    LEAD_CREATED: "A referred friend filled in the form (or was added by the API or a CSV import).",
    LEAD_BOOKED: "A lead became a booking in ServiceTitan; data.booking_id is ServiceTitan's booking id.",
    LEAD_DELIVERY_FAILED: "A lead could not be sent to ServiceTitan and will not be retried; data.reason says why.",
}
__all__ = ["EVENT_TYPES", "TEST_EVENT"]


@dataclass(frozen=True)
class Raised:
    """An event to write: whose, what, and its data."""

    account_id: int
    type: str
    data: Mapping[str, object]


def emit(
    account_id: int, event_type: str, data: Mapping[str, object], now: datetime | None = None
) -> WebhookEvent | None:
    """Write the event and one delivery per endpoint of the account that wants it; None if none does."""
    events = emit_many([Raised(account_id, event_type, data)], now)
    return events[0] if events else None


def emit_many(raised: Sequence[Raised], now: datetime | None = None) -> list[WebhookEvent]:
    """`emit` for many events at once, in three queries however many (the results batch raises dozens)."""
    if not raised or not _has_endpoints({item.account_id for item in raised}):
        return []
    now = now or timezone.now()
    endpoints: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in WebhookEndpoint.objects.filter(account_id__in={item.account_id for item in raised}):
        endpoints.setdefault(endpoint.account_id, []).append(endpoint)
    wanted = [
        (item, [endpoint for endpoint in endpoints.get(item.account_id, []) if endpoint.wants(item.type)])
        for item in raised
    ]
    wanted = [(item, receivers) for item, receivers in wanted if receivers]
    if not wanted:
        return []
    events = WebhookEvent.objects.bulk_create(
        [
            WebhookEvent(account_id=item.account_id, type=item.type, payload=dict(item.data), created_at=now)
            for item, _ in wanted
        ]
    )
    Delivery.objects.bulk_create(
        [
            new_delivery(endpoint, event, now)
            for event, (_, receivers) in zip(events, wanted, strict=True)
            for endpoint in receivers
        ]
    )
    return events


def _has_endpoints(account_ids: set[int]) -> bool:
    return plain_sql.answers([endpoints_exist(account_ids)])[0]


def endpoints_exist(account_ids: set[int]) -> plain_sql.Exists:
    """Whether any of these accounts has an endpoint at all: a plain question, because every new lead asks and
    most accounts have none (the ORM read of the endpoints cost ~0.3 ms a lead)."""
    marks = ", ".join(["%s"] * len(account_ids))
    sql = (
        f"SELECT 1 FROM {plain_sql.table(WebhookEndpoint)} "  # noqa: S608 - our names; values are parameters
        f"WHERE {plain_sql.column(WebhookEndpoint, 'account_id')} IN ({marks})"
    )
    return plain_sql.Exists(sql, sorted(account_ids))


# -- what each event says -----------------------------------------------------------------------------------------


def campaign_data(campaign: Campaign) -> dict[str, object]:
    return {"id": campaign.pk, "name": campaign.name, "slug": campaign.slug}


def referrer_data(referrer: Referrer) -> dict[str, object]:
    return {
        "id": referrer.pk,
        "first_name": referrer.first_name,
        "last_name": referrer.last_name,
        "full_name": referrer.full_name,
        "email": referrer.email,
        "phone": referrer.phone,
        "referral_code": referrer.code,
        "referral_url": referrer.referral_url,
        "source": referrer.source,
        "joined_at": event_timestamp(referrer.created_at),
    }


def lead_data(lead: Lead) -> dict[str, object]:
    """The lead with its referrer and campaign: what every lead.* event carries."""
    return {
        "lead": {
            "id": lead.pk,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "full_name": lead.full_name,
            "email": lead.email,
            "phone": lead.phone,
            "referral_code": lead.code,
            "status": lead.status,
            "source": lead.source,
            "created_at": event_timestamp(lead.created_at),
        },
        "referrer": {
            "id": lead.referrer.pk,
            "full_name": lead.referrer.full_name,
            "email": lead.referrer.email,
            "referral_code": lead.referrer.code,
        },
        "campaign": campaign_data(lead.campaign),
    }


# -- where they are raised ----------------------------------------------------------------------------------------


def referrer_joined(referrer: Referrer) -> None:
    """Hook of `campaigns.referrers.on_referrer_joined`: runs in the transaction that creates the referrer."""
    campaign = referrer.campaign
    emit(
        campaign.account_id, REFERRER_JOINED, {"referrer": referrer_data(referrer), "campaign": campaign_data(campaign)}
    )


def referrers_joined(referrers: Sequence[Referrer]) -> None:
    """`referrer_joined` for many referrers at once (the ServiceTitan customer sync): three queries, not one each,
    and none of the payloads built when no endpoint of the accounts wants the event (the usual case)."""
    accounts = {r.campaign.account_id for r in referrers}
    endpoints = WebhookEndpoint.objects.filter(account_id__in=accounts)
    if not any(endpoint.wants(REFERRER_JOINED) for endpoint in endpoints):
        return
    emit_many(
        [
            Raised(
                r.campaign.account_id,
                REFERRER_JOINED,
                {"referrer": referrer_data(r), "campaign": campaign_data(r.campaign)},
            )
            for r in referrers
        ]
    )


def lead_created(lead: Lead) -> None:
    """Hook of `campaigns.admission.on_lead_admitted`, asked `lead_wanted` first: runs in the transaction that
    admits the lead."""
    emit(lead.campaign.account_id, LEAD_CREATED, lead_data(lead))


def lead_wanted(lead: Lead) -> plain_sql.Exists:
    """`lead_created`'s question: most accounts have no endpoint, and then the event's data is not even built."""
    return endpoints_exist({lead.campaign.account_id})


def on_deliveries_written(applied: Sequence[tuple[Result, str]]) -> list[WebhookEvent]:
    """ServiceTitan deliveries that ended (booked, or failed for good) raise lead.booked / lead.delivery_failed.

    Runs in the transaction that writes the results. Costs one query when no endpoint of these accounts wants
    either event (the usual case), so the booking path pays next to nothing for webhooks it does not have.
    """
    ended = {result.claim.delivery_id: (result, state) for result, state in applied if state in _ENDED}
    if not ended:
        return []
    integrations = {result.claim.destination_id for result, _ in ended.values()}
    if not _anyone_wants(integrations, set(_ENDED.values())):
        return []
    deliveries = Delivery.objects.filter(pk__in=ended).select_related("integration", "lead__referrer", "lead__campaign")
    raised = []
    for delivery in deliveries.order_by("pk"):
        if delivery.lead is None or delivery.integration is None:
            continue
        result, state = ended[delivery.pk]
        data = lead_data(delivery.lead)
        data["integration"] = {"id": delivery.integration.pk, "provider": delivery.integration.provider}
        if state == DeliveryState.DELIVERED:
            data["booking_id"] = (result.tried.remote_id if result.tried else None) or delivery.remote_id
        else:
            data["reason"] = delivery.last_error or delivery.reason or result.sentence
        raised.append(Raised(delivery.lead.campaign.account_id, _ENDED[state], data))
    return emit_many(raised)


_ENDED: dict[str, str] = {DeliveryState.DELIVERED: LEAD_BOOKED, DeliveryState.FAILED: LEAD_DELIVERY_FAILED}


def _anyone_wants(integration_ids: Iterable[int], types: set[str]) -> bool:
    endpoints = WebhookEndpoint.objects.filter(account__campaigns__integrations__in=set(integration_ids))
    return any(set(events or []) & types for events in endpoints.values_list("events", flat=True))
