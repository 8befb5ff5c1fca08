"""Optional email verification of a friend's lead ("Verify the friend's email before booking", per campaign).

A lead posted on the public referral page of such a campaign is written at once as *Unverified* and the friend
gets an email with a link. Only when they confirm is the lead admitted (`admission.admit`: its deliveries and
its `lead.created` event are written then), so a bot's made-up address never reaches ServiceTitan. A lead not
confirmed within `WINDOW` is *expired*: never sent, with that reason on its page. Expired is not stored; it is
"unverified and older than the window", so the deadline has one definition and needs no sweeper.

Leads the business adds by hand, imports or sends through the API are not asked: the business vouches for them.

The link is signed (it names the lead and its code) and works once: confirming flips the lead from Unverified
to Verified in one conditional UPDATE, so two clicks, or a click racing an owner's "verify by hand", admit the
lead exactly once. Opening the link only shows a button; the POST confirms, so a mail scanner that fetches
every link in an inbox confirms nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from referloop.accounts.mail import send_now
from referloop.accounts.models import User
from referloop.campaigns.admission import admit
from referloop.campaigns.models import Campaign, EmailVerification, Lead, LeadSource

WINDOW = timedelta(days=7)
WAITING_REASON = "Waiting for email verification: the friend has not yet clicked the link we emailed them."
EXPIRED_REASON = "Not sent: the friend did not confirm their email within 7 days."
_SALT = "referloop.campaigns.verification"


class State(StrEnum):
    NOT_ASKED = "not_asked"
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return {"not_asked": "Not asked", "unverified": "Unverified", "verified": "Verified", "expired": "Expired"}[
            self.value
        ]


def asks(campaign: Campaign, source: str) -> bool:
    """Whether a new lead from `source` must confirm its email before it is admitted."""
    return campaign.verify_friend_email and source == LeadSource.FORM


def deadline(lead: Lead) -> datetime:
    return lead.created_at + WINDOW


def state(lead: Lead, now: datetime | None = None) -> State:
    if lead.email_verification == EmailVerification.VERIFIED:
        return State.VERIFIED
    if lead.email_verification == EmailVerification.UNVERIFIED:
        return State.EXPIRED if (now or timezone.now()) >= deadline(lead) else State.UNVERIFIED
    return State.NOT_ASKED


def state_filter(wanted: State, now: datetime | None = None) -> Q:
    """The leads in `wanted`, as a filter (the lead list's)."""
    cutoff = (now or timezone.now()) - WINDOW
    if wanted is State.UNVERIFIED:
        return Q(email_verification=EmailVerification.UNVERIFIED, created_at__gt=cutoff)
    if wanted is State.EXPIRED:
        return Q(email_verification=EmailVerification.UNVERIFIED, created_at__lte=cutoff)
    if wanted is State.VERIFIED:
        return Q(email_verification=EmailVerification.VERIFIED)
    return Q(email_verification=EmailVerification.NOT_ASKED)


def reason(lead: Lead, now: datetime | None = None) -> str:
    """Why the lead has not been sent anywhere because of verification, or ""."""
    current = state(lead, now)
    if current is State.UNVERIFIED:
        return WAITING_REASON
    if current is State.EXPIRED:
        return EXPIRED_REASON
    return ""


# -- the link ------------------------------------------------------------------------------------------------------


def token(lead: Lead) -> str:
    return signing.dumps({"lead": lead.pk, "code": lead.code}, salt=_SALT, compress=True)


def lead_for_token(value: str) -> Lead | None:
    """The lead a link names, or None for a link that was altered (or names a lead since deleted)."""
    try:
        payload = signing.loads(value, salt=_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("lead"), int):
        return None
    return (
        Lead.objects.select_related("campaign__account")
        .filter(pk=payload["lead"], code=str(payload.get("code", "")))
        .first()
    )


def link(lead: Lead) -> str:
    return settings.PUBLIC_BASE_URL + reverse("verify_email", args=[token(lead)])


def link_email(lead: Lead) -> tuple[str, str]:
    """The subject and plain-text body of the email that asks the friend to confirm."""
    business = lead.campaign.account.name
    greeting = f"Hi {lead.first_name}," if lead.first_name else "Hi,"
    lines = [
        greeting,
        "",
        f"{lead.referrer.first_name or 'A friend'} referred you to {business}. To make sure it was really you, "
        "please confirm your email address:",
        "",
        link(lead),
        "",
        f"The link works until {deadline(lead):%B %-d, %Y}. Once you confirm, {business} will contact you.",
        "",
        "If you didn't ask for this, ignore this email: nothing will be sent to anyone.",
        "",
        business,
    ]
    return f"Confirm your email for {business}", "\n".join(lines) + "\n"


def send_link(lead: Lead) -> bool:
    """Email the link and note when; False (logged, nothing raised) when the mail server can't take it. The lead
    is kept either way: its page says the link was not sent and offers to send it again."""
    subject, body = link_email(lead)
    if not send_now(subject, body, [lead.email], purpose=f"email-verification (lead {lead.pk})"):
        return False  # logged without the body: it holds the link
    lead.verification_sent_at = timezone.now()
    Lead.objects.filter(pk=lead.pk).update(verification_sent_at=lead.verification_sent_at)
    return True


# -- confirming ----------------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    VERIFIED = "verified"  # confirmed now: the lead was admitted
    ALREADY = "already"  # confirmed before (a second click): nothing more happens
    EXPIRED = "expired"  # too late: the lead stays unsent
    NOT_ASKED = "not_asked"  # the lead was never asked to confirm


def verify(lead: Lead, by: User | None = None, now: datetime | None = None) -> Outcome:
    """Confirm the lead's email and admit it, exactly once. `by`: a person confirming by hand, who may do so
    after the link expired (they spoke to the friend); the link itself stops working at the deadline."""
    now = now or timezone.now()
    current = state(lead, now)
    if current is State.NOT_ASKED:
        return Outcome.NOT_ASKED
    if current is State.VERIFIED:
        return Outcome.ALREADY
    if current is State.EXPIRED and by is None:
        return Outcome.EXPIRED
    with transaction.atomic():
        flipped = Lead.objects.filter(pk=lead.pk, email_verification=EmailVerification.UNVERIFIED).update(
            email_verification=EmailVerification.VERIFIED, email_verified_at=now, email_verified_by=by
        )
        if not flipped:
            return Outcome.ALREADY
        lead.email_verification = EmailVerification.VERIFIED
        lead.email_verified_at = now
        lead.email_verified_by = by
        admit(lead)
    return Outcome.VERIFIED
