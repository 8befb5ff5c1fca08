"""The demo account that `referloop serve` creates on an empty database, ready to click through."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from referloop.accounts.models import Account, Membership, Role, User
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, CustomField, CustomFieldType, LeadSource
from referloop.campaigns.referrers import add_referrer
from referloop.integrations.models import (
    ConnectionState,
    Environment,
    Integration,
    IntegrationChange,
    LeadAction,
    Provider,
    QualificationRule,
)
from referloop.providers.servicetitan import FieldMapping, default_mapping
from referloop.sandbox.config import (
    DEMO_BOOKING_PROVIDER_ID,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
)

DEMO_EMAIL = "demo@referloop.local"
DEMO_PASSWORD = "referloop-demo"  # printed to the terminal; the demo runs only with DEBUG on
DEMO_CAMPAIGN_SLUG = "refer-a-neighbor"
# Manual Selects from the sandbox tenant's seeded lists (referloop/sandbox/demo_data.py).
DEMO_PICKS = {
    "jobTypeId": FieldMapping("manual", "2"),
    "businessUnitId": FieldMapping("manual", "1"),
    "campaignId": FieldMapping("manual", "1"),
}

DEMO_REFERRERS = [
    {"first_name": "Maria", "last_name": "Lopez", "email": "maria.lopez@example.com", "phone": "555-0101"},
    {"first_name": "James", "last_name": "Carter", "email": "james.carter@example.com", "phone": "555-0102"},
    {"first_name": "Aisha", "last_name": "Khan", "email": "aisha.khan@example.com", "phone": "555-0103"},
]


@dataclass(frozen=True)
class Demo:
    user: User
    account: Account
    campaign: Campaign


def demo_exists() -> bool:
    return User.objects.filter(email=DEMO_EMAIL).exists()


@transaction.atomic
def create_demo() -> Demo:
    user = User.objects.create_user(email=DEMO_EMAIL, password=DEMO_PASSWORD, first_name="Dana")
    account = Account.objects.create(name="Comfort Pro Heating & Air")
    Membership.objects.create(user=user, account=account, role=Role.OWNER)
    campaign = Campaign.objects.create(
        account=account,
        name="Refer a Neighbor",
        slug=DEMO_CAMPAIGN_SLUG,
        offer_text="$50 off your first service call",
        page_intro="Comfort Pro keeps homes warm in winter and cool in summer. Tell us about your home and "
        "we'll call you to book a visit.",
        reward_description="$50 gift card for every friend who books a job",
    )
    CustomField.objects.create(
        campaign=campaign,
        key="system_type",
        label="What system do you have?",
        field_type=CustomFieldType.SELECT,
        choices="Furnace\nAir conditioner\nHeat pump\nBoiler\nNot sure",
    )
    connect_demo_integration(campaign)
    referrers = [add_referrer(campaign, data, source="manual")[0] for data in DEMO_REFERRERS]
    submit_lead(
        campaign,
        referrers[0],
        {
            "first_name": "Tom",
            "last_name": "Nguyen",
            "email": "tom.nguyen@example.com",
            "phone": "555-0199",
            "street": "12 Elm Street",
            "city": "Springfield",
            "state": "IL",
            "zip_code": "62701",
            "custom_system_type": "Furnace",
        },
        source=LeadSource.MANUAL,
    )
    return Demo(user=user, account=account, campaign=campaign)


def connect_demo_integration(campaign: Campaign) -> Integration:
    """The demo campaign books into the local ServiceTitan sandbox, which `referloop serve` starts."""
    integration = Integration(
        campaign=campaign,
        provider=Provider.SERVICETITAN,
        environment=Environment.SANDBOX,
        tenant_id=DEMO_TENANT_ID,
        client_id=DEMO_CLIENT_ID,
        booking_provider_id=DEMO_BOOKING_PROVIDER_ID,
        state=ConnectionState.CONNECTED,
        lead_action=LeadAction.CREATE_BOOKING,
        qualification_rule=QualificationRule.JOB_STATUS,  # a job completed in the sandbox qualifies its referral
        connected_at=timezone.now(),
    )
    integration.client_secret = DEMO_CLIENT_SECRET
    # The sandbox's seeded "AC Repair", "HVAC Service" and "Referral Program": the Leads tab shows them by name.
    integration.set_mapping({**default_mapping(), **DEMO_PICKS})
    integration.save()
    IntegrationChange.objects.create(integration=integration, summary="Connected to the local sandbox (demo data).")
    return integration
