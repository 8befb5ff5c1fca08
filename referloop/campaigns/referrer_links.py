"""A referrer's personal link goes to their inbox, never onto the join page.

The join page answers every valid sign-up with the same "Check your inbox" page: anyone can type anyone's email
there, so showing the link (or "Welcome back, Maria") handed one person's referral link and first name to
whoever typed their address. Showing the link to new referrers only was rejected too: "link on the page" versus
"check your inbox" would still tell a stranger which addresses are referrers. Emailing the link to everyone also
means a referrer must own the address before they can share a link and earn rewards.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from referloop.campaigns.models import Referrer

logger = logging.getLogger(__name__)


def referral_link_email(referrer: Referrer, created: bool) -> tuple[str, str]:
    """The subject and plain-text body sent to a referrer who asked for their link on the join page."""
    campaign = referrer.campaign
    business = campaign.account.name
    greeting = f"Hi {referrer.first_name}," if referrer.first_name else "Hi,"
    opening = (
        f"Thanks for joining {business}'s referral program."
        if created
        else f"Someone (we hope you) asked for your {business} referral link again. Here it is."
    )
    lines = [
        greeting,
        "",
        opening,
        "",
        "Share this link with friends:",
        referrer.referral_url,
        "",
        f"Your code: {referrer.code}",
    ]
    if campaign.reward_description:
        lines += ["", campaign.reward_description]
    lines += ["", "If you didn't ask for this, you can ignore this email.", "", f"{business}"]
    return f"Your referral link for {business}", "\n".join(lines) + "\n"


def email_referral_link(referrer: Referrer, created: bool) -> None:
    """Send the link; a mail server that is down is logged, not shown to the visitor (the page is the same)."""
    subject, body = referral_link_email(referrer, created)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [referrer.email])
    except Exception:
        logger.exception("Could not email referrer %s their referral link", referrer.pk)
