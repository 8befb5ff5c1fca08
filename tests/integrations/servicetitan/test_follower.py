"""The follower against the sandbox over real HTTP: each booking's job, completion and payment, read in few calls,
written once, and the referral qualified by the campaign's rule exactly once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from referloop.campaigns.models import Lead, LeadEvent, LeadStage, LeadStatus
from referloop.integrations.models import Follow, FollowSync, Integration, JobStatus, QualificationRule
from referloop.integrations.servicetitan.credentials import credentials_for
from referloop.integrations.servicetitan.follower import store
from referloop.providers.servicetitan.models import Booking
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead, connect, drain, start_worker, stop_worker, wait_for
from tests.integrations.servicetitan.following import follow_cycle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_follower(settings: Any) -> None:
    settings.FOLLOW_INTERVAL_SECONDS = 1.0


def booked_lead(tenant: Tenant, rule: str = QualificationRule.JOB_STATUS, **rule_fields: Any) -> Lead:
    integration = connect(tenant.campaign)
    Integration.objects.filter(pk=integration.pk).update(qualification_rule=rule, **rule_fields)
    lead = add_lead(tenant.campaign, tenant.referrer)
    drain()
    lead.refresh_from_db()
    assert lead.stage == LeadStage.BOOKED
    return lead


def booking_of(lead: Lead) -> int:
    return Follow.objects.get(lead=lead).booking_id


def titles(lead: Lead) -> list[str]:
    return list(LeadEvent.objects.filter(lead=lead).order_by("at", "pk").values_list("title", flat=True))


def fresh(lead: Lead) -> Lead:
    lead.refresh_from_db()
    return lead


def test_a_completed_job_qualifies_its_lead_once_with_the_facts_that_met_the_rule(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    lead = booked_lead(tenant)
    _, job, _ = sandbox.book_job(booking_of(lead), total="480.00")
    follow_cycle()
    assert (fresh(lead).stage, lead.status) == (LeadStage.JOB, LeadStatus.PENDING)

    sandbox.complete_job(job.id)
    follow_cycle()
    lead = fresh(lead)
    assert (lead.stage, lead.status, lead.qualified_by_rule) == (
        LeadStage.COMPLETED,
        LeadStatus.QUALIFIED,
        QualificationRule.JOB_STATUS,
    )
    assert lead.qualification_facts["job_number"] == str(job.id)
    assert lead.qualification_facts["job_status"] == "Completed"
    assert lead.qualification_facts["invoice_total"] == "480.00"
    first = titles(lead)
    assert first == [
        f"Booked as job {job.id} in ServiceTitan",
        "Invoice total 480.00",
        f"Job {job.id} completed",
        "Qualified",
    ]

    follow_cycle()  # nothing changed in ServiceTitan: nothing is written again
    assert titles(lead) == first


def test_booking_becomes_a_job_qualifies_at_the_job(tenant: Tenant, sandbox: SandboxHandle) -> None:
    lead = booked_lead(tenant, QualificationRule.JOB)
    sandbox.book_job(booking_of(lead))
    follow_cycle()
    assert (fresh(lead).status, lead.qualified_by_rule) == (LeadStatus.QUALIFIED, QualificationRule.JOB)


def test_an_invoice_paid_in_two_payments_qualifies_after_the_second(tenant: Tenant, sandbox: SandboxHandle) -> None:
    lead = booked_lead(tenant, QualificationRule.INVOICE_PAID)
    _, job, invoice = sandbox.book_job(booking_of(lead), total="300.00")
    sandbox.complete_job(job.id)
    sandbox.pay_invoice(invoice.id, "150.00")
    follow_cycle()
    follow = Follow.objects.get(lead=lead)
    assert (follow.invoice_balance, fresh(lead).status) == (Decimal("150.00"), LeadStatus.PENDING)

    sandbox.pay_invoice(invoice.id, "150.00")
    follow_cycle()
    follow.refresh_from_db()
    assert (fresh(lead).stage, lead.status) == (LeadStage.PAID, LeadStatus.QUALIFIED)
    assert follow.settled_reason == "The invoice is paid."
    assert titles(lead).count("Invoice paid") == 1


def test_a_dismissed_booking_is_not_qualified_with_the_reason(tenant: Tenant, sandbox: SandboxHandle) -> None:
    lead = booked_lead(tenant)
    sandbox.dismiss_booking(booking_of(lead))
    follow_cycle()
    lead = fresh(lead)
    assert (lead.stage, lead.status) == (LeadStage.DISMISSED, LeadStatus.NOT_QUALIFIED)
    assert lead.status_reason == "The booking was dismissed in ServiceTitan."
    assert Follow.objects.get(lead=lead).settled_at is not None


def test_a_canceled_job_is_not_qualified_with_the_reason(tenant: Tenant, sandbox: SandboxHandle) -> None:
    lead = booked_lead(tenant)
    _, job, _ = sandbox.book_job(booking_of(lead))
    sandbox.set_job_status(job.id, "Canceled")
    follow_cycle()
    lead = fresh(lead)
    assert (lead.stage, lead.status) == (LeadStage.CANCELED, LeadStatus.NOT_QUALIFIED)
    assert lead.status_reason == f"Job {job.id} was canceled in ServiceTitan."


def test_a_reopened_and_completed_again_job_qualifies_its_lead_once(tenant: Tenant, sandbox: SandboxHandle) -> None:
    lead = booked_lead(tenant)
    _, job, _ = sandbox.book_job(booking_of(lead))
    sandbox.complete_job(job.id)
    follow_cycle()
    qualified_at = fresh(lead).qualified_at
    assert qualified_at is not None

    sandbox.set_job_status(job.id, "InProgress")
    follow_cycle()
    assert (fresh(lead).stage, lead.status) == (LeadStage.JOB, LeadStatus.QUALIFIED)
    sandbox.complete_job(job.id)
    follow_cycle()
    assert (fresh(lead).stage, lead.qualified_at) == (LeadStage.COMPLETED, qualified_at)
    assert titles(lead).count("Qualified") == 1
    assert titles(lead).count(f"Job {job.id} completed") == 2


def test_a_job_status_rule_counts_a_status_passed_between_two_polls(tenant: Tenant, sandbox: SandboxHandle) -> None:
    lead = booked_lead(tenant, qualifying_job_status=JobStatus.DISPATCHED)
    _, job, _ = sandbox.book_job(booking_of(lead))
    sandbox.set_job_status(job.id, "Dispatched")
    sandbox.set_job_status(job.id, "InProgress")  # the follower never sees Dispatched itself
    follow_cycle()
    assert fresh(lead).status == LeadStatus.QUALIFIED


def test_after_the_window_the_lead_is_not_qualified_and_no_longer_followed(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    lead = booked_lead(tenant)
    Follow.objects.filter(lead=lead).update(follow_until=timezone.now() - timedelta(seconds=1))
    mark = sandbox.mark()
    follow_cycle()
    lead = fresh(lead)
    assert lead.status == LeadStatus.NOT_QUALIFIED
    assert lead.status_reason == "The qualification rule was not met within 90 days."
    assert "Stopped following" in titles(lead)
    assert sandbox.calls(since=mark, operation="Bookings_GetList") == []  # nothing left to ask about


def test_a_cycle_costs_one_call_per_kind_of_record_not_one_per_lead(tenant: Tenant, sandbox: SandboxHandle) -> None:
    connect(tenant.campaign)
    leads = [add_lead(tenant.campaign, tenant.referrer) for _ in range(12)]
    drain()
    for lead in leads[:6]:
        _, job, _ = sandbox.book_job(booking_of(lead))
        sandbox.complete_job(job.id)
    follow_cycle()  # bookings → 6 new jobs → their invoices: one call each
    mark = sandbox.mark()
    follow_cycle()  # 6 bookings without a job, 6 jobs, 6 unpaid invoices
    calls = [call.operation for call in sandbox.calls(since=mark) if call.operation != "Token"]
    assert sorted(calls) == ["Bookings_GetList2", "Invoices_GetList", "Jobs_GetList"]
    assert {lead.stage for lead in Lead.objects.filter(pk__in=[lead.pk for lead in leads[:6]])} == {LeadStage.COMPLETED}


def test_more_than_fifty_open_bookings_are_read_as_changes_since_the_cursor(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    connect(tenant.campaign)
    leads = [add_lead(tenant.campaign, tenant.referrer) for _ in range(60)]
    drain()
    follow_cycle()
    sandbox.book_job(booking_of(leads[7]))
    mark = sandbox.mark()
    follow_cycle()
    [bookings] = sandbox.calls(since=mark, operation="Bookings_GetList2")
    assert "modifiedOnOrAfter" in bookings.params and "ids" not in bookings.params
    assert fresh(leads[7]).stage == LeadStage.JOB
    assert Lead.objects.filter(stage=LeadStage.BOOKED).count() == 59


def test_servicetitan_errors_write_nothing_and_the_next_cycle_catches_up(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    lead = booked_lead(tenant)
    _, job, _ = sandbox.book_job(booking_of(lead))
    sandbox.complete_job(job.id)
    sandbox.set(error_rate=1.0)
    follow_cycle()
    sync = FollowSync.objects.get()
    assert sync.last_error and sync.last_error_at is not None
    assert (fresh(lead).stage, titles(lead)) == (LeadStage.BOOKED, [])

    sandbox.set(error_rate=0.0)
    follow_cycle()
    assert fresh(lead).status == LeadStatus.QUALIFIED
    assert FollowSync.objects.get().last_error == ""


@pytest.fixture
def owner_of_other_worker() -> Iterator[str]:
    yield "another-worker#1"


def test_a_cycle_leased_by_a_worker_that_died_is_run_again_after_its_lease(
    tenant: Tenant, sandbox: SandboxHandle, owner_of_other_worker: str
) -> None:
    lead = booked_lead(tenant)
    sandbox.book_job(booking_of(lead))
    FollowSync.objects.update(leased_by=owner_of_other_worker, lease_until=timezone.now() - timedelta(seconds=1))
    follow_cycle()
    assert fresh(lead).stage == LeadStage.JOB


def test_a_worker_killed_mid_cycle_writes_nothing_and_the_next_worker_writes_each_change_once(
    tenant: Tenant, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    lead = booked_lead(tenant)
    _, job, _ = sandbox.book_job(booking_of(lead))
    sandbox.complete_job(job.id)
    sandbox.set(latency_ms=5000)  # the cycle's first call is still waiting for its answer when the worker dies
    FollowSync.objects.update(due_at=timezone.now())
    mark = sandbox.mark()
    worker = start_worker(
        sandbox,
        "--lease-seconds",
        "3",
        "--send-deadline",
        "2.5",
        log=tmp_path / "worker.log",
        env={"REFERLOOP_FOLLOW_INTERVAL_SECONDS": "1"},
    )
    try:
        wait_for(lambda: FollowSync.objects.exclude(leased_by="").exists(), 20, "the worker to lease the cycle")
        time.sleep(0.3)  # the leased cycle's first call is under way; its answer takes 5 s
    finally:
        stop_worker(worker, signal.SIGKILL)
    assert (fresh(lead).stage, titles(lead)) == (LeadStage.BOOKED, [])  # killed before its answer: nothing written
    assert sandbox.calls(since=mark, operation="Jobs_GetList") == []

    sandbox.set(latency_ms=0)
    wait_for(lambda: not FollowSync.objects.filter(lease_until__gt=timezone.now()).exists(), 10, "the lease to end")
    follow_cycle()
    follow_cycle()
    lead = fresh(lead)
    assert (lead.stage, lead.status) == (LeadStage.COMPLETED, LeadStatus.QUALIFIED)
    # Each change once (the completion is dated when ServiceTitan says the job was completed, so it sorts first).
    expected = [
        f"Booked as job {job.id} in ServiceTitan",
        "Invoice total 250.00",
        f"Job {job.id} completed",
        "Qualified",
    ]
    assert sorted(titles(lead)) == sorted(expected)


@pytest.mark.parametrize("followed", [5, 60])
def test_writing_a_cycle_loads_only_the_bookings_it_read_about_however_many_are_followed(
    tenant: Tenant, followed: int, django_assert_max_num_queries: Any
) -> None:
    integration = connect(tenant.campaign)
    now = timezone.now()
    for n in range(followed):
        lead = tenant.campaign.leads.create(referrer=tenant.referrer, first_name="F", email=f"f{n}@example.com")
        Follow.objects.create(
            integration=integration, lead=lead, booking_id=10_000_000 + n, follow_until=now + timedelta(days=9)
        )
    FollowSync.objects.create(integration=integration, leased_by="me", lease_until=now + timedelta(minutes=1))
    plan = store.Plan(integration.pk, "k", credentials_for(integration), 42, (), (), (), now, now, now, started_at=now)
    seen = store.Seen(bookings={10_000_003: Booking.from_api({"id": 10_000_003, "status": "Dismissed"})}, calls=1)
    assert [follow.booking_id for follow in store.touched(integration.pk, seen)] == [10_000_003]
    with django_assert_max_num_queries(12):
        applied = store.apply("me", plan, seen, now)
    assert (applied.changed, applied.settled) == (1, 1)
