"""The lead list filters by stage and status; the lead page shows what ServiceTitan said about the booking."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from referloop.campaigns.models import Lead, LeadStage, LeadStatus
from referloop.integrations.models import Follow, Integration
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def completed_lead(tenant: Tenant) -> Lead:
    integration = Integration.objects.create(campaign=tenant.campaign, tenant_id=1, client_id="c")
    Follow.objects.create(
        integration=integration,
        lead=tenant.lead,
        booking_id=10_000_042,
        booking_status="Converted",
        job_id=30_000_007,
        job_number="J-5521",
        job_status="Completed",
        completed_on=timezone.now(),
        invoice_id=40_000_007,
        invoice_total=Decimal("480.00"),
        invoice_balance=Decimal("480.00"),
        follow_until=timezone.now() + timedelta(days=80),
    )
    Lead.objects.filter(pk=tenant.lead.pk).update(stage=LeadStage.COMPLETED, status=LeadStatus.QUALIFIED)
    return tenant.lead


def test_the_lead_page_shows_the_booking_job_and_invoice_from_servicetitan(tenant: Tenant) -> None:
    lead = completed_lead(tenant)
    page = tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, lead.pk])).content.decode()
    assert "In ServiceTitan" in page
    assert "10000042 · Converted" in page
    assert "J-5521 · Completed" in page
    assert "480.00 · balance 480.00" in page


def test_the_lead_list_filters_by_stage_and_by_status(tenant: Tenant) -> None:
    lead = completed_lead(tenant)
    other = tenant.campaign.leads.create(referrer=tenant.referrer, first_name="Bo", email="bo@example.com")
    url = reverse("lead_list", args=[tenant.campaign.pk])

    completed = tenant.client.get(url, {"stage": "completed"}).content.decode()
    assert lead.email in completed and other.email not in completed
    not_booked = tenant.client.get(url, {"stage": "not_booked"}).content.decode()
    assert other.email in not_booked and lead.email not in not_booked
    qualified = tenant.client.get(url, {"status": "qualified"}).content.decode()
    assert lead.email in qualified and other.email not in qualified
    anything = tenant.client.get(url, {"stage": "nonsense"}).content.decode()  # an unknown stage filters nothing
    assert lead.email in anything and other.email in anything
