"""The per-tenant rate limit and fairness between tenants, against the sandbox's real 60/s sliding window."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import close_old_connections

from referloop.integrations.engine.worker import WorkerReport, run_worker
from referloop.integrations.models import Delivery, DeliveryState, TenantBucket
from tests.conftest import Tenant
from tests.integrations.engine.helpers import (
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    OTHER_PROVIDER_ID,
    OTHER_TENANT_ID,
    SandboxProcess,
    add_backlog,
    add_lead,
    connect,
    drain,
    options,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_tenant_sending_hundreds_of_bookings_never_gets_a_429(tenant: Tenant, settings: Any) -> None:
    # Several calls in flight at once, answering out of order; the sandbox counts calls per second in its own
    # process, as ServiceTitan would (in this process, the worker's threads would shift its clock).
    sandbox = SandboxProcess("--latency-ms", "20", "--jitter-ms", "20", "--rate-limit", "60")
    settings.SERVICETITAN_SANDBOX_URL = sandbox.base_url
    settings.SERVICETITAN_ALLOW_SANDBOX = True
    try:
        integration = connect(tenant.campaign)
        add_backlog(integration, tenant.referrer, 240)
        report = drain(
            limit_seconds=40, stop=lambda: not Delivery.objects.exclude(state=DeliveryState.DELIVERED).exists()
        )
        stats = sandbox.stats()
        counts = sandbox.booking_counts()
    finally:
        sandbox.stop()

    assert stats["by_operation"]["Bookings_Create"] == {"200": 240}
    assert "429" not in stats["by_status"]
    assert len(counts) == 240 and set(counts.values()) == {1}
    assert report.outcomes == {"delivered": 240}
    # the budget, not the sandbox, held the tenant back
    assert TenantBucket.objects.get(rate_key=integration.rate_key).waits > 0


def test_a_tenant_with_a_big_backlog_does_not_delay_another_tenants_new_lead(
    tenant: Tenant, other_tenant: Tenant, sandbox
) -> None:
    busy = connect(tenant.campaign)
    add_backlog(busy, tenant.referrer, 2000)
    quiet = connect(
        other_tenant.campaign,
        tenant_id=OTHER_TENANT_ID,
        client_id=OTHER_CLIENT_ID,
        secret=OTHER_CLIENT_SECRET,
        provider_id=OTHER_PROVIDER_ID,
    )
    done = threading.Event()
    reports: list[WorkerReport] = []

    def work() -> None:
        try:
            reports.append(run_worker(options(), stop_when=lambda _report: done.is_set()))
        finally:
            close_old_connections()

    worker = threading.Thread(target=work, name="test-worker")
    worker.start()
    try:
        wait_for(
            lambda: Delivery.objects.filter(state=DeliveryState.DELIVERED).count() >= 30, 20, "the backlog to flow"
        )
        lead = add_lead(other_tenant.campaign, other_tenant.referrer)
        new = Delivery.objects.get(lead=lead)
        wait_for(lambda: Delivery.objects.get(pk=new.pk).state == DeliveryState.DELIVERED, 10, "the new lead")
    finally:
        done.set()
        worker.join(timeout=30)

    new.refresh_from_db()
    waited = (new.delivered_at - lead.created_at).total_seconds()
    assert waited < 2.0, f"the new lead waited {waited:.2f} s behind the other tenant's backlog"
    still_waiting = Delivery.objects.filter(integration=busy, state=DeliveryState.PENDING).count()
    assert still_waiting > 1000  # the backlog was still draining
    assert new.integration_id == quiet.pk
    assert [b.tenant_id for b in sandbox.bookings() if b.external_id == lead.code] == [OTHER_TENANT_ID]
    assert reports and reports[0].stale == 0


def test_the_new_lead_of_a_quiet_tenant_goes_out_within_the_poll_interval(tenant: Tenant, sandbox) -> None:
    """Nothing waits on a timer: an idle worker finds a new lead at its next poll."""
    connect(tenant.campaign)
    lead = add_lead(tenant.campaign, tenant.referrer)

    drain()

    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.DELIVERED
    assert (delivery.delivered_at - lead.created_at).total_seconds() < 5
