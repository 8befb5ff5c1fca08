"""The worker outlives a database that goes away for a moment (a restart, a failover): found by bench/chaos.py,
where a heartbeat written while PostgreSQL was down stopped the worker writing results for good."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.db import OperationalError

from referloop.integrations.engine.worker import Worker, until_idle
from referloop.integrations.models import Delivery, DeliveryState
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead, booking_counts, connect, options

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_heartbeat_that_fails_does_not_stop_the_worker_writing_results(
    tenant: Tenant, sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(tenant.campaign)
    leads = [add_lead(tenant.campaign, tenant.referrer) for _ in range(3)]
    beat = Worker._beat
    failed: list[bool] = []

    def beat_failing_once(self: Worker, *args: Any, **kwargs: Any) -> None:
        if not kwargs and not failed:  # a running beat (not the start's or the stop's)
            failed.append(True)
            raise OperationalError("the database system is shutting down")
        beat(self, *args, **kwargs)

    monkeypatch.setattr(Worker, "_beat", beat_failing_once)

    # Bounded from outside: with the flush loop dead, nothing would ever ask the worker's own stop condition.
    report = asyncio.run(asyncio.wait_for(Worker(options(heartbeat_interval=0.0), until_idle).run(), 30))

    assert report.idle

    assert failed == [True]
    states = set(Delivery.objects.filter(lead__in=leads).values_list("state", flat=True))
    assert states == {DeliveryState.DELIVERED}
    assert sorted(booking_counts(sandbox).values()) == [1, 1, 1]


def test_a_worker_started_while_the_database_is_down_waits_for_it_then_delivers(
    tenant: Tenant, sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(tenant.campaign)
    lead = add_lead(tenant.campaign, tenant.referrer)
    beat = Worker._beat
    refused: list[bool] = []

    def down_at_start(self: Worker, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("started") and len(refused) < 2:
            refused.append(True)
            raise OperationalError("could not connect to server: Connection refused")
        beat(self, *args, **kwargs)

    monkeypatch.setattr(Worker, "_beat", down_at_start)

    report = asyncio.run(asyncio.wait_for(Worker(options(), until_idle).run(), 30))

    assert report.idle and refused == [True, True]
    assert Delivery.objects.get(lead=lead).state == DeliveryState.DELIVERED
