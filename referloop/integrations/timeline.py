"""A lead's story for its page: joined → delivery pending, held or skipped (with the reason) → attempts → booking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse

from referloop.campaigns import verification
from referloop.campaigns.models import Lead
from referloop.integrations.models import AttemptOutcome, Delivery, DeliveryState


@dataclass(frozen=True)
class Event:
    at: datetime | None
    kind: str  # joined | pending | held | skipped | attempt-ok | attempt-retry | attempt-bad | delivered | failed
    title: str
    detail: str = ""
    link: str = ""
    warnings: tuple[str, ...] = ()  # an attempt's: what it left out of the request (a partial address)


_GOOD = {AttemptOutcome.DELIVERED, AttemptOutcome.FOUND_EXISTING}
# A LeadEvent's kind as the timeline colours it.
_OUTCOME_KINDS = {
    "qualified": "delivered",
    "paid": "delivered",
    "completed": "attempt-ok",
    "not_qualified": "failed",
    "dismissed": "failed",
    "canceled": "failed",
    "stopped": "skipped",
}
_RETRY = {AttemptOutcome.TRANSIENT, AttemptOutcome.AMBIGUOUS}


def lead_timeline(lead: Lead) -> list[Event]:
    events = [
        Event(
            lead.created_at,
            "joined",
            "Joined the campaign",
            f"Referred by {lead.referrer.full_name} · via {lead.get_source_display()}",
        )
    ]
    events += verification_events(lead)
    deliveries = Delivery.objects.filter(lead=lead).select_related("integration").prefetch_related("attempts")
    for delivery in deliveries:
        events.extend(delivery_events(delivery, lead.campaign_id))
    return events + outcome_events(lead)


def outcome_events(lead: Lead) -> list[Event]:
    """What the follower saw in ServiceTitan and every qualification change, with who made it (audit rows)."""
    found = []
    for event in lead.events.select_related("user").order_by("at", "pk"):
        by = f" · by {event.user.get_full_name() or event.user.email}" if event.user else ""
        detail = f"{event.detail}{by}" if event.detail else by.removeprefix(" · ")
        found.append(Event(event.at, _OUTCOME_KINDS.get(event.kind, "pending"), event.title, detail))
    return found


def verification_events(lead: Lead) -> list[Event]:
    """Asked to confirm the email → confirmed (by the link or by hand), or expired (nothing was sent)."""
    current = verification.state(lead)
    if current is verification.State.NOT_ASKED:
        return []
    sent = "A link was emailed to them." if lead.verification_sent_at else "The email with the link could not be sent."
    events = [Event(lead.created_at, "held", "Asked to confirm their email", sent)]
    if current is verification.State.VERIFIED:
        by = lead.email_verified_by
        detail = f"Confirmed by hand by {by.get_full_name() or by.email}." if by else "The friend clicked the link."
        events.append(Event(lead.email_verified_at, "pending", "Email confirmed", detail))
    elif current is verification.State.EXPIRED:
        events.append(Event(verification.deadline(lead), "failed", "Email not confirmed", verification.EXPIRED_REASON))
    return events


def delivery_events(delivery: Delivery, campaign_id: int) -> list[Event]:
    integration = delivery.integration
    assert integration is not None  # a lead's deliveries go to its campaign's integrations (the check constraint)
    provider = integration.get_provider_display()
    link = reverse("integration_delivery", args=[campaign_id, integration.provider, delivery.pk])
    events: list[Event] = []
    if delivery.state == DeliveryState.SKIPPED:
        events.append(Event(delivery.created_at, "skipped", f"Skipped for {provider}", delivery.reason, link))
    elif delivery.state == DeliveryState.HELD:
        events.append(Event(delivery.held_at, "held", f"Held for {provider}", delivery.reason, link))
    elif delivery.held_at and delivery.released_at:
        events.append(Event(delivery.held_at, "held", f"Held for {provider}", delivery.held_reason, link))
        events.append(Event(delivery.released_at, "pending", f"Released: sent to {provider} after the fix"))
    else:
        events.append(Event(delivery.created_at, "pending", f"Queued for {provider}", "", link))
    for attempt in delivery.attempts.all():
        kind = "attempt-bad"
        if attempt.outcome in _GOOD:
            kind = "attempt-ok"
        elif attempt.outcome in _RETRY:
            kind = "attempt-retry"
        status = f" (HTTP {attempt.response_status})" if attempt.response_status else ""
        events.append(
            Event(
                attempt.started_at,
                kind,
                f"Attempt {attempt.number}: {attempt.get_outcome_display()}{status}",
                attempt.sentence or attempt.response_text,
                link,
                tuple(attempt.warnings or ()),
            )
        )
    if delivery.state == DeliveryState.DELIVERED:
        booked = f"Booking {delivery.remote_id} created in {provider}"
        events.append(
            Event(
                delivery.delivered_at,
                "delivered",
                booked if delivery.remote_id else f"Sent to {provider}",
                "",
                link,
            )
        )
    elif delivery.state == DeliveryState.FAILED:
        events.append(Event(delivery.failed_at, "failed", f"Not delivered to {provider}", delivery.last_error, link))
    elif delivery.state == DeliveryState.PENDING and delivery.attempt_count:
        events.append(Event(delivery.next_attempt_at, "pending", "Will try again", delivery.last_error, link))
    return events
