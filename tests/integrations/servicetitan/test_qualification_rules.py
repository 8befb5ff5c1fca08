"""The qualification rules as pure functions: stage, rule met, settled, for the facts the follower reads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from referloop.campaigns.models import LeadStage
from referloop.integrations.models import JobStatus, QualificationRule
from referloop.integrations.servicetitan.qualification import Facts, Rule, describe, meets, settled, stage

PAID_ON = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
BOOKED = Facts(booking_status="New")
JOB = Facts(booking_status="Converted", job_id=30_000_001, job_number="1001", job_status="Scheduled")
COMPLETED = JOB.with_changes(job_status="Completed", completed_on=datetime(2026, 11, 1, tzinfo=UTC))
INVOICED = COMPLETED.with_changes(
    invoice_id=40_000_001, invoice_total=Decimal("450.00"), invoice_balance=Decimal("450")
)
HALF_PAID = INVOICED.with_changes(invoice_balance=Decimal("225.00"))
PAID = INVOICED.with_changes(invoice_balance=Decimal("0.00"), paid_on=PAID_ON)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (BOOKED, LeadStage.BOOKED),
        (Facts(booking_status="Dismissed"), LeadStage.DISMISSED),
        (JOB, LeadStage.JOB),
        (JOB.with_changes(job_status="Canceled"), LeadStage.CANCELED),
        (COMPLETED, LeadStage.COMPLETED),
        (HALF_PAID, LeadStage.COMPLETED),
        (PAID, LeadStage.PAID),
    ],
)
def test_each_set_of_facts_has_one_stage(facts: Facts, expected: str) -> None:
    assert stage(facts) == expected


def test_do_not_qualify_never_qualifies_even_a_paid_job() -> None:
    assert not meets(Rule(QualificationRule.NONE), PAID)


def test_booking_becomes_a_job_qualifies_once_there_is_a_job_and_not_before() -> None:
    rule = Rule(QualificationRule.JOB)
    assert not meets(rule, BOOKED)
    assert meets(rule, JOB)


@pytest.mark.parametrize(
    ("wanted", "current", "met"),
    [
        (JobStatus.COMPLETED, "InProgress", False),
        (JobStatus.COMPLETED, "Completed", True),
        (JobStatus.DISPATCHED, "Scheduled", False),
        (JobStatus.DISPATCHED, "InProgress", True),  # passed Dispatched between two polls
        (JobStatus.DISPATCHED, "Completed", True),
        (JobStatus.HOLD, "Completed", False),  # Hold is off the usual path: only Hold itself
        (JobStatus.HOLD, "Hold", True),
        (JobStatus.SCHEDULED, "Hold", False),
        (JobStatus.SCHEDULED, "Canceled", False),
    ],
)
def test_the_job_reaches_a_status_means_that_status_or_a_later_one(wanted: str, current: str, met: bool) -> None:
    assert meets(Rule(QualificationRule.JOB_STATUS, wanted), JOB.with_changes(job_status=current)) is met


def test_the_invoice_is_paid_needs_a_zero_balance_and_a_payment_date() -> None:
    rule = Rule(QualificationRule.INVOICE_PAID)
    assert not meets(rule, INVOICED)
    assert not meets(rule, HALF_PAID)
    assert not meets(rule, INVOICED.with_changes(invoice_balance=Decimal("0")))  # no payment date yet
    assert meets(rule, PAID)


def test_a_minimum_total_waits_for_the_invoice_and_refuses_a_smaller_one() -> None:
    assert not meets(Rule(QualificationRule.JOB, minimum_total=Decimal("100")), JOB)  # total not known yet
    assert meets(Rule(QualificationRule.JOB, minimum_total=Decimal("450")), INVOICED)
    assert not meets(Rule(QualificationRule.JOB, minimum_total=Decimal("450.01")), INVOICED)


def test_a_canceled_job_never_qualifies() -> None:
    assert not meets(Rule(QualificationRule.JOB), JOB.with_changes(job_status="Canceled"))


def test_a_booking_is_settled_when_paid_dismissed_or_canceled_and_followed_otherwise() -> None:
    assert settled(PAID) == "The invoice is paid."
    assert settled(Facts(booking_status="Dismissed")) == "The booking was dismissed in ServiceTitan."
    assert settled(JOB.with_changes(job_status="Canceled")) == "Job 1001 was canceled in ServiceTitan."
    assert [settled(facts) for facts in (BOOKED, JOB, COMPLETED, HALF_PAID)] == ["", "", "", ""]


def test_a_rule_is_described_as_the_owner_chose_it() -> None:
    assert describe(Rule(QualificationRule.JOB_STATUS, JobStatus.IN_PROGRESS)) == "The job reaches In progress"
    assert (
        describe(Rule(QualificationRule.INVOICE_PAID, minimum_total=Decimal("1250")))
        == "The job's invoice is paid, invoice total at least 1,250.00"
    )
