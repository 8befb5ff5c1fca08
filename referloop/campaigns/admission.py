"""A lead enters the pipeline (its deliveries, its webhook event) once, through `admit`.

Most leads are admitted in the transaction that creates them (`intake.submit_lead`). A lead of a campaign that
verifies the friend's email is admitted when the friend confirms it (`verification.verify`): until then nothing
is written for any destination, so no "setup fixed" or "endpoint enabled" release can send it early.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from referloop.campaigns.models import Lead, LeadSource
from referloop.runtime import plain_sql

LeadHook = Callable[[Lead], object]
# A hook's "anything to do for this lead?": a question for the database, or None for "nothing" without asking.
LeadQuestion = Callable[[Lead], plain_sql.Exists | None]


@dataclass(frozen=True)
class _Registered:
    hook: LeadHook
    ask: LeadQuestion | None  # None: the hook always runs


_lead_admitted_hooks: list[_Registered] = []


def on_lead_admitted(hook: LeadHook, ask: LeadQuestion | None = None) -> LeadHook:
    """Register a function run inside the transaction that admits each lead (an exception rolls it back).

    `ask`: the hook runs only when its question's answer is yes. Every hook's question for a lead is answered by
    one statement: most accounts have no webhook endpoint, thank-you reward or welcome email, and every lead asks.
    """
    if all(registered.hook != hook for registered in _lead_admitted_hooks):  # equal: a bound method is new each time
        _lead_admitted_hooks.append(_Registered(hook, ask))
    return hook


def welcomes(lead: Lead) -> bool:
    """Whether a lead's admission is a friend joining now, to be welcomed (the referrer's "friend joined" email and
    thank-you reward, the friend's confirmation). A CSV import is not: it is usually past referrals."""
    return lead.source != LeadSource.CSV


def admit(lead: Lead) -> None:
    """Run the hooks; the caller holds the transaction and makes sure each lead is admitted once."""
    hooks = list(_lead_admitted_hooks)
    questions = [registered.ask(lead) if registered.ask else None for registered in hooks]
    said = iter(plain_sql.answers([question for question in questions if question is not None]))
    # Decided before any hook runs: no hook writes what another's question reads.
    runs = [
        registered.ask is None or (question is not None and next(said))
        for registered, question in zip(hooks, questions, strict=True)
    ]
    for registered, run in zip(hooks, runs, strict=True):
        if run:
            registered.hook(lead)
