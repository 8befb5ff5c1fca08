"""Delivery rows: written with the lead, held while setup is incomplete, released when it is fixed.

Nothing is lost: a lead that cannot be sent yet is *held* with the reason, and a lead of an integration set to
"Nothing to action" is *skipped* with that reason, so every lead has a visible fate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from referloop.campaigns.models import Lead
from referloop.integrations.models import ConnectionState, Delivery, DeliveryState, Integration, LeadAction
from referloop.integrations.records import custom_fields_of
from referloop.providers.servicetitan import missing_required_fields, validate_mapping

SKIPPED_REASON = "The lead action is “Nothing to action”, so no booking is created in ServiceTitan."
CREDENTIALS_REJECTED_REASON = (
    "ServiceTitan rejected the credentials: fix the Client ID and Client Secret on the Connection tab."
)


def hold_reason(integration: Integration) -> str | None:
    """Why leads can't be sent right now, in words for the account, or None when they can."""
    if integration.state == ConnectionState.NOT_CONNECTED:
        return "ServiceTitan is not connected yet: finish Connect and Finalize on the Connection tab."
    if integration.state == ConnectionState.DISCONNECTED:
        return "The ServiceTitan integration is disconnected: reconnect it to send held leads."
    if integration.state == ConnectionState.CREDENTIALS_REJECTED:
        return CREDENTIALS_REJECTED_REASON
    mapping = integration.mapping()
    missing = missing_required_fields(mapping)
    if missing:
        names = ", ".join(field.label for field in missing)
        return f"Setup Required: map {names} on the Leads tab."
    problems = validate_mapping(mapping, custom_fields_of(integration.campaign))
    if problems:
        return "Setup Required: fix the field mapping on the Leads tab (" + " ".join(problems.values()) + ")"
    return None


def held(reason: str, now: datetime) -> dict[str, Any]:
    """The fields of a row put on hold: every place that holds a delivery writes the same ones."""
    return {
        "state": DeliveryState.HELD,
        "reason": reason,
        "next_attempt_at": None,
        "held_at": now,
        "held_reason": reason,
        "released_at": None,
    }


def initial_state(integration: Integration) -> tuple[str, str]:
    if integration.lead_action == LeadAction.NOTHING:
        return DeliveryState.SKIPPED, SKIPPED_REASON
    reason = hold_reason(integration)
    if reason is not None:
        return DeliveryState.HELD, reason
    return DeliveryState.PENDING, ""


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
        return waiting.update(
            state=DeliveryState.PENDING,
            reason="",
            rate_key=integration.rate_key,
            next_attempt_at=now,
            lease_expires_at=None,
            released_at=now,
        )
    if state == DeliveryState.HELD:
        waiting.exclude(reason=reason).update(reason=reason, held_reason=reason)
    return 0


def hold_pending(integration: Integration, reason: str) -> int:
    """Stop sending (disconnect, credentials rejected): due and retrying rows wait, nothing is burned.

    A row leased by a worker right now finishes its try; its result is written as usual.
    """
    return Delivery.objects.filter(
        integration=integration, state=DeliveryState.PENDING, lease_expires_at__isnull=True
    ).update(**held(reason, timezone.now()))


def resend(deliveries: QuerySet[Delivery]) -> int:
    """Failed (or skipped, by explicit request) rows go back to pending; a lookup by externalId runs first."""
    return deliveries.filter(state__in=[DeliveryState.FAILED, DeliveryState.SKIPPED]).update(
        state=DeliveryState.PENDING,
        reason="",
        next_attempt_at=timezone.now(),
        lease_expires_at=None,
        failed_at=None,
        ambiguous=True,
    )
