"""A campaign's wording of each notification (its template or the default), and the message made from it.

One function makes a message, for the worker (`destination.py`) and the preview (`preview`), so the preview
is exactly what would be sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from django.conf import settings

from referloop.campaigns.models import Campaign, CustomField, Lead, Referrer
from referloop.integrations.records import custom_fields_of
from referloop.notifications import unsubscribe
from referloop.notifications.catalog import SPECS, catalog
from referloop.notifications.models import Email, EmailTemplate, Notification
from referloop.notifications.rendering import Footer, Rendered, record_for, render
from referloop.providers.email import Message
from referloop.providers.mapping import CustomSource


@dataclass(frozen=True)
class Wording:
    notification: str
    enabled: bool
    subject: str
    body: str
    customized: bool  # the campaign saved its own (False: the default)


def default_wording(notification: str) -> Wording:
    spec = SPECS[notification]
    return Wording(notification, enabled=False, subject=spec.subject, body=spec.body, customized=False)


def wording_of_template(template: EmailTemplate) -> Wording:
    return Wording(template.notification, template.enabled, template.subject, template.body, customized=True)


def wordings_of(campaign_ids: Iterable[int]) -> dict[tuple[int, str], Wording]:
    """Every notification's wording for each campaign, by (campaign id, notification): one query."""
    ids = set(campaign_ids)
    found = {(campaign_id, name): default_wording(name) for campaign_id in ids for name in SPECS}
    for template in EmailTemplate.objects.filter(campaign_id__in=ids):
        found[(template.campaign_id, template.notification)] = wording_of_template(template)
    return found


def wordings_for(campaign: Campaign) -> list[Wording]:
    """The campaign's four wordings, in the tab's order."""
    found = wordings_of([campaign.pk])
    return [found[(campaign.pk, name)] for name in SPECS]


def custom_sources_by_campaign(campaign_ids: Iterable[int]) -> dict[int, list[CustomSource]]:
    found: dict[int, list[CustomSource]] = {}
    for field in CustomField.objects.filter(campaign_id__in=set(campaign_ids)).order_by("position", "pk"):
        found.setdefault(field.campaign_id, []).append(CustomSource(name=field.key, label=field.label))
    return found


def sender_address(business_name: str) -> str:
    """The account's name on referloop's sender address (DEFAULT_FROM_EMAIL): "Comfort Pro <no-reply@…>"."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    name = " ".join(business_name.split())  # no line breaks in a header
    return formataddr((name, address)) if name else address


def footer_for(campaign: Campaign, referrer: Referrer, notification: str) -> Footer:
    account = campaign.account
    marketing = SPECS[notification].marketing
    return Footer(
        business_name=account.name,
        postal_address=account.postal_address,
        campaign_name=campaign.name,
        unsubscribe_url=unsubscribe.url_for(referrer) if marketing else "",
    )


def rendered(
    wording: Wording,
    campaign: Campaign,
    referrer: Referrer,
    lead: Lead | None,
    custom: Sequence[CustomSource],
    extra: Mapping[str, object] | None = None,
) -> Rendered:
    record = record_for(referrer, lead, campaign.account.name, extra or {})
    return render(
        wording.notification,
        wording.subject,
        wording.body,
        record,
        catalog(wording.notification, custom),
        footer_for(campaign, referrer, wording.notification),
    )


def message_for(email: Email, wording: Wording, custom: Sequence[CustomSource]) -> Message:
    """The email as it goes out: its wording filled for its lead and referrer, with the footer and headers."""
    made = rendered(wording, email.campaign, email.referrer, email.lead, custom, dict(email.context))
    headers = {"Auto-Submitted": "auto-generated"}
    if email.marketing:
        link = unsubscribe.url_for(email.referrer)
        # RFC 2369 and RFC 8058: a mail app's own unsubscribe button posts "List-Unsubscribe=One-Click" there.
        headers["List-Unsubscribe"] = f"<{link}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return Message(
        to=email.to_email,
        subject=made.subject,
        text=made.text,
        html=made.html,
        message_id=email.message_id,
        headers=headers,
    )


# -- the preview ------------------------------------------------------------------------------------------------


def sample_people(campaign: Campaign) -> tuple[Referrer, Lead]:
    """Who the preview is about: the campaign's latest lead and its referrer, or made-up ones (never saved)."""
    lead = campaign.leads.select_related("referrer", "campaign").order_by("-created_at", "-pk").first()
    if lead is not None:
        return lead.referrer, lead
    referrer = Referrer(campaign=campaign, first_name="Maria", last_name="Lopez", email="maria@example.com")
    referrer.code = "SAMPLE1"
    lead = Lead(
        campaign=campaign,
        referrer=referrer,
        first_name="Tom",
        last_name="Nguyen",
        email="tom@example.com",
        phone="512-555-0100",
        city="Austin",
        state="TX",
    )
    lead.code = "SAMPLE2"
    return referrer, lead


SAMPLE_REWARD = {"reward.summary": "USD 50.00", "reward.code": "GIFT-1234", "reward.note": "Enjoy!"}


def preview(campaign: Campaign, wording: Wording) -> Rendered:
    referrer, lead = sample_people(campaign)
    custom = custom_fields_of(campaign)
    extra: dict[str, object] = dict(SAMPLE_REWARD) if wording.notification == Notification.REWARD_ISSUED else {}
    return rendered(wording, campaign, referrer, lead, custom, extra)
