"""Benchmark data: one account, one campaign + ServiceTitan integration per sandbox tenant, leads and deliveries.

Big backlogs are bulk-inserted (the intake path would take minutes for 100,000 leads) as *parked* pending rows,
due in a year: the worker is started and warm before `release()` makes them all due in one UPDATE, so its start
(Django import, first claim) is not part of what is measured.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from referloop.accounts.models import Account
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, Lead, LeadSource, Referrer
from referloop.integrations.models import (
    Attempt,
    AttemptOutcome,
    ConnectionState,
    Delivery,
    DeliveryState,
    Environment,
    Integration,
    LeadAction,
    WorkerHeartbeat,
)
from referloop.integrations.servicetitan.customer_sync.models import CustomerSync, StagedContact
from referloop.integrations.servicetitan.customer_sync.store import poll_interval
from referloop.providers.mapping import FieldMapping
from referloop.providers.servicetitan import default_mapping

FIRST_TENANT_ID = 500_001
BOOKING_PROVIDER_ID = 42
PARKED = timedelta(days=365)
BULK_BATCH = 2_000
COPIED_CUSTOMERS = 2_000  # contacts in each tenant's copy with --known-customers copy


@dataclass(frozen=True)
class BenchTenant:
    """One sandbox tenant and the campaign whose integration books into it."""

    tenant_id: int
    client_id: str
    client_secret: str
    integration: Integration
    referrer: Referrer

    def sandbox_config(self) -> dict[str, object]:
        return {
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "booking_providers": [{"id": BOOKING_PROVIDER_ID, "name": "referloop", "description": "bench"}],
        }


def make_tenants(count: int, label: str = "t", *, known_customers: str | None = None) -> list[BenchTenant]:
    """`known_customers`: Is First Time Client From ServiceTitan for every lead (each with its own phone). "copy":
    each tenant's contacts copy is complete and fresh (the steady state: the lookup answers without a call);
    "phone": no copy, so every lead costs a phone lookup before its booking (issue 15's worst case)."""
    account = Account.objects.get_or_create(name="Bench Heating & Air")[0]
    start = FIRST_TENANT_ID + Campaign.objects.count()
    return [_make_tenant(account, start + n, f"{label}{n}", known_customers) for n in range(count)]


@transaction.atomic
def _make_tenant(account: Account, tenant_id: int, slug: str, known_customers: str | None = None) -> BenchTenant:
    campaign = Campaign.objects.create(account=account, name=f"Bench {slug}", slug=f"bench-{slug}")
    referrer = Referrer.objects.create(
        campaign=campaign, first_name="Maria", last_name="Lopez", email=f"maria@{slug}.example"
    )
    client_id, secret = f"cid.bench-{tenant_id}", f"cs.bench-{tenant_id}-secret"
    integration = Integration(
        campaign=campaign,
        environment=Environment.SANDBOX,
        tenant_id=tenant_id,
        client_id=client_id,
        booking_provider_id=BOOKING_PROVIDER_ID,
        state=ConnectionState.CONNECTED,
        lead_action=LeadAction.CREATE_BOOKING,
        connected_at=timezone.now(),
    )
    integration.client_secret = secret
    mapping = default_mapping()
    if known_customers:
        mapping["isFirstTimeClient"] = FieldMapping("manual", "From ServiceTitan, else Yes")
    integration.set_mapping(mapping)
    integration.save()  # asking ServiceTitan starts the contacts copy (customer_sync/keeping.py)
    if known_customers == "copy":
        _covering_copy(integration)
    elif known_customers == "phone":  # no copy at all: the worker would otherwise start one mid-run
        CustomerSync.objects.filter(integration=integration).update(keep_contacts=False)
    return BenchTenant(tenant_id, client_id, secret, integration, referrer)


def _covering_copy(integration: Integration) -> None:
    """The steady state: a copy read to its end a moment ago, holding other people's contacts (the leads match
    nobody, so each booking says Yes without a call), next read after the poll interval (not during the run)."""
    now = timezone.now()
    CustomerSync.objects.filter(integration=integration).update(
        contacts_complete_at=now - timedelta(days=1),
        contacts_polled_at=now,
        contacts_due_at=now + poll_interval(),
        contacts_token="bench",
    )
    sync = CustomerSync.objects.get(integration=integration)
    contacts = []
    for n in range(COPIED_CUSTOMERS):
        kind, key = ("email", f"customer{n}@{integration.tenant_id}.example") if n % 2 else ("phone", f"31255{n:05d}")
        contacts.append(StagedContact(sync=sync, contact_id=n + 1, customer_id=n + 1, kind=kind, key=key, value=key))
    StagedContact.objects.bulk_create(contacts)


def load_tenants(label: str = "t") -> list[BenchTenant]:
    """The tenants `make_tenants(label=label)` made, read back (for a feeder process)."""
    integrations = Integration.objects.filter(campaign__slug__startswith=f"bench-{label}").select_related("campaign")
    tenants = []
    for integration in integrations.order_by("pk"):
        referrer = integration.campaign.referrers.order_by("pk").first()
        assert referrer is not None and integration.tenant_id is not None
        secret = integration.client_secret
        tenants.append(BenchTenant(integration.tenant_id, integration.client_id, secret, integration, referrer))
    return tenants


def park_backlog(tenants: Sequence[BenchTenant], total: int) -> int:
    """`total` leads spread evenly over the tenants, each with a pending delivery due only at release()."""
    due = timezone.now() + PARKED
    made = 0
    for batch in _batches(tenants, total, first=Lead.objects.count()):
        _insert(batch, due)
        made += len(batch)
    return made


def _batches(tenants: Sequence[BenchTenant], total: int, first: int) -> Iterator[list[tuple[int, BenchTenant]]]:
    """(lead number, tenant) pairs; numbers go on from `first`, so a second backlog never repeats an email."""
    batch: list[tuple[int, BenchTenant]] = []
    for n in range(first, first + total):
        batch.append((n, tenants[n % len(tenants)]))
        if len(batch) == BULK_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@transaction.atomic
def _insert(batch: Sequence[tuple[int, BenchTenant]], due: datetime) -> None:
    now = timezone.now()
    leads = Lead.objects.bulk_create([_lead(n, tenant, now) for n, tenant in batch])
    Delivery.objects.bulk_create(
        [
            Delivery(
                integration=tenant.integration,
                lead=lead,
                state=DeliveryState.PENDING,
                rate_key=tenant.integration.rate_key,
                next_attempt_at=due,
                created_at=now,
            )
            for lead, (_n, tenant) in zip(leads, batch, strict=True)
        ]
    )


def _lead(n: int, tenant: BenchTenant, now: datetime) -> Lead:
    return Lead(
        campaign_id=tenant.integration.campaign_id,
        referrer=tenant.referrer,
        first_name="Ann",
        last_name=f"Bulk{n}",
        email=f"ann{n}@{tenant.tenant_id}.example",
        phone=f"5{n // 10**6 % 1000:02d}-{n // 10**4 % 100:03d}-{n % 10**4:04d}",  # its own: no cached answer
        street="2 Oak St",
        city="Austin",
        state="TX",
        zip_code="78702",
        code=f"BK{tenant.tenant_id}{n:07d}"[:16],  # our own namespace: random codes are 7 characters
        source=LeadSource.CSV,
        created_at=now,
    )


def insert_due(numbered: Sequence[tuple[int, BenchTenant]]) -> None:
    """Leads with their pending deliveries, due now, in one transaction: the intake's rows without its form
    validation and duplicate check (about a tenth of `submit_lead`'s CPU)."""
    _insert(numbered, timezone.now())


def release() -> tuple[int, float]:
    """Make every parked delivery due now: (rows released, the moment as epoch seconds)."""
    now = timezone.now()
    count = Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__gt=now).update(next_attempt_at=now)
    return count, now.timestamp()


