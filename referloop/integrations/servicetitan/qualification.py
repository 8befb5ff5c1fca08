"""The qualification rules, as pure functions of what ServiceTitan says about one booking.

One place decides, from the facts the follower read (booking, job, invoice): the lead's stage (Booked → Job →
Completed → Paid, or Dismissed / Canceled), whether the campaign's rule is met, and whether there is anything
left to follow. The follower (follower.py) writes what these say; the Leads tab describes the rule with
`describe`. No database, no clock: tests give facts and read answers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from referloop.campaigns.models import LeadStage
from referloop.integrations.models import Follow, Integration, JobStatus, QualificationRule

BOOKING_DISMISSED = "Dismissed"
JOB_CANCELED = "Canceled"
# "The job reaches a status": a job can pass a status between two polls (Dispatched, then Completed five minutes
# later), so reaching means "at or past it" along the usual path. Hold is off the path: only Hold itself.
_PATH: list[str] = [JobStatus.SCHEDULED, JobStatus.DISPATCHED, JobStatus.IN_PROGRESS, JobStatus.COMPLETED]


@dataclass(frozen=True)
class Facts:
    """What the follower last read about one booking, job and invoice (None / "": not known yet)."""

    booking_status: str = ""
    job_id: int | None = None
    job_number: str = ""
    job_status: str = ""
    completed_on: datetime | None = None
    invoice_id: int | None = None
    invoice_total: Decimal | None = None
    invoice_balance: Decimal | None = None
    paid_on: datetime | None = None

    @classmethod
    def of(cls, follow: Follow) -> Facts:
        return cls(**{name: getattr(follow, name) for name in FACT_FIELDS})

    def with_changes(self, **changes: object) -> Facts:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def paid(self) -> bool:
        """Paid: nothing left to pay and a payment date (a zero balance alone may be a $0 invoice not yet closed)."""
        return self.invoice_balance is not None and self.invoice_balance == 0 and self.paid_on is not None


FACT_FIELDS = tuple(Facts.__dataclass_fields__)


@dataclass(frozen=True)
class Rule:
    kind: str  # a QualificationRule value
    job_status: str = JobStatus.COMPLETED
    minimum_total: Decimal | None = None

    @classmethod
    def of(cls, integration: Integration) -> Rule:
        return cls(integration.qualification_rule, integration.qualifying_job_status, integration.minimum_job_total)


def stage(facts: Facts) -> str:
    if facts.paid:
        return LeadStage.PAID
    if facts.job_status == JOB_CANCELED:
        return LeadStage.CANCELED
    if facts.job_status == JobStatus.COMPLETED:
        return LeadStage.COMPLETED
    if facts.job_id is not None:
        return LeadStage.JOB
    if facts.booking_status == BOOKING_DISMISSED:
        return LeadStage.DISMISSED
    return LeadStage.BOOKED


def reached(current: str, wanted: str) -> bool:
    if current == wanted:
        return True
    if current not in _PATH or wanted not in _PATH:
        return False
    return _PATH.index(current) >= _PATH.index(wanted)


def meets(rule: Rule, facts: Facts) -> bool:
    """Whether the facts meet the rule now (the follower qualifies a lead the first time this is true)."""
    if rule.kind == QualificationRule.NONE or facts.job_id is None or facts.job_status == JOB_CANCELED:
        return False
    if rule.minimum_total is not None and (facts.invoice_total is None or facts.invoice_total < rule.minimum_total):
        return False
    if rule.kind == QualificationRule.JOB:
        return True
    if rule.kind == QualificationRule.JOB_STATUS:
        return reached(facts.job_status, rule.job_status)
    if rule.kind == QualificationRule.INVOICE_PAID:
        return facts.paid
    return False


def settled(facts: Facts) -> str:
    """Why there is nothing left to follow, or "": paid, dismissed or canceled are where a booking's story ends."""
    if facts.paid:
        return "The invoice is paid."
    if facts.job_status == JOB_CANCELED:
        return f"Job {facts.job_number or facts.job_id} was canceled in ServiceTitan."
    if facts.booking_status == BOOKING_DISMISSED and facts.job_id is None:
        return "The booking was dismissed in ServiceTitan."
    return ""


def not_qualified_reason(facts: Facts) -> str:
    """Why a lead that did not qualify never will (booking dismissed, job canceled), or ""."""
    if facts.job_status == JOB_CANCELED or (facts.booking_status == BOOKING_DISMISSED and facts.job_id is None):
        return settled(facts)
    return ""


def evidence(rule: Rule, facts: Facts) -> dict[str, object]:
    """What met the rule, kept on the lead: the job and invoice as ServiceTitan described them."""
    found: dict[str, object] = {"rule": describe(rule)}
    if facts.job_id is not None:
        found.update(job_id=facts.job_id, job_number=facts.job_number, job_status=facts.job_status)
    if facts.completed_on is not None:
        found["completed_on"] = facts.completed_on.isoformat()
    if facts.invoice_total is not None:
        found["invoice_total"] = str(facts.invoice_total)
    if facts.paid_on is not None:
        found["paid_on"] = facts.paid_on.isoformat()
    return found


def describe(rule: Rule) -> str:
    labels = dict(QualificationRule.choices)
    if rule.kind == QualificationRule.JOB_STATUS:
        text = f"The job reaches {dict(JobStatus.choices).get(rule.job_status, rule.job_status)}"
    else:
        text = labels.get(rule.kind, rule.kind)
    if rule.kind != QualificationRule.NONE and rule.minimum_total is not None:
        text += f", invoice total at least {rule.minimum_total:,.2f}"
    return text
