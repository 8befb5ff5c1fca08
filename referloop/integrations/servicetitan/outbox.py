"""Delivery rows: written with the lead, held while setup is incomplete, released when it is fixed.

Nothing is lost: a lead that cannot be sent yet is *held* with the reason, and a lead of an integration set to
"Nothing to action" is *skipped* with that reason, so every lead has a visible fate. Which of the three a lead
gets, and the reason, is the one readiness rule's answer (`servicetitan.readiness`); this module writes the rows.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from referloop.campaigns.models import Lead
from referloop.integrations import deliveries
from referloop.integrations.models import Delivery, DeliveryState, Integration
from referloop.integrations.servicetitan.readiness import SKIPPED_REASON, State, readiness

__all__ = [
    "SKIPPED_REASON",
    "create_deliveries",
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


def create_deliveries(lead: Lead) -> list[Delivery]:
    """Runs inside the lead's own transaction (an intake hook): no lead exists without its deliveries."""
    now = timezone.now()
    deliveries = []
    for integration in Integration.objects.filter(campaign_id=lead.campaign_id).select_related("campaign"):
        state, reason = initial_state(integration)
        deliveries.append(
            Delivery(
                integration=integration,
                lead=lead,
                state=state,
                reason=reason,
                rate_key=integration.rate_key,
                next_attempt_at=now if state == DeliveryState.PENDING else None,
                created_at=now,
                held_at=now if state == DeliveryState.HELD else None,
                held_reason=reason if state == DeliveryState.HELD else "",
            )
        )
    return Delivery.objects.bulk_create(deliveries)


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
