"""Adding referrers: the sign-up page, by hand, CSV and the API all call `add_referrer`.

A lead whose own link is used becomes a referrer too (`referrer_for_code`). Both run the referrer-joined hooks
inside the transaction that creates the referrer, as `admission.on_lead_admitted` does for leads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django import forms
from django.db import IntegrityError, transaction

from referloop.campaigns.abuse.client import ClientInfo
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.models import Campaign, Lead, Referrer
from referloop.runtime import plain_sql

ReferrerHook = Callable[[Referrer], object]
BulkReferrerHook = Callable[[Sequence[Referrer]], object]
_referrer_joined_hooks: list[ReferrerHook] = []
_in_bulk: dict[ReferrerHook, BulkReferrerHook] = {}


def on_referrer_joined(hook: ReferrerHook, *, in_bulk: BulkReferrerHook | None = None) -> ReferrerHook:
    """Register a function run inside the transaction that creates each referrer (an exception rolls it back).
    `in_bulk`, if given, does the same for many referrers at once (`announce_joined`), in a few queries."""
    if hook not in _referrer_joined_hooks:
        _referrer_joined_hooks.append(hook)
    if in_bulk is not None:
        _in_bulk[hook] = in_bulk
    return hook


def _joined(referrer: Referrer) -> Referrer:
    for hook in _referrer_joined_hooks:
        hook(referrer)
    return referrer


class ReferrerForm(forms.Form):
    first_name = forms.CharField(label="First Name", max_length=80)
    last_name = forms.CharField(label="Last Name", max_length=80, required=False)
    email = forms.EmailField(label="Email", max_length=254)
    phone = forms.CharField(label="Phone", max_length=40, required=False)

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()


def add_referrer(
    campaign: Campaign, data: Mapping[str, Any], source: str = "manual", client: ClientInfo | None = None
) -> tuple[Referrer, bool]:
    """Create a referrer, or return the one that already has this email in the campaign (created=False)."""
    if not campaign.is_active:
        raise InputRejected({"campaign": ["This campaign is archived and no longer accepts referrers."]})
    form = ReferrerForm(data)
    if not form.is_valid():
        raise InputRejected.from_form(form.errors)
    email = form.cleaned_data["email"]
    existing = Referrer.objects.filter(campaign=campaign, email__lower=email.lower()).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            extra = client.model_fields() if client else {}
            referrer = _joined(Referrer.objects.create(campaign=campaign, source=source, **form.cleaned_data, **extra))
    except IntegrityError:
        winner = Referrer.objects.filter(campaign=campaign, email__lower=email.lower()).first()
        if winner is None:
            raise
        return winner, False
    return referrer, True


def referrer_for_code(code: str) -> Referrer | None:
    """The referrer behind a referral link. A lead's code makes that lead a referrer on first use."""
    # Plain SQL, one statement with the campaign and its account (the page shows the business's name): every view
    # and post of a referral page asks (the ORM's join cost ~0.5 ms of the request).
    found = plain_sql.instances_with(Referrer, ["campaign", "account"], "code", code)
    if found:
        return found[0]
    lead = Lead.objects.select_related("campaign").filter(code=code).first()
    if lead is None:
        return None
    existing = Referrer.objects.filter(campaign=lead.campaign, email__lower=lead.email.lower()).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _joined(
                Referrer.objects.create(
                    campaign=lead.campaign,
                    first_name=lead.first_name,
                    last_name=lead.last_name,
                    email=lead.email,
                    phone=lead.phone,
                    code=lead.code,
                    source="lead",
                    # The same person: their lead's address counts as the referrer's for "same IP" checks.
                    client_ip=lead.client_ip,
                    user_agent=lead.user_agent,
                )
            )
    except IntegrityError:
        return Referrer.objects.select_related("campaign").filter(code=code).first()


def announce_joined(referrers: Sequence[Referrer]) -> None:
    """The referrer-joined hooks for referrers created in bulk (the ServiceTitan customer sync), in the caller's
    transaction, as `add_referrer` runs them for one: each hook's bulk form where it has one."""
    if not referrers:
        return
    for hook in _referrer_joined_hooks:
        bulk = _in_bulk.get(hook)
        if bulk is not None:
            bulk(referrers)
        else:
            for referrer in referrers:
                hook(referrer)
