"""A referrer's emails as their page lists them: each with its state in words (queued, sent, failed, skipped...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from referloop.campaigns.models import Referrer
from referloop.integrations.models import Delivery, DeliveryState
from referloop.notifications.models import Email, Unsubscribe
from referloop.notifications.outbox import RESENDABLE

SHOWN = 50  # the newest emails on the page


@dataclass(frozen=True)
class EmailRow:
    email: Email
    label: str  # Queued, Sending, Sent, Held, Skipped, Failed
    css: str  # the delivery-state badge class
    detail: str  # why: the skip or hold reason, the failure, the last error of a retry
    when: datetime
    resendable: bool


def row_of(email: Email, delivery: Delivery, now: datetime) -> EmailRow:
    state = delivery.state
    if state == DeliveryState.DELIVERED:
        return EmailRow(email, "Sent", state, "", delivery.delivered_at or email.created_at, False)
    if state == DeliveryState.FAILED:
        detail = delivery.reason or delivery.last_error
        return EmailRow(email, "Failed", state, detail, delivery.failed_at or email.created_at, state in RESENDABLE)
    if state == DeliveryState.SKIPPED:
        return EmailRow(email, "Skipped", state, delivery.reason, email.created_at, False)
    if state == DeliveryState.HELD:
        return EmailRow(email, "Held", state, delivery.held_reason or delivery.reason, email.created_at, False)
    if delivery.lease_expires_at is not None and delivery.lease_expires_at > now:
        return EmailRow(email, "Sending", state, "", email.created_at, False)
    tries = f"{delivery.attempt_count} tr{'y' if delivery.attempt_count == 1 else 'ies'}"
    retrying = f"To be tried again after {tries}; the last: {delivery.last_error}" if delivery.last_error else ""
    return EmailRow(email, "Queued", state, retrying, email.created_at, False)


def rows_for(referrer: Referrer) -> list[EmailRow]:
    """The emails about the referrer's referrals (to them, and their friends' confirmations), newest first."""
    emails = (
        Email.objects.filter(referrer=referrer, account_id=referrer.campaign.account_id)
        .select_related("delivery", "lead")
        .order_by("-created_at", "-pk")[:SHOWN]
    )
    now = timezone.now()
    return [row_of(email, email.delivery, now) for email in emails]


def unsubscribe_of(referrer: Referrer) -> Unsubscribe | None:
    return Unsubscribe.objects.filter(
        account_id=referrer.campaign.account_id, email=referrer.email.strip().lower()
    ).first()
