"""What each notification is: who gets it, when, its default wording, and the fields its template may name.

Placeholders are the ServiceTitan mapping's `{Field Name}`s (`providers/mapping.py`: the same labels, the same
parser), plus a few that only emails have: the business's name and, in the reward email, the reward. A referrer
email may name only the friend's first name: a referrer never sees a friend's contact details (the referrer's
page keeps the same rule), so `{Lead Email}` in a referrer email is refused when the template is saved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from referloop.notifications.models import MARKETING, Notification
from referloop.providers.mapping import CustomSource, SourceField, source_catalog, unknown_placeholders

Audience = Literal["referrer", "friend"]

BUSINESS_NAME = SourceField("account.name", "Business Name", "Business")
REWARD_FIELDS = (
    SourceField("reward.summary", "Reward", "Reward"),
    SourceField("reward.code", "Reward Code", "Reward"),
    SourceField("reward.note", "Reward Note", "Reward"),
)
EMAIL_FIELDS = (BUSINESS_NAME, *REWARD_FIELDS)

# What a referrer email may say about the friend and the referrer (keys of SOURCE_FIELDS).
_REFERRER_SAFE = frozenset(
    {
        "lead.first_name",
        "referrer.first_name",
        "referrer.full_name",
        "referrer.email",
        "referrer.referral_code",
        "referrer.referral_link",
        "campaign.name",
        "account.name",
    }
)
# The friend's own data, and who referred them by name (not the referrer's address or link).
_FRIEND_HIDDEN = frozenset({"referrer.email", "referrer.referral_code", "referrer.referral_link"})


@dataclass(frozen=True)
class Spec:
    notification: Notification
    audience: Audience
    when: str  # when it is sent, for the settings tab
    subject: str  # the default wording
    body: str

    @property
    def marketing(self) -> bool:
        return self.notification in MARKETING


SPECS: dict[str, Spec] = {
    spec.notification: spec
    for spec in (
        Spec(
            Notification.FRIEND_JOINED,
            "referrer",
            "To the referrer, when a friend they referred fills in the form (or is added by hand or the API).",
            "{Lead First Name} just used your referral link",
            "Hi {Referrer First Name},\n\n"
            "Good news: your friend {Lead First Name} just asked {Business Name} for a visit through your "
            "referral link. We'll let you know when their job qualifies.\n\n"
            "Know someone else who needs us? Share your link:\n{Referrer Referral Link}\n\n"
            "Thank you,\n{Business Name}",
        ),
        Spec(
            Notification.FRIEND_QUALIFIED,
            "referrer",
            "To the referrer, when a friend's referral qualifies (by your Qualification Rule, or by hand).",
            "Your referral {Lead First Name} qualified",
            "Hi {Referrer First Name},\n\n"
            "{Lead First Name}'s job with {Business Name} qualified, so your referral counts towards your "
            "reward. We'll email you again when it is issued.\n\n"
            "Keep sharing your link:\n{Referrer Referral Link}\n\n"
            "Thank you,\n{Business Name}",
        ),
        Spec(
            Notification.REWARD_ISSUED,
            "referrer",
            "To the referrer, when you issue them a reward on the Rewards tab.",
            "Your reward from {Business Name}",
            "Hi {Referrer First Name},\n\n"
            "Thank you for referring {Lead First Name}. Your reward has been issued: {Reward}\n"
            "{Reward Code}\n{Reward Note}\n\n"
            "Your link keeps working:\n{Referrer Referral Link}\n\n"
            "Thank you,\n{Business Name}",
        ),
        Spec(
            Notification.FRIEND_CONFIRMATION,
            "friend",
            "To the friend, when they fill in the referral form (or are added by hand or the API): a "
            "confirmation of their own request, so it is sent even to an address that unsubscribed.",
            "{Business Name} got your request, {Lead First Name}",
            "Hi {Lead First Name},\n\n"
            "Thanks for contacting {Business Name} through {Referrer First Name}'s referral. We got your "
            "request and will be in touch shortly to schedule your visit.\n\n"
            "{Business Name}",
        ),
    )
}


def full_catalog(custom_fields: Iterable[CustomSource] = ()) -> tuple[SourceField, ...]:
    """Every field any email could name: the mapping's sources, the campaign's custom fields, the email-only ones."""
    return source_catalog(custom_fields) + EMAIL_FIELDS


def catalog(notification: str, custom_fields: Iterable[CustomSource] = ()) -> tuple[SourceField, ...]:
    """The fields this notification's template may name, in the mapping's order."""
    spec = SPECS[notification]
    allowed: list[SourceField] = []
    for field in full_catalog(custom_fields):
        if field.group == "Reward":
            if spec.notification == Notification.REWARD_ISSUED:
                allowed.append(field)
        elif spec.audience == "referrer":
            if field.key in _REFERRER_SAFE:
                allowed.append(field)
        elif field.key not in _FRIEND_HIDDEN:
            allowed.append(field)
    return tuple(allowed)


def problems(notification: str, text: str, custom_fields: Iterable[CustomSource] = ()) -> list[str]:
    """Why a subject or body can't be saved: placeholders that name no field, or a field this email may not name."""
    custom = list(custom_fields)
    found = []
    unknown = unknown_placeholders(text, full_catalog(custom))
    if unknown:
        found.append(f"These name no referloop field: {', '.join('{' + name + '}' for name in unknown)}.")
    not_here = [name for name in unknown_placeholders(text, catalog(notification, custom)) if name not in unknown]
    if not_here:
        names = ", ".join("{" + name + "}" for name in not_here)
        if SPECS[notification].audience == "referrer":
            found.append(
                f"{names} can't be used in an email to the referrer: a referrer sees only a friend's first name."
            )
        else:
            found.append(f"{names} can't be used in this email.")
    return found
