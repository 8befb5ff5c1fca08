"""Unsubscribing from referrer emails: a signed link that works without logging in, and what it changes.

The link names the referrer, signed with the deployment's secret key (a tampered or made-up link is refused).
It does not expire: the law asks an opt-out link to work for at least 30 days after the email, and a referrer may
open an old email. Opening it shows a button (mail scanners fetch every link in an email and must not
unsubscribe anyone); pressing it, or a mail app's own unsubscribe button (RFC 8058: a POST of
`List-Unsubscribe=One-Click` to the same address), records the opt-out for the referrer's address across the
account's campaigns and skips every referrer email still waiting to go to it. The friend's confirmation is not
marketing and is not affected.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from referloop.campaigns.models import Referrer
from referloop.integrations.models import Delivery, DeliveryState
from referloop.notifications.models import MARKETING, Unsubscribe, UnsubscribeMethod
from referloop.providers.email import NAME

_SALT = "referloop.notifications.unsubscribe"


def _signer() -> signing.Signer:
    # No timestamp (not `signing.dumps`): the link never expires, and every email to a referrer has the same one.
    return signing.Signer(salt=_SALT)


def token_for(referrer: Referrer) -> str:
    return _signer().sign_object({"r": referrer.pk})


def url_for(referrer: Referrer) -> str:
    return settings.PUBLIC_BASE_URL + reverse("unsubscribe", args=[token_for(referrer)])


def referrer_for_token(token: str) -> Referrer | None:
    """The referrer a link was made for, or None for a link that was not made by us (or whose referrer is gone)."""
    try:
        payload = _signer().unsign_object(token)
    except signing.BadSignature:
        return None
    referrer_id = payload.get("r") if isinstance(payload, dict) else None
    if not isinstance(referrer_id, int):
        return None
    return Referrer.objects.select_related("campaign__account").filter(pk=referrer_id).first()


def unsubscribed_at(account_id: int, email: str) -> datetime | None:
    found = Unsubscribe.objects.filter(account_id=account_id, email=email.strip().lower()).values_list("at", flat=True)
    return found.first()


def skip_reason(at: datetime) -> str:
    return f"Not sent: the address unsubscribed from referral emails on {at:%Y-%m-%d}."


def unsubscribe(referrer: Referrer, method: str = UnsubscribeMethod.LINK) -> Unsubscribe:
    """Record the opt-out (once: a second click changes nothing) and skip the referrer emails waiting for it."""
    account_id = referrer.campaign.account_id
    email = referrer.email.strip().lower()
    now = timezone.now()
    with transaction.atomic():
        existing = Unsubscribe.objects.filter(account_id=account_id, email=email).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                record = Unsubscribe.objects.create(
                    account_id=account_id, email=email, referrer=referrer, method=method, at=now
                )
        except IntegrityError:  # the one-click POST and the button, at the same moment
            return Unsubscribe.objects.get(account_id=account_id, email=email)
        skip_waiting(account_id, email, skip_reason(now), now)
    return record


def skip_waiting(account_id: int, email: str, reason: str, now: datetime) -> int:
    """Referrer emails to `email` not yet sent (waiting, held, or due again after a lost try) are skipped.
    A try in flight right now (leased, lease not run out) finishes: it is already with the mail server."""
    return (
        Delivery.objects.filter(
            connector=NAME,
            email__account_id=account_id,
            email__to_email__iexact=email,
            email__notification__in=MARKETING,
            state__in=[DeliveryState.PENDING, DeliveryState.HELD],
        )
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(state=DeliveryState.SKIPPED, reason=reason, next_attempt_at=None, lease_expires_at=None, leased_by="")
    )
