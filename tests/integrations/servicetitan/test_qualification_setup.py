"""Qualification Rules on the Leads tab: saved by owners and admins, audited, checked field by field, and applied at
once to the bookings already followed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from referloop.accounts.models import Role
from referloop.campaigns.models import LeadStage, LeadStatus
from referloop.integrations.models import Follow, Integration, IntegrationChange, QualificationRule
from tests.campaigns.test_roles import client_with_role
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def rules_url(tenant: Tenant) -> str:
    return reverse("integration_qualification", args=[tenant.campaign.pk, "servicetitan"])


def rules(**changes: Any) -> dict[str, Any]:
    data = {"qualification_rule": "job_status", "qualifying_job_status": "Completed", "follow_days": "90"}
    data.update(changes)
    return data


@pytest.fixture
def integration(tenant: Tenant) -> Integration:
    return Integration.objects.create(campaign=tenant.campaign, tenant_id=1, client_id="c")


def followed(tenant: Tenant, integration: Integration, **facts: Any) -> Follow:
    now = timezone.now()
    return Follow.objects.create(
        integration=integration, lead=tenant.lead, booking_id=10_000_001, follow_until=now + timedelta(days=90), **facts
    )


def test_an_owner_saves_the_rule_and_the_change_is_audited(tenant: Tenant, integration: Integration) -> None:
    response = tenant.client.post(rules_url(tenant), rules(minimum_job_total="150"), follow=True)
    assert "Qualification Rules saved." in response.content.decode()
    integration.refresh_from_db()
    assert (integration.qualification_rule, integration.minimum_job_total) == ("job_status", Decimal("150.00"))
    change = IntegrationChange.objects.get(integration=integration)
    assert change.user == tenant.user
    assert change.summary.endswith("now “The job reaches Completed, invoice total at least 150.00”.")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("minimum_job_total", "-5", "Enter 0 or more, or leave it empty for no minimum."),
        ("follow_days", "0", "Enter a number of days from 1 to 365."),
        ("follow_days", "366", "Enter a number of days from 1 to 365."),
        ("qualification_rule", "whenever", "Select a valid choice. whenever is not one of the available choices."),
    ],
)
def test_a_wrong_value_is_named_with_its_field_and_nothing_is_saved(
    tenant: Tenant, integration: Integration, field: str, value: str, problem: str
) -> None:
    response = tenant.client.post(rules_url(tenant), rules(**{field: value}))
    assert response.status_code == 400
    page = response.content.decode()
    assert f'id="id_{field}_error"' in page
    assert problem in page.replace("&#x27;", "'")
    integration.refresh_from_db()
    assert integration.qualification_rule == QualificationRule.NONE
    assert not IntegrationChange.objects.exists()


def test_a_member_cannot_change_the_rules(tenant: Tenant, integration: Integration) -> None:
    member = client_with_role(tenant, Role.MEMBER)
    assert member.post(rules_url(tenant), rules()).status_code == 403
    integration.refresh_from_db()
    assert integration.qualification_rule == QualificationRule.NONE


def test_a_rule_chosen_after_the_job_was_done_qualifies_the_followed_lead_at_once(
    tenant: Tenant, integration: Integration
) -> None:
    followed(tenant, integration, job_id=30_000_001, job_number="5521", job_status="Completed")
    response = tenant.client.post(rules_url(tenant), rules(), follow=True)
    assert "1 lead already met the rule and qualified." in response.content.decode()
    tenant.lead.refresh_from_db()
    assert (tenant.lead.status, tenant.lead.qualified_by_rule) == (LeadStatus.QUALIFIED, "job_status")
    assert tenant.lead.qualification_facts["job_number"] == "5521"


def test_a_stricter_rule_leaves_the_lead_pending(tenant: Tenant, integration: Integration) -> None:
    followed(tenant, integration, job_id=30_000_001, job_number="5521", job_status="InProgress")
    tenant.client.post(rules_url(tenant), rules())
    tenant.lead.refresh_from_db()
    assert (tenant.lead.status, tenant.lead.stage) == (LeadStatus.PENDING, LeadStage.NOT_BOOKED)


def test_a_new_follow_window_moves_the_end_of_the_bookings_still_followed(
    tenant: Tenant, integration: Integration
) -> None:
    follow = followed(tenant, integration)
    tenant.client.post(rules_url(tenant), rules(follow_days="30"))
    follow.refresh_from_db()
    assert follow.follow_until == follow.started_at + timedelta(days=30)
