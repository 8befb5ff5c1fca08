"""The service functions the Webhooks screens call: scoped to the account, the secret shown once, a log per endpoint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from referloop.campaigns.errors import InputRejected
from referloop.integrations.engine.retry import RetryPolicy
from referloop.integrations.models import Delivery, DeliveryState
from referloop.integrations.webhooks import service
from referloop.integrations.webhooks.events import LEAD_BOOKED, LEAD_CREATED, REFERRER_JOINED
from referloop.integrations.webhooks.models import WebhookEndpoint
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead
from tests.integrations.webhooks.helpers import all_finished, deliveries_of, run_until, subscribe
from tests.integrations.webhooks.receiver import Reply, receiving

URL = "http://127.0.0.1:9/hooks"


@pytest.mark.django_db
def test_creating_an_endpoint_returns_its_secret_once_and_stores_it_encrypted(tenant: Tenant) -> None:
    created = service.create_endpoint(
        tenant.account, url=f"  {URL} ", events=[LEAD_CREATED, REFERRER_JOINED], description="CRM", ordered=True
    )

    assert created.secret.startswith("whsec_") and len(created.secret) > 40
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.url, endpoint.events, endpoint.description, endpoint.ordered, endpoint.enabled) == (
        URL,
        [REFERRER_JOINED, LEAD_CREATED],
        "CRM",
        True,
        True,
    )
    assert endpoint.secret == created.secret
    assert endpoint.masked_secret == "••••••••" + created.secret[-4:]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {WebhookEndpoint._meta.db_table}")
        assert created.secret not in repr(cursor.fetchall())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"events": []}, "events", "Choose at least one event"),
        ({"events": ["lead.deleted"]}, "events", "Unknown event type: lead.deleted"),
        ({"url": ""}, "url", "Enter the URL"),
    ],
)
def test_bad_input_is_refused_by_field_and_nothing_is_saved(
    tenant: Tenant, changes: dict[str, Any], field: str, words: str
) -> None:
    values = {"url": URL, "events": [LEAD_CREATED], **changes}
    with pytest.raises(InputRejected) as caught:
        service.create_endpoint(tenant.account, **values)
    assert words in caught.value.errors[field][0]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_updating_changes_only_what_is_given(tenant: Tenant) -> None:
    created = subscribe(tenant, URL, [LEAD_CREATED], description="first")
    service.update_endpoint(tenant.account, created.endpoint.pk, events=[LEAD_BOOKED])
    endpoint = service.endpoint_of(tenant.account, created.endpoint.pk)
    assert (endpoint.url, endpoint.events, endpoint.description) == (URL, [LEAD_BOOKED], "first")
    assert endpoint.secret == created.secret


@pytest.mark.django_db
def test_another_accounts_endpoint_is_as_unknown_as_an_id_that_does_not_exist(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = subscribe(other_tenant, URL, [LEAD_CREATED])
    add_lead(other_tenant.campaign, other_tenant.referrer)
    their_delivery = Delivery.objects.get(endpoint=theirs.endpoint)
    pk = theirs.endpoint.pk
    calls: list[Callable[[], object]] = [
        lambda: service.endpoint_of(tenant.account, pk),
        lambda: service.update_endpoint(tenant.account, pk, description="mine now"),
        lambda: service.delete_endpoint(tenant.account, pk),
        lambda: service.disable_endpoint(tenant.account, pk),
        lambda: service.enable_endpoint(tenant.account, pk),
        lambda: service.rotate_secret(tenant.account, pk),
        lambda: service.send_test_event(tenant.account, pk),
        lambda: service.endpoint_deliveries(tenant.account, pk),
    ]
    for call in calls:
        with pytest.raises(WebhookEndpoint.DoesNotExist):
            call()
    with pytest.raises(Delivery.DoesNotExist):
        service.resend_delivery(tenant.account, their_delivery.pk)
    assert list(service.endpoints(tenant.account)) == []

    endpoint = WebhookEndpoint.objects.get(pk=pk)
    assert (endpoint.description, endpoint.enabled, endpoint.secret) == ("", True, theirs.secret)
    assert Delivery.objects.filter(endpoint=endpoint).count() == 1


@pytest.mark.django_db
def test_deleting_an_endpoint_takes_its_log_with_it(tenant: Tenant) -> None:
    created = subscribe(tenant, URL, [LEAD_CREATED])
    add_lead(tenant.campaign, tenant.referrer)
    service.delete_endpoint(tenant.account, created.endpoint.pk)
    assert not WebhookEndpoint.objects.exists() and not Delivery.objects.filter(connector="webhook").exists()


@pytest.mark.django_db
def test_an_endpoint_with_an_event_in_flight_is_disabled_instead_of_deleted(tenant: Tenant) -> None:
    created = subscribe(tenant, URL, [LEAD_CREATED])
    add_lead(tenant.campaign, tenant.referrer)
    add_lead(tenant.campaign, tenant.referrer)
    first, _second = deliveries_of(created.endpoint)
    Delivery.objects.filter(pk=first.pk).update(lease_expires_at=timezone.now() + timedelta(minutes=1), leased_by="w")

    with pytest.raises(service.EndpointBusy):
        service.delete_endpoint(tenant.account, created.endpoint.pk)

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.enabled is False
    assert [d.state for d in deliveries_of(endpoint)] == [DeliveryState.PENDING, DeliveryState.HELD]


@pytest.mark.django_db(transaction=True)
def test_the_log_lists_each_delivery_with_its_attempts_and_a_failed_one_can_be_resent(tenant: Tenant) -> None:
    with receiving([Reply(400, "bad signature?")]) as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        add_lead(tenant.campaign, tenant.referrer)
        # A 400 is retried on the schedule; a policy that gives up at once makes it fail on its first try.
        run_until(all_finished(created.endpoint), retry=RetryPolicy(give_up_after=0.0, jitter=0.0))

        [failed] = service.endpoint_deliveries(tenant.account, created.endpoint.pk)
        assert failed.state == DeliveryState.FAILED
        [attempt] = failed.attempts.all()
        assert (attempt.response_status, attempt.response_text) == (400, "bad signature?")
        assert failed.event is not None and attempt.request_summary["requests"][0]["body"] == failed.event.body()

        assert service.resend_delivery(tenant.account, failed.pk) is True
        assert service.resend_delivery(tenant.account, failed.pk) is False  # already on its way
        run_until(all_finished(created.endpoint))

    [delivered] = service.endpoint_deliveries(tenant.account, created.endpoint.pk)
    assert delivered.state == DeliveryState.DELIVERED
    assert [(a.number, a.response_status) for a in delivered.attempts.all()] == [(1, 400), (2, 200)]
    one, two = receiver.received
    assert one.webhook_id == two.webhook_id
    assert service.endpoint_deliveries(tenant.account, created.endpoint.pk, state=DeliveryState.FAILED) == []


@pytest.mark.django_db(transaction=True)
def test_a_test_event_is_signed_and_sent_through_the_engine(tenant: Tenant) -> None:
    with receiving() as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED])
        delivery = service.send_test_event(tenant.account, created.endpoint.pk)
        run_until(all_finished(created.endpoint))

    [got] = receiver.received
    assert got.verifies_with(created.secret)
    body = got.json()
    assert body["type"] == "webhook.test" and body["data"]["endpoint"]["id"] == created.endpoint.pk
    assert got.webhook_id == delivery.event.event_id
    [logged] = service.endpoint_deliveries(tenant.account, created.endpoint.pk, event_type="webhook.test")
    assert logged.state == DeliveryState.DELIVERED and logged.attempts.get().response_status == 200


@pytest.mark.django_db
def test_a_second_rotation_within_the_24_hours_is_refused_so_the_first_old_secret_keeps_working(
    tenant: Tenant,
) -> None:
    created = subscribe(tenant, URL, [LEAD_CREATED])
    rotated_at = timezone.now()
    first = service.rotate_secret(tenant.account, created.endpoint.pk, now=rotated_at)

    with pytest.raises(InputRejected) as refused:
        service.rotate_secret(tenant.account, created.endpoint.pk, now=rotated_at + timedelta(hours=23))

    assert "The previous secret is still accepted until" in refused.value.errors["secret"][0]
    endpoint = WebhookEndpoint.objects.get(pk=created.endpoint.pk)
    assert endpoint.signing_secrets(rotated_at + timedelta(hours=23)) == (first.secret, created.secret)
    later = service.rotate_secret(tenant.account, created.endpoint.pk, now=rotated_at + timedelta(hours=25))
    endpoint.refresh_from_db()
    assert endpoint.signing_secrets(rotated_at + timedelta(hours=25)) == (later.secret, first.secret)
