"""Retries on the engine's one schedule, over real HTTP to a receiver that answers as scripted."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from referloop.integrations.engine.retry import RetryPolicy
from referloop.integrations.models import AttemptOutcome, Delivery, DeliveryState
from referloop.integrations.webhooks.events import LEAD_CREATED
from referloop.providers.base import Outcome
from referloop.providers.webhooks import WebhookConnector
from tests.conftest import Tenant
from tests.integrations.engine.helpers import SHORT_TIMEOUT, add_lead, no_retry_wait
from tests.integrations.webhooks.helpers import all_finished, run_until, subscribe, try_once
from tests.integrations.webhooks.receiver import Reply, receiving

pytestmark = pytest.mark.django_db(transaction=True)


def webhook_delivery() -> Delivery:
    return Delivery.objects.get(connector="webhook")


def test_a_500_is_retried_and_delivered_on_the_second_attempt_with_both_attempts_kept(tenant: Tenant) -> None:
    script = [Reply(500, "database is down\n" + "x" * 5000)]
    with receiving(script) as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        add_lead(tenant.campaign, tenant.referrer)
        run_until(all_finished(created.endpoint), retry=no_retry_wait())

    delivery = webhook_delivery()
    assert delivery.state == DeliveryState.DELIVERED
    first, second = delivery.attempts.order_by("number")
    assert (first.number, first.outcome, first.response_status) == (1, AttemptOutcome.TRANSIENT, 500)
    assert first.response_text.startswith("database is down") and len(first.response_text) == 1000
    assert "500 Internal Server Error" in first.sentence and "tried again" in first.sentence
    assert (second.number, second.outcome, second.response_status, second.response_text) == (
        2,
        AttemptOutcome.DELIVERED,
        200,
        "ok",
    )
    [request] = first.request_summary["requests"]
    assert request["headers"]["webhook-id"] == delivery.event.event_id
    assert first.request_summary["url"] == receiver.url and first.request_summary["addresses"] == ["127.0.0.1"]
    # The same event both times: same id and body; a fresh timestamp and signature.
    one, two = receiver.received
    assert one.webhook_id == two.webhook_id == delivery.event.event_id
    assert one.body == two.body


def test_without_a_retry_after_a_500_waits_for_the_schedules_first_step(tenant: Tenant) -> None:
    with receiving(default=Reply(503)) as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        add_lead(tenant.campaign, tenant.referrer)
        run_until(
            lambda: webhook_delivery().attempt_count == 1 and not webhook_delivery().leased_by,
            retry=RetryPolicy(jitter=0.0),
        )
        seen = timezone.now()

    delivery = webhook_delivery()
    assert delivery.state == DeliveryState.PENDING and created.endpoint.pk == delivery.endpoint_id
    # The engine's first step, 10 s (no jitter here), counted from when the result was written: after the try
    # started, and before the row was read back.
    started = delivery.attempts.get().started_at
    assert started + timedelta(seconds=10) <= delivery.next_attempt_at <= seen + timedelta(seconds=10)
    assert len(receiver.received) == 1


def test_a_429_with_retry_after_is_tried_again_no_sooner_than_it_asked(tenant: Tenant) -> None:
    script = [Reply(429, "slow down", headers={"Retry-After": "2"})]
    with receiving(script) as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        add_lead(tenant.campaign, tenant.referrer)
        run_until(all_finished(created.endpoint))

    first, second = receiver.received
    assert second.at - first.at >= 2.0
    attempt = webhook_delivery().attempts.order_by("number").first()
    assert attempt is not None and (attempt.outcome, attempt.response_status) == (AttemptOutcome.TRANSIENT, 429)
    assert "in 2 seconds, as it asked" in attempt.sentence
    assert webhook_delivery().state == DeliveryState.DELIVERED


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (408, Outcome.TRANSIENT),
        (429, Outcome.TRANSIENT),
        (502, Outcome.TRANSIENT),
        (301, Outcome.TRANSIENT),  # retried (not followed): the receiver may be mid-move
        (400, Outcome.TRANSIENT),
        (401, Outcome.TRANSIENT),  # e.g. a receiver being redeployed with its secret not loaded yet
        (404, Outcome.TRANSIENT),
        (410, Outcome.PERMANENT),  # Gone: the one answer that says "stop"
    ],
)
def test_each_answer_is_judged_by_its_status(status: int, outcome: Outcome) -> None:
    headers = {"Location": "https://elsewhere.example/hooks"} if status == 301 else {}
    with receiving(default=Reply(status, "", headers=headers)) as receiver:
        tried = try_once(receiver.url, ("whsec_" + "A" * 44,))
    assert (tried.outcome, tried.response_status) == (outcome, status)
    assert len(receiver.received) == 1  # a redirect is not followed


def test_a_receiver_that_does_not_answer_in_time_is_ambiguous_and_sent_again_with_the_same_id(tenant: Tenant) -> None:
    release = threading.Event()
    with receiving([Reply(200, hold=release)]) as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        add_lead(tenant.campaign, tenant.referrer)
        try:
            run_until(all_finished(created.endpoint), retry=no_retry_wait(), timeout=SHORT_TIMEOUT)
        finally:
            release.set()

    delivery = webhook_delivery()
    first, second = delivery.attempts.order_by("number")
    assert first.outcome == AttemptOutcome.AMBIGUOUS and "did not answer within 1 seconds" in first.sentence
    assert "same webhook-id" in first.sentence
    assert second.outcome == AttemptOutcome.DELIVERED
    one, two = receiver.received
    assert one.webhook_id == two.webhook_id and one.body == two.body


def test_a_refused_connection_is_transient_and_says_nothing_was_sent() -> None:
    with receiving() as receiver:
        url = receiver.url
    tried = try_once(url, ("whsec_" + "A" * 44,), connector=WebhookConnector(connect_timeout=1, read_timeout=1))
    assert tried.outcome == Outcome.TRANSIENT
    assert tried.sentence.startswith("Could not connect to the endpoint")
