"""Sign-in links to the referrer's page: they work once, for 30 minutes, for one referrer of one campaign.

A referrer has no password: they type their email on `/c/<slug>/me/` and are emailed a link. The page answers
"Check your inbox" for every address and only a referrer of that campaign is emailed, so the form tells nobody
who is a referrer (as the join page and the password reset do).

The link holds 32 random bytes and the database keeps only their SHA-256, so a copy of the database (a backup,
a replica) opens nobody's page. A signed token (as email verification's) was rejected: "works once" needs a
row anyway, and the row also tells a used link from an expired one, which the page says.

Bound to the campaign: a link is looked up together with the campaign of the URL it is opened under, so another
campaign's link (the same person at another business, or a slug changed by hand) is refused. Bound to the
referrer and the address: the row names the referrer and the address it was sent to; once the owner corrects
that referrer's email the link stops working.

Used once: `use` sets `used_at` with one conditional UPDATE (unused and not expired), so two clicks or two tabs
sign in once; the later one is told the link was used and is offered a new one.

The token never reaches a log line or the session: the URL that holds it answers a redirect or, for a link that
can't be used, a 200 page (views.py), neither of which Django logs; the session (database-backed) keeps only the
link's id and hash; and our own lines name the referrer's id only.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import timezone

from referloop.accounts.mail import send_after_response
from referloop.campaigns.models import Campaign, Referrer
from referloop.portal.models import SignInLink

logger = logging.getLogger(__name__)

VALID_MINUTES = 30
VALID_FOR = timedelta(minutes=VALID_MINUTES)
# Rows of links that expired longer ago than this are deleted when the referrer asks for a new one.
KEEP_EXPIRED = timedelta(days=7)
TOKEN_BYTES = 32
TOKEN_MAX_LENGTH = 64  # token_urlsafe(32) is 43 characters; anything much longer is not ours


class LinkState(StrEnum):
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    INVALID = "invalid"  # unknown, altered, another campaign's, or its referrer's email has changed


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(referrer: Referrer, now: datetime | None = None) -> str:
    """A new link's token (only its hash is stored)."""
    now = now or timezone.now()
    SignInLink.objects.filter(referrer=referrer, expires_at__lt=now - KEEP_EXPIRED).delete()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    SignInLink.objects.create(
        referrer=referrer,
        token_hash=token_hash(token),
        sent_to=referrer.email,
        created_at=now,
        expires_at=now + VALID_FOR,
    )
    return token


def find(campaign: Campaign, token: str) -> SignInLink | None:
    """The link a token stands for, in this campaign only; None for anything else."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    return (
        SignInLink.objects.select_related("referrer")
        .filter(token_hash=token_hash(token), referrer__campaign=campaign)
        .first()
    )


def state(link: SignInLink | None, now: datetime | None = None) -> LinkState:
    if link is None or link.sent_to.lower() != link.referrer.email.lower():
        return LinkState.INVALID
    if link.used_at is not None:
        return LinkState.USED
    if (now or timezone.now()) >= link.expires_at:
        return LinkState.EXPIRED
    return LinkState.VALID


def use(link: SignInLink, now: datetime | None = None) -> LinkState:
    """Spend the link: VALID when this call spent it (sign the referrer in), else why it can't be used."""
    now = now or timezone.now()
    current = state(link, now)
    if current is not LinkState.VALID:
        return current
    spent = SignInLink.objects.filter(pk=link.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if spent:
        link.used_at = now
        return LinkState.VALID
    fresh = SignInLink.objects.select_related("referrer").filter(pk=link.pk).first()  # spent by a click just now
    return state(fresh, now)


def url(campaign: Campaign, token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("portal_link", args=[campaign.slug, token])


def sign_in_email(referrer: Referrer, token: str) -> tuple[str, str]:
    """The subject and plain-text body of the email with the link."""
    campaign = referrer.campaign
    business = campaign.account.name
    greeting = f"Hi {referrer.first_name}," if referrer.first_name else "Hi,"
    lines = [
        greeting,
        "",
        f"Here is your link to sign in to your {business} referral page, where you'll find your referral link, "
        "your friends' progress and your rewards:",
        "",
        url(campaign, token),
        "",
        f"The link works once, for {VALID_MINUTES} minutes. Need another? Ask for one here:",
        campaign.referrer_page_url,
        "",
        "If you didn't ask for this, you can ignore this email: nobody can sign in without the link.",
        "",
        business,
    ]
    return f"Sign in to your {business} referral page", "\n".join(lines) + "\n"


def send(referrer: Referrer) -> None:
    """Email a new link, after the response (accounts/mail.py says why). A link whose email then fails is never
    usable (nobody has its token) and expires with the others; the failure is logged without the body."""
    token = create(referrer)
    subject, body = sign_in_email(referrer, token)
    message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, [referrer.email])
    send_after_response(message, purpose=f"portal-sign-in (referrer {referrer.pk})")
    logger.info("Sending a sign-in link to referrer %s", referrer.pk)
