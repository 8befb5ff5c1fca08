"""The follower's database side: start following a delivered booking, plan a cycle, write what it read.

A cycle belongs to one integration (one tenant and booking provider) and one worker at a time: `claim` leases
the integration's FollowSync row, `apply` writes the cycle's findings and the new cursors in ONE transaction that
first checks the lease is still ours, and `failed` gives the integration back to try again later. A worker killed
mid-cycle wrote nothing; its lease runs out and the cycle is run again, and because every write compares what
was stored with what was read, running a cycle twice writes each change once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from referloop.campaigns import outcomes
from referloop.campaigns.models import Lead, LeadEvent, LeadStage, LeadStatus
from referloop.diagnostics.redact import without_secrets
from referloop.integrations.models import Follow, FollowSync, Integration
from referloop.integrations.servicetitan import qualification
from referloop.integrations.servicetitan.credentials import credentials_for
from referloop.integrations.servicetitan.qualification import Facts, Rule
from referloop.integrations.servicetitan.readiness import readiness
from referloop.providers.servicetitan import Credentials
from referloop.providers.servicetitan.models import Booking, Invoice, Job

# The next cycle's cursors start this long before this cycle did: a change ServiceTitan stamped a little
# before it became visible, or a clock a little apart from ours, is read again rather than missed.
CURSOR_OVERLAP = timedelta(minutes=5)
ERROR_LIMIT = 500


def interval() -> timedelta:
    return timedelta(seconds=float(settings.FOLLOW_INTERVAL_SECONDS))


# -- starting ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Booked:
    """A delivery that became a booking: whose, where, and when."""

    integration_id: int
    lead_id: int
    booking_id: int
    at: datetime


def start(booked: Sequence[Booked]) -> None:
    """Follow these new bookings (in the results' transaction): their leads are Booked from now on."""
    if not booked:
        return
    days = dict(Integration.objects.filter(pk__in={b.integration_id for b in booked}).values_list("pk", "follow_days"))
    Follow.objects.bulk_create(
        [
            Follow(
                integration_id=b.integration_id,
                lead_id=b.lead_id,
                booking_id=b.booking_id,
                started_at=b.at,
                follow_until=b.at + timedelta(days=days.get(b.integration_id, 90)),
            )
            for b in booked
        ],
        ignore_conflicts=True,  # a booking adopted again after a resend is followed once
    )
    Lead.objects.filter(pk__in=[b.lead_id for b in booked], stage=LeadStage.NOT_BOOKED).update(stage=LeadStage.BOOKED)
    # A booking made a moment ago has nothing to tell yet: an integration's first cycle is one interval away.
    first = min(b.at for b in booked) + interval()
    FollowSync.objects.bulk_create([FollowSync(integration_id=pk, due_at=first) for pk in days], ignore_conflicts=True)


# -- planning ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One cycle of one integration: what to read, from where, and the cursors to read changes from."""

    integration_id: int
    rate_key: str
    credentials: Credentials = field(repr=False)
    booking_provider_id: int
    bookings: tuple[int, ...]  # bookings with no job yet
    jobs: tuple[int, ...]  # jobs not yet settled
    invoices: tuple[int, ...]  # invoices not yet paid
    bookings_since: datetime
    jobs_since: datetime
    invoices_since: datetime
    started_at: datetime


def claim(owner: str, now: datetime, lease_seconds: float, limit: int = 20) -> list[Plan]:
    """Lease up to `limit` integrations whose cycle is due and plan their cycles. Follows past their window are
    settled here, so an unreachable ServiceTitan does not keep a lead Pending forever."""
    plans: list[Plan] = []
    due_now = FollowSync.objects.filter(due_at__lte=now).filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
    if not due_now.exists():  # the usual answer, read without a write transaction (SQLite has one writer)
        return plans
    with transaction.atomic():
        due = list(
            due_now.select_for_update(skip_locked=True, of=("self",))
            .select_related("integration__campaign")
            .order_by("due_at")[:limit]
        )
        for sync in due:
            integration = sync.integration
            expire(integration, now)
            follows: list[Any] = list(
                Follow.objects.filter(integration=integration, settled_at__isnull=True).values_list(
                    "booking_id", "job_id", "invoice_id", "paid_on", "started_at", named=True
                )
            )
            ready = readiness(integration)
            if not follows:  # nothing to ask ServiceTitan: up to date without a call
                FollowSync.objects.filter(pk=sync.pk).update(
                    due_at=now + interval(), last_success_at=now, last_calls=0, last_error=""
                )
                continue
            if not ready.can_read or integration.booking_provider_id is None:
                why = ready.hold_reason or "Enter the Booking Provider Value on the Connection tab."
                FollowSync.objects.filter(pk=sync.pk).update(
                    due_at=now + interval(), last_error=why[:ERROR_LIMIT], last_error_at=now
                )
                continue
            lease = now + timedelta(seconds=lease_seconds)
            FollowSync.objects.filter(pk=sync.pk).update(leased_by=owner, lease_until=lease)
            plans.append(_plan(sync, integration, follows, now))
    return plans


def _plan(sync: FollowSync, integration: Integration, follows: Sequence[Any], now: datetime) -> Plan:
    """`follows`: the open follows' ids and dates (named rows, not models: an integration may follow thousands)."""
    assert integration.booking_provider_id is not None  # claim checked it
    earliest = min(follow.started_at for follow in follows) - CURSOR_OVERLAP
    return Plan(
        integration_id=integration.pk,
        rate_key=integration.rate_key,
        credentials=credentials_for(integration),
        booking_provider_id=integration.booking_provider_id,
        bookings=tuple(sorted(f.booking_id for f in follows if f.job_id is None)),
        jobs=tuple(sorted(f.job_id for f in follows if f.job_id is not None)),
        invoices=tuple(sorted(f.invoice_id for f in follows if f.invoice_id is not None and f.paid_on is None)),
        bookings_since=sync.bookings_since or earliest,
        jobs_since=sync.jobs_since or earliest,
        invoices_since=sync.invoices_since or earliest,
        started_at=now,
    )


# -- writing -----------------------------------------------------------------------------------------------------


@dataclass
class Seen:
    """What one cycle read from ServiceTitan, by id (only records of followed bookings are kept)."""

    bookings: dict[int, Booking] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    invoices: dict[int, Invoice] = field(default_factory=dict)
    calls: int = 0

    def job_of_booking(self, booking_id: int) -> Job | None:
        return next((job for job in self.jobs.values() if job.booking_id == booking_id), None)


@dataclass
class Applied:
    stale: bool = False  # the lease had passed to another worker: nothing was written
    changed: int = 0  # follows whose facts changed
    qualified: int = 0
    settled: int = 0
    events: int = 0


def apply(owner: str, plan: Plan, seen: Seen, now: datetime) -> Applied:
    """Write the cycle: each follow's new facts, its lead's stage, status and timeline, then the cursors."""
    applied = Applied()
    with transaction.atomic():
        sync = FollowSync.objects.select_for_update().filter(integration_id=plan.integration_id).first()
        if sync is None or sync.leased_by != owner or sync.lease_until is None or sync.lease_until < now:
            applied.stale = True
            return applied
        integration = Integration.objects.get(pk=plan.integration_id)
        rule = Rule.of(integration)
        events: list[LeadEvent] = []
        for follow in touched(plan.integration_id, seen).select_related("lead"):
            _follow_up(follow, follow.lead, seen, rule, now, events, applied)
        LeadEvent.objects.bulk_create(events)
        applied.events += len(events)
        cursor = plan.started_at - CURSOR_OVERLAP
        FollowSync.objects.filter(pk=sync.pk).update(
            bookings_since=cursor,
            jobs_since=cursor,
            invoices_since=cursor,
            due_at=plan.started_at + interval(),  # a steady cadence, however long this cycle took
            leased_by="",
            lease_until=None,
            last_success_at=now,
            last_calls=seen.calls,
            last_error="",
        )
    return applied


def touched(integration_id: int, seen: Seen) -> QuerySet[Follow]:
    """The open follows that what the cycle read is about: only they can change (a new rule is applied to the
    others when it is saved, qualification_setup.py), so a cycle's writes cost what changed, not what is followed."""
    bookings = set(seen.bookings) | {job.booking_id for job in seen.jobs.values() if job.booking_id is not None}
    return Follow.objects.filter(integration_id=integration_id, settled_at__isnull=True).filter(
        Q(booking_id__in=bookings) | Q(job_id__in=set(seen.jobs)) | Q(invoice_id__in=set(seen.invoices))
    )


def failed(owner: str, plan: Plan, error: str, now: datetime) -> None:
    """The cycle could not finish (ServiceTitan refused or was unreachable): nothing is written, the cursors
    stay, and the integration is tried again after a pause (the sooner of a minute and the interval)."""
    retry = min(interval(), timedelta(minutes=1))
    integration = Integration.objects.filter(pk=plan.integration_id).first()
    shown = without_secrets(integration, error) if integration is not None else error  # then cut: never half a secret
    FollowSync.objects.filter(integration_id=plan.integration_id, leased_by=owner).update(
        leased_by="", lease_until=None, due_at=now + retry, last_error=shown[:ERROR_LIMIT], last_error_at=now
    )


def _follow_up(
    follow: Follow, lead: Lead, seen: Seen, rule: Rule, now: datetime, events: list[LeadEvent], applied: Applied
) -> None:
    before = Facts.of(follow)
    after = read_facts(before, follow.booking_id, seen)
    if after != before:
        applied.changed += 1
        job = seen.jobs.get(after.job_id) if after.job_id is not None else None
        booked_at = job.created_on if job is not None and job.created_on is not None else now
        events.extend(_changes(lead.pk, before, after, now, min(booked_at, now)))
        for name in qualification.FACT_FIELDS:
            setattr(follow, name, getattr(after, name))
        follow.checked_at = now
        new_stage = qualification.stage(after)
        if lead.stage != new_stage:
            Lead.objects.filter(pk=lead.pk).update(stage=new_stage)
    if lead.status == LeadStatus.PENDING and lead.qualified_at is None and qualification.meets(rule, after):
        evidence = qualification.evidence(rule, after)
        if outcomes.qualify_by_rule(lead.pk, rule.kind, qualification.describe(rule), evidence, now):
            applied.qualified += 1
    if after.invoice_total is not None and after.invoice_total != before.invoice_total:
        outcomes.invoice_total_changed(lead.pk, after.invoice_total, now)  # after qualifying: rewards earned now too
    reason = qualification.settled(after)
    if reason:
        why_not = qualification.not_qualified_reason(after)
        if why_not:
            outcomes.not_qualified_by_fact(lead.pk, why_not, now)  # only a Pending lead changes
        follow.settled_at, follow.settled_reason = now, reason
        applied.settled += 1
    if after != before or reason:
        follow.save()


def read_facts(before: Facts, booking_id: int, seen: Seen) -> Facts:
    """The facts after this cycle: what was read wins, what was not read stays as it was."""
    facts = before
    booking = seen.bookings.get(booking_id)
    if booking is not None:
        facts = facts.with_changes(booking_status=booking.status or "")
        if booking.job_id is not None and facts.job_id is None:
            facts = facts.with_changes(job_id=booking.job_id)
    job = seen.jobs.get(facts.job_id) if facts.job_id is not None else seen.job_of_booking(booking_id)
    if job is not None:
        facts = facts.with_changes(
            job_id=job.id,
            job_number=job.job_number or "",
            job_status=job.job_status or "",
            completed_on=job.completed_on,
            invoice_id=job.invoice_id if job.invoice_id is not None else facts.invoice_id,
        )
    invoice = seen.invoices.get(facts.invoice_id) if facts.invoice_id is not None else None
    if invoice is not None:
        facts = facts.with_changes(
            invoice_total=invoice.total, invoice_balance=invoice.balance, paid_on=invoice.paid_on
        )
    return facts


def _changes(lead_id: int, before: Facts, after: Facts, now: datetime, booked_at: datetime) -> Iterable[LeadEvent]:
    """One timeline entry per change a person would care about, dated when ServiceTitan says it happened (the job's
    creation, its completion, the payment) or, where it doesn't say, when the follower saw it."""
    job = after.job_number or str(after.job_id)
    if after.booking_status != before.booking_status and after.booking_status == qualification.BOOKING_DISMISSED:
        yield LeadEvent(lead_id=lead_id, at=now, kind=LeadStage.DISMISSED, title="Booking dismissed in ServiceTitan")
    found_job = after.job_id is not None and before.job_id is None
    if found_job:
        status = f"Status: {after.job_status}." if after.job_status else ""
        yield LeadEvent(
            lead_id=lead_id,
            at=booked_at,
            kind=LeadStage.JOB,
            title=f"Booked as job {job} in ServiceTitan",
            detail=status,
        )
    # A job found this cycle has its status in the entry above, unless it already ended (completed, canceled).
    ended = after.job_status in ("Completed", qualification.JOB_CANCELED)
    if after.job_status != before.job_status and after.job_status and (ended or not found_job):
        if after.job_status == "Completed":
            at = after.completed_on or now
            yield LeadEvent(lead_id=lead_id, at=at, kind=LeadStage.COMPLETED, title=f"Job {job} completed")
        elif after.job_status == qualification.JOB_CANCELED:
            yield LeadEvent(lead_id=lead_id, at=now, kind=LeadStage.CANCELED, title=f"Job {job} canceled")
        else:
            yield LeadEvent(lead_id=lead_id, at=now, kind=LeadStage.JOB, title=f"Job {job}: {after.job_status}")
    if after.invoice_total != before.invoice_total and after.invoice_total is not None:
        yield LeadEvent(lead_id=lead_id, at=now, kind="invoice", title=f"Invoice total {after.invoice_total:,.2f}")
    if after.paid and not before.paid:
        yield LeadEvent(lead_id=lead_id, at=after.paid_on or now, kind=LeadStage.PAID, title="Invoice paid")


def expire(integration: Integration, now: datetime) -> int:
    """Stop following bookings past the integration's window; a Pending lead becomes Not qualified, saying so."""
    ended = list(Follow.objects.filter(integration=integration, settled_at__isnull=True, follow_until__lte=now))
    days = integration.follow_days
    stopped = f"Stopped following the booking in ServiceTitan after {days} days (the campaign's follow window)."
    for follow in ended:
        Follow.objects.filter(pk=follow.pk).update(settled_at=now, settled_reason=stopped)
        LeadEvent.objects.create(
            lead_id=follow.lead_id, at=now, kind="stopped", title="Stopped following", detail=stopped
        )
        outcomes.not_qualified_by_fact(follow.lead_id, f"The qualification rule was not met within {days} days.", now)
    return len(ended)
