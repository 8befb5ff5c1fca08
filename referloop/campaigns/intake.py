"""The one intake path: every entry point (form, API, CSV, admin) makes leads through `submit_lead`.

It validates, deduplicates and writes the lead inside one transaction, and runs the lead-created hooks inside
that same transaction, so that the integrations app can write the lead's delivery rows atomically with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from referloop.campaigns.abuse.client import ClientInfo
from referloop.campaigns.errors import InputRejected, SelfReferral
from referloop.campaigns.lead_form import LeadDataForm
from referloop.campaigns.models import Campaign, Lead, LeadSource, Referrer

LeadHook = Callable[[Lead], object]
_lead_created_hooks: list[LeadHook] = []


def on_lead_created(hook: LeadHook) -> LeadHook:
    """Register a function run inside the transaction that creates each lead (an exception rolls it back)."""
    if hook not in _lead_created_hooks:
        _lead_created_hooks.append(hook)
    return hook


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
) -> IntakeResult:
    """Validate `data` (lead-form field names) and create the lead, or return the existing one for its email.

    The same email twice in one campaign keeps the first lead and its referrer's credit. `client` is who
    posted the public form (IP and user agent); other sources have none.
    """
    if referrer.campaign_id != campaign.pk:
        raise InputRejected({"referrer": ["This referrer belongs to another campaign."]})
    if not campaign.is_active:
        raise InputRejected({"campaign": ["This campaign is archived and no longer accepts referrals."]})
    form = LeadDataForm(data, campaign=campaign)
    if not form.is_valid():
        raise InputRejected.from_form(form.errors)
    email = form.cleaned_data["email"]
    if email == referrer.email.lower():
        raise SelfReferral

    existing = Lead.objects.filter(campaign=campaign, email__iexact=email).first()
    if existing is not None:
        return IntakeResult(existing, created=False)
    try:
        with transaction.atomic():
            lead = Lead.objects.create(
                campaign=campaign,
                referrer=referrer,
                custom_data=form.custom_data(),
                source=source,
                **form.standard_data(),
                **(client.model_fields() if client else {}),
            )
            for hook in _lead_created_hooks:
                hook(lead)
    except IntegrityError:
        # Another request created the same email between our check and the insert.
        winner = Lead.objects.filter(campaign=campaign, email__iexact=email).first()
        if winner is None:
            raise
        return IntakeResult(winner, created=False)
    return IntakeResult(lead, created=True)
