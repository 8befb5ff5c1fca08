"""A real `referloop worker` process killed with SIGKILL while its webhooks are in flight, then restarted."""

from __future__ import annotations

import json
import subprocess
import threading
from collections import defaultdict

import pytest

from referloop.integrations.models import Attempt, Delivery, DeliveryState
from referloop.integrations.webhooks.events import LEAD_CREATED
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead, make_due_now, start_worker, stop_worker, wait_for
from tests.integrations.webhooks.helpers import deliveries_of, subscribe
from tests.integrations.webhooks.receiver import Reply, receiving

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS = 10


def start_webhook_worker(*args: str) -> subprocess.Popen[bytes]:
    """A worker allowed to send to the receiver on 127.0.0.1 (no sandbox: these are webhooks only)."""
    return start_worker(
        None, *args, env={"REFERLOOP_WEBHOOKS_ALLOW_LOOPBACK": "1", "REFERLOOP_WEBHOOKS_ALLOW_HTTP": "1"}
    )


def test_a_worker_killed_mid_send_leaves_every_event_received_with_one_webhook_id_per_event(tenant: Tenant) -> None:
    release = threading.Event()
    # The first try of every event reaches the receiver, which holds its answer: the worker dies waiting.
    with receiving([Reply(200, hold=release)] * EVENTS) as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        for _ in range(EVENTS):
            add_lead(tenant.campaign, tenant.referrer)
        events = {d.event.event_id: d.event.body() for d in deliveries_of(created.endpoint) if d.event}

        # A deadline and lease far longer than the test: the dead worker can't have given up on a try by itself,
        # however loaded the machine. Its leases are then run out by moving their rows' clock, not by waiting.
        first = start_webhook_worker("--lease-seconds", "600", "--send-deadline", "590")
        try:
            wait_for(lambda: len(receiver.received) == EVENTS, 30, "every event to reach the receiver")
        finally:
            first.kill()  # SIGKILL: no chance to write anything
            first.wait()
            release.set()
        assert Delivery.objects.filter(endpoint=created.endpoint, state=DeliveryState.DELIVERED).count() == 0
        assert not Attempt.objects.filter(delivery__endpoint=created.endpoint).exists()  # it wrote nothing
        make_due_now()  # the leases are still set: to the next claim these are rows whose worker died

        second = start_webhook_worker()
        try:
            wait_for(
                lambda: (
                    Delivery.objects.filter(endpoint=created.endpoint, state=DeliveryState.DELIVERED).count() == EVENTS
                ),
                60,
                "every event delivered after the restart",
            )
        finally:
            assert stop_worker(second) == 0

    copies: dict[str, list[bytes]] = defaultdict(list)
    for got in receiver.received:
        copies[got.webhook_id].append(got.body)
        assert got.verifies_with(created.secret)
    assert set(copies) == set(events)  # every event arrived, under its own id
    assert {len(bodies) for bodies in copies.values()} == {2}  # the lost try and the one after the restart
    for webhook_id, bodies in copies.items():
        assert len(set(bodies)) == 1  # the same event both times: a receiver drops the second by its id
        assert json.loads(bodies[0]) == events[webhook_id]
    lost = Delivery.objects.filter(endpoint=created.endpoint, attempts__sentence__contains="lease ran out")
    assert lost.distinct().count() == EVENTS
