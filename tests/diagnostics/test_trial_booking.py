"""Send test booking, end to end through the view, the real mapping and the real client, to the sandbox."""

from __future__ import annotations

import pytest
from django.urls import reverse

from referloop.campaigns.models import Lead
from referloop.integrations.models import Delivery, IntegrationChange
from referloop.providers.servicetitan import FieldMapping
from referloop.sandbox.config import DEMO_BOOKING_PROVIDER_ID, DEMO_TENANT_ID

pytestmark = pytest.mark.django_db


def send(tenant, integration, **data):
    url = reverse("integration_test_booking", args=[integration.campaign_id, integration.provider])
    return tenant.client.post(url, data, HTTP_HX_REQUEST="true")


def test_a_test_booking_appears_in_servicetitan_marked_test_and_creates_no_lead_or_delivery(
    integration, tenant, sandbox
) -> None:
    leads, deliveries = Lead.objects.count(), Delivery.objects.count()

    response = send(tenant, integration)

    assert response.status_code == 200
    [booking] = sandbox.bookings(DEMO_TENANT_ID)
    assert booking.booking_provider_id == DEMO_BOOKING_PROVIDER_ID
    assert booking.summary == "[TEST] Referral from Maria Lopez: Furnace makes a rattling noise."
    assert booking.external_id.startswith("test-")
    assert booking.name == "Jane Doe"
    assert booking.source == "Comfort Pro referrals"
    assert [(c.type, c.value) for c in booking.contacts] == [("Email", "jane.doe@example.com"), ("Phone", "555-0100")]
    assert booking.address == {
        "street": "12 Elm Street",
        "city": "Springfield",
        "state": "IL",
        "zip": "62701",
        "country": "USA",
    }
    html = response.content.decode()
    assert f"ServiceTitan created test booking {booking.id} (External Id {booking.external_id})" in html
    assert (Lead.objects.count(), Delivery.objects.count()) == (leads, deliveries)
    assert IntegrationChange.objects.filter(
        integration=integration, summary=f"Sent a test booking; ServiceTitan created booking {booking.id}."
    ).exists()


def test_a_test_booking_can_use_the_newest_leads_data(integration, tenant, sandbox) -> None:
    response = send(tenant, integration, lead="newest")

    [booking] = sandbox.bookings(DEMO_TENANT_ID)
    assert booking.name == "Tom Nguyen"
    assert [(c.type, c.value) for c in booking.contacts] == [("Email", "tom@comfort-pro.example")]
    assert booking.external_id.startswith("test-") and booking.external_id != tenant.lead.code
    assert "from the newest lead (tom@comfort-pro.example)" in response.content.decode()


def test_a_mapping_that_cannot_build_a_booking_sends_nothing_and_names_the_fields(integration, tenant, sandbox) -> None:
    mapping = integration.mapping()
    mapping["isFirstTimeClient"] = FieldMapping("dynamic", "lead.notes")  # the sample's notes are not Yes/No
    integration.set_mapping(mapping)
    integration.save()

    html = send(tenant, integration).content.decode()

    assert sandbox.bookings(DEMO_TENANT_ID) == []
    assert "Nothing was sent: the mapping can&#x27;t build a booking from a made-up sample lead." in html
    assert "<li>Is First Time Client &quot;Furnace makes a rattling noise.&quot; is not Yes or No</li>" in html


def test_servicetitans_refusal_is_shown_with_its_sentence(integration, tenant, sandbox) -> None:
    integration.booking_provider_id = 999
    integration.save()

    html = send(tenant, integration).content.decode()

    assert sandbox.bookings(DEMO_TENANT_ID) == []
    assert (
        f"ServiceTitan has no booking provider 999 for this app in tenant {DEMO_TENANT_ID}, so check the Booking "
        "Provider Value" in html
    )
    assert "ServiceTitan said (HTTP 404)" in html


def test_without_htmx_the_result_is_shown_on_the_whole_page(integration, tenant, sandbox) -> None:
    url = reverse("integration_test_booking", args=[integration.campaign_id, integration.provider])

    response = tenant.client.post(url)

    [booking] = sandbox.bookings(DEMO_TENANT_ID)
    html = response.content.decode()
    assert "<html" in html
    assert f"ServiceTitan created test booking {booking.id}" in html
