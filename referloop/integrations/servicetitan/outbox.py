"""Delivery rows: written with the lead, held while setup is incomplete, released when it is fixed.

Nothing is lost: a lead that cannot be sent yet is *held* with the reason, and a lead of an integration set to
"Nothing to action" is *skipped* with that reason, so every lead has a visible fate. Which of the three a lead
gets, and the reason, is the one readiness rule's answer (`servicetitan.readiness`); this module writes the rows.
"""

from __future__ import annotations

from typing import NamedTuple

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from referloop.campaigns import custom_fields
from referloop.campaigns.models import Lead
from referloop.integrations import deliveries
from referloop.integrations.engine import queries
from referloop.integrations.models import Delivery, DeliveryState, Integration
from referloop.integrations.servicetitan.readiness import SKIPPED_REASON, State, readiness
from referloop.runtime import plain_sql

__all__ = [
    "SKIPPED_REASON",
    "create_deliveries",
    "forget_plans",
    "hold_pending",
    "hold_reason",
    "initial_state",
    "release_held",
    "resend",
]

_DELIVERY_STATES = {
    State.READY: DeliveryState.PENDING,
    State.HELD: DeliveryState.HELD,
    State.SKIPPED: DeliveryState.SKIPPED,
}


def hold_reason(integration: Integration) -> str | None:
    """Why a lead sent now would be held (`readiness`, whatever the lead action), or None when it would go."""
    return readiness(integration).hold_reason or None


def initial_state(integration: Integration) -> tuple[str, str]:
    """A new lead's delivery state and reason, as the one readiness rule decides them."""
    ready = readiness(integration)
    return _DELIVERY_STATES[ready.state], ready.reason


class _Plan(NamedTuple):
    """What a new lead's delivery to one integration gets: the readiness rule's answer, kept per campaign."""

    integration_id: int
    rate_key: str
    state: str
    reason: str


# campaign id -> (what the answer was read from, the answer). Each lead reads its campaign's integration rows
# (every column) and custom-field rows, two plain queries, and reuses the answer while they are unchanged: the ORM
# read and the readiness rule cost ~0.5 ms a lead. The answer can only be as old as the rows read for this lead.
_plans: dict[int, tuple[object, list[_Plan]]] = {}
_PLANS_KEPT = 10_000


def _plans_for(campaign_id: int) -> list[_Plan]:
    read_from = (tuple(queries.campaign_integration_rows(campaign_id)), custom_fields.rows_of(campaign_id))
    kept = _plans.get(campaign_id)
    if kept is not None and kept[0] == read_from:
        return kept[1]
    plans = []
    for integration in Integration.objects.filter(campaign_id=campaign_id).select_related("campaign"):
        state, reason = initial_state(integration)
        plans.append(_Plan(integration.pk, integration.rate_key, state, reason))
    if len(_plans) >= _PLANS_KEPT:
        _plans.clear()
    # Keyed by the rows read *before* the answer: a change in between costs one more computation, never a wrong
    # answer kept under the new rows.
    _plans[campaign_id] = (read_from, plans)
    return plans


def forget_plans(**_signal: object) -> None:
    """Settings changed (tests change them; a deployment restarts): every plan is worked out again."""
    _plans.clear()


def create_deliveries(lead: Lead) -> None:
    """Runs inside the lead's own transaction (an intake hook): no lead exists without its deliveries."""
    now = timezone.now()
    deliveries = [
        Delivery(
            integration_id=plan.integration_id,
            lead=lead,
            state=plan.state,
            reason=plan.reason,
            rate_key=plan.rate_key,
            next_attempt_at=now if plan.state == DeliveryState.PENDING else None,
            created_at=now,
            held_at=now if plan.state == DeliveryState.HELD else None,
            held_reason=plan.reason if plan.state == DeliveryState.HELD else "",
        )
        for plan in _plans_for(lead.campaign_id)
    ]
    plain_sql.insert_new(deliveries)


@transaction.atomic
def release_held(integration: Integration) -> int:
    """Send held leads if the setup now allows it; otherwise bring their reason up to date. Returns the count."""
    waiting: QuerySet[Delivery] = Delivery.objects.filter(integration=integration, state=DeliveryState.HELD)
    state, reason = initial_state(integration)
    now = timezone.now()
    if state == DeliveryState.PENDING:
        return waiting.update(**deliveries.released(now), rate_key=integration.rate_key)
    if state == DeliveryState.HELD:
        waiting.exclude(reason=reason).update(reason=reason, held_reason=reason)
    return 0


def hold_pending(integration: Integration, reason: str) -> int:
    """Stop sending (disconnect, credentials rejected): due and retrying rows wait, nothing is burned.

    A row leased by a worker right now finishes its try; its result is written as usual.
    """
    return Delivery.objects.filter(
        integration=integration, state=DeliveryState.PENDING, lease_expires_at__isnull=True
    ).update(**deliveries.held(reason, timezone.now()))


def resend(rows: QuerySet[Delivery]) -> int:
    """Failed (or skipped, by explicit request) rows go back to pending; a lookup by externalId runs first. A
    customer write superseded by a newer one (which writes the latest values) is left as it is: one open write per
    customer (return_fields/)."""
    newer = Delivery.objects.filter(customer_write=OuterRef("customer_write"), pk__gt=OuterRef("pk"))
    return (
        rows.filter(state__in=[DeliveryState.FAILED, DeliveryState.SKIPPED])
        .exclude(Exists(newer))
        .update(**deliveries.resent(timezone.now(), settle_first=True))
    )
