"""Claiming and writing results against the database, without HTTP: leases, budgets, fairness, guards."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from referloop.integrations.engine.claim import claim_due
from referloop.integrations.engine.ratelimit import RateLimit
from referloop.integrations.engine.results import GAVE_UP, write_results
from referloop.integrations.engine.retry import RetryPolicy
from referloop.integrations.engine.send import released
from referloop.integrations.engine.tries import Result
from referloop.integrations.models import (
    Attempt,
    AttemptOutcome,
    ConnectionState,
    Delivery,
    DeliveryState,
    TenantBucket,
)
from referloop.integrations.servicetitan.destination import LOST_TRY_SENTENCE
from referloop.providers.base import Outcome, Tried
from tests.conftest import Tenant
from tests.integrations.engine.helpers import (
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    OTHER_PROVIDER_ID,
    OTHER_TENANT_ID,
    add_backlog,
    connect,
)

pytestmark = pytest.mark.django_db
RATE = RateLimit(per_second=60, headroom=1.0)  # round numbers: 30 slots in the half-second horizon


def take(limit: int = 100, owner: str = "w1", **kwargs):
    return claim_due(owner, limit, rate=RATE, lease_seconds=60, **kwargs)


def result(claim, outcome: str, **values) -> Result:
    tried = Tried(Outcome(outcome), f"{outcome} happened", **values)
    return Result(claim=claim, outcome=outcome, started_at=timezone.now(), tried=tried)


def test_a_claim_leases_due_rows_and_postpones_them_to_the_end_of_the_lease(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    [row_id] = add_backlog(integration, tenant.referrer, 1)
    now = timezone.now()

    found = take(now=now)

    [claim] = found.claims
    row = Delivery.objects.get(pk=row_id)
    assert (claim.delivery_id, claim.number, claim.settle_first) == (row_id, 1, False)
    assert row.leased_by == "w1" and row.attempt_count == 1
    # The lease covers the send horizon (0.5 s at this rate) and then the 60 s lease itself.
    assert row.next_attempt_at == row.lease_expires_at == now + timedelta(seconds=60.5)
    assert row.first_attempt_at is not None
    assert claim.payload["lead.first_name"] == "Bulk"
    assert claim.destination.credentials.tenant_id == integration.tenant_id
    assert take().claims == []  # leased: nobody else gets it


def test_a_tenant_gets_no_more_rows_than_its_budget_spaced_one_interval_apart(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 100)
    now = timezone.now()

    found = take(limit=100, now=now)

    assert len(found.claims) == 30 and found.more_due
    gaps = {round(b.send_at - a.send_at, 6) for a, b in itertools.pairwise(found.claims)}
    assert gaps == {round(RATE.interval, 6)}
    bucket = TenantBucket.objects.get(rate_key=integration.rate_key)
    assert bucket.next_slot_at == pytest.approx(found.claims[-1].send_at + RATE.interval)
    assert bucket.waits == 1
    assert take(limit=100, now=now).claims == []  # the budget is spent for now
    assert len(take(limit=100, now=now + timedelta(seconds=0.25)).claims) == 15  # a quarter second's worth


class _Ordered(random.Random):
    """Shuffles tenants into the order a test names, so each order is tried every run, never by chance."""

    def __init__(self, first: str) -> None:
        super().__init__(0)
        self.first = first

    def shuffle(self, x: list) -> None:  # type: ignore[override]
        x.sort(key=lambda key: key != self.first)


@pytest.mark.parametrize("busy_first", [True, False], ids=["busy tenant first", "quiet tenant first"])
def test_a_claim_shared_between_tenants_gives_the_quiet_one_its_new_lead(
    tenant: Tenant, other_tenant: Tenant, sandbox, busy_first: bool
) -> None:
    busy = connect(tenant.campaign)
    add_backlog(busy, tenant.referrer, 500)
    quiet = connect(
        other_tenant.campaign,
        tenant_id=OTHER_TENANT_ID,
        client_id=OTHER_CLIENT_ID,
        secret=OTHER_CLIENT_SECRET,
        provider_id=OTHER_PROVIDER_ID,
    )
    [new] = add_backlog(quiet, other_tenant.referrer, 1)

    found = take(limit=4, rng=_Ordered((busy if busy_first else quiet).rate_key))

    assert new in [claim.delivery_id for claim in found.claims]
    assert len(found.claims) == 4  # the busy tenant takes the three places the quiet one does not need


def test_a_paused_tenant_is_not_claimed_until_its_retry_after_passes(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 3)
    TenantBucket.objects.create(rate_key=integration.rate_key, paused_until=timezone.now() + timedelta(seconds=5))

    assert take().claims == []
    assert len(take(now=timezone.now() + timedelta(seconds=6)).claims) == 3


def test_a_row_whose_lease_ran_out_is_claimed_again_with_a_lookup_first_and_a_record_of_the_lost_try(
    tenant: Tenant, sandbox
) -> None:
    integration = connect(tenant.campaign)
    [row_id] = add_backlog(integration, tenant.referrer, 1)
    take(owner="died")

    [claim] = take(owner="w2", now=timezone.now() + timedelta(seconds=61)).claims

    assert (claim.number, claim.settle_first, claim.lease_owner) == (2, True, "w2")
    lost = Attempt.objects.get(delivery_id=row_id)
    assert (lost.number, lost.outcome, lost.sentence) == (1, AttemptOutcome.AMBIGUOUS, LOST_TRY_SENTENCE)
    assert Delivery.objects.get(pk=row_id).ambiguous is True


def test_due_rows_of_a_disconnected_integration_are_held_at_claim_time_not_sent(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    [row_id] = add_backlog(integration, tenant.referrer, 1)
    integration.state = ConnectionState.DISCONNECTED
    integration.save()

    found = take()

    assert (found.claims, found.held) == ([], 1)
    row = Delivery.objects.get(pk=row_id)
    assert row.state == DeliveryState.HELD
    assert row.reason == "The ServiceTitan integration is disconnected: reconnect it to send held leads."


def test_a_late_result_is_kept_as_an_attempt_but_cannot_overwrite_the_new_owners_row(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    [row_id] = add_backlog(integration, tenant.referrer, 1)
    [late_job] = take(owner="slow").claims
    take(owner="w2", now=timezone.now() + timedelta(seconds=61))

    written = write_results([result(late_job, AttemptOutcome.DELIVERED, remote_id=9)])

    assert written.states == {"stale": 1}
    row = Delivery.objects.get(pk=row_id)
    assert (row.state, row.leased_by, row.remote_id) == (DeliveryState.PENDING, "w2", None)
    assert Attempt.objects.filter(delivery_id=row_id, outcome=AttemptOutcome.DELIVERED).count() == 1


def test_a_row_given_back_unsent_is_due_again_with_its_try_uncounted(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    [row_id] = add_backlog(integration, tenant.referrer, 1)
    [claim] = take().claims

    written = write_results([released(claim)])

    assert written.states == {"released": 1}
    row = Delivery.objects.get(pk=row_id)
    assert (row.state, row.attempt_count, row.leased_by, row.lease_expires_at) == (
        DeliveryState.PENDING,
        0,
        "",
        None,
    )
    assert row.next_attempt_at <= timezone.now()
    assert not Attempt.objects.exists()


def test_a_transient_failure_is_scheduled_by_the_policy_and_fails_after_the_last_day(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    [row_id] = add_backlog(integration, tenant.referrer, 1)
    [claim] = take().claims
    policy = RetryPolicy(jitter=0.0)
    now = timezone.now()

    write_results([result(claim, AttemptOutcome.TRANSIENT, retry_after=25.0)], policy=policy, now=now)
    assert Delivery.objects.get(pk=row_id).next_attempt_at == now + timedelta(seconds=25)

    Delivery.objects.filter(pk=row_id).update(first_attempt_at=now - timedelta(hours=25), next_attempt_at=now)
    [claim] = take().claims
    write_results([result(claim, AttemptOutcome.TRANSIENT)], policy=policy)
    row = Delivery.objects.get(pk=row_id)
    assert row.state == DeliveryState.FAILED
    assert row.reason == "transient happened" + GAVE_UP


def test_a_429_pauses_the_tenant_for_its_retry_after(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 1)
    [claim] = take().claims
    now = timezone.now()

    write_results([result(claim, AttemptOutcome.TRANSIENT, rate_limited=True, retry_after=3.0)], now=now)

    bucket = TenantBucket.objects.get(rate_key=integration.rate_key)
    assert (bucket.paused_until, bucket.pauses) == (now + timedelta(seconds=3), 1)
    assert bucket.next_slot_at >= (now + timedelta(seconds=3)).timestamp()
    assert Delivery.objects.get(pk=claim.delivery_id).next_attempt_at == now + timedelta(seconds=3)


def test_a_delivered_result_stores_the_booking_and_clears_the_lease(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 1)
    [claim] = take().claims

    write_results([result(claim, AttemptOutcome.DELIVERED, remote_id=321, external_id="X1")])

    row = Delivery.objects.get(pk=claim.delivery_id)
    assert (row.state, row.remote_id, row.external_id, row.leased_by) == (DeliveryState.DELIVERED, 321, "X1", "")
    assert row.delivered_at is not None and row.lease_expires_at is None and row.next_attempt_at is None


def test_a_result_for_a_delivery_deleted_in_flight_is_dropped_and_the_rest_of_the_batch_is_written(
    tenant: Tenant, sandbox
) -> None:
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 2)
    gone, kept = take().claims
    Delivery.objects.get(pk=gone.delivery_id).lead.delete()  # an admin deletes the lead while it is being sent

    written = write_results(
        [
            result(gone, AttemptOutcome.DELIVERED, remote_id=1),
            result(kept, AttemptOutcome.DELIVERED, remote_id=2),
        ]
    )

    assert written.states == {"gone": 1, DeliveryState.DELIVERED: 1}
    assert Delivery.objects.get(pk=kept.delivery_id).remote_id == 2
    assert list(Attempt.objects.values_list("delivery_id", flat=True)) == [kept.delivery_id]


def test_a_destinations_absurd_retry_after_is_capped_and_cannot_block_the_batch(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 2)
    limited, other = take().claims
    now = timezone.now()

    written = write_results(
        [
            result(limited, AttemptOutcome.TRANSIENT, rate_limited=True, retry_after=1e300),
            result(other, AttemptOutcome.DELIVERED, remote_id=7),
        ],
        now=now,
    )

    assert written.states == {DeliveryState.PENDING: 1, DeliveryState.DELIVERED: 1}
    # Capped at the engine's own 24-hour window: the row is due again when its retries would end anyway.
    assert Delivery.objects.get(pk=limited.delivery_id).next_attempt_at == limited.first_attempt_at + timedelta(
        hours=24
    )
    bucket = TenantBucket.objects.get(rate_key=integration.rate_key)
    assert bucket.paused_until == now + timedelta(hours=24)
