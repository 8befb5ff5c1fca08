"""The state badge of the CRM tile and the integration page, and what the tile says under it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from referloop.integrations.models import ConnectionState, Integration, LeadAction
from referloop.integrations.servicetitan.status import status_of
from referloop.providers.servicetitan import FieldMapping, default_mapping
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def make(tenant: Tenant, **fields) -> Integration:
    """An integration whose connection details are all there (as Finalize leaves them); `fields` set the rest."""
    integration = Integration(
        campaign=tenant.campaign, tenant_id=1234567, client_id="cid.status", booking_provider_id=42, **fields
    )
    integration.client_secret = "cs.status"
    integration.set_mapping(default_mapping())
    integration.save()
    return integration


def tile(tenant: Tenant) -> str:
    return tenant.client.get(reverse("campaign_settings", args=[tenant.campaign.pk, "integrations"])).content.decode()


def test_no_integration_is_not_connected(tenant: Tenant) -> None:
    assert status_of(None).label == "Not connected"


def test_a_started_but_unfinished_connection_says_to_finalize(tenant: Tenant) -> None:
    status = status_of(make(tenant))
    assert (status.key, status.detail) == ("not_connected", "Finish Finalize to connect.")


def test_connected_with_a_complete_mapping(tenant: Tenant) -> None:
    integration = make(tenant, state=ConnectionState.CONNECTED, lead_action=LeadAction.CREATE_BOOKING)
    assert status_of(integration).label == "Connected"
    assert "Connected" in tile(tenant)


def test_connected_but_nothing_to_action_says_so(tenant: Tenant) -> None:
    status = status_of(make(tenant, state=ConnectionState.CONNECTED))
    assert status.label == "Connected" and "Nothing to action" in status.detail


def test_missing_required_fields_are_setup_required_and_named(tenant: Tenant) -> None:
    integration = make(tenant, state=ConnectionState.CONNECTED)
    mapping = default_mapping()
    mapping["contacts.Email"] = FieldMapping("dynamic", "")
    del mapping["summary"]
    integration.set_mapping(mapping)
    integration.save()
    status = status_of(integration)
    assert (status.key, status.label) == ("setup_required", "Setup Required")
    assert status.detail == "Map Email, Summary on the Leads tab."
    page = tile(tenant)
    assert "Setup Required" in page and "Map Email, Summary on the Leads tab." in page


def test_a_broken_row_is_setup_required_too(tenant: Tenant) -> None:
    integration = make(tenant, state=ConnectionState.CONNECTED)
    mapping = default_mapping()
    mapping["isFirstTimeClient"] = FieldMapping("manual", "Maybe")
    integration.set_mapping(mapping)
    assert status_of(integration).detail == "Fix 1 field mapping on the Leads tab."


def test_rejected_credentials_and_recent_failures_need_attention(tenant: Tenant) -> None:
    integration = make(tenant, state=ConnectionState.CREDENTIALS_REJECTED, attention_reason="Secret rejected.")
    assert (status_of(integration).label, status_of(integration).detail) == ("Needs attention", "Secret rejected.")
    integration.state = ConnectionState.CONNECTED
    integration.needs_attention = True
    integration.attention_reason = "5 deliveries in a row failed."
    integration.save()
    assert status_of(integration).key == "needs_attention"
    page = tile(tenant)
    assert "Needs attention" in page and "5 deliveries in a row failed." in page


def test_disconnected(tenant: Tenant) -> None:
    status = status_of(make(tenant, state=ConnectionState.DISCONNECTED))
    assert status.label == "Disconnected" and "held" in status.detail


def test_every_form_on_the_integration_pages_carries_the_csrf_token(tenant: Tenant, sandbox) -> None:
    from tests.integrations.servicetitan.conftest import connect, url

    connect(tenant)
    for name in ("integration_connection", "integration_leads", "integration_disconnect"):
        page = tenant.client.get(url(name, tenant)).content.decode()
        assert page.count("<form") == page.count('name="csrfmiddlewaretoken"') + page.count('method="get"'), name
