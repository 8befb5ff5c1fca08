"""Live pick lists in a real browser: Job Type chosen by name, refreshed in place, saved, and a retired id flagged."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from referloop.integrations.models import Integration
from referloop.providers.servicetitan import FieldMapping
from referloop.runtime.demo import connect_demo_integration
from referloop.sandbox.testing import SandboxHandle
from tests.browser.helpers import log_in, owner_with_campaign

pytestmark = pytest.mark.browser


def test_choose_a_job_type_by_name_refresh_the_list_and_see_a_retired_one_flagged(
    page: Page, public_base_url: str, sandbox: SandboxHandle, screenshot: Callable[[Page, str], None]
) -> None:
    owned = owner_with_campaign()
    integration = connect_demo_integration(owned.campaign)
    log_in(page, public_base_url)
    leads = f"{public_base_url}/campaigns/{owned.campaign.pk}/integrations/servicetitan/leads/"
    page.goto(leads)

    job_type = page.locator("#manual-jobTypeId")
    expect(job_type).to_have_value("2")
    expect(job_type.locator("option:checked")).to_have_text("AC Repair (2)")
    expect(job_type.locator("option", has_text="Duct Cleaning")).to_have_count(0)
    screenshot(page, "pick-lists")
    page.goto(leads)  # a fresh page: with REFERLOOP_SCREENSHOTS=1 the screenshot's own styles trip the CSP check

    sandbox.add_pick_list_item("job_type", 6, "Heat Pump Install")
    job_type.select_option("3")
    page.locator("#row-jobTypeId").get_by_role("button", name="Refresh the list from ServiceTitan").click()
    expect(page.locator("#manual-jobTypeId option[value='6']")).to_have_text("Heat Pump Install (6)")
    expect(page.locator("#manual-jobTypeId")).to_have_value("3")  # the unsaved choice survives the refresh

    page.locator("#manual-jobTypeId").select_option("6")
    page.get_by_role("button", name="Save Changes").first.click()
    expect(page.get_by_text("Changes saved.")).to_be_visible()
    integration.refresh_from_db()
    assert integration.mapping()["jobTypeId"] == FieldMapping("manual", "6")

    sandbox.deactivate_pick_list_item("job_type", 6)
    page.locator("#row-jobTypeId").get_by_role("button", name="Refresh the list from ServiceTitan").click()
    problem = "Job Type 6 is not an active job type in ServiceTitan (inactive or removed): choose another."
    expect(page.locator("#row-jobTypeId")).to_contain_text(problem)
    page.goto(leads)
    expect(page.locator("#pick-problems")).to_contain_text(problem)
    screenshot(page, "pick-lists-retired-id")


def test_servicetitan_down_leaves_an_id_field_with_the_reason(
    page: Page, public_base_url: str, sandbox: SandboxHandle, screenshot: Callable[[Page, str], None]
) -> None:
    owned = owner_with_campaign()
    integration: Integration = connect_demo_integration(owned.campaign)
    sandbox.set(error_rate=1.0)
    log_in(page, public_base_url)
    page.goto(f"{public_base_url}/campaigns/{owned.campaign.pk}/integrations/servicetitan/leads/")

    expect(page.locator("input#manual-jobTypeId")).to_have_value("2")
    expect(page.locator("#row-jobTypeId")).to_contain_text("ServiceTitan could not list its job types")
    screenshot(page, "pick-lists-servicetitan-down")
    assert integration.mapping()["jobTypeId"] == FieldMapping("manual", "2")
