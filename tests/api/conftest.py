"""Fixtures for the API tests: more custom field types, and a second campaign of the same account."""

from __future__ import annotations

import pytest

from referloop.campaigns.models import Campaign, CustomField, CustomFieldType, Referrer
from tests.conftest import Tenant


@pytest.fixture
def typed_fields(tenant: Tenant) -> dict[str, CustomField]:
    """A number, a date and a text field on the tenant's campaign (besides its select field system_type)."""
    specs = [
        ("system_age", CustomFieldType.NUMBER),
        ("install_date", CustomFieldType.DATE),
        ("best_time", CustomFieldType.TEXT),
    ]
    return {key: add_custom_field(tenant.campaign, key, kind) for key, kind in specs}


@pytest.fixture
def checkbox_field(tenant: Tenant) -> CustomField:
    return add_custom_field(tenant.campaign, "has_warranty", CustomFieldType.CHECKBOX)


def add_custom_field(campaign: Campaign, key: str, kind: str, required: bool = False) -> CustomField:
    label = key.replace("_", " ").title()
    return CustomField.objects.create(campaign=campaign, key=key, label=label, field_type=kind, required=required)


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
