"""A lead enters the pipeline (its deliveries, its webhook event) once, through `admit`.

Most leads are admitted in the transaction that creates them (`intake.submit_lead`). A lead of a campaign that
verifies the friend's email is admitted when the friend confirms it (`verification.verify`): until then nothing
is written for any destination, so no "setup fixed" or "endpoint enabled" release can send it early.
"""

from __future__ import annotations

from collections.abc import Callable

from referloop.campaigns.models import Lead, LeadSource

LeadHook = Callable[[Lead], object]
_lead_admitted_hooks: list[LeadHook] = []


def on_lead_admitted(hook: LeadHook) -> LeadHook:
    """Register a function run inside the transaction that admits each lead (an exception rolls it back)."""
    if hook not in _lead_admitted_hooks:
        _lead_admitted_hooks.append(hook)
    return hook


def welcomes(lead: Lead) -> bool:
    """Whether a lead's admission is a friend joining now, to be welcomed (the referrer's "friend joined" email and
    thank-you reward, the friend's confirmation). A CSV import is not: it is usually past referrals."""
    return lead.source != LeadSource.CSV


def admit(lead: Lead) -> None:
    """Run the hooks; the caller holds the transaction and makes sure each lead is admitted once."""
    for hook in _lead_admitted_hooks:
        hook(lead)
