"""Real `referloop worker` processes on the test database: killed, stopped, and two side by side."""

from __future__ import annotations

import signal

import pytest
from django.utils import timezone

from referloop.campaigns.models import Campaign
from referloop.integrations.models import AttemptOutcome, Delivery, DeliveryState, WorkerHeartbeat
from referloop.providers.servicetitan import default_mapping
from referloop.sandbox.config import BookingProvider, TenantConfig
from tests.conftest import Tenant
from tests.integrations.engine.helpers import (
    add_backlog,
    booking_counts,
    connect,
    start_worker,
    stop_worker,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def delivered() -> int:
    return Delivery.objects.filter(state=DeliveryState.DELIVERED).count()


def leased() -> int:
    return Delivery.objects.filter(state=DeliveryState.PENDING, lease_expires_at__isnull=False).count()


def test_a_worker_killed_mid_flight_leaves_every_lead_delivered_exactly_once_after_a_restart(
    tenant: Tenant, sandbox
) -> None:
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 120)
    sandbox.set(latency_ms=300)  # creates are stored at once, answered 300 ms later: many in flight

    # A short lease, so the dead worker's rows come back soon; the restarted worker has the usual one.
    first = start_worker(sandbox, "--lease-seconds", "3", "--send-deadline", "2.5")
    try:
        wait_for(lambda: delivered() >= 10 and leased() >= 5, 30, "the worker to be mid-flight")
    finally:
        first.kill()  # SIGKILL: no chance to write anything
        first.wait()
    assert leased() >= 1  # rows were in flight when it died

    second = start_worker(sandbox)
    try:
        wait_for(lambda: delivered() == 120, 60, "every lead delivered after the restart")
    finally:
        assert stop_worker(second) == 0

    counts = booking_counts(sandbox)
    assert len(counts) == 120 and set(counts.values()) == {1}
    adopted = Delivery.objects.filter(attempts__outcome=AttemptOutcome.FOUND_EXISTING).distinct().count()
    lost = Delivery.objects.filter(attempts__sentence__contains="lease ran out").distinct().count()
    assert lost >= 1 and adopted <= lost


def test_two_worker_processes_never_send_a_lead_twice(tenant: Tenant, sandbox) -> None:
    # Six ServiceTitan tenants, so that the two workers share out the tenants and race for the rows.
    integrations = [connect(tenant.campaign)]
    for n in range(1, 6):
        campaign = Campaign.objects.create(account=tenant.account, name=f"Campaign {n}", slug=f"campaign-{n}")
        sandbox.config.put_tenant(
            TenantConfig(
                tenant_id=1000 + n,
                client_id=f"cid.{n}",
                client_secret=f"secret-{n}",
                booking_providers=[BookingProvider(id=42, name="referloop")],
            )
        )
        integrations.append(
            connect(campaign, tenant_id=1000 + n, client_id=f"cid.{n}", secret=f"secret-{n}", mapping=default_mapping())
        )
    sandbox.set(latency_ms=50)
    # Too little room each to serve all six tenants: both must take part.
    workers = [start_worker(sandbox, "--worker-id", name, "--concurrency", "2") for name in ("one", "two")]
    try:
        wait_for(lambda: WorkerHeartbeat.objects.filter(stopped_at__isnull=True).count() == 2, 30, "both workers")
        for integration in integrations:
            add_backlog(integration, tenant.referrer, 50)
        wait_for(lambda: delivered() == 300, 60, "every lead delivered")
    finally:
        codes = [stop_worker(worker) for worker in workers]
    assert codes == [0, 0]

    counts = booking_counts(sandbox)
    assert len(counts) == 300 and set(counts.values()) == {1}
    assert "429" not in sandbox.stats()["by_status"]
    beats = dict(WorkerHeartbeat.objects.values_list("worker_id", "processed"))
    assert beats["one"] > 0 and beats["two"] > 0 and beats["one"] + beats["two"] >= 300


def test_sigterm_lets_sends_in_flight_finish_gives_back_the_rest_and_exits_cleanly(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    add_backlog(integration, tenant.referrer, 200)
    sandbox.set(latency_ms=800)  # each send is in flight for most of a second

    worker = start_worker(sandbox, "--worker-id", "stopping")
    try:
        wait_for(lambda: leased() >= 10 and sandbox.stats()["total"] >= 3, 30, "sends in flight")
    finally:
        code = stop_worker(worker, signal.SIGTERM)
    assert code == 0

    assert leased() == 0  # every lease was either finished or given back
    sent = sum(booking_counts(sandbox).values())
    assert delivered() == sent  # every booking made before the stop is recorded
    waiting = Delivery.objects.filter(state=DeliveryState.PENDING)
    assert waiting.count() == 200 - sent
    assert not waiting.filter(attempt_count__gt=0).exists()
    assert not waiting.filter(next_attempt_at__gt=timezone.now()).exists()
    beat = WorkerHeartbeat.objects.get(worker_id="stopping")
    assert beat.stopped_at is not None and beat.processed == sent
