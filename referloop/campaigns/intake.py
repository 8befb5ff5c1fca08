"""The one intake path: every entry point (form, API, CSV, admin) makes leads through `submit_lead`.

It validates, deduplicates and writes the lead inside one transaction, and admits it (`admission.admit`: the
integrations app writes its delivery rows) inside that same transaction. A public-form lead of a campaign that
verifies the friend's email is written Unverified and admitted when the friend confirms (`verification.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from referloop.campaigns import verification
from referloop.campaigns.abuse.client import ClientInfo
from referloop.campaigns.admission import admit
from referloop.campaigns.errors import InputRejected, SelfReferral
from referloop.campaigns.lead_form import LeadDataForm
from referloop.campaigns.models import Campaign, EmailVerification, Lead, LeadSource, Referrer
from referloop.runtime import plain_sql


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
    if referrer.campaign_id != campaign.pk:
        raise InputRejected({"referrer": ["This referrer belongs to another campaign."]})
    if not campaign.is_active:
        raise InputRejected({"campaign": ["This campaign is archived and no longer accepts referrals."]})
    form = validated if validated is not None and validated.campaign.pk == campaign.pk else None
    form = form or LeadDataForm(data, campaign=campaign)
    if not form.is_valid():
        raise InputRejected.from_form(form.errors)
    email = form.cleaned_data["email"]
    if email == referrer.email.lower():
        raise SelfReferral

    unverified = verification.asks(campaign, source)
    try:
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
            lead.take_code()
            plain_sql.insert_one(lead)  # what `save` writes, without the ORM building the statement each time
            if unverified:
                transaction.on_commit(lambda: verification.send_link(lead))
            else:
                admit(lead)
    except IntegrityError:
        # The email is the campaign's already (`lead_email_per_campaign`): the first lead keeps it. The constraint
        # answers this, not a lookup before the insert, which cost every new lead a query.
        winner = Lead.objects.filter(campaign=campaign, email__lower=email).first()
        if winner is None:
            raise
        return IntakeResult(winner, created=False)
    return IntakeResult(lead, created=True)
