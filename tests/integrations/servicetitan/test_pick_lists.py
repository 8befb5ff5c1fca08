"""Live pick lists: Job Type, Business Unit and Campaign offered by name from the tenant, cached, refreshable, and a
stored id that left ServiceTitan flagged on the Leads tab and in Diagnose. All against the sandbox over HTTP."""

from __future__ import annotations

import json

import pytest

from referloop.campaigns.intake import submit_lead
from referloop.diagnostics.checks import run_checks
from referloop.diagnostics.result import Status
from referloop.integrations.models import Delivery, DeliveryState, Integration
from referloop.providers.servicetitan import FieldMapping
from referloop.runtime.demo import connect_demo_integration
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant
from tests.integrations.engine.helpers import drain
from tests.integrations.servicetitan.conftest import mapping_post, url

pytestmark = pytest.mark.django_db

LISTS = ("JobTypes_GetList", "BusinessUnits_GetList", "Campaigns_GetList")
INACTIVE_5 = "Job Type 5 is not an active job type in ServiceTitan (inactive or removed): choose another."


@pytest.fixture
def integration(tenant: Tenant, sandbox: SandboxHandle) -> Integration:
    """The demo's connection: Job Type 2, Business Unit 1 and Campaign 1 as Manual Selects."""
    return connect_demo_integration(tenant.campaign)


def list_calls(sandbox: SandboxHandle, since: int) -> dict[str, int]:
    return {operation: len(sandbox.calls(since=since, operation=operation)) for operation in LISTS}


def leads_page(tenant: Tenant) -> str:
    response = tenant.client.get(url("integration_leads", tenant))
    assert response.status_code == 200
    return response.content.decode()


def refresh_row(tenant: Tenant, integration: Integration, key: str, **changes: tuple[str, str]) -> str:
    """The refresh icon as htmx sends it: the row's own inputs and the key."""
    data = mapping_post(integration, **changes)
    row = {name: value for name, value in data.items() if name.startswith(f"{key}__")}
    response = tenant.client.post(
        url("integration_pick_lists_refresh", tenant), {**row, "field": key, "key": key}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    return response.content.decode()


def set_mapping(integration: Integration, **entries: FieldMapping) -> None:
    integration.set_mapping({**integration.mapping(), **{k.replace("__", "."): v for k, v in entries.items()}})
    integration.save()


def test_the_selects_offer_the_tenants_active_names_and_not_the_inactive_ones(
    tenant: Tenant, integration: Integration
) -> None:
    page = leads_page(tenant)

    for name in ("Service Call (1)", "Furnace Tune-Up (3)", "Water Heater Install (4)", "Plumbing Service (2)"):
        assert f">{name}</option>" in page
    assert '<option value="2" selected>AC Repair (2)</option>' in page
    assert '<option value="1" selected>HVAC Service (1)</option>' in page
    assert '<option value="1" selected>Referral Program (1)</option>' in page
    for inactive in ("Duct Cleaning (retired)", "Old Install Team", "Spring Mailer 2023"):
        assert inactive not in page
    assert 'aria-label="Refresh the list from ServiceTitan"' in page
    assert "Check these ids" not in page


def test_the_cache_answers_the_second_view_and_the_refresh_icon_reads_servicetitan_again(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    mark = sandbox.mark()
    leads_page(tenant)
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 1)

    sandbox.add_pick_list_item("job_type", 6, "Heat Pump Install")
    assert "Heat Pump Install" not in leads_page(tenant)
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 1)

    row = refresh_row(tenant, integration, "jobTypeId", jobTypeId=("manual", "3"))
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 2)
    # The row comes back with the fresh list and keeps the choice made before saving.
    assert '<option value="6">Heat Pump Install (6)</option>' in row
    assert '<option value="3" selected>Furnace Tune-Up (3)</option>' in row
    assert "Heat Pump Install (6)" in leads_page(tenant)
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 2)


def test_the_refresh_icon_without_javascript_reads_again_and_returns_to_the_tab(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    leads_page(tenant)
    mark = sandbox.mark()
    response = tenant.client.post(url("integration_pick_lists_refresh", tenant), {"key": "jobTypeId"}, follow=True)
    assert response.redirect_chain[-1][0] == url("integration_leads", tenant)
    assert "were read again" in response.content.decode()
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 1)


