"""The Referrers tab: the sync's settings, Start and Stop, and its progress, server-rendered."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.formats import date_format

from referloop.accounts.models import Membership, Role, User
from referloop.integrations.models import Integration, IntegrationChange
from referloop.integrations.servicetitan.customer_sync.index import fresh_within
from referloop.integrations.servicetitan.customer_sync.models import CustomerSync, Mode, SyncState
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import PASSWORD, Tenant
from tests.integrations.servicetitan.conftest import connect, url
from tests.integrations.servicetitan.contacts_copying import contacts_export_refused
from tests.integrations.servicetitan.customer_syncing import finished, run_until
from tests.integrations.servicetitan.test_known_customer_index import asking_servicetitan, complete, copy_until

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
        ({"selection": "tag"}, "tag_pick", "Choose the tag of the customers to import, or type its id"),
        ({"selection": "tag", "tag_pick": "501", "tag_id": "502"}, "tag_id", "not both"),
        ({"selection": "tag", "tag_pick": "999"}, "tag_pick", "Select a valid choice"),
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


# -- "Customers with a tag": the tenant's tag types by name --------------------------------------------------------

TAG_TYPES = "TagTypes_GetList"


def tag_calls(sandbox: SandboxHandle, since: int) -> int:
    return len(sandbox.calls(since=since, operation=TAG_TYPES))


def checked(html: str, name: str) -> str:
    """The value of the checked radio button of `name`."""
    found = re.findall(rf'<input type="radio" name="{name}" value="([^"]*)"[^>]*\bchecked\b', html)
    assert len(found) == 1, found
    return str(found[0])


def tab(tenant: Tenant) -> str:
    response = tenant.client.get(url(TAB, tenant))
    assert response.status_code == 200
    return response.content.decode()


def test_customers_with_a_tag_offers_the_tenants_active_tag_types_by_name_read_once_and_cached(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    mark = sandbox.mark()
    html = tab(tenant)

    assert '<option value="501">VIP (501)</option>' in html
    assert '<option value="502">Maintenance Member (502)</option>' in html
    assert "Warranty (old)" not in html  # inactive in ServiceTitan
    assert 'aria-label="Refresh the tags from ServiceTitan"' in html
    assert 'name="tag_id"' in html and "Or type a tag id" in html  # typing an id stays possible
    assert tag_calls(sandbox, mark) == 1
    tab(tenant)
    assert tag_calls(sandbox, mark) == 1  # the cache answers for 15 minutes


def test_a_tag_chosen_from_the_list_or_typed_as_an_id_is_what_the_sync_reads(
    tenant: Tenant, integration: Integration
) -> None:
    response = tenant.client.post(url(TAB, tenant), settings_post(selection="tag", tag_pick="502"))
    assert response.status_code == 302
    sync = CustomerSync.objects.get(integration=integration)
    assert (sync.selection, sync.tag_id) == ("tag", 502)
    assert '<option value="502" selected>Maintenance Member (502)</option>' in tab(tenant)

    tenant.client.post(url("integration_referrers_stop", tenant))
    response = tenant.client.post(url(TAB, tenant), settings_post(selection="tag", tag_id="777"))
    assert response.status_code == 302
    assert CustomerSync.objects.get(integration=integration).tag_id == 777


def test_the_refresh_icon_reads_the_tags_again_and_keeps_what_was_filled_in_unsaved(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    tab(tenant)
    sandbox.add_pick_list_item("tag_type", 504, "Spring Promo")
    assert "Spring Promo" not in tab(tenant)  # still the cached list
    mark = sandbox.mark()

    response = tenant.client.post(
        url(TAB, tenant), {**settings_post(selection="tag", mode=Mode.ONGOING), "refresh_tags": "1"}
    )

    html = response.content.decode()
    assert response.status_code == 200 and tag_calls(sandbox, mark) == 1
    assert '<option value="504">Spring Promo (504)</option>' in html
    assert checked(html, "selection") == "tag" and checked(html, "mode") == "ongoing"  # what was filled in stays
    assert not CustomerSync.objects.filter(integration=integration).exists()  # nothing saved or started
    assert "Spring Promo (504)" in tab(tenant)  # and the fresh list serves the next view


def test_a_stored_tag_that_left_servicetitan_is_flagged_on_the_tab(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    tenant.client.post(url(TAB, tenant), settings_post(selection="tag", tag_pick="502"))
    assert "Check the tag" not in tab(tenant)
    sandbox.remove_pick_list_item("tag_type", 502)

    tenant.client.post(url(TAB, tenant), {**settings_post(selection="tag"), "refresh_tags": "1"})
    html = tab(tenant)

    problem = "Tag 502 is not an active tag type in ServiceTitan (inactive or removed): choose another."
    assert problem in html and 'id="tag-problem"' in html
    assert '<option value="502" selected>502 (not active in ServiceTitan)</option>' in html


def test_when_servicetitan_cannot_list_the_tags_the_id_is_typed_with_the_reason(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    sandbox.set(error_rate=1.0)
    html = tab(tenant)
    sandbox.set(error_rate=0.0)

    assert 'name="tag_pick"' not in html
    note = html.split('id="tag-note"')[1].split("</p>")[0]
    assert "ServiceTitan could not list its tag types" in note and "Type the tag id (a number) meanwhile." in note
    mark = sandbox.mark()
    response = tenant.client.post(url(TAB, tenant), settings_post(selection="tag", tag_id="501"))
    assert response.status_code == 302 and CustomerSync.objects.get(integration=integration).tag_id == 501
    assert tag_calls(sandbox, mark) == 0  # the failure is remembered for a minute, not asked again per view


# -- the known-customer contacts copy ------------------------------------------------------------------------------


def copy_panel(client: Client, tenant: Tenant) -> str:
    html = client.get(url(TAB, tenant)).content.decode()
    assert 'id="contacts-copy"' in html, "the contacts copy is not on the tab"
    return html.split('id="contacts-copy"')[1].split("</section>")[0]


def test_the_contacts_copy_is_not_shown_while_no_mapping_asks_servicetitan(tenant: Tenant, integration) -> None:
    assert 'id="contacts-copy"' not in tab(tenant)


@pytest.mark.django_db(transaction=True)
def test_the_tab_shows_the_contacts_copy_from_copying_to_complete_for_owners_and_members(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = asking_servicetitan(tenant)
    panel = copy_panel(tenant.client, tenant)
    assert "Existing customers" in panel and "used to recognise existing customers" in panel
    assert ">Copying<" in panel and "not yet" in panel

    copy_until(integration, complete)

    contacts = sum(len(c.emails()) + len(c.phones()) for c in sandbox.customers())
    polled = CustomerSync.objects.get(integration=integration).contacts_polled_at
    assert polled is not None
    for client in (tenant.client, member_client(tenant)):
        panel = copy_panel(client, tenant)
        assert ">Complete and up to date<" in panel
        assert f'id="contacts-copy-count">{contacts}<' in panel
        read = panel.split('id="contacts-copy-read">')[1].split("</dd>")[0]
        assert read.endswith(f"({date_format(timezone.localtime(polled), 'M j, H:i')})")
        assert "Friends are matched against this copy by email and phone" in panel
    assert "No sync yet" in tab(tenant)  # the copy is no referrer sync


@pytest.mark.django_db(transaction=True)
def test_a_copy_not_read_for_too_long_is_shown_as_behind(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = asking_servicetitan(tenant)
    copy_until(integration, complete)
    CustomerSync.objects.filter(integration=integration).update(contacts_polled_at=timezone.now() - 2 * fresh_within())

    panel = copy_panel(tenant.client, tenant)

    assert ">Behind<" in panel and "Not read for longer than 20 minutes" in panel


@pytest.mark.django_db(transaction=True)
def test_a_refused_copy_shows_what_servicetitan_answered_and_the_fix_until_a_page_is_written_again(
    tenant: Tenant, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    integration = asking_servicetitan(tenant)
    with contacts_export_refused(monkeypatch):
        copy_until(integration, lambda sync: bool(sync.contacts_error))

    sync = CustomerSync.objects.get(integration=integration)
    assert sync.contacts_error_permanent and "lacks permission" in sync.contacts_error
    assert sync.state == SyncState.IDLE and not sync.last_error  # the referrer sync's own line is untouched
    panel = copy_panel(tenant.client, tenant)
    assert ">Failing<" in panel and 'id="contacts-copy-error"' in panel
    assert "ServiceTitan refused to let the app export customer contacts" in panel
    assert "lacks the Customers scope" in panel

    CustomerSync.objects.filter(pk=sync.pk).update(contacts_due_at=timezone.now())  # the retry a minute later
    copy_until(integration, complete)

    panel = copy_panel(tenant.client, tenant)
    assert ">Complete and up to date<" in panel and 'id="contacts-copy-error"' not in panel
