"""Events: written in the transaction of what they report, delivered to the account's subscribed endpoints only."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from referloop.campaigns.models import Lead, Referrer
from referloop.campaigns.referrers import add_referrer, referrer_for_code
from referloop.integrations.models import Delivery, DeliveryState
from referloop.integrations.webhooks import service
from referloop.integrations.webhooks.events import (
    LEAD_BOOKED,
    LEAD_CREATED,
    LEAD_DELIVERY_FAILED,
    REFERRER_JOINED,
)
from referloop.integrations.webhooks.models import WebhookEvent
from referloop.integrations.webhooks.outbox import ORDER_WAIT_REASON
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead, connect
from tests.integrations.webhooks.helpers import all_finished, deliveries_of, run_until, subscribe
from tests.integrations.webhooks.receiver import receiving
from tests.public_forms import as_person

URL = "http://127.0.0.1:9/hooks"  # nothing listens: these tests look at the rows, not at what was sent


class Rollback(Exception):
    pass


@pytest.mark.django_db
def test_a_lead_through_submit_lead_writes_its_event_and_delivery_in_its_own_transaction(tenant: Tenant) -> None:
    created = subscribe(tenant, URL, [LEAD_CREATED])

    lead = add_lead(tenant.campaign, tenant.referrer, first_name="Dana", last_name="Cole", email="dana@example.com")

    [delivery] = deliveries_of(created.endpoint)
    event = delivery.event
    assert event is not None and event.account_id == tenant.account.pk
    assert (delivery.connector, delivery.state, delivery.rate_key) == (
        "webhook",
        DeliveryState.PENDING,
        f"webhook:{created.endpoint.pk}",
    )
    assert delivery.integration_id is None and delivery.lead_id is None
    assert event.event_id.startswith("msg_")
    body = event.body()
    assert body["type"] == "lead.created" and body["timestamp"].endswith("Z")
    assert body["data"] == {
        "lead": {
            "id": lead.pk,
            "first_name": "Dana",
            "last_name": "Cole",
            "full_name": "Dana Cole",
            "email": "dana@example.com",
            "phone": "512-555-0100",
            "referral_code": lead.code,
            "status": "pending",
            "source": "form",
            "created_at": body["data"]["lead"]["created_at"],
        },
        "referrer": {
            "id": tenant.referrer.pk,
            "full_name": "Maria Lopez",
            "email": tenant.referrer.email,
            "referral_code": tenant.referrer.code,
        },
        "campaign": {"id": tenant.campaign.pk, "name": tenant.campaign.name, "slug": tenant.campaign.slug},
    }


@pytest.mark.django_db
def test_a_rolled_back_lead_leaves_no_event_behind(tenant: Tenant) -> None:
    created = subscribe(tenant, URL, [LEAD_CREATED])

    with pytest.raises(Rollback), transaction.atomic():
        add_lead(tenant.campaign, tenant.referrer, email="gone@example.com")
        assert WebhookEvent.objects.filter(type=LEAD_CREATED).count() == 1
        raise Rollback

    assert not Lead.objects.filter(email="gone@example.com").exists()
    assert not WebhookEvent.objects.exists() and deliveries_of(created.endpoint) == []


@pytest.mark.django_db
def test_an_event_no_endpoint_wants_is_not_written(tenant: Tenant) -> None:
    subscribe(tenant, URL, [LEAD_BOOKED])
    add_lead(tenant.campaign, tenant.referrer)
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_a_referrer_joining_on_the_public_page_raises_referrer_joined_once(tenant: Tenant) -> None:
    created = subscribe(tenant, URL, [REFERRER_JOINED])
    join = reverse("referrer_join", args=[tenant.campaign.slug])
    ada = {"first_name": "Ada", "last_name": "Byron", "email": "ada@example.com"}

    assert Client().post(join, as_person(tenant.campaign, "join", ada)).status_code == 200
    # The same email again, from the page opened again: the same referrer, no new event.
    assert Client().post(join, as_person(tenant.campaign, "join", ada)).status_code == 200

    referrer = Referrer.objects.get(email="ada@example.com")
    [delivery] = deliveries_of(created.endpoint)
    assert delivery.event is not None and delivery.event.type == REFERRER_JOINED
    data = delivery.event.payload
    assert data["referrer"]["id"] == referrer.pk and data["referrer"]["referral_code"] == referrer.code
    assert data["referrer"]["referral_url"] == referrer.referral_url
    assert (data["referrer"]["full_name"], data["referrer"]["source"]) == ("Ada Byron", "signup")
    assert data["campaign"]["id"] == tenant.campaign.pk


@pytest.mark.django_db
def test_a_lead_whose_own_link_is_used_joins_as_a_referrer(tenant: Tenant) -> None:
    created = subscribe(tenant, URL, [REFERRER_JOINED])
    referrer = referrer_for_code(tenant.lead.code)
    assert referrer is not None
    [delivery] = deliveries_of(created.endpoint)
    assert delivery.event is not None and delivery.event.payload["referrer"]["source"] == "lead"


@pytest.mark.django_db
def test_an_endpoint_never_gets_another_accounts_events(tenant: Tenant, other_tenant: Tenant) -> None:
    ours = subscribe(tenant, URL)
    theirs = subscribe(other_tenant, URL)

    add_lead(tenant.campaign, tenant.referrer)
    add_referrer(tenant.campaign, {"first_name": "Kim", "email": "kim@example.com"})

    assert [d.event.type for d in deliveries_of(ours.endpoint) if d.event] == [LEAD_CREATED, REFERRER_JOINED]
    assert deliveries_of(theirs.endpoint) == []
    assert not WebhookEvent.objects.filter(account=other_tenant.account).exists()


@pytest.mark.django_db(transaction=True)
def test_each_account_receives_only_its_own_events_over_http(tenant: Tenant, other_tenant: Tenant) -> None:
    with receiving() as ours, receiving() as theirs:
        mine = subscribe(tenant, ours.url, [LEAD_CREATED])
        other = subscribe(other_tenant, theirs.url, [LEAD_CREATED])
        lead = add_lead(tenant.campaign, tenant.referrer)
        run_until(all_finished(mine.endpoint))

    [got] = ours.received
    assert got.json()["data"]["lead"]["id"] == lead.pk and got.verifies_with(mine.secret)
    assert theirs.received == [] and deliveries_of(other.endpoint) == []


@pytest.mark.django_db(transaction=True)
def test_a_booked_servicetitan_lead_raises_lead_booked_with_the_booking_id(tenant: Tenant, sandbox) -> None:
    connect(tenant.campaign)
    with receiving() as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_BOOKED, LEAD_DELIVERY_FAILED])
        lead = add_lead(tenant.campaign, tenant.referrer)
        run_until(all_finished(created.endpoint))

    booking = Delivery.objects.get(lead=lead)
    assert booking.state == DeliveryState.DELIVERED and booking.remote_id
    [got] = receiver.received
    body = got.json()
    assert body["type"] == LEAD_BOOKED
    assert body["data"]["booking_id"] == booking.remote_id
    assert body["data"]["lead"]["id"] == lead.pk
    assert body["data"]["integration"] == {"id": booking.integration_id, "provider": "servicetitan"}
    assert [b.id for b in sandbox.bookings()] == [booking.remote_id]


@pytest.mark.django_db(transaction=True)
def test_a_lead_servicetitan_refuses_raises_lead_delivery_failed_with_the_reason(tenant: Tenant, sandbox) -> None:
    connect(tenant.campaign, provider_id=999)
    created = subscribe(tenant, URL, [LEAD_BOOKED, LEAD_DELIVERY_FAILED])
    lead = add_lead(tenant.campaign, tenant.referrer)
    run_until(lambda: Delivery.objects.get(lead=lead).state == DeliveryState.FAILED)

    booking = Delivery.objects.get(lead=lead)
    [delivery] = deliveries_of(created.endpoint)
    assert delivery.event is not None and delivery.event.type == LEAD_DELIVERY_FAILED
    assert delivery.event.payload["reason"] == booking.last_error
    assert "Booking Provider Value" in delivery.event.payload["reason"]
    assert "booking_id" not in delivery.event.payload


@pytest.mark.django_db(transaction=True)
def test_an_ordered_endpoint_receives_its_events_one_at_a_time_oldest_first(tenant: Tenant) -> None:
    with receiving() as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED], ordered=True)
        leads = [add_lead(tenant.campaign, tenant.referrer) for _ in range(5)]
        run_until(all_finished(created.endpoint))

    assert [got.json()["data"]["lead"]["id"] for got in receiver.received] == [lead.pk for lead in leads]
    rows = deliveries_of(created.endpoint)
    assert [row.state for row in rows] == [DeliveryState.DELIVERED] * 5
    # The later ones waited for their turn, and it shows in their history.
    assert all(row.held_reason.startswith("Waiting for an earlier event") for row in rows[1:])


@pytest.mark.django_db(transaction=True)
def test_an_ordered_endpoints_oldest_event_goes_first_even_if_its_turn_was_never_given(tenant: Tenant) -> None:
    with receiving() as receiver:
        created = subscribe(tenant, receiver.url, [LEAD_CREATED], ordered=True)
        first, second = (add_lead(tenant.campaign, tenant.referrer) for _ in range(2))
        oldest = deliveries_of(created.endpoint)[0]
        # As if the release that should have followed an earlier event was lost: the oldest waits, held.
        Delivery.objects.filter(pk=oldest.pk).update(
            state=DeliveryState.HELD, reason=ORDER_WAIT_REASON, held_reason=ORDER_WAIT_REASON, next_attempt_at=None
        )
        run_until(all_finished(created.endpoint))

    assert [got.json()["data"]["lead"]["id"] for got in receiver.received] == [first.pk, second.pk]


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_that_stops_being_ordered_sends_what_waited_for_its_turn(tenant: Tenant) -> None:
    created = subscribe(tenant, URL, [LEAD_CREATED], ordered=True)
    add_lead(tenant.campaign, tenant.referrer)
    add_lead(tenant.campaign, tenant.referrer)
    waiting = deliveries_of(created.endpoint)[1]
    Delivery.objects.filter(pk=waiting.pk).update(
        state=DeliveryState.HELD, reason=ORDER_WAIT_REASON, held_reason=ORDER_WAIT_REASON, next_attempt_at=None
    )

    service.update_endpoint(tenant.account, created.endpoint.pk, ordered=False)

    assert [d.state for d in deliveries_of(created.endpoint)] == [DeliveryState.PENDING] * 2
