"""Leads tab: the lead action, Map your fields, Setup Required (live and saved), the preview, holds and releases."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Lead
from referloop.integrations.models import Delivery, DeliveryState, Integration, IntegrationChange, LeadAction
from referloop.integrations.servicetitan.outbox import SKIPPED_REASON
from tests.conftest import Tenant
from tests.integrations.servicetitan.conftest import connect, mapping_post, url

pytestmark = pytest.mark.django_db


def friend(tenant: Tenant, email: str) -> Lead:
    return submit_lead(
        tenant.campaign, tenant.referrer, {"first_name": "Jane", "last_name": "Doe", "email": email}
    ).lead


@pytest.fixture
def integration(tenant: Tenant, sandbox) -> Integration:
    return connect(tenant)


def test_the_leads_tab_marks_required_fields_and_starts_with_the_defaults(tenant: Tenant, integration) -> None:
    response = tenant.client.get(url("integration_leads", tenant))
    page = response.content.decode()
    assert "When lead joins campaign" in page
    assert "Nothing to action" in page and "Create New Booking In ServiceTitan" in page
    assert "Map your fields" in page
    labels = [row.field.label for row in response.context["rows"]]
    assert labels == [
        "Source",
        "Name",
        "Email",
        "Phone",
        "Summary",
        "Is First Time Client",
        "External Id",
        "Street",
        "City",
        "State",
        "Zip",
        "Country",
    ]
    assert (
        page.count('<span class="required-mark" aria-hidden="true">*</span><span class="visually-hidden"> (required)')
        == 6
    )
    for label in ("Dynamic Value", "Fixed Value", "Manual Select", "+ Add more fields", 'optgroup label="Referrer"'):
        assert label in page
    assert 'value="Referral from {Referrer Full Name}: {Lead Notes}"' in page
    assert "Setup Required" not in page
    # The preview is the newest lead's booking body.
    assert "tom@comfort-pro.example" in page
    body = json.loads(response.context["preview"].body_json)
    assert body["summary"] == "Referral from Maria Lopez"
    assert body["contacts"] == [{"type": "Email", "value": "tom@comfort-pro.example"}]
    assert body["externalId"] == tenant.lead.code


def test_removing_the_email_mapping_shows_setup_required_naming_email_before_saving(
    tenant: Tenant, integration
) -> None:
    data = mapping_post(integration, contacts__Email=("dynamic", ""))
    response = tenant.client.post(url("integration_leads_check", tenant), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Setup Required" in page and "<b>Email</b>" in page
    assert 'id="error-contacts-Email" hx-swap-oob="true"' in page
    assert "Email (empty) is required but not mapped" in page  # the preview's field error
    integration.refresh_from_db()
    assert integration.mapping()["contacts.Email"].source == "lead.email"  # nothing saved


def test_saving_with_a_required_field_missing_saves_it_holds_new_leads_and_shows_it_on_the_tile(
    tenant: Tenant, integration
) -> None:
    data = mapping_post(integration, "create_booking", contacts__Email=("dynamic", ""))
    response = tenant.client.post(url("integration_leads", tenant), data, follow=True)
    page = response.content.decode()
    assert "Setup Required: map Email" in page
    integration.refresh_from_db()
    assert integration.lead_action == LeadAction.CREATE_BOOKING
    delivery = Delivery.objects.get(lead=friend(tenant, "jane@example.com"))
    assert delivery.state == DeliveryState.HELD
    assert "Email" in delivery.reason
    tile = tenant.client.get(reverse("campaign_settings", args=[tenant.campaign.pk, "integrations"])).content.decode()
    assert "Setup Required" in tile and "Map Email on the Leads tab." in tile
    change = IntegrationChange.objects.filter(summary__startswith="Leads tab").get()
    assert "Create New Booking In ServiceTitan" in change.summary and "unmapped Email" in change.summary
    assert change.user == tenant.user


def test_saving_a_complete_mapping_releases_the_held_leads(tenant: Tenant, integration) -> None:
    tenant.client.post(
        url("integration_leads", tenant), mapping_post(integration, "create_booking", contacts__Email=("dynamic", ""))
    )
    lead = friend(tenant, "jane@example.com")
    integration.refresh_from_db()
    response = tenant.client.post(
        url("integration_leads", tenant),
        mapping_post(integration, contacts__Email=("dynamic", "lead.email")),
        follow=True,
    )
    assert "1 held lead is being sent now" in response.content.decode()
    assert Delivery.objects.get(lead=lead).state == DeliveryState.PENDING


def test_pending_leads_are_held_when_the_mapping_becomes_incomplete(tenant: Tenant, integration) -> None:
    tenant.client.post(url("integration_leads", tenant), mapping_post(integration, "create_booking"))
    lead = friend(tenant, "jane@example.com")
    assert Delivery.objects.get(lead=lead).state == DeliveryState.PENDING
    integration.refresh_from_db()
    tenant.client.post(url("integration_leads", tenant), mapping_post(integration, name=("dynamic", "")))
    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.HELD and "Name" in delivery.reason


def test_nothing_to_action_skips_the_next_lead_with_that_reason(tenant: Tenant, integration) -> None:
    tenant.client.post(url("integration_leads", tenant), mapping_post(integration, "nothing"))
    delivery = Delivery.objects.get(lead=friend(tenant, "jane@example.com"))
    assert delivery.state == DeliveryState.SKIPPED
    assert delivery.reason == SKIPPED_REASON
    page = tenant.client.get(url("integration_leads", tenant)).content.decode()
    assert "new leads are recorded as skipped" in page


def test_optional_fields_are_added_mapped_and_removed(tenant: Tenant, integration) -> None:
    row = tenant.client.get(url("integration_mapping_row", tenant) + "?key=contacts.Phone").content.decode()
    assert 'name="field" value="contacts.Phone"' in row and "Remove Phone" in row
    assert tenant.client.get(url("integration_mapping_row", tenant) + "?key=bogus").status_code == 404
    tenant.client.post(
        url("integration_leads", tenant), mapping_post(integration, contacts__Phone=("dynamic", "lead.phone"))
    )
    integration.refresh_from_db()
    assert integration.mapping()["contacts.Phone"].source == "lead.phone"
    page = tenant.client.get(url("integration_leads", tenant)).content.decode()
    assert 'id="row-contacts-Phone"' in page
    tenant.client.post(url("integration_leads", tenant), mapping_post(integration, contacts__Phone=None))
    integration.refresh_from_db()
    assert "contacts.Phone" not in integration.mapping()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"isFirstTimeClient": ("manual", "Maybe")}, "'Maybe' is not a choice for Is First Time Client"),
        ({"name": ("telepathy", "x")}, "Name has an unknown data type"),
        ({"source": ("dynamic", "lead.shoe_size")}, "Source is mapped to 'lead.shoe_size'"),
        ({"campaignId": ("fixed", "abc")}, "The Fixed Value 'abc' for Campaign Id"),
        ({"summary": ("fixed", "Hi {Favourite Colour}")}, "{Favourite Colour}"),
    ],
)
def test_a_wrong_row_is_refused_and_named(tenant: Tenant, integration, change, expected) -> None:
    response = tenant.client.post(url("integration_leads", tenant), mapping_post(integration, **change))
    assert response.status_code == 400
    assert expected in response.content.decode().replace("&#x27;", "'")
    integration.refresh_from_db()
    assert integration.mapping()["name"].source == "lead.full_name"


def test_an_unknown_lead_action_is_refused_and_named(tenant: Tenant, integration) -> None:
    response = tenant.client.post(url("integration_leads", tenant), mapping_post(integration, "teleport"))
    assert response.status_code == 400
    assert "Choose what happens when a lead joins the campaign" in response.content.decode()
    integration.refresh_from_db()
    assert integration.lead_action == LeadAction.NOTHING


def test_the_preview_uses_a_sample_lead_when_the_campaign_has_none(tenant: Tenant, integration) -> None:
    Lead.objects.all().delete()
    response = tenant.client.get(url("integration_leads", tenant))
    assert "sample lead" in response.content.decode()
    body = json.loads(response.context["preview"].body_json)
    assert body["name"] == "Jane Doe"
    assert body["source"] == tenant.campaign.name


def test_the_preview_shows_field_errors_of_the_newest_lead(tenant: Tenant, integration) -> None:
    data = mapping_post(integration, contacts__Phone=("dynamic", "lead.notes"))
    friend_lead = friend(tenant, "noisy@example.com")
    Lead.objects.filter(pk=friend_lead.pk).update(notes="call me")
    page = tenant.client.post(url("integration_leads_check", tenant), data).content.decode()
    assert "noisy@example.com" in page
    assert 'Phone "call me" is not a phone number' in page.replace("&quot;", '"')


def test_the_leads_tab_of_a_campaign_without_an_integration_is_404(tenant: Tenant) -> None:
    assert tenant.client.get(url("integration_leads", tenant)).status_code == 404
