"""What a referrer's own page shows, as plain values: their link and ways to share it, their friends' progress
(first name and where they stand, nothing else) and their rewards.

The template gets these frozen records, never a Lead or a Reward: a friend's email, phone or last name is not in
what the page is handed, so no template change can show it by accident. Every query is filtered by the one
signed-in referrer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import segno
from django.utils.safestring import SafeString, mark_safe

from referloop.campaigns import verification
from referloop.campaigns.models import QUALIFIED_STATUSES, Lead, LeadStage, LeadStatus, Referrer
from referloop.rewards.listing import rewards_of_referrer
from referloop.rewards.models import RewardState

FRIENDS_SHOWN = 100


@dataclass(frozen=True)
class Sharing:
    link: str
    code: str
    email_href: str  # mailto: with a subject and the message
    sms_href: str  # sms: with the message
    qr_svg: SafeString


@dataclass(frozen=True)
class Friend:
    first_name: str
    status: str  # a LeadStatus value, for the badge's colour
    status_label: str
    progress: str  # how far they got, in words
    joined: datetime


@dataclass(frozen=True)
class RewardLine:
    what: str  # "USD 50.00", the custom text, "$25 gift card"
    occasion: str  # "Friend qualified", "Milestone: 5th qualified referral"
    friend_first_name: str
    state: str  # a RewardState value
    state_label: str
    due_at: datetime
    issued_at: datetime | None
    code: str  # the pool code given at issue
    note: str  # the owner's note at issue, e.g. the gift card number


def qr_svg(text: str) -> SafeString:
    """A QR code of `text` as inline SVG (no image request, no script); sized by CSS through its viewBox."""
    qr = segno.make_qr(text, error="m")
    svg = qr.svg_inline(
        scale=1, border=4, omitsize=True, dark="#111", light="#fff", svgclass="qr-code", title="QR code of your link"
    )
    return mark_safe(svg)  # noqa: S308 - segno writes the markup and escapes the title and the data it encodes


def sharing(referrer: Referrer) -> Sharing:
    campaign = referrer.campaign
    link = referrer.referral_url
    business = campaign.account.name
    message = f"{business} is offering you {campaign.offer_text}. Claim it with my link: {link}"
    subject = f"{referrer.first_name} sent you an offer from {business}".strip()
    return Sharing(
        link=link,
        code=referrer.code,
        email_href=f"mailto:?subject={quote(subject)}&body={quote(message)}",
        # "sms:?&body=" opens the messages app with the text on both iOS and Android.
        sms_href=f"sms:?&body={quote(message)}",
        qr_svg=qr_svg(link),
    )


def progress(status: str, stage: str, waiting: verification.State) -> str:
    """Where a friend stands, for the referrer: the email check first, then the CRM stage, in words."""
    if waiting is verification.State.UNVERIFIED:
        return "Waiting for them to confirm their email"
    if waiting is verification.State.EXPIRED:
        return "Didn't confirm their email"
    if not stage and status in QUALIFIED_STATUSES:
        return "Counted as a successful referral"  # qualified by hand: nothing was booked through referloop
    if not stage and status == LeadStatus.NOT_QUALIFIED:
        return "Not counted as a referral"
    return {
        LeadStage.NOT_BOOKED: "Signed up",
        LeadStage.BOOKED: "Booked",
        LeadStage.JOB: "Job scheduled",
        LeadStage.COMPLETED: "Job completed",
        LeadStage.PAID: "Job paid",
        LeadStage.DISMISSED: "Booking dismissed",
        LeadStage.CANCELED: "Job canceled",
    }.get(LeadStage(stage) if stage in LeadStage.values else LeadStage.NOT_BOOKED, "Signed up")


def friends(referrer: Referrer) -> tuple[list[Friend], int]:
    """The referrer's friends, newest first (at most FRIENDS_SHOWN), and how many there are in all."""
    leads = Lead.objects.filter(referrer=referrer, campaign_id=referrer.campaign_id)
    rows = leads.order_by("-created_at", "-pk").values(
        "first_name", "status", "stage", "email_verification", "created_at"
    )[:FRIENDS_SHOWN]
    found = []
    for row in rows:
        # The verification rule has one definition (verification.state); it reads these two fields only.
        checked = verification.state(Lead(email_verification=row["email_verification"], created_at=row["created_at"]))
        status = row["status"] if row["status"] in LeadStatus.values else LeadStatus.PENDING
        found.append(
            Friend(
                first_name=row["first_name"],
                status=status,
                status_label=LeadStatus(status).label,
                progress=progress(status, row["stage"], checked),
                joined=row["created_at"],
            )
        )
    total = len(found) if len(found) < FRIENDS_SHOWN else leads.count()
    return found, total


def rewards(referrer: Referrer) -> list[RewardLine]:
    """The referrer's own rewards (not their friends'), newest first."""
    lines = []
    for reward in rewards_of_referrer(referrer):
        state = reward.state
        issued = state is RewardState.ISSUED
        lines.append(
            RewardLine(
                what=reward.payout or reward.get_kind_display(),
                occasion=reward.occasion,
                friend_first_name=reward.lead.first_name,
                state=state.value,
                state_label=state.label,
                due_at=reward.due_at,
                issued_at=reward.issued_at,
                code=reward.code if issued else "",
                note=reward.issue_note if issued else "",
            )
        )
    return lines
