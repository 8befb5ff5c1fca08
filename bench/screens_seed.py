"""Seed one account for bench/screens.py: a campaign with a ServiceTitan integration, referrers, leads, one
delivery per lead, its attempts and (for booked leads) a followed booking, all by bulk INSERTs in big batches.

The data is deterministic (a hash of the lead's number picks its status, stage, delivery state, attempt count...)
and mixes what the screens filter on: every lead status, stage and verification state, leads from a crowded IP
(Suspicious), existing ServiceTitan customers, and every delivery state (some failed in the last 24 hours, some
retrying, some held). `grow(upto)` adds leads numbered from the current count, so the account grows from 1,000 to
200,000 leads in place: lead n is n x STEP older than the newest, so 200,000 leads span a year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from referloop.accounts.models import Account, Membership, Role, User
from referloop.campaigns.models import (
    Campaign,
    EmailVerification,
    Lead,
    LeadSource,
    LeadStage,
    LeadStatus,
    Referrer,
)
from referloop.integrations.models import (
    Attempt,
    AttemptOutcome,
    ConnectionState,
    Delivery,
    DeliveryState,
    Environment,
    Follow,
    Integration,
    LeadAction,
)
from referloop.providers.servicetitan import default_mapping

OWNER_EMAIL = "owner@screens.example"
OWNER_PASSWORD = "bench-screens-owner-password"
LEADS_PER_REFERRER = 100
BATCH = 5_000  # leads per transaction (with their deliveries, attempts and follows)
STEP = timedelta(seconds=157)  # 200,000 leads x 157 s ≈ 363 days
CROWDED_IP = "203.0.113.9"  # every 97th lead: more than SUSPICIOUS_LEADS_PER_IP from one address
ERRORS = (
    "ServiceTitan rejected the booking: Business Unit 12 is inactive.",
    "ServiceTitan rejected the booking: the phone number is not valid.",
    "ServiceTitan did not answer within 30 seconds.",
    "ServiceTitan answered 503 Service Unavailable.",
)
STATUSES = ((600, LeadStatus.PENDING), (750, LeadStatus.QUALIFIED), (800, LeadStatus.REWARDED))
STAGES = (
    (400, LeadStage.NOT_BOOKED),
    (700, LeadStage.BOOKED),
    (800, LeadStage.JOB),
    (900, LeadStage.COMPLETED),
    (950, LeadStage.PAID),
    (980, LeadStage.DISMISSED),
)
DELIVERY_STATES = (
    (850, DeliveryState.DELIVERED),
    (900, DeliveryState.FAILED),
    (940, DeliveryState.PENDING),
    (970, DeliveryState.HELD),
)


@dataclass(frozen=True)
class Seeded:
    user: User
    campaign: Campaign
    integration: Integration


def pick(table: tuple[tuple[int, str], ...], value: int, last: str) -> str:
    """The first entry whose bound is above `value` (0..999), else `last`."""
    for bound, choice in table:
        if value < bound:
            return choice
    return last


def spread(n: int, salt: int) -> int:
    """A fixed pseudo-random 0..999 per lead number and salt (Knuth's multiplicative hash): no random module."""
    return ((n + salt * 7919) * 2654435761 % 2**32) * 1000 // 2**32


def make_account() -> Seeded:
    account = Account.objects.create(name="Screens Heating & Air")
    user = User.objects.create_user(email=OWNER_EMAIL, password=OWNER_PASSWORD)
    Membership.objects.create(user=user, account=account, role=Role.OWNER)
    campaign = Campaign.objects.create(account=account, name="Screens referrals", slug="screens")
    integration = Integration(
        campaign=campaign,
        environment=Environment.SANDBOX,
        tenant_id=600_001,
        client_id="cid.screens",
        booking_provider_id=42,
        state=ConnectionState.CONNECTED,
        lead_action=LeadAction.CREATE_BOOKING,
        connected_at=timezone.now(),
    )
    integration.client_secret = "cs.screens-secret"
    integration.set_mapping(default_mapping())
    integration.save()
    return Seeded(user, campaign, integration)


def grow(seeded: Seeded, upto: int, now: datetime) -> dict[str, int]:
    """Add leads (and their rows) until the campaign has `upto`; returns the rows added per table."""
    added = {"referrers": 0, "leads": 0, "deliveries": 0, "attempts": 0, "follows": 0}
    start = Lead.objects.filter(campaign=seeded.campaign).count()
    for first in range(start, upto, BATCH):
        rows = _insert_batch(seeded, first, min(first + BATCH, upto), now)
        for key, count in rows.items():
            added[key] += count
    return added


@transaction.atomic
def _insert_batch(seeded: Seeded, first: int, last: int, now: datetime) -> dict[str, int]:
    campaign, integration = seeded.campaign, seeded.integration
    wanted = range(-(-first // LEADS_PER_REFERRER), -(-last // LEADS_PER_REFERRER))
    Referrer.objects.bulk_create([_referrer(campaign, r, now) for r in wanted], batch_size=BATCH)
    referrers = dict(
        Referrer.objects.filter(campaign=campaign, code__startswith="BR")
        .filter(code__in=[f"BR{n // LEADS_PER_REFERRER:08d}" for n in range(first, last, LEADS_PER_REFERRER)])
        .values_list("code", "pk")
    )
    leads = Lead.objects.bulk_create(
        [_lead(campaign, referrers[f"BR{n // LEADS_PER_REFERRER:08d}"], n, now) for n in range(first, last)],
        batch_size=BATCH,
    )
    deliveries = Delivery.objects.bulk_create(
        [_delivery(integration, lead, n, now) for n, lead in zip(range(first, last), leads, strict=True)],
        batch_size=BATCH,
    )
    attempts = [a for d in deliveries for a in _attempts(d)]
    Attempt.objects.bulk_create(attempts, batch_size=BATCH)
    follows = [
        _follow(integration, d, lead)
        for d, lead in zip(deliveries, leads, strict=True)
        if lead.stage and d.state == DeliveryState.DELIVERED
    ]
    Follow.objects.bulk_create(follows, batch_size=BATCH)
    return {
        "referrers": len(wanted),
        "leads": len(leads),
        "deliveries": len(deliveries),
        "attempts": len(attempts),
        "follows": len(follows),
    }


def _referrer(campaign: Campaign, r: int, now: datetime) -> Referrer:
    return Referrer(
        campaign=campaign,
        first_name="Maria",
        last_name=f"Ref{r}",
        email=f"referrer{r}@screens.example",
        code=f"BR{r:08d}",
        created_at=now - STEP * r * LEADS_PER_REFERRER,
    )


def _lead(campaign: Campaign, referrer_id: int, n: int, now: datetime) -> Lead:
    created = now - STEP * n
    status = pick(STATUSES, spread(n, 1), LeadStatus.NOT_QUALIFIED)
    verify = spread(n, 3)
    form = spread(n, 4) < 300
    return Lead(
        campaign=campaign,
        referrer_id=referrer_id,
        first_name="Ann",
        last_name=f"Friend{n}",
        email=f"friend{n}@example{n % 50}.com",
        phone=f"5{n // 10**6 % 100:02d}-{n // 10**4 % 100:03d}-{n % 10**4:04d}",
        street="2 Oak St",
        city="Austin",
        state="TX",
        zip_code="78702",
        code=f"BL{n:09d}",
        status=status,
        qualified_at=created + timedelta(days=20) if status in (LeadStatus.QUALIFIED, LeadStatus.REWARDED) else None,
        stage=pick(STAGES, spread(n, 2), LeadStage.CANCELED),
        email_verification=(
            EmailVerification.UNVERIFIED
            if verify < 50
            else EmailVerification.VERIFIED
            if verify < 150
            else EmailVerification.NOT_ASKED
        ),
        servicetitan_customer_id=n + 1 if spread(n, 5) < 50 else None,
        source=LeadSource.FORM if form else LeadSource.API,
        client_ip=(CROWDED_IP if n % 97 == 0 else f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}") if form else None,
        created_at=created,
    )


def _delivery(integration: Integration, lead: Lead, n: int, now: datetime) -> Delivery:
    state = pick(DELIVERY_STATES, spread(n, 6), DeliveryState.SKIPPED)
    tries = 0 if state in (DeliveryState.HELD, DeliveryState.SKIPPED) else 1 + spread(n, 7) % 8
    created = lead.created_at
    error = ERRORS[n % len(ERRORS)] if state == DeliveryState.FAILED or (state == "pending" and n % 2) else ""
    return Delivery(
        integration=integration,
        lead=lead,
        state=state,
        rate_key=integration.rate_key,
        next_attempt_at=created + timedelta(minutes=10) if state == DeliveryState.PENDING else None,  # overdue
        attempt_count=tries,
        remote_id=n + 1 if state == DeliveryState.DELIVERED else None,
        external_id=lead.code,
        last_error=error,
        reason="The lead action is Nothing to action." if state == DeliveryState.SKIPPED else "",
        created_at=created,
        first_attempt_at=created + timedelta(seconds=1) if tries else None,
        delivered_at=created + timedelta(seconds=30) if state == DeliveryState.DELIVERED else None,
        failed_at=created + timedelta(hours=1) if state == DeliveryState.FAILED else None,
        held_at=created if state == DeliveryState.HELD else None,
        held_reason="Map Business Unit on the Leads tab." if state == DeliveryState.HELD else "",
    )


def _attempts(delivery: Delivery) -> list[Attempt]:
    final = {
        DeliveryState.DELIVERED: AttemptOutcome.DELIVERED,
        DeliveryState.FAILED: AttemptOutcome.PERMANENT,
    }.get(delivery.state, AttemptOutcome.TRANSIENT)
    started = delivery.first_attempt_at or delivery.created_at
    return [
        Attempt(
            delivery=delivery,
            number=number,
            started_at=started + timedelta(minutes=5 * (number - 1)),
            duration_ms=180,
            outcome=final if number == delivery.attempt_count else AttemptOutcome.TRANSIENT,
            request_summary={"method": "POST", "path": "/crm/v2/tenant/600001/bookings", "externalId": "x"},
            response_status=200 if final == AttemptOutcome.DELIVERED and number == delivery.attempt_count else 503,
            response_text='{"title": "Service Unavailable"}',
            sentence="ServiceTitan answered 503 Service Unavailable.",
        )
        for number in range(1, delivery.attempt_count + 1)
    ]


def _follow(integration: Integration, delivery: Delivery, lead: Lead) -> Follow:
    # Settled: an outcome that can't change, or the 90-day follow window ended (as the follower does).
    ended = lead.created_at + timedelta(days=90) < timezone.now()
    settled = ended or lead.stage in (LeadStage.PAID, LeadStage.DISMISSED, LeadStage.CANCELED)
    return Follow(
        integration=integration,
        lead=lead,
        booking_id=delivery.remote_id or 0,
        booking_status="Converted" if lead.stage != LeadStage.BOOKED else "New",
        job_id=delivery.remote_id if lead.stage != LeadStage.BOOKED else None,
        started_at=lead.created_at,
        follow_until=lead.created_at + timedelta(days=90),
        checked_at=lead.created_at + timedelta(hours=1),
        settled_at=lead.created_at + timedelta(days=10) if settled else None,
        settled_reason="The invoice is paid." if settled else "",
    )
