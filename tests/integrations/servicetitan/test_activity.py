"""Activity tab and the lead's timeline: deliveries, attempts with ServiceTitan's text, resend one or in bulk."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Lead
from referloop.integrations.models import (
    Attempt,
    AttemptOutcome,
    Delivery,
    DeliveryState,
    Integration,
    IntegrationChange,
)
from tests.conftest import Tenant
from tests.integrations.servicetitan.conftest import connect, mapping_post, url

pytestmark = pytest.mark.django_db

ST_TEXT = "One or more validation errors occurred.; $.contacts[0].value: The Value field is not a valid e-mail address."
SENTENCE = "ServiceTitan could not create a booking because of these fields: Email: not a valid e-mail address."


def friend(tenant: Tenant, email: str) -> Lead:
    return submit_lead(
        tenant.campaign, tenant.referrer, {"first_name": "Jane", "last_name": "Doe", "email": email}
    ).lead


def fail(delivery: Delivery) -> Delivery:
    now = timezone.now()
    Attempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=now,
        duration_ms=87,
        outcome=AttemptOutcome.PERMANENT,
        request_summary={
            "method": "POST",
            "path": "/crm/v2/tenant/1234567/booking-provider/42/bookings",
            "body": {"name": "Jane Doe"},
        },
        response_status=400,
        response_text=ST_TEXT,
        sentence=SENTENCE,
    )
    Delivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.FAILED, attempt_count=1, last_error=SENTENCE, failed_at=now, next_attempt_at=None
    )
    delivery.refresh_from_db()
    return delivery


def deliver(delivery: Delivery, booking_id: int = 9001) -> Delivery:
    now = timezone.now()
    Attempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=now,
        duration_ms=40,
        outcome=AttemptOutcome.DELIVERED,
        request_summary={"method": "POST"},
        response_status=200,
    )
    Delivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.DELIVERED, attempt_count=1, remote_id=booking_id, delivered_at=now
    )
    delivery.refresh_from_db()
    return delivery


@pytest.fixture
def integration(tenant: Tenant, sandbox) -> Integration:
    integration = connect(tenant)
    tenant.client.post(url("integration_leads", tenant), mapping_post(integration, "create_booking"))
    integration.refresh_from_db()
    return integration


def test_the_activity_tab_lists_deliveries_with_state_booking_attempts_and_error(tenant: Tenant, integration) -> None:
    failed = fail(Delivery.objects.get(lead=friend(tenant, "broken@example.com")))
    deliver(Delivery.objects.get(lead=friend(tenant, "booked@example.com")), booking_id=777)
    page = tenant.client.get(url("integration_activity", tenant)).content.decode()
    for text in ("broken@example.com", "booked@example.com", "777", "Failed", "Delivered", "Email: not a valid"):
        assert text in page
    assert url("integration_delivery", tenant, failed.pk) in page
    assert "Resend all failed (1)" in page


def test_the_activity_tab_filters_by_state_and_searches_by_email(tenant: Tenant, integration) -> None:
    fail(Delivery.objects.get(lead=friend(tenant, "broken@example.com")))
    deliver(Delivery.objects.get(lead=friend(tenant, "booked@example.com")))
    page = tenant.client.get(url("integration_activity", tenant) + "?state=failed").content.decode()
    assert "broken@example.com" in page and "booked@example.com" not in page
    page = tenant.client.get(url("integration_activity", tenant) + "?q=BOOKED").content.decode()
    assert "booked@example.com" in page and "broken@example.com" not in page
    page = tenant.client.get(url("integration_activity", tenant) + "?q=nobody").content.decode()
    assert "No deliveries match" in page
    # An unknown state shows everything rather than nothing.
    page = tenant.client.get(url("integration_activity", tenant) + "?state=bogus").content.decode()
    assert "broken@example.com" in page and "booked@example.com" in page


def test_a_delivery_page_lists_every_attempt_with_servicetitans_text_and_the_request(
    tenant: Tenant, integration
) -> None:
    delivery = fail(Delivery.objects.get(lead=friend(tenant, "broken@example.com")))
    page = tenant.client.get(url("integration_delivery", tenant, delivery.pk)).content.decode()
    assert "Attempt 1 · Rejected · HTTP 400" in page
    assert "The Value field is not a valid e-mail address." in page
    assert SENTENCE in page
    assert "/crm/v2/tenant/1234567/booking-provider/42/bookings" in page
    assert ">Resend</button>" in page


def test_resend_one_puts_a_failed_delivery_back_in_the_queue(tenant: Tenant, integration) -> None:
    delivery = fail(Delivery.objects.get(lead=friend(tenant, "broken@example.com")))
    response = tenant.client.post(url("integration_delivery_resend", tenant, delivery.pk), follow=True)
    assert "Resending broken@example.com now" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING and delivery.ambiguous  # looks up by externalId first
    assert IntegrationChange.objects.filter(summary="Resent the delivery of broken@example.com.").exists()
    # A pending one can't be resent again.
    response = tenant.client.post(url("integration_delivery_resend", tenant, delivery.pk), follow=True)
    assert "only failed or skipped deliveries can be resent" in response.content.decode()


def test_resend_is_refused_while_the_setup_would_hold_the_lead(tenant: Tenant, integration) -> None:
    delivery = fail(Delivery.objects.get(lead=friend(tenant, "broken@example.com")))
    tenant.client.post(url("integration_disconnect", tenant))
    response = tenant.client.post(url("integration_delivery_resend", tenant, delivery.pk), follow=True)
    assert "Not resent, because it would only be held" in response.content.decode()
    assert Delivery.objects.get(pk=delivery.pk).state == DeliveryState.FAILED


def test_resend_all_failed_asks_with_the_count_then_resends(tenant: Tenant, integration) -> None:
    for email in ("a@example.com", "b@example.com"):
        fail(Delivery.objects.get(lead=friend(tenant, email)))
    page = tenant.client.get(url("integration_bulk", tenant, "resend-failed")).content.decode()
    assert "2 failed deliveries" in page and "Resend 2" in page
    assert Delivery.objects.filter(state=DeliveryState.FAILED).count() == 2  # the GET changed nothing
    response = tenant.client.post(url("integration_bulk", tenant, "resend-failed"), follow=True)
    assert "Resent 2 failed deliveries." in response.content.decode()
    assert Delivery.objects.filter(state=DeliveryState.PENDING).count() == 2


def test_send_held_leads_now_sends_them_once_the_setup_is_fixed(tenant: Tenant, integration) -> None:
    tenant.client.post(url("integration_disconnect", tenant))
    friend(tenant, "held@example.com")
    page = tenant.client.get(url("integration_bulk", tenant, "send-held")).content.decode()
    assert "1 held lead" in page and "would only be held again" in page
    response = tenant.client.post(url("integration_bulk", tenant, "send-held"), follow=True)
    assert "Nothing was sent" in response.content.decode()
    # Fix the cause by hand (as if reconnected elsewhere), then send them now.
    Integration.objects.filter(pk=integration.pk).update(state="connected")
    response = tenant.client.post(url("integration_bulk", tenant, "send-held"), follow=True)
    assert "Sent 1 held lead now." in response.content.decode()
    assert Delivery.objects.get(lead__email="held@example.com").state == DeliveryState.PENDING


def test_an_unknown_bulk_action_is_404(tenant: Tenant, integration) -> None:
    assert tenant.client.get(url("integration_bulk", tenant, "delete-all")).status_code == 404


def test_the_lead_page_shows_the_timeline_from_joined_to_booking(tenant: Tenant, integration) -> None:
    lead = friend(tenant, "booked@example.com")
    delivery = deliver(Delivery.objects.get(lead=lead), booking_id=4242)
    page = tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, lead.pk])).content.decode()
    assert (
        page.index("Joined the campaign") < page.index("Queued for ServiceTitan") < page.index("Attempt 1: Delivered")
    )
    assert "Booking 4242 created in ServiceTitan" in page
    assert url("integration_delivery", tenant, delivery.pk) in page


def test_the_lead_page_says_why_a_lead_is_held_or_skipped(tenant: Tenant, integration) -> None:
    tenant.client.post(url("integration_disconnect", tenant))
    held = friend(tenant, "held@example.com")
    page = tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, held.pk])).content.decode()
    assert "Held for ServiceTitan" in page and "disconnected" in page
    integration.refresh_from_db()
    Integration.objects.filter(pk=integration.pk).update(lead_action="nothing")
    skipped = friend(tenant, "skipped@example.com")
    page = tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, skipped.pk])).content.decode()
    assert "Skipped for ServiceTitan" in page and "Nothing to action" in page


def test_a_released_lead_keeps_its_hold_and_release_on_the_timeline(tenant: Tenant, integration) -> None:
    tenant.client.post(url("integration_disconnect", tenant))
    lead = friend(tenant, "was-held@example.com")
    Integration.objects.filter(pk=integration.pk).update(state="connected")
    tenant.client.post(url("integration_bulk", tenant, "send-held"))
    delivery = deliver(Delivery.objects.get(lead=lead), booking_id=5150)
    assert delivery.held_reason and delivery.released_at is not None
    page = tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, lead.pk])).content.decode()
    assert page.index("Held for ServiceTitan") < page.index("Released: sent to ServiceTitan after the fix")
    assert "disconnected" in page
    assert "Booking 5150 created in ServiceTitan" in page
