"""The engine's plain-SQL shortcuts give exactly what the ORM (or the slower code they replace) gives.

Claims and result writes skip the ORM's query compiler and model instances; these tests hold them to the
same values: lead records, converted rows, prepared parameters, Attempt rows, and the choice of due rows.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from referloop.campaigns.models import Lead, Referrer
from referloop.integrations.engine import claim as claiming
from referloop.integrations.engine import queries
from referloop.integrations.engine.queries import LeadRow, LeaseRow, LockedRow
from referloop.integrations.engine.ratelimit import RateLimit
from referloop.integrations.engine.results import write_results
from referloop.integrations.engine.tries import Claim, Result
from referloop.integrations.models import (
    Attempt,
    AttemptOutcome,
    Delivery,
    DeliveryState,
    Integration,
    TenantBucket,
)
from referloop.integrations.records import lead_record, load_records
from referloop.providers.base import Outcome, Tried
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_backlog, add_lead, connect

pytestmark = pytest.mark.django_db


# -- lead records ------------------------------------------------------------------------------------------


def test_load_records_gives_what_lead_record_gives_for_every_lead(tenant: Tenant) -> None:
    connect(tenant.campaign)
    plain = add_lead(tenant.campaign, tenant.referrer, notes="Back gate is locked", custom_system_type="Heat pump")
    bare = add_lead(tenant.campaign, tenant.referrer, last_name="", phone="", street="", custom_system_type="")
    other = Referrer.objects.create(campaign=tenant.campaign, first_name="Ana", last_name="", email="ana@example.com")
    Referrer.objects.filter(pk=other.pk).update(code="ab-c d")  # not letters and digits: goes through reverse()
    odd = add_lead(tenant.campaign, Referrer.objects.get(pk=other.pk), first_name="Zoë", last_name="Ünal")
    Lead.objects.filter(pk=odd.pk).update(custom_data={"system_type": "Furnace", "count": 3, "tags": ["a", "b"]})
    ids = [plain.pk, bare.pk, odd.pk, tenant.lead.pk]

    records = load_records(ids)

    leads = Lead.objects.filter(pk__in=ids).select_related("referrer", "campaign")
    assert records == {lead.pk: dict(lead_record(lead)) for lead in leads}
    assert records[odd.pk]["referrer.referral_link"].endswith("/r/ab-c%20d/")
    assert load_records([]) == {}


# -- named queries: reading and preparing values as the ORM does -------------------------------------------------


def test_named_reads_convert_values_as_values_list_does(tenant: Tenant) -> None:
    integration = connect(tenant.campaign)
    ids = add_backlog(integration, tenant.referrer, 3)
    now = timezone.now()
    Delivery.objects.filter(pk=ids[0]).update(ambiguous=True, lease_expires_at=now, leased_by="w", first_attempt_at=now)
    lead_ids = list(Delivery.objects.filter(pk__in=ids).values_list("lead_id", flat=True))
    Lead.objects.filter(pk=lead_ids[0]).update(custom_data={"system_type": "Furnace", "count": 3, "tags": ["a"]})

    locked = queries.lock_deliveries(ids)
    leases = queries.lock_leases(ids)
    leads = queries.lead_rows(lead_ids)

    deliveries = Delivery.objects.filter(pk__in=ids)
    assert sorted(locked) == sorted(deliveries.values_list(*LockedRow._fields))
    assert sorted(leases) == sorted(deliveries.values_list(*LeaseRow._fields))
    assert sorted(leads) == sorted(Lead.objects.filter(pk__in=lead_ids).values_list(*LeadRow._fields))
    assert {type(row) for row in [*locked, *leases, *leads]} == {LockedRow, LeaseRow, LeadRow}
    assert queries.lock_deliveries([]) == queries.lock_leases([]) == queries.lead_rows([]) == []


@pytest.mark.parametrize(
    ("model", "name", "values"),
    [
        (Delivery, "state", [DeliveryState.DELIVERED, "pending", ""]),
        (Delivery, "remote_id", [None, 0, 2**62, True]),
        (Delivery, "ambiguous", [True, False, 1, 0]),
        (Delivery, "attempt_count", [0, 5]),
        (Delivery, "delivered_at", [None, datetime(2025, 5, 1, 14, 0, 7, 123456, tzinfo=UTC)]),
        (Delivery, "next_attempt_at", [timezone.now().astimezone(timezone.get_fixed_timezone(-300))]),
        (Delivery, "next_attempt_at", [datetime(2025, 5, 1, 14, 0)]),  # naive: the field's own path
        (Attempt, "delivery", [7]),
        (Attempt, "outcome", [AttemptOutcome.AMBIGUOUS]),
        (Attempt, "request_summary", [{}, {"requests": [{"body": {"name": "Zoë"}}]}, None]),
        (TenantBucket, "next_slot_at", [0.0, 1.5, 2]),
        (TenantBucket, "waits", [0, 10**12]),
    ],
)
def test_prepared_values_are_what_get_db_prep_save_gives(model: Any, name: str, values: list[Any]) -> None:
    field = model._meta.get_field(name)
    prep = queries.preparer(field)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a naive datetime warns on both paths
        for value in values:
            assert _same(prep(value), field.get_db_prep_save(value, connection)), value


def _same(ours: Any, django: Any) -> bool:
    # On PostgreSQL Django wraps JSON in Jsonb for binding, which compares by identity: compare what it carries.
    if type(django).__name__ == "Jsonb":
        return type(ours) is type(django) and ours.obj == django.obj
    return bool(ours == django)


# -- results: the Attempt row ------------------------------------------------------------------------------------


def test_an_attempt_written_by_write_results_is_the_row_the_orm_would_write(tenant: Tenant) -> None:
    integration = connect(tenant.campaign)
    [row_id] = add_backlog(integration, tenant.referrer, 1)
    [claim] = claiming.claim_due("w1", 10, rate=RateLimit(), lease_seconds=60).claims
    started = timezone.now() - timedelta(seconds=2)
    summary = {"requests": [{"method": "POST", "path": "/x", "body": {"name": "Zoë", "n": [1, 2.5, None]}}]}
    tried = Tried(
        Outcome.TRANSIENT,
        "ServiceTitan is down.",
        response_status=None,
        response_text="Service Unavailable",
        requests=tuple(summary["requests"]),
    )
    result = Result(claim=claim, outcome=AttemptOutcome.TRANSIENT, started_at=started, duration_ms=1234, tried=tried)

    write_results([result])

    ours = Attempt.objects.get(delivery_id=row_id)
    theirs = Attempt.objects.create(
        delivery_id=row_id,
        number=claim.number,
        started_at=started,
        duration_ms=1234,
        outcome=AttemptOutcome.TRANSIENT,
        request_summary=summary,
        response_status=None,
        response_text="Service Unavailable",
        sentence="ServiceTitan is down.",
    )
    theirs.refresh_from_db()
    columns = [field.attname for field in Attempt._meta.concrete_fields if field.name != "id"]
    assert {c: getattr(ours, c) for c in columns} == {c: getattr(theirs, c) for c in columns}
    assert ours.request_summary == summary


# -- claims: which rows are chosen -------------------------------------------------------------------------------


@dataclass
class _Chosen:
    ids: list[int]
    waited: set[str]
    more_due: bool


def _reference_pick(budgets: dict[str, int], limit: int, now: datetime, rng: random.Random) -> _Chosen:
    """The claim's choice as it was before reads were capped: budget + 1 rows of every tenant."""
    due: dict[str, list[int]] = {}
    for key, budget in budgets.items():
        ids = list(
            Delivery.objects.filter(state=DeliveryState.PENDING, rate_key=key, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[: budget + 1]
        )
        if ids:
            due[key] = ids
    waited = {key for key, rows in due.items() if len(rows) > budgets[key]}
    order = list(due)
    rng.shuffle(order)
    wanted = {key: min(len(rows), budgets[key]) for key, rows in due.items()}
    shares = _round_robin(wanted, limit, order)
    more_due = bool(waited) or sum(shares.values()) < sum(wanted.values())
    return _Chosen([row for key in order for row in due[key][: shares[key]]], waited, more_due)


def _round_robin(wanted: dict[str, int], limit: int, order: list[str]) -> dict[str, int]:
    """Fair shares the slow, obvious way (independent of `claiming.share`): one row per tenant per turn."""
    shares = dict.fromkeys(wanted, 0)
    while limit > 0 and any(shares[key] < wanted[key] for key in order):
        for key in order:
            if limit > 0 and shares[key] < wanted[key]:
                shares[key] += 1
                limit -= 1
    return shares


def test_capped_reads_choose_the_rows_reading_everything_would(tenant: Tenant) -> None:
    integration = connect(tenant.campaign)
    now = timezone.now()
    keys = [f"k{n}" for n in range(12)]
    backlog = {key: n * n % 41 for n, key in enumerate(keys)}  # 0 to 40 rows, uneven
    ids = add_backlog(integration, tenant.referrer, sum(backlog.values()))
    start = 0
    for key, count in backlog.items():
        chunk = ids[start : start + count]
        start += count
        for offset, row_id in enumerate(chunk):  # distinct ages, and some ties broken by id
            Delivery.objects.filter(pk=row_id).update(
                rate_key=key, next_attempt_at=now - timedelta(seconds=offset // 2)
            )
    Delivery.objects.filter(pk__in=ids[::7]).update(next_attempt_at=now + timedelta(seconds=5))  # not due yet
    cases = random.Random(5)

    for _ in range(150):
        budgets = {key: cases.choice([0, 1, 2, 3, 5, 8, 30, 40]) for key in cases.sample(keys, cases.randint(1, 12))}
        limit = cases.choice([1, 2, 4, 8, 16, 17, 64, 128, 500])
        seed = cases.random()
        expected = _reference_pick(budgets, limit, now, random.Random(seed))
        picked = claiming.pick_due(budgets, limit, now, random.Random(seed))
        assert (picked.ids, picked.waited, picked.more_due) == (expected.ids, expected.waited, expected.more_due), (
            budgets,
            limit,
        )


def test_lock_skips_rows_that_stopped_being_due_and_returns_the_rest_oldest_first(tenant: Tenant) -> None:
    integration = connect(tenant.campaign)
    first, taken, later, done, second = add_backlog(integration, tenant.referrer, 5)
    now = timezone.now()
    Delivery.objects.filter(pk=first).update(next_attempt_at=now - timedelta(seconds=9))
    Delivery.objects.filter(pk=taken).update(next_attempt_at=now + timedelta(seconds=60), leased_by="w2")
    Delivery.objects.filter(pk=later).update(next_attempt_at=None)
    Delivery.objects.filter(pk=done).update(state=DeliveryState.DELIVERED)
    Delivery.objects.filter(pk=second).update(next_attempt_at=now - timedelta(seconds=1))

    rows = claiming._lock([second, taken, later, done, first], now)

    assert [row.id for row in rows] == [first, second]
    assert set(rows[0]._fields) >= {"integration_id", "lead_id", "rate_key", "attempt_count", "ambiguous"}


def test_a_claim_carries_the_same_record_as_lead_record(tenant: Tenant) -> None:
    connect(tenant.campaign)
    lead = add_lead(tenant.campaign, tenant.referrer, custom_system_type="Heat pump")

    claims = claiming.claim_due("w1", 10, rate=RateLimit(), lease_seconds=60).claims

    [claim] = [claim for claim in claims if _lead_of(claim) == lead.pk]
    assert dict(claim.payload) == dict(lead_record(Lead.objects.get(pk=lead.pk)))
    destination = claim.destination
    assert destination.custom_sources
    assert destination.mapping == Integration.objects.get(pk=claim.destination_id).mapping()


def _lead_of(claim: Claim) -> int:
    return Delivery.objects.get(pk=claim.delivery_id).lead_id
