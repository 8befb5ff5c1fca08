"""Connection tab: step one, Finalize with the live check, Disconnect, Reconnect, scoping and permissions."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from referloop.accounts.models import Membership, Role, User
from referloop.campaigns.intake import submit_lead
from referloop.integrations.models import ConnectionState, Delivery, DeliveryState, Integration, IntegrationChange
from referloop.integrations.servicetitan.credentials import credentials_for
from referloop.providers.servicetitan import TOKEN_CACHE, token_key
from referloop.providers.servicetitan.auth import new_token
from referloop.sandbox.config import DEMO_CLIENT_SECRET, SandboxConfig
from referloop.sandbox.testing import running_sandbox
from tests.conftest import Tenant
from tests.integrations.servicetitan.conftest import connect, credentials, start, url

pytestmark = pytest.mark.django_db


def friend(tenant: Tenant, email: str):
    return submit_lead(
        tenant.campaign, tenant.referrer, {"first_name": "Jane", "last_name": "Doe", "email": email}
    ).lead


def test_the_crm_tab_shows_a_servicetitan_tile_that_is_not_connected(tenant: Tenant) -> None:
    page = tenant.client.get(reverse("campaign_settings", args=[tenant.campaign.pk, "integrations"])).content.decode()
    assert "ServiceTitan" in page
    assert "Not connected" in page
    assert url("integration_connection", tenant) in page


def test_step_one_shows_the_steps_inside_servicetitan_and_no_sandbox_unless_allowed(tenant: Tenant, settings) -> None:
    settings.SERVICETITAN_ALLOW_SANDBOX = False
    page = tenant.client.get(url("integration_connection", tenant)).content.decode()
    assert "Settings → Integrations → API Application Access" in page
    assert "Connect New App" in page
    assert "Production" in page and "Integration" in page
    assert 'value="sandbox"' not in page
    response = tenant.client.post(url("integration_connect", tenant), {"environment": "sandbox", "tenant_id": 1})
    assert response.status_code == 400
    assert "Choose Production or Integration." in response.content.decode()
    assert not Integration.objects.exists()


def test_step_one_creates_the_integration_and_records_who_did_it(tenant: Tenant, sandbox) -> None:
    integration = start(tenant.client, tenant)
    assert integration.state == ConnectionState.NOT_CONNECTED
    assert (integration.environment, integration.tenant_id) == ("sandbox", 1234567)
    change = IntegrationChange.objects.get(integration=integration)
    assert change.user == tenant.user
    assert "tenant ID to 1234567" in change.summary
    page = tenant.client.get(url("integration_connection", tenant)).content.decode()
    assert "Finalize" in page and "Booking Provider Value" in page and "Client Secret" in page


@pytest.mark.parametrize("value", ["", "abc", "0", "12.5"])
def test_step_one_names_the_tenant_id_when_it_is_wrong(tenant: Tenant, value: str) -> None:
    response = tenant.client.post(url("integration_connect", tenant), {"environment": "production", "tenant_id": value})
    assert response.status_code == 400
    assert "Tenant ID" in response.context["connect_form"].errors["tenant_id"][0]
    assert not Integration.objects.exists()


def test_finalize_with_a_wrong_booking_provider_value_names_it_and_stays_not_connected(tenant: Tenant, sandbox) -> None:
    start(tenant.client, tenant)
    response = tenant.client.post(url("integration_finalize", tenant), credentials(booking_provider_id=99))
    assert response.status_code == 400
    error = response.context["form"].errors["booking_provider_id"][0]
    assert "Booking Provider Value 99 was not found for tenant 1234567" in error
    assert "booking_provider" in error  # the fix: where to copy it from
    integration = Integration.objects.get()
    assert integration.state == ConnectionState.NOT_CONNECTED
    page = response.content.decode()
    assert DEMO_CLIENT_SECRET not in page
    # What was typed is kept, so fixing the value needs no retyping of the secret.
    assert integration.client_secret == DEMO_CLIENT_SECRET
    assert "Replace" in page and integration.masked_secret in page
    response = tenant.client.post(
        url("integration_finalize", tenant), credentials(client_secret="", booking_provider_id=42)
    )
    assert response.status_code == 302
    assert Integration.objects.get().state == ConnectionState.CONNECTED


def test_a_wrong_secret_is_reported_on_the_secret_field_with_the_fix(tenant: Tenant, sandbox) -> None:
    start(tenant.client, tenant)
    response = tenant.client.post(url("integration_finalize", tenant), credentials(client_secret="cs.wrong"))
    assert response.status_code == 400
    error = response.context["form"].errors["client_secret"][0]
    assert "rejected the Client ID and Client Secret" in error
    assert "generate a new Client Secret" in error
    assert "cs.wrong" not in response.content.decode()
    assert Integration.objects.get().state == ConnectionState.NOT_CONNECTED


def test_finalize_without_a_secret_names_the_secret(tenant: Tenant, sandbox) -> None:
    start(tenant.client, tenant)
    response = tenant.client.post(url("integration_finalize", tenant), credentials(client_secret="", client_id=""))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "Client Secret" in errors["client_secret"][0]
    assert "Client ID" in errors["client_id"][0]


def test_credentials_from_the_other_environment_are_recognised(tenant: Tenant, settings) -> None:
    other = SandboxConfig.demo()
    other.tenants[0].client_secret = "cs.integration-only"
    with running_sandbox(SandboxConfig.demo()) as production, running_sandbox(other) as integration_env:
        settings.SERVICETITAN_ALLOW_SANDBOX = True
        settings.SERVICETITAN_ENVIRONMENT_OVERRIDES = {
            "production": production.base_url,
            "integration": integration_env.base_url,
        }
        start(tenant.client, tenant, environment="production")
        response = tenant.client.post(
            url("integration_finalize", tenant), credentials(client_secret="cs.integration-only")
        )
    assert response.status_code == 400
    error = response.context["form"].non_field_errors()[0]
    assert "These credentials belong to the Integration environment" in error
    assert "set to Production" in error
    assert "Change the environment in step one" in response.content.decode()


def test_an_own_app_key_that_servicetitan_refuses_is_reported_on_the_app_key(tenant: Tenant, sandbox) -> None:
    start(tenant.client, tenant)
    response = tenant.client.post(url("integration_finalize", tenant), credentials(app_key="ak1.not-registered"))
    assert response.status_code == 400
    assert "refused the App Key" in response.context["form"].errors["app_key"][0]


def test_an_unreachable_servicetitan_says_so_and_changes_nothing(tenant: Tenant, sandbox, settings) -> None:
    start(tenant.client, tenant)
    settings.SERVICETITAN_SANDBOX_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    response = tenant.client.post(url("integration_finalize", tenant), credentials())
    assert response.status_code == 400
    assert "try the check again" in response.context["form"].non_field_errors()[0]
    assert Integration.objects.get().state == ConnectionState.NOT_CONNECTED


def test_a_passing_check_connects_prefills_the_mapping_and_never_shows_the_secret(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant)
    assert integration.state == ConnectionState.CONNECTED
    assert integration.connected_at is not None
    assert integration.mapping()["contacts.Email"].source == "lead.email"
    assert integration.mapping()["summary"].source == "Referral from {Referrer Full Name}: {Lead Notes}"
    page = tenant.client.get(url("integration_connection", tenant)).content.decode()
    assert "Connected" in page
    assert DEMO_CLIENT_SECRET not in page
    assert integration.masked_secret in page
    summaries = list(IntegrationChange.objects.values_list("summary", flat=True))
    assert any(s.startswith("Connected ServiceTitan") for s in summaries)
    tile = tenant.client.get(reverse("campaign_settings", args=[tenant.campaign.pk, "integrations"])).content.decode()
    assert "Connected" in tile


def test_editing_a_connected_integration_keeps_the_working_values_when_the_check_fails(tenant: Tenant, sandbox) -> None:
    connect(tenant)
    response = tenant.client.post(
        url("integration_finalize", tenant), credentials(client_secret="", booking_provider_id=7)
    )
    assert response.status_code == 400
    integration = Integration.objects.get()
    assert integration.booking_provider_id == 42
    assert integration.state == ConnectionState.CONNECTED


def test_disconnect_asks_first_then_holds_new_leads_and_keeps_the_configuration(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant)
    page = tenant.client.get(url("integration_disconnect", tenant)).content.decode()
    assert "Disconnect ServiceTitan?" in page and "held" in page
    assert Integration.objects.get().state == ConnectionState.CONNECTED  # the GET changed nothing
    tenant.client.post(url("integration_leads", tenant), {**_complete(integration), "lead_action": "create_booking"})
    response = tenant.client.post(url("integration_disconnect", tenant))
    assert response.status_code == 302
    integration = Integration.objects.get()
    assert integration.state == ConnectionState.DISCONNECTED
    assert integration.client_secret == DEMO_CLIENT_SECRET and integration.mapping()
    delivery = Delivery.objects.get(lead=friend(tenant, "held@example.com"))
    assert delivery.state == DeliveryState.HELD
    assert "disconnected" in delivery.reason
    assert IntegrationChange.objects.filter(summary__startswith="Disconnected").exists()


def test_reconnect_reuses_the_stored_secret_clears_the_token_and_releases_held_leads(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant)
    tenant.client.post(url("integration_leads", tenant), {**_complete(integration), "lead_action": "create_booking"})
    tenant.client.post(url("integration_disconnect", tenant))
    lead = friend(tenant, "held@example.com")
    key = token_key(credentials_for(integration))
    TOKEN_CACHE._store(key, new_token("stale-token", 900, TOKEN_CACHE.clock()))
    assert Delivery.objects.get(lead=lead).state == DeliveryState.HELD
    page = tenant.client.get(url("integration_connection", tenant)).content.decode()
    assert "Reconnect" in page
    response = tenant.client.post(url("integration_finalize", tenant), credentials(client_secret=""))
    assert response.status_code == 302
    assert Integration.objects.get().state == ConnectionState.CONNECTED
    assert Delivery.objects.get(lead=lead).state == DeliveryState.PENDING
    fresh = TOKEN_CACHE.fresh(key)
    assert fresh is not None and fresh.access_token != "stale-token"  # the cached token was replaced
    assert IntegrationChange.objects.filter(summary__startswith="Reconnected").exists()


def test_changing_the_tenant_of_a_live_connection_requires_finalize_again(tenant: Tenant, sandbox) -> None:
    connect(tenant)
    page = tenant.client.get(url("integration_connection", tenant) + "?step=connect").content.decode()
    assert "disconnects ServiceTitan until you finalize again" in page
    tenant.client.post(url("integration_connect", tenant), {"environment": "sandbox", "tenant_id": 7654321})
    integration = Integration.objects.get()
    assert integration.state == ConnectionState.NOT_CONNECTED
    assert integration.tenant_id == 7654321


def test_members_can_look_but_not_change(tenant: Tenant, sandbox) -> None:
    connect(tenant)
    member = User.objects.create_user(email="member@comfortpro.example", password="x" * 12)
    Membership.objects.create(user=member, account=tenant.account, role=Role.MEMBER)
    client = Client()
    client.force_login(member)
    assert client.get(url("integration_connection", tenant)).status_code == 200
    assert client.post(url("integration_disconnect", tenant)).status_code == 403
    assert client.post(url("integration_finalize", tenant), credentials()).status_code == 403
    assert client.post(url("integration_leads", tenant), {"lead_action": "nothing"}).status_code == 403
    assert Integration.objects.get().state == ConnectionState.CONNECTED


def test_forms_need_the_csrf_token(tenant: Tenant, sandbox) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenant.user)
    response = client.post(url("integration_connect", tenant), {"environment": "sandbox", "tenant_id": 1})
    assert response.status_code == 403
    assert not Integration.objects.exists()


def test_an_unknown_provider_is_404(tenant: Tenant) -> None:
    assert tenant.client.get(reverse("integration_connection", args=[tenant.campaign.pk, "hubspot"])).status_code == 404


def test_another_accounts_integration_is_404_everywhere(tenant: Tenant, other_tenant: Tenant, sandbox) -> None:
    connect(other_tenant)
    delivery = Delivery.objects.get(lead=friend(other_tenant, "their-lead@example.com"))
    gets = [
        "integration_home",
        "integration_connection",
        "integration_disconnect",
        "integration_leads",
        "integration_activity",
        "integration_diagnose",
    ]
    for name in gets:
        assert tenant.client.get(url(name, other_tenant)).status_code == 404, name
    posts = [
        "integration_connect",
        "integration_finalize",
        "integration_disconnect",
        "integration_leads",
        "integration_leads_check",
    ]
    for name in posts:
        assert tenant.client.post(url(name, other_tenant), credentials()).status_code == 404, name
    assert tenant.client.get(url("integration_delivery", other_tenant, delivery.pk)).status_code == 404
    assert tenant.client.post(url("integration_delivery_resend", other_tenant, delivery.pk)).status_code == 404
    assert tenant.client.get(url("integration_bulk", other_tenant, "resend-failed")).status_code == 404
    # Their delivery id under my own campaign is not found either.
    connect(tenant)
    assert tenant.client.get(url("integration_delivery", tenant, delivery.pk)).status_code == 404
    assert Integration.objects.get(campaign=other_tenant.campaign).state == ConnectionState.CONNECTED


def _complete(integration: Integration) -> dict:
    from tests.integrations.servicetitan.conftest import mapping_post

    integration.refresh_from_db()
    return mapping_post(integration)
