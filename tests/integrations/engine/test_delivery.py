"""Over real HTTP to the sandbox: what becomes of a lead, from pending to a booking (or a clear reason why not)."""

from __future__ import annotations

import json

import pytest

from referloop.integrations.models import Attempt, AttemptOutcome, Delivery, DeliveryState, LeadAction
from referloop.integrations.servicetitan import outbox
from referloop.providers.servicetitan import FieldMapping, default_mapping
from referloop.sandbox.config import DEMO_APP_KEY, DEMO_CLIENT_SECRET
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead, booking_counts, connect, drain, full_mapping

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_pending_lead_becomes_one_booking_with_exactly_the_mapped_values(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant.campaign)
    lead = add_lead(tenant.campaign, tenant.referrer, first_name="Rosa", last_name="Diaz", email="rosa@example.com")
    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.PENDING

    report = drain()

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED
    assert report.outcomes == {AttemptOutcome.DELIVERED: 1}
    [booking] = sandbox.bookings()
    assert delivery.remote_id == booking.id
    assert delivery.external_id == lead.code
    assert (booking.source, booking.name, booking.external_id) == ("Comfort Pro referrals", "Rosa Diaz", lead.code)
    assert booking.summary == "Referral from Maria Lopez: Furnace"
    assert booking.is_first_time_client is True
    assert booking.priority == "High"
    assert booking.address == {
        "street": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
        "country": "USA",
    }
    assert sorted((c.type, c.value) for c in booking.contacts) == [
        ("Email", "rosa@example.com"),
        ("Phone", "512-555-0100"),
    ]
    assert delivery.lease_expires_at is None and delivery.leased_by == ""
    assert delivery.delivered_at is not None and delivery.first_attempt_at is not None
    assert integration.pk == delivery.integration_id


def test_the_attempt_keeps_the_request_as_sent_without_any_secret(tenant: Tenant, sandbox) -> None:
    connect(tenant.campaign)
    lead = add_lead(tenant.campaign, tenant.referrer, email="kim@example.com")

    drain()

    attempt = Attempt.objects.get(delivery__lead=lead)
    assert (attempt.number, attempt.outcome, attempt.response_status) == (1, AttemptOutcome.DELIVERED, 200)
    [request] = attempt.request_summary["requests"]
    assert request["method"] == "POST"
    assert request["path"].endswith("/booking-provider/42/bookings")
    assert request["body"]["externalId"] == lead.code
    assert request["body"]["contacts"][0] == {"type": "Email", "value": "kim@example.com"}
    text = json.dumps(attempt.request_summary)
    for secret in (DEMO_CLIENT_SECRET, DEMO_APP_KEY, "Bearer", "Authorization", "ST-App-Key"):
        assert secret not in text
    assert attempt.sentence.startswith("Created booking ")


def test_a_held_lead_is_sent_once_the_mapping_is_fixed(tenant: Tenant, sandbox) -> None:
    incomplete = {key: value for key, value in full_mapping().items() if key != "summary"}
    integration = connect(tenant.campaign, mapping=incomplete)
    lead = add_lead(tenant.campaign, tenant.referrer)
    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.HELD
    assert delivery.reason == "Setup Required: map Summary on the Leads tab."

    drain()
    assert sandbox.bookings() == []

    integration.set_mapping(full_mapping())
    integration.save()
    assert outbox.release_held(integration) == 1
    drain()

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED
    assert booking_counts(sandbox) == {lead.code: 1}


def test_nothing_to_action_skips_the_lead_with_the_reason_and_sends_nothing(tenant: Tenant, sandbox) -> None:
    connect(tenant.campaign, lead_action=LeadAction.NOTHING)
    lead = add_lead(tenant.campaign, tenant.referrer)

    report = drain()

    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.SKIPPED
    assert delivery.reason == outbox.SKIPPED_REASON
    assert report.claimed == 0
    assert sandbox.bookings() == [] and sandbox.stats()["total"] == 0


def test_lead_data_that_cannot_be_mapped_fails_at_once_with_every_field_named(tenant: Tenant, sandbox) -> None:
    # The forms refuse a bad phone at intake; a mapping can still send free text to a contact field.
    mapping = {**default_mapping(), "contacts.Phone": FieldMapping("dynamic", "lead.notes")}
    connect(tenant.campaign, mapping=mapping)
    lead = add_lead(tenant.campaign, tenant.referrer, notes="call me")

    drain()

    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.FAILED
    assert (
        delivery.reason == 'The booking cannot be sent because of these fields: Phone "call me" is not a phone number.'
    )
    attempt = delivery.attempts.get()
    assert attempt.outcome == AttemptOutcome.INVALID_DATA
    assert attempt.response_status is None
    assert sandbox.stats()["total"] == 0
