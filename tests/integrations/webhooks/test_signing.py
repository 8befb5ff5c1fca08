"""Signatures as a receiver checks them: with the `standardwebhooks` library's own verifier, over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from referloop.integrations.models import DeliveryState
from referloop.integrations.webhooks import service
from referloop.integrations.webhooks.destination import address_policy, destination_of
from referloop.integrations.webhooks.events import LEAD_CREATED
from referloop.integrations.webhooks.models import WebhookEndpoint, new_secret
from referloop.providers.base import Outcome
from referloop.providers.webhooks import Destination
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead
from tests.integrations.webhooks.helpers import all_finished, deliveries_of, run_until, subscribe, try_once
from tests.integrations.webhooks.receiver import receiving


def test_a_try_posts_compact_json_signed_over_the_very_bytes_it_sends() -> None:
    secret = new_secret()
    body = {"type": "lead.created", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"name": "Zoë"}}
    with receiving() as receiver:
        tried = try_once(receiver.url, (secret,), body, msg_id="msg_abc")

    assert tried.outcome == Outcome.DELIVERED
    [got] = receiver.received
    assert got.body == '{"type":"lead.created","timestamp":"2026-01-01T00:00:00.000Z","data":{"name":"Zoë"}}'.encode()
    assert got.verifies_with(secret)
    assert not got.verifies_with(new_secret())
    assert got.headers["webhook-id"] == "msg_abc"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"].startswith("referloop-webhooks/")
    assert abs(int(got.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
    [request] = tried.requests
    assert request["method"] == "POST" and request["url"] == receiver.url and request["body"] == body
    sent_names = ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent")
    assert {name.lower(): value for name, value in request["headers"].items()} == {
        name: got.headers[name] for name in sent_names
    }  # every header as it went out, recorded for the delivery page
    assert secret not in str(tried)


def test_a_tampered_body_does_not_verify() -> None:
    secret = new_secret()
    with receiving() as receiver:
        try_once(receiver.url, (secret,))
    [got] = receiver.received
    tampered = type(got)(got.at, got.path, got.headers, got.body.replace(b"lead.created", b"lead.booked"))
    assert not tampered.verifies_with(secret)


@pytest.mark.django_db
def test_after_a_rotation_both_secrets_sign_for_24_hours_then_only_the_new_one(tenant: Tenant) -> None:
    with receiving() as receiver:
        created = subscribe(tenant, receiver.url)
        old = created.secret
        rotated_at = timezone.now()
        rotation = service.rotate_secret(tenant.account, created.endpoint.pk, now=rotated_at)
        endpoint = service.endpoint_of(tenant.account, created.endpoint.pk)
        assert rotation.previous_valid_until == rotated_at + timedelta(hours=24)

        for hours in (1, 23.9, 24.1):
            destined = destination_of(endpoint, address_policy(), now=rotated_at + timedelta(hours=hours))
            assert isinstance(destined.destination, Destination)
            assert try_once(receiver.url, destined.destination.secrets).outcome == Outcome.DELIVERED

    within, last_minute, after = receiver.received
    for got in (within, last_minute):
        assert len(got.signatures) == 2 and all(sig.startswith("v1,") for sig in got.signatures)
        assert got.verifies_with(rotation.secret) and got.verifies_with(old)
    assert len(after.signatures) == 1
    assert after.verifies_with(rotation.secret) and not after.verifies_with(old)


@pytest.mark.django_db(transaction=True)
def test_events_sent_by_the_worker_verify_with_the_old_secret_until_the_rotation_expires(tenant: Tenant) -> None:
    with receiving() as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        first_rotation = service.rotate_secret(tenant.account, created.endpoint.pk)  # just now: both sign
        add_lead(tenant.campaign, tenant.referrer)
        run_until(all_finished(created.endpoint))

        # As if the first rotation's overlap had ended and the second rotation had happened 25 hours ago.
        WebhookEndpoint.objects.filter(pk=created.endpoint.pk).update(
            previous_secret_expires_at=timezone.now() - timedelta(hours=26)
        )
        rotation = service.rotate_secret(tenant.account, created.endpoint.pk, now=timezone.now() - timedelta(hours=25))
        add_lead(tenant.campaign, tenant.referrer)
        run_until(lambda: len(receiver.received) == 2)

    first, second = receiver.received
    assert first.verifies_with(created.secret) and first.verifies_with(first_rotation.secret)
    assert len(second.signatures) == 1
    assert second.verifies_with(rotation.secret) and not second.verifies_with(first_rotation.secret)
    assert [d.state for d in deliveries_of(created.endpoint)] == [DeliveryState.DELIVERED] * 2
