"""The one intake path: every entry point (form, API, CSV, admin) makes leads through `submit_lead`.

It validates, deduplicates and writes the lead inside one transaction, and admits it (`admission.admit`: the
integrations app writes its delivery rows) inside that same transaction. A public-form lead of a campaign that
verifies the friend's email is written Unverified and admitted when the friend confirms (`verification.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from referloop.campaigns import custom_fields, verification
from referloop.campaigns.abuse.client import ClientInfo
from referloop.campaigns.admission import admit
from referloop.campaigns.errors import InputRejected, SelfReferral
from referloop.campaigns.lead_form import LeadDataForm
from referloop.campaigns.models import Campaign, EmailVerification, Lead, LeadSource, Referrer
from referloop.runtime import plain_sql

CODE_TRIES = 3  # a code taken between its check and the insert is rare; three in a row is a bug


@dataclass(frozen=True)
class IntakeResult:
    lead: Lead
    created: bool

    @property
    def duplicate(self) -> bool:
        return not self.created


def submit_lead(
    campaign: Campaign,
    referrer: Referrer,
    data: Mapping[str, Any],
    source: str = LeadSource.FORM,
    client: ClientInfo | None = None,
    validated: LeadDataForm | None = None,
) -> IntakeResult:
    """Validate `data` (lead-form field names) and create the lead, or return the existing one for its email.

    The same email twice in one campaign keeps the first lead and its referrer's credit. `client` is who
    posted the public form (IP and user agent); other sources have none. `validated`: the campaign's form of
    this `data` that the caller already validated (the referral page does, to show its errors), not built twice.
    """
    with custom_fields.read_once():
        return _submit(campaign, referrer, data, source, client, validated)


def _submit(
    campaign: Campaign,
    referrer: Referrer,
    data: Mapping[str, Any],
    source: str,
    client: ClientInfo | None,
    validated: LeadDataForm | None,
) -> IntakeResult:
    if referrer.campaign_id != campaign.pk:
        raise InputRejected({"referrer": ["This referrer belongs to another campaign."]})
    if not campaign.is_active:
        raise InputRejected({"campaign": ["This campaign is archived and no longer accepts referrals."]})
    reusable = validated is not None and validated.data is data and validated.campaign.pk == campaign.pk
    form = validated if reusable and validated is not None else LeadDataForm(data, campaign=campaign)
    if not form.is_valid():
        raise InputRejected.from_form(form.errors)
    email = form.cleaned_data["email"]
    if email == referrer.email.lower():
        raise SelfReferral

    unverified = verification.asks(campaign, source)
    with transaction.atomic():
        lead = Lead(
            campaign=campaign,
            referrer=referrer,
            custom_data=form.custom_data(),
            source=source,
            email_verification=EmailVerification.UNVERIFIED if unverified else EmailVerification.NOT_ASKED,
            **form.standard_data(),
            **(client.model_fields() if client else {}),
        )
        for _ in range(CODE_TRIES):
            lead.take_code()
            if plain_sql.insert_if_new(lead):  # what `save` writes, without the ORM building the statement
                break
            # A unique constraint held: the email is the campaign's already (`lead_email_per_campaign`, the first
            # lead keeps it; no lookup before the insert, which cost every new lead a query), or, rarely, another
            # lead or referrer took the code since it was checked.
            winner = Lead.objects.filter(campaign=campaign, email__lower=email).first()
            if winner is not None:
                return IntakeResult(winner, created=False)
            lead.code = ""
        else:
            raise RuntimeError("could not write the lead with a free referral code")
        if unverified:
            transaction.on_commit(lambda: verification.send_link(lead))
        else:
            admit(lead)
    return IntakeResult(lead, created=True)
