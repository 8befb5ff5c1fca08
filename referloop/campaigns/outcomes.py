"""A referral's outcome: Qualified (the referrer earns a reward) or Not qualified, by a rule or by hand.

Every change is a conditional UPDATE plus one LeadEvent in the caller's transaction, so it is written once:
the follower qualifies a lead only while it is Pending and has never qualified (a re-opened job, a second worker
or a replayed cycle changes nothing), and `qualified_at` keeps the first time for good. An owner's change by hand
always needs a reason and records who made it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from referloop.accounts.models import User
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.models import QUALIFIED_STATUSES, Lead, LeadEvent, LeadStatus

BY_HAND = "by_hand"
REASON_LIMIT = 300

OutcomeHook = Callable[[int, datetime], object]  # (lead id, when), in the transaction that made the change
_qualified_hooks: list[OutcomeHook] = []
_unqualified_hooks: list[OutcomeHook] = []


def on_qualified(hook: OutcomeHook) -> OutcomeHook:
    """Run `hook` whenever a lead becomes Qualified (by a rule or by hand), in that change's transaction."""
    if hook not in _qualified_hooks:
        _qualified_hooks.append(hook)
    return hook


def on_unqualified(hook: OutcomeHook) -> OutcomeHook:
    """Run `hook` whenever a Qualified lead becomes Not qualified (by hand), in that change's transaction."""
    if hook not in _unqualified_hooks:
        _unqualified_hooks.append(hook)
    return hook


InvoiceHook = Callable[[int, Decimal, datetime], object]  # (lead id, invoice total, when), in the follower's write
_invoice_hooks: list[InvoiceHook] = []


def on_invoice_total(hook: InvoiceHook) -> InvoiceHook:
    """Run `hook` whenever the invoice total of a lead's job becomes known or changes (a percentage reward earned
    before it was known, or from an older total, follows it until issued)."""
    if hook not in _invoice_hooks:
        _invoice_hooks.append(hook)
    return hook


def invoice_total_changed(lead_id: int, total: Decimal, at: datetime) -> None:
    for hook in _invoice_hooks:
        hook(lead_id, total, at)


def _run(hooks: list[OutcomeHook], lead_id: int, at: datetime) -> None:
    for hook in hooks:
        hook(lead_id, at)


def qualify_by_rule(lead_id: int, rule: str, rule_text: str, evidence: Mapping[str, object], at: datetime) -> bool:
    """The campaign's rule was met: Pending → Qualified, the first time only. True if this call did it.

    A lead that already was a ServiceTitan customer never qualifies by a rule where its campaign says so
    (`existing_customers_never_qualify`), even if a person set it back to Pending; by hand it still may."""
    pending = Lead.objects.filter(pk=lead_id, status=LeadStatus.PENDING, qualified_at__isnull=True)
    done = pending.exclude(
        servicetitan_customer_id__isnull=False, campaign__existing_customers_never_qualify=True
    ).update(
        status=LeadStatus.QUALIFIED,
        status_reason="",
        qualified_at=at,
        qualified_by_rule=rule,
        qualification_facts=dict(evidence),
    )
    if done:
        LeadEvent.objects.create(lead_id=lead_id, at=at, kind="qualified", title="Qualified", detail=_said(evidence))
        _run(_qualified_hooks, lead_id, at)
    return bool(done)


def not_qualified_by_fact(lead_id: int, reason: str, at: datetime) -> bool:
    """The booking can no longer qualify (dismissed, canceled, followed too long): Pending → Not qualified."""
    done = Lead.objects.filter(pk=lead_id, status=LeadStatus.PENDING).update(
        status=LeadStatus.NOT_QUALIFIED, status_reason=reason[:REASON_LIMIT]
    )
    if done:
        LeadEvent.objects.create(lead_id=lead_id, at=at, kind="not_qualified", title="Not qualified", detail=reason)
    return bool(done)


def qualify_by_hand(lead: Lead, user: User | None, reason: str) -> None:
    """By a person on the lead page (`user`), or through the API (None: an API key is not a person)."""
    reason = _reason(reason)
    now = timezone.now()
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        if locked.status in QUALIFIED_STATUSES:
            raise InputRejected({"status": ["This lead is qualified already."]})
        first = locked.qualified_at is None
        Lead.objects.filter(pk=lead.pk).update(
            status=LeadStatus.QUALIFIED,
            status_reason=reason,
            qualified_at=now if first else locked.qualified_at,
            qualified_by_rule=BY_HAND if first else locked.qualified_by_rule,
        )
        LeadEvent.objects.create(
            lead_id=lead.pk,
            at=now,
            kind="qualified",
            title="Qualified by hand" if user else "Qualified through the API",
            detail=reason,
            user=user,
        )
        _run(_qualified_hooks, lead.pk, now)
    lead.refresh_from_db()


def unqualify_by_hand(lead: Lead, user: User | None, reason: str) -> None:
    reason = _reason(reason)
    now = timezone.now()
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        if locked.status == LeadStatus.NOT_QUALIFIED:
            raise InputRejected({"status": ["This lead is not qualified already."]})
        was_qualified = locked.status in QUALIFIED_STATUSES
        Lead.objects.filter(pk=lead.pk).update(status=LeadStatus.NOT_QUALIFIED, status_reason=reason)
        LeadEvent.objects.create(
            lead_id=lead.pk,
            at=now,
            kind="not_qualified",
            title="Not qualified (by hand)" if user else "Not qualified (through the API)",
            detail=reason,
            user=user,
        )
        if was_qualified:
            _run(_unqualified_hooks, lead.pk, now)
    lead.refresh_from_db()


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InputRejected({"reason": ["Say why: the reason is kept on the lead's timeline."]})
    if len(reason) > REASON_LIMIT:
        raise InputRejected({"reason": [f"Keep the reason under {REASON_LIMIT} characters."]})
    return reason


def _said(evidence: Mapping[str, object]) -> str:
    """The evidence as a sentence for the timeline: the rule, then the job and invoice that met it."""
    parts = [str(evidence.get("rule", ""))]
    if evidence.get("job_number") or evidence.get("job_id"):
        parts.append(f"job {evidence.get('job_number') or evidence.get('job_id')} ({evidence.get('job_status', '')})")
    if evidence.get("invoice_total") is not None:
        parts.append(f"invoice total {evidence['invoice_total']}")
    return " · ".join(part for part in parts if part)
