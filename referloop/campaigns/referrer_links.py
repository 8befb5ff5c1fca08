"""A referrer's personal link goes to their inbox, never onto the join page.

The join page answers every valid sign-up with the same "Check your inbox" page: anyone can type anyone's email
there, so showing the link (or "Welcome back, Maria") handed one person's referral link and first name to
whoever typed their address. Showing the link to new referrers only was rejected too: "link on the page" versus
"check your inbox" would still tell a stranger which addresses are referrers. Emailing the link to everyone also
means a referrer must own the address before they can share a link and earn rewards.
"""

from __future__ import annotations

from referloop.accounts.mail import send_now
from referloop.campaigns.models import Referrer


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
    lines += ["", "See how your friends are doing and your rewards on your referral page:", campaign.referrer_page_url]
    lines += ["", "If you didn't ask for this, you can ignore this email.", "", f"{business}"]
    return f"Your referral link for {business}", "\n".join(lines) + "\n"


def email_referral_link(referrer: Referrer, created: bool) -> bool:
    """Send the link; False when the mail server failed (logged with the referrer's id, never the link).

    It never raises: the referrer is saved by now, and a second try (the same email on the join page) sends the
    link again. The page can tell the visitor to try again in a few minutes (accounts.mail.UNAVAILABLE): the
    failure happens for a new and a known email alike, so saying so reveals nothing about the address.
    """
    subject, body = referral_link_email(referrer, created)
    return send_now(subject, body, [referrer.email], purpose=f"referral-link (referrer {referrer.pk})")