def submit(tenant: BenchTenant, n: int) -> Lead:
    """One lead through the real intake path (lead + delivery in one transaction), as the form would."""
    data = {
        "first_name": "Liz",
        "last_name": f"Live{n}",
        "email": f"liz{n}@{tenant.tenant_id}.example",
        "phone": "512-555-0102",
        "street": "3 Elm St",
        "city": "Austin",
        "state": "TX",
        "zip_code": "78703",
    }
    return submit_lead(tenant.integration.campaign, tenant.referrer, data, source=LeadSource.API).lead


def lead_count() -> int:
    return Lead.objects.count()


def delivered_count() -> int:
    return Delivery.objects.filter(state=DeliveryState.DELIVERED).count()


def unfinished_count() -> int:
    return Delivery.objects.exclude(state=DeliveryState.DELIVERED).count()


def state_counts() -> dict[str, int]:
    rows = Delivery.objects.values("state").annotate(n=Count("id")).values_list("state", "n")
    return {state: n for state, n in rows}


def delivered_times() -> list[float]:
    """Every delivered_at, as sorted epoch seconds."""
    rows = Delivery.objects.filter(state=DeliveryState.DELIVERED).values_list("delivered_at", flat=True)
    return sorted(moment.timestamp() for moment in rows.iterator(chunk_size=5_000) if moment is not None)


