"""A booking a CSR can act on: a new integration maps everything the lead form collects, and the booking that
reaches the sandbox carries the phone, the address (Country USA) and the friend's Notes; a partial address from
the API or a CSV is left out with a warning on the attempt, and the booking is still created."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from referloop.campaigns.models import ImportJob, Lead
from referloop.integrations.models import Attempt, AttemptOutcome, Delivery, DeliveryState, Integration, LeadAction
from referloop.providers.servicetitan import default_mapping
from tests.api.helpers import lead_body, post_json
from tests.conftest import Tenant
from tests.integrations.engine.helpers import drain
from tests.integrations.servicetitan.conftest import connect, mapping_post, url
from tests.public_forms import as_person

pytestmark = pytest.mark.django_db(transaction=True)

PARTIAL_WARNING = (
    "The address was left out of the booking: the lead gave Street and Zip but no City or State, "
    "and ServiceTitan takes an address only whole."
)


def booking_ready(tenant: Tenant) -> Integration:
    """Connected through the screens (so with the new defaults) and set to create bookings on the Leads tab."""
    integration = connect(tenant)
    response = tenant.client.post(
        url("integration_leads", tenant), mapping_post(integration, lead_action=LeadAction.CREATE_BOOKING)
    )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.lead_action == LeadAction.CREATE_BOOKING
    return integration


def test_a_friends_phone_address_and_notes_reach_servicetitan_through_the_referral_form(
    tenant: Tenant, sandbox
) -> None:
    integration = booking_ready(tenant)
    assert integration.mapping() == default_mapping()
    friend = {
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane@friends.example",
        "phone": "512-555-0142",
        "street": "12 Elm St",
        "city": "Austin",
        "state": "TX",
        "zip_code": "78701",
        "notes": "AC blowing warm air",
        "custom_system_type": "Heat pump",
    }
    response = tenant.client.post(
        reverse("referral_page", args=[tenant.referrer.code]), as_person(tenant.campaign, "lead", friend)
    )
    assert response.status_code == 200, response.content.decode()[:2000]

    drain()

    lead = Lead.objects.get(email="jane@friends.example")
    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.DELIVERED
    [booking] = [b for b in sandbox.bookings() if b.external_id == lead.code]
    assert booking.id == delivery.remote_id
    assert booking.name == "Jane Doe"
    assert booking.summary == "Referral from Maria Lopez: AC blowing warm air"
    assert sorted((c.type, c.value) for c in booking.contacts) == [
        ("Email", "jane@friends.example"),
        ("Phone", "512-555-0142"),
    ]
    assert booking.address == {"street": "12 Elm St", "city": "Austin", "state": "TX", "zip": "78701", "country": "USA"}
    assert delivery.attempts.get().warnings == []


def assert_booked_without_address_and_warned(tenant: Tenant, sandbox, lead: Lead) -> Attempt:
    drain()
    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.DELIVERED
    [booking] = [b for b in sandbox.bookings() if b.external_id == lead.code]
    assert booking.address is None
    assert ("Phone", "512-555-0142") in [(c.type, c.value) for c in booking.contacts]
    attempt = delivery.attempts.get()
    assert attempt.outcome == AttemptOutcome.DELIVERED
    assert attempt.warnings == [PARTIAL_WARNING]
    [request] = attempt.request_summary["requests"]
    assert "address" not in request["body"]

    # The warning shows on the attempt: the delivery's page in Activity, the Activity list, and the lead's page.
    delivery_page = tenant.client.get(url("integration_delivery", tenant, delivery.pk)).content.decode()
    assert PARTIAL_WARNING in delivery_page
    assert PARTIAL_WARNING in tenant.client.get(url("integration_activity", tenant)).content.decode()
    lead_page = tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, lead.pk])).content.decode()
    assert PARTIAL_WARNING in lead_page
    return attempt


def test_a_partial_address_from_the_api_is_left_out_of_a_booking_that_is_still_created(tenant: Tenant, sandbox) -> None:
    booking_ready(tenant)
    body = lead_body(tenant, email="api@friends.example", phone="512-555-0142", street="12 Elm St", zip_code="78701")
    response = post_json(tenant, "/leads", body)
    assert response.status_code == 201, response.content.decode()

    assert_booked_without_address_and_warned(tenant, sandbox, Lead.objects.get(email="api@friends.example"))


def test_a_partial_address_from_a_csv_is_left_out_of_a_booking_that_is_still_created(tenant: Tenant, sandbox) -> None:
    booking_ready(tenant)
    content = (
        "first_name,email,referrer_code,phone,street,zip\n"
        f"Lia,csv@friends.example,{tenant.referrer.code},512-555-0142,12 Elm St,78701\n"
    )
    tenant.client.post(
        reverse("csv_import", args=[tenant.campaign.pk, "leads"]),
        {"kind": "leads", "file": SimpleUploadedFile("leads.csv", content.encode(), content_type="text/csv")},
    )
    job = ImportJob.objects.get()
    progress = reverse("csv_import_progress", args=[tenant.campaign.pk, job.pk])
    while not job.is_done:
        assert tenant.client.post(progress, HTTP_HX_REQUEST="true").status_code == 200
        job.refresh_from_db()
    assert job.created_count == 1

    assert_booked_without_address_and_warned(tenant, sandbox, Lead.objects.get(email="csv@friends.example"))