@pytest.mark.django_db(transaction=True)
def test_saving_a_choice_stores_its_id_and_the_booking_carries_it(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    response = tenant.client.post(
        url("integration_leads", tenant), mapping_post(integration, jobTypeId=("manual", "3"))
    )
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.mapping()["jobTypeId"] == FieldMapping("manual", "3")
    assert '<option value="3" selected>Furnace Tune-Up (3)</option>' in leads_page(tenant)

    lead = submit_lead(
        tenant.campaign, tenant.referrer, {"first_name": "Jane", "last_name": "Doe", "email": "jane@pick.example"}
    ).lead
    drain()

    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.DELIVERED
    [booking] = [b for b in sandbox.bookings() if b.external_id == lead.code]
    assert (booking.job_type_id, booking.business_unit_id, booking.campaign_id) == (3, 1, 1)


def test_a_raw_id_typed_as_a_fixed_value_still_works(tenant: Tenant, integration: Integration) -> None:
    response = tenant.client.post(url("integration_leads", tenant), mapping_post(integration, jobTypeId=("fixed", "4")))
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.mapping()["jobTypeId"] == FieldMapping("fixed", "4")
    response = tenant.client.get(url("integration_leads", tenant))
    assert json.loads(response.context["preview"].body_json)["jobTypeId"] == 4
    assert 'value="4"' in response.content.decode()


def test_a_manual_select_that_is_not_a_number_is_refused_naming_the_field(
    tenant: Tenant, integration: Integration
) -> None:
    response = tenant.client.post(
        url("integration_leads", tenant), mapping_post(integration, businessUnitId=("manual", "plumbing"))
    )
    assert response.status_code == 400
    assert "The Business Unit Id &#x27;plumbing&#x27; is not a whole number" in response.content.decode()


@pytest.mark.parametrize("change", ["deactivate", "remove"])
def test_a_stored_id_that_left_servicetitan_is_named_on_the_leads_tab_and_in_diagnose(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle, change: str
) -> None:
    sandbox.add_pick_list_item("job_type", 7, "Mini-Split Install")
    set_mapping(integration, jobTypeId=FieldMapping("manual", "7"))
    if change == "deactivate":
        sandbox.deactivate_pick_list_item("job_type", 7)
    else:
        sandbox.remove_pick_list_item("job_type", 7)

    page = leads_page(tenant)
    problem = "Job Type 7 is not an active job type in ServiceTitan (inactive or removed): choose another."
    assert page.count(problem) == 2  # the banner above the table, and the row itself
    assert '<option value="7" selected>7 (not active in ServiceTitan)</option>' in page

    mark = sandbox.mark()
    found = {result.key: result for result in run_checks(integration)}["pick_lists"]
    assert found.status == Status.PROBLEM
    assert found.sentence == problem
    assert found.fix_url == url("integration_leads", tenant)
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 1)  # Diagnose reads afresh


def test_diagnose_names_an_inactive_raw_id_and_its_page_view_reads_only_the_cache(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    set_mapping(integration, jobTypeId=FieldMapping("fixed", "5"))  # seeded inactive
    mark = sandbox.mark()
    offline = {result.key: result for result in run_checks(integration, network=False)}["pick_lists"]
    assert offline.status == Status.SKIPPED
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 0)

    assert INACTIVE_5 in leads_page(tenant)
    mark = sandbox.mark()
    offline = {result.key: result for result in run_checks(integration, network=False)}["pick_lists"]
    assert (offline.status, offline.sentence) == (Status.PROBLEM, INACTIVE_5)
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 0)

    page = tenant.client.get(url("integration_diagnose", tenant)).content.decode()
    assert INACTIVE_5 in page


def test_diagnose_says_which_ids_are_active_by_name(tenant: Tenant, integration: Integration) -> None:
    found = {result.key: result for result in run_checks(integration)}["pick_lists"]
    assert found.status == Status.OK
    assert found.sentence == (
        "Job Type 2 (“AC Repair”), Business Unit 1 (“HVAC Service”) and Campaign 1 (“Referral Program”) are "
        "active in ServiceTitan."
    )