def join_to_booking_seconds(since: datetime) -> list[float]:
    """delivered_at - lead.created_at of the delivered leads created after `since`, sorted."""
    rows = Delivery.objects.filter(state=DeliveryState.DELIVERED, lead__created_at__gte=since).values_list(
        "delivered_at", "lead__created_at"
    )
    return sorted((done - joined).total_seconds() for done, joined in rows if done is not None)


def intake_rate(since: datetime) -> float:
    """Leads per second created after `since`, from their own created_at (first to last)."""
    times = sorted(Lead.objects.filter(created_at__gte=since).values_list("created_at", flat=True))
    span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
    return (len(times) - 1) / span if span > 0 else 0.0


def latency_parts(since: datetime) -> dict[str, list[float]]:
    """Where join-to-booking time goes, per delivered lead created after `since` (seconds, each list sorted).

    to_claim: lead created → claimed by the worker (intake commit, poll interval, claim transaction);
    to_send: claimed → the try started (its slot in the tenant's budget, a free send);
    send: the try itself (HTTP, sandbox latency); to_write: answer → delivered_at (the batched result write).
    """
    parts: dict[str, list[float]] = {"to_claim": [], "to_send": [], "send": [], "to_write": []}
    rows = Attempt.objects.filter(outcome=AttemptOutcome.DELIVERED, delivery__lead__created_at__gte=since).values_list(
        "started_at",
        "duration_ms",
        "delivery__first_attempt_at",
        "delivery__delivered_at",
        "delivery__lead__created_at",
    )
    for started, duration_ms, claimed, delivered, created in rows:
        if claimed is None or delivered is None:
            continue
        parts["to_claim"].append((claimed - created).total_seconds())
        parts["to_send"].append((started - claimed).total_seconds())
        parts["send"].append(duration_ms / 1000)
        parts["to_write"].append((delivered - started).total_seconds() - duration_ms / 1000)
    return {name: sorted(values) for name, values in parts.items()}


def unusual_attempts() -> dict[str, int]:
    """Attempts other than a plain delivery, by outcome and sentence (a timeout, a lookup after one, ...)."""
    rows = (
        Attempt.objects.exclude(outcome=AttemptOutcome.DELIVERED)
        .values("outcome", "sentence")
        .annotate(n=Count("id"))
        .values_list("outcome", "sentence", "n")
    )
    return {f"{outcome}: {sentence}": n for outcome, sentence, n in rows}


def worker_started() -> bool:
    return WorkerHeartbeat.objects.filter(stopped_at__isnull=True).exists()
