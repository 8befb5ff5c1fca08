"""Fixtures for the API tests: more custom field types, and a second campaign of the same account."""

from __future__ import annotations

import pytest

from referloop.campaigns.models import Campaign, CustomField, CustomFieldType, Referrer
from tests.conftest import Tenant


@pytest.fixture
def typed_fields(tenant: Tenant) -> dict[str, CustomField]:
    """A number, a date, a checkbox and a required text field on the tenant's campaign (besides system_type)."""
    specs = [
        ("system_age", CustomFieldType.NUMBER, False),
        ("install_date", CustomFieldType.DATE, False),
        ("has_warranty", CustomFieldType.CHECKBOX, False),
        ("best_time", CustomFieldType.TEXT, False),
    ]
    return {
        key: CustomField.objects.create(
            campaign=tenant.campaign, key=key, label=key.replace("_", " ").title(), field_type=kind, required=required
        )
        for key, kind, required in specs
    }


@pytest.fixture
def second_campaign(tenant: Tenant) -> Campaign:
    """Another campaign of the same account, with its own referrer (its code is not valid in the first one)."""
    campaign = Campaign.objects.create(account=tenant.account, name="Spring tune-up", slug="spring-tune-up")
    Referrer.objects.create(campaign=campaign, first_name="Lee", email="lee@spring.example")
    return campaign


def referrer_of(campaign: Campaign) -> Referrer:
    referrer = campaign.referrers.order_by("pk").first()
    assert referrer is not None
    return referrer