def test_servicetitan_failing_leaves_an_id_field_and_a_message_and_is_not_asked_again_on_every_view(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    sandbox.set(error_rate=1.0)
    mark = sandbox.mark()
    page = leads_page(tenant)
    assert '<input type="text" inputmode="numeric" id="manual-jobTypeId" name="jobTypeId__manual" value="2"' in page
    assert "ServiceTitan could not list its job types, business units and campaigns:" in page
    assert "Type the Job Type id (a number) meanwhile." in page
    assert "Check these ids" not in page  # nothing is known about the ids, so nothing is flagged

    asked = len(sandbox.calls(since=mark))
    leads_page(tenant)
    assert len(sandbox.calls(since=mark)) == asked  # the failure is remembered for a minute

    sandbox.set(error_rate=0.0)
    row = refresh_row(tenant, integration, "jobTypeId")
    assert '<option value="2" selected>AC Repair (2)</option>' in row


def test_servicetitan_down_still_renders_the_tab_with_the_id_field(
    tenant: Tenant, integration: Integration, settings
) -> None:
    settings.SERVICETITAN_SANDBOX_URL = "http://127.0.0.1:9"  # nothing listens there
    page = leads_page(tenant)
    assert 'name="businessUnitId__manual" value="1"' in page
    assert "ServiceTitan could not list its job types, business units and campaigns:" in page

    found = {result.key: result for result in run_checks(integration)}["pick_lists"]
    assert found.status == Status.SKIPPED  # the credentials check already says ServiceTitan is unreachable


def test_a_failed_refresh_keeps_offering_the_list_read_earlier(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    leads_page(tenant)
    sandbox.set(error_rate=1.0)
    row = refresh_row(tenant, integration, "jobTypeId")
    assert '<option value="2" selected>AC Repair (2)</option>' in row
    assert "Could not refresh: ServiceTitan could not list" in row
    assert '<option value="2" selected>AC Repair (2)</option>' in leads_page(tenant)


def test_another_accounts_lists_are_cached_apart(
    tenant: Tenant, other_tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    connect_demo_integration(other_tenant.campaign)
    leads_page(tenant)
    sandbox.add_pick_list_item("job_type", 6, "Heat Pump Install")

    mark = sandbox.mark()
    assert "Heat Pump Install (6)" in leads_page(other_tenant)  # its own first read, not the first account's cache
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 1)
    assert "Heat Pump Install" not in leads_page(tenant)
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 1)


def test_another_accounts_campaign_cannot_be_refreshed(tenant: Tenant, other_tenant: Tenant, integration) -> None:
    response = other_tenant.client.post(url("integration_pick_lists_refresh", tenant), {"key": "jobTypeId"})
    assert response.status_code == 404


def test_adding_a_job_type_row_offers_the_list(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect_demo_integration(tenant.campaign)
    integration.set_mapping({k: v for k, v in integration.mapping().items() if k != "jobTypeId"})
    integration.save()
    response = tenant.client.get(url("integration_mapping_row", tenant) + "?key=jobTypeId")
    row = response.content.decode()
    assert '<option value="manual" selected>Manual Select</option>' in row
    assert '<option value="4">Water Heater Install (4)</option>' in row


def test_a_leads_tab_without_these_rows_does_not_ask_servicetitan(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect_demo_integration(tenant.campaign)
    integration.set_mapping({k: v for k, v in integration.mapping().items() if not k.endswith("Id")})
    integration.save()
    mark = sandbox.mark()
    leads_page(tenant)
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 0)


def test_a_leads_check_while_editing_reads_only_the_cache(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    leads_page(tenant)
    mark = sandbox.mark()
    response = tenant.client.post(
        url("integration_leads_check", tenant), mapping_post(integration, jobTypeId=("manual", "5"))
    )
    assert INACTIVE_5 in response.content.decode()
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 0)


def test_the_tag_types_are_read_and_cached_apart_from_the_leads_tabs_lists(
    tenant: Tenant, integration: Integration, sandbox: SandboxHandle
) -> None:
    mark = sandbox.mark()
    leads_page(tenant)
    assert len(sandbox.calls(since=mark, operation="TagTypes_GetList")) == 0  # the Leads tab needs no tags

    referrers = tenant.client.get(url("integration_referrers", tenant)).content.decode()

    assert "VIP (501)" in referrers
    assert len(sandbox.calls(since=mark, operation="TagTypes_GetList")) == 1
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 1)  # the Referrers tab read none of the three again
    leads_page(tenant)
    assert list_calls(sandbox, mark) == dict.fromkeys(LISTS, 1)
