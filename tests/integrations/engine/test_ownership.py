"""Two workers side by side (issue 16 §3, scale-out): only a tenant planned near its limit sticks to one worker, and
a small claim locks only a few tenants' buckets."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from referloop.campaigns.models import Campaign
from referloop.integrations.engine.claim import CANDIDATES_PER_ROW, claim_due
from referloop.integrations.engine.ratelimit import OWNERSHIP_SECONDS, RateLimit, takes_ownership
from referloop.integrations.models import TenantBucket
from referloop.providers.servicetitan import default_mapping
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_backlog, connect

RATE = RateLimit(per_second=60, headroom=1.0)  # one slot every 1/60 s, 30 slots in the half-second horizon
EPOCH = 1_800_000_000.0


def take(owner: str, limit: int, now):
    return claim_due(owner, limit, rate=RATE, lease_seconds=60, now=now)


def test_a_claim_of_a_few_slots_from_an_idle_bucket_does_not_take_the_tenant() -> None:
    assert not takes_ownership(EPOCH - 5, EPOCH + 3 * RATE.interval, EPOCH, RATE)


def test_a_claim_that_plans_more_than_half_the_horizon_takes_the_tenant() -> None:
    assert takes_ownership(EPOCH - 5, EPOCH + 0.3, EPOCH, RATE)


def test_a_claim_finding_earlier_sends_still_ahead_of_the_clock_takes_the_tenant() -> None:
    assert takes_ownership(EPOCH + 2 * RATE.interval, EPOCH + 3 * RATE.interval, EPOCH, RATE)
    assert not takes_ownership(EPOCH + RATE.interval / 2, EPOCH + 2 * RATE.interval, EPOCH, RATE)


@pytest.mark.django_db
def test_a_worker_that_claims_a_few_rows_of_a_tenant_leaves_its_other_rows_to_a_second_worker(
    tenant: Tenant, sandbox
) -> None:
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 10)
    now = timezone.now()

    first = take("w1", 2, now)
    second = take("w2", 2, now + timedelta(seconds=0.1))

    assert len(first.claims) == 2 and len(second.claims) == 2
    assert not {c.delivery_id for c in first.claims} & {c.delivery_id for c in second.claims}
    assert TenantBucket.objects.get(rate_key=integration.rate_key).owner == ""


@pytest.mark.django_db
def test_a_tenant_planned_to_its_limit_stays_with_the_worker_that_claimed_for_it(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 60)
    now = timezone.now()

    first = take("w1", 100, now)
    second = take("w2", 100, now + timedelta(seconds=0.1))

    assert len(first.claims) == 30  # the whole half-second budget
    assert second.claims == []
    bucket = TenantBucket.objects.get(rate_key=integration.rate_key)
    last_send = max(claim.send_at for claim in first.claims)
    assert (bucket.owner, bucket.owned_until) == ("w1", pytest.approx(last_send + OWNERSHIP_SECONDS))


@pytest.mark.django_db
def test_a_worker_keeps_a_tenant_it_owns_while_its_next_claims_are_small(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 60)
    now = timezone.now()
    first = take("w1", 100, now)
    owned_until = TenantBucket.objects.get(rate_key=integration.rate_key).owned_until

    take("w1", 1, now + timedelta(seconds=0.6))  # the slots ahead are spent: a one-row claim owns nothing new

    bucket = TenantBucket.objects.get(rate_key=integration.rate_key)
    assert len(first.claims) == 30
    assert (bucket.owner, bucket.owned_until) == ("w1", owned_until)


@pytest.mark.django_db(transaction=True)
def test_a_claim_meeting_another_claimers_locked_bucket_skips_it_and_says_it_was_contended(
    tenant: Tenant, sandbox
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite's IMMEDIATE transactions queue claimers instead")
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 5)
    TenantBucket.objects.get_or_create(rate_key=integration.rate_key)
    locked, finish = threading.Event(), threading.Event()

    def other_claimer() -> None:
        with transaction.atomic():
            list(TenantBucket.objects.select_for_update().filter(rate_key=integration.rate_key))
            locked.set()
            finish.wait(10)
        connection.close()

    thread = threading.Thread(target=other_claimer)
    thread.start()
    try:
        assert locked.wait(10)
        found = take("w2", 5, timezone.now())
    finally:
        finish.set()
        thread.join()

    assert found.claims == [] and found.contended and found.more_due
    assert len(take("w2", 5, timezone.now()).claims) == 5  # the other claim is over: the rows are there


@pytest.mark.django_db
def test_a_small_claim_among_many_tenants_locks_only_twice_as_many_buckets_as_rows_and_still_fills(
    tenant: Tenant, sandbox
) -> None:
    for n in range(10):
        campaign = Campaign.objects.create(account=tenant.account, name=f"Campaign {n}", slug=f"campaign-{n}")
        integration = connect(
            campaign, tenant_id=2000 + n, client_id=f"cid.{n}", secret=f"secret-{n}", mapping=default_mapping()
        )
        add_backlog(integration, tenant.referrer, 3)

    found = take("w1", 2, timezone.now())

    assert len(found.claims) == 2 and found.more_due
    assert TenantBucket.objects.count() == CANDIDATES_PER_ROW * 2  # a bucket is made when first locked
