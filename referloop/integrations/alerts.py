"""Telling the account when its leads stop becoming bookings: *Needs attention*, and one email per episode.

An episode starts when an integration's 5th delivery in a row fails; when ServiceTitan has not taken a booking
for `SERVICETITAN_ATTENTION_AFTER_SECONDS` (5 minutes) while at least 5 tries in a row failed and wait to be
retried (ServiceTitan down, answering 5xx, timing out: nothing ends *failed* for a day of retries, and nobody
would hear of it); or when ServiceTitan rejects its credentials. It ends when a delivery succeeds. The flag flips
with a conditional update, so however many worker processes see the failures at once, exactly one of them sends
the email.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.db.models import F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from referloop.accounts.recipients import email_managers
from referloop.integrations.models import ConnectionState, Delivery, DeliveryState, Integration

logger = logging.getLogger(__name__)

FAILURE_THRESHOLD = 5
_REASON_LIMIT = 500


@dataclass(frozen=True)
class Alert:
    integration_id: int
    kind: Literal["failures", "outage", "credentials"]
    sentence: str


def note_successes(integration_ids: Iterable[int]) -> None:
    """A delivery went through: the failure streak and Needs attention end (credentials rejected stays), and the
    leads waiting on the retry ladder go now: after an outage their next try could be 30 minutes away."""
    recovering = list(
        Integration.objects.filter(pk__in=set(integration_ids))
        .exclude(state=ConnectionState.CREDENTIALS_REJECTED)
        .filter(Q(consecutive_failures__gt=0) | Q(needs_attention=True))
        .values_list("pk", flat=True)
    )
    if not recovering:
        return
    Integration.objects.filter(pk__in=recovering).update(
        consecutive_failures=0, needs_attention=False, attention_reason=""
    )
    now = timezone.now()
    Delivery.objects.filter(
        integration_id__in=recovering,
        state=DeliveryState.PENDING,
        lease_expires_at__isnull=True,
        next_attempt_at__gt=now,
    ).update(next_attempt_at=now)


def note_failures(
    integration_id: int, failures: int, *, restart: bool, sentence: str, ended: bool = True
) -> Alert | None:
    """Count failed tries (`restart`: a success came first in this batch). `ended`: a delivery ended *failed* in
    this batch: the 5th failure in a row alerts at once. Otherwise the tries wait to be retried, and the 5th in a
    row alerts only once no booking has gone through for the attention delay (a passing blip says nothing)."""
    streak = Integration.objects.filter(pk=integration_id)
    streak.update(consecutive_failures=failures if restart else F("consecutive_failures") + failures)
    if ended:
        kind: Literal["failures", "outage"] = "failures"
        reason = (
            f"The last {FAILURE_THRESHOLD} or more tries failed, and leads failed for good (they are not retried). "
            f"Latest: {sentence}"
        )
    else:
        quiet_since = timezone.now() - timedelta(seconds=settings.SERVICETITAN_ATTENTION_AFTER_SECONDS)
        if _booked_since(integration_id, quiet_since):
            return None
        kind = "outage"
        reason = (
            f"No booking has gone through for {_minutes(settings.SERVICETITAN_ATTENTION_AFTER_SECONDS)} and the "
            f"last tries failed; the leads are kept and retried. Latest: {sentence}"
        )
    started = streak.filter(needs_attention=False, consecutive_failures__gte=FAILURE_THRESHOLD).update(
        needs_attention=True, attention_reason=reason[:_REASON_LIMIT]
    )
    return Alert(integration_id, kind, sentence) if started else None


def _booked_since(integration_id: int, since: datetime) -> bool:
    """A booking went through since then, or the integration was connected since then (give a new one time)."""
    recently_connected = Integration.objects.filter(pk=integration_id, connected_at__gt=since).exists()
    return (
        recently_connected
        or Delivery.objects.filter(
            integration_id=integration_id, state=DeliveryState.DELIVERED, delivered_at__gt=since
        ).exists()
    )


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def note_credentials_rejected(integration_id: int, sentence: str) -> Alert | None:
    """Turn the integration to *credentials rejected*; None if another worker (or an earlier try) already did."""
    changed = (
        Integration.objects.filter(pk=integration_id)
        .exclude(state=ConnectionState.CREDENTIALS_REJECTED)
        .update(
            state=ConnectionState.CREDENTIALS_REJECTED, needs_attention=True, attention_reason=sentence[:_REASON_LIMIT]
        )
    )
    return Alert(integration_id, "credentials", sentence) if changed else None


def send_alerts(alerts: Iterable[Alert]) -> int:
    """Email each alert to the account's owners and admins; returns how many emails went out.

    Called after the results are committed. A mail server that fails is logged, never raised: the state
    change (Needs attention) is what matters and it is already saved.
    """
    sent = 0
    for alert in alerts:
        integration = Integration.objects.select_related("campaign__account").filter(pk=alert.integration_id).first()
        if integration is None:
            continue
        subject, body = compose(alert, integration)
        sent += email_managers(
            integration.campaign.account_id, subject, body, about=f"integration {integration.pk} needs attention"
        )
    return sent


def compose(alert: Alert, integration: Integration) -> tuple[str, str]:
    campaign = integration.campaign.name
    if alert.kind == "credentials":
        subject = f"[referloop] ServiceTitan rejected the credentials for “{campaign}”"
        body = (
            f"ServiceTitan rejected referloop's credentials for the campaign “{campaign}”:\n\n"
            f"{alert.sentence}\n\n"
            "New leads are held, not lost. Fix the Client ID and Client Secret on the Connection tab and the held "
            f"leads are sent automatically:\n{_link(integration, 'integration_connection')}\n"
        )
    elif alert.kind == "outage":
        subject = f"[referloop] ServiceTitan is not taking bookings for “{campaign}”"
        body = (
            f"No lead of the campaign “{campaign}” has become a ServiceTitan booking for "
            f"{_minutes(settings.SERVICETITAN_ATTENTION_AFTER_SECONDS)}, and the last tries failed. The latest "
            f"error:\n\n{alert.sentence}\n\n"
            "Nothing is lost: new leads are accepted and every lead is retried automatically, and sent once "
            "ServiceTitan answers again. If it does not come back, Diagnose tests the connection:\n"
            f"{_link(integration, 'integration_diagnose')}\n"
        )
    else:
        subject = f"[referloop] ServiceTitan bookings are failing for “{campaign}”"
        body = (
            f"The last {FAILURE_THRESHOLD} or more tries to turn leads of the campaign “{campaign}” into ServiceTitan "
            "bookings failed, and leads failed for good (they are not retried). The latest error:\n\n"
            f"{alert.sentence}\n\n"
            "The failed leads are kept. Once the cause is fixed, resend them from the Activity tab:\n"
            f"{_link(integration, 'integration_activity')}\n"
        )
    body += (
        "\nThe integration shows “Needs attention” until a booking goes through again; you get one email per episode.\n"
    )
    return subject, body


def _link(integration: Integration, name: str) -> str:
    try:
        path = reverse(name, kwargs={"campaign_id": integration.campaign_id, "provider": integration.provider})
    except NoReverseMatch:
        path = integration.campaign.get_absolute_url()
    return settings.PUBLIC_BASE_URL + path
