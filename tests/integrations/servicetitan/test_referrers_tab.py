"""The Referrers tab: the sync's settings, Start and Stop, and its progress, server-rendered."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from referloop.accounts.models import Membership, Role, User
from referloop.integrations.models import Integration, IntegrationChange
from referloop.integrations.servicetitan.customer_sync.models import CustomerSync, Mode, SyncState
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import PASSWORD, Tenant
from tests.integrations.servicetitan.conftest import connect, url
from tests.integrations.servicetitan.customer_syncing import finished, run_until

TAB = "integration_referrers"


def settings_post(**changes: Any) -> dict[str, Any]:
    return {
        "selection": "all",
        "tag_id": "",
        "created_after": "",
        "name_source": "split",
        "email_source": "first",
        "phone_source": "mobile",
        "mode": Mode.ONE_TIME,
        **changes,
    }


def member_client(tenant: Tenant) -> Client:
    user = User.objects.create_user(email="member@comfortpro.example", password=PASSWORD)
    Membership.objects.create(user=user, account=tenant.account, role=Role.MEMBER)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def integration(tenant: Tenant, sandbox: SandboxHandle) -> Integration:
    return connect(tenant)


def test_the_referrers_tab_sits_beside_leads_and_offers_the_sync_settings(tenant: Tenant, integration) -> None:
    response = tenant.client.get(url(TAB, tenant))
    html = response.content.decode()
    assert response.status_code == 200
    tabs = html.split('class="tabs subtabs"')[1].split("</nav>")[0]
    assert tabs.index(">Leads<") < tabs.index(">Referrers<") < tabs.index(">Activity<")
    assert "Sync customers as referrers" in html and "No sync yet" in html
    assert 'name="selection"' in html and 'name="mode"' in html and 'id="sync-start"' in html
    assert "<script" not in html.split('id="sync-title"')[1]  # the CSP allows no inline script
    assert "style=" not in html.split('id="sync-title"')[1]


def test_starting_the_sync_saves_the_settings_and_runs_it(tenant: Tenant, integration) -> None:
    response = tenant.client.post(url(TAB, tenant), settings_post(selection="tag", tag_id="501", mode=Mode.ONGOING))
    assert response.status_code == 302
    sync = CustomerSync.objects.get(integration=integration)
    assert (sync.state, sync.selection, sync.tag_id, sync.mode, sync.run) == (
        SyncState.RUNNING,
        "tag",
        501,
        "ongoing",
        1,
    )
    assert IntegrationChange.objects.filter(integration=integration, summary__contains="customer sync").exists()
    html = tenant.client.get(url(TAB, tenant)).content.decode()
    assert 'id="sync-stop"' in html and "Running" in html
    assert 'hx-get="' + url("integration_referrers_progress", tenant) in html  # the panel polls while it runs


@pytest.mark.parametrize(
    ("changes", "field", "sentence"),
    [
        ({"selection": "tag"}, "tag_id", "Enter the tag id"),
        ({"selection": "created_after"}, "created_after", "Enter the date"),
        ({"selection": "tag", "tag_id": "abc"}, "tag_id", "Enter a whole number"),
        ({"mode": "forever"}, "mode", "Select a valid choice"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(tenant: Tenant, integration, changes, field, sentence) -> None:
    response = tenant.client.post(url(TAB, tenant), settings_post(**changes))
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html and sentence in html
    assert not CustomerSync.objects.filter(integration=integration, state=SyncState.RUNNING).exists()


@pytest.mark.django_db(transaction=True)
def test_the_tab_shows_progress_and_what_a_finished_sync_did(tenant: Tenant, integration, sandbox) -> None:
    tenant.client.post(url(TAB, tenant), settings_post())
    sync = CustomerSync.objects.get(integration=integration)
    progress = tenant.client.get(url("integration_referrers_progress", tenant), HTTP_HX_REQUEST="true")
    assert progress.status_code == 200 and "customers done" in progress.content.decode()
    assert "HX-Refresh" not in progress and 'id="sync-stop"' in progress.content.decode()
    assert "rows to go not known yet" in progress.content.decode()  # the worker has not counted yet

    run_until(finished, sync)

    no_email = sum(1 for c in sandbox.customers() if c.active and not c.emails())
    made = sum(1 for c in sandbox.customers() if c.active and c.emails())
    html = tenant.client.get(url(TAB, tenant)).content.decode()
    assert f"Created {made} referrers" in html and f"skipped {no_email} without an email" in html
    assert "hx-get" not in html.split('id="sync-panel"')[1].split(">")[0]  # finished: no more polling
    assert 'id="sync-stop"' not in html
    ended = tenant.client.get(url("integration_referrers_progress", tenant), HTTP_HX_REQUEST="true")
    assert ended["HX-Refresh"] == "true"  # the polling panel reloads the page once, with the form usable again


def test_stop_stops_a_running_sync(tenant: Tenant, integration) -> None:
    tenant.client.post(url(TAB, tenant), settings_post(mode=Mode.ONGOING))
    response = tenant.client.post(url("integration_referrers_stop", tenant))
    assert response.status_code == 302
    assert CustomerSync.objects.get(integration=integration).state == SyncState.STOPPED


def test_a_member_sees_the_tab_but_cannot_start_or_stop(tenant: Tenant, integration) -> None:
    member = member_client(tenant)
    html = member.get(url(TAB, tenant)).content.decode()
    assert "Sync customers as referrers" in html and 'id="sync-start"' not in html
    assert member.post(url(TAB, tenant), settings_post()).status_code == 403
    tenant.client.post(url(TAB, tenant), settings_post(mode=Mode.ONGOING))
    assert member.post(url("integration_referrers_stop", tenant)).status_code == 403
    assert CustomerSync.objects.get(integration=integration).state == SyncState.RUNNING


def test_another_account_cannot_see_or_start_the_sync(tenant: Tenant, other_tenant: Tenant, integration) -> None:
    for name in (TAB, "integration_referrers_progress"):
        assert other_tenant.client.get(url(name, tenant)).status_code == 404
    assert other_tenant.client.post(url(TAB, tenant), settings_post()).status_code == 404
    assert other_tenant.client.post(url("integration_referrers_stop", tenant)).status_code == 404
    assert not CustomerSync.objects.exists()
