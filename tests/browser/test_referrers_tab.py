"""The Referrers tab in a browser: pick a tag from the tenant's list, start a sync, watch it run, read what it did;
and the known-customer contacts copy the tab shows when the Leads tab asks ServiceTitan (CSP checked by `page`)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from referloop.integrations.servicetitan.customer_sync.models import CustomerSync
from referloop.providers.servicetitan import FieldMapping, default_mapping
from referloop.sandbox.testing import SandboxHandle
from tests.browser.helpers import log_in, owner_with_campaign
from tests.integrations.engine.helpers import connect
from tests.integrations.servicetitan.contacts_copying import contacts_export_refused
from tests.integrations.servicetitan.customer_syncing import finished, run_until
from tests.integrations.servicetitan.test_known_customer_index import complete, copy_until

pytestmark = pytest.mark.browser


def sync_in_thread(sync: CustomerSync) -> None:
    """The worker in a thread of its own (this one runs Playwright's event loop) until the sync is Finished."""
    in_thread(lambda: run_until(finished, sync))


def in_thread(work: Callable[[], object]) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, name="referloop-customer-sync")
    thread.start()
    thread.join(timeout=90)
    assert not thread.is_alive(), "the worker did not get there"
    if errors:
        raise errors[0]


def test_an_owner_starts_a_sync_of_tagged_customers_and_sees_what_it_did(
    page: Page, live_server: object, sandbox: SandboxHandle, screenshot: Callable[[Page, str], None]
) -> None:
    owned = owner_with_campaign()
    connect(owned.campaign)
    base = str(live_server.url)  # type: ignore[attr-defined]
    log_in(page, base)
    page.goto(f"{base}/campaigns/{owned.campaign.pk}/integrations/servicetitan/")
    page.get_by_role("link", name="Referrers", exact=True).last.click()
    expect(page.get_by_role("heading", name="Sync customers as referrers")).to_be_visible()
    expect(page.locator("#sync-panel")).to_contain_text("No sync yet")

    page.get_by_label("Customers with a tag").check()
    tags = page.get_by_label("Tag", exact=True)  # the tenant's tag types by name, not a number to look up
    expect(tags.locator("option")).to_have_text(["Choose a tag", "VIP (501)", "Maintenance Member (502)"])
    tags.select_option(label="VIP (501)")
    page.get_by_label("One-time").check()
    screenshot(page, "referrers-tab")
    page.get_by_role("button", name="Start sync").click()
    expect(page.locator("#sync-state")).to_have_text("Running")
    expect(page.get_by_role("button", name="Stop")).to_be_visible()

    sync_in_thread(CustomerSync.objects.get(integration__campaign=owned.campaign))

    tagged = [c for c in sandbox.customers() if 501 in c.tag_type_ids and c.active and c.emails()]
    # The panel polls every 2 s; once the run ended the page reloads with the settings usable again.
    expect(page.locator("#sync-summary")).to_contain_text(
        re.compile(rf"Created {len(tagged)} referrers?"), timeout=15_000
    )
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    expect(page.get_by_role("button", name="Start sync")).to_be_enabled()
    screenshot(page, "referrers-tab-finished")


def test_the_tab_shows_the_known_customer_copy_and_a_tag_added_in_servicetitan_after_a_refresh(
    page: Page, live_server: object, sandbox: SandboxHandle, screenshot: Callable[[Page, str], None]
) -> None:
    owned = owner_with_campaign()
    # Saved as the Leads tab saves it: Is First Time Client From ServiceTitan, so the worker keeps the contacts copy.
    asking = FieldMapping("manual", "From ServiceTitan, else Yes")
    integration = connect(owned.campaign, mapping={**default_mapping(), "isFirstTimeClient": asking})
    in_thread(lambda: copy_until(integration, complete))
    base = str(live_server.url)  # type: ignore[attr-defined]
    log_in(page, base)
    page.goto(f"{base}/campaigns/{owned.campaign.pk}/integrations/servicetitan/referrers/")

    copy = page.locator("#contacts-copy")
    expect(copy.get_by_role("heading", name="Existing customers")).to_be_visible()
    expect(copy).to_contain_text("used to recognise existing customers")
    expect(page.locator("#contacts-copy-state")).to_have_text("Complete and up to date")
    contacts = sum(len(c.emails()) + len(c.phones()) for c in sandbox.customers())
    expect(page.locator("#contacts-copy-count")).to_have_text(str(contacts))

    sandbox.add_pick_list_item("tag_type", 504, "Spring Promo")
    page.get_by_label("Customers with a tag").check()
    page.get_by_role("button", name="Refresh the tags from ServiceTitan").click()
    expect(page.get_by_label("Tag", exact=True).locator("option", has_text="Spring Promo (504)")).to_have_count(1)
    expect(page.get_by_label("Customers with a tag")).to_be_checked()  # what was filled in stays, unsaved
    page.get_by_label("Tag", exact=True).select_option("504")
    screenshot(page, "referrers-tab-contacts-copy")


def test_a_refused_copy_shows_what_servicetitan_answered_and_the_fix(
    page: Page,
    live_server: object,
    sandbox: SandboxHandle,
    monkeypatch: pytest.MonkeyPatch,
    screenshot: Callable[[Page, str], None],
) -> None:
    owned = owner_with_campaign()
    asking = FieldMapping("manual", "From ServiceTitan, else Yes")
    integration = connect(owned.campaign, mapping={**default_mapping(), "isFirstTimeClient": asking})
    with contacts_export_refused(monkeypatch):  # the tenant's app lacks the Customers scope
        in_thread(lambda: copy_until(integration, lambda sync: bool(sync.contacts_error)))
    base = str(live_server.url)  # type: ignore[attr-defined]
    log_in(page, base)
    page.goto(f"{base}/campaigns/{owned.campaign.pk}/integrations/servicetitan/referrers/")

    expect(page.locator("#contacts-copy-state")).to_have_text("Failing")
    error = page.locator("#contacts-copy-error")
    expect(error).to_contain_text("ServiceTitan refused to let the app export customer contacts")
    expect(error).to_contain_text("lacks the Customers scope")
    screenshot(page, "referrers-tab-contacts-copy-failing")
    error.get_by_role("link", name="Open Diagnose").click()
    expect(page.locator("body")).to_contain_text("The last read of the customers' contacts failed")


def test_enter_in_a_text_field_starts_the_sync_rather_than_refreshing_the_tags(
    page: Page, live_server: object, sandbox: SandboxHandle
) -> None:
    owned = owner_with_campaign()
    connect(owned.campaign)
    base = str(live_server.url)  # type: ignore[attr-defined]
    log_in(page, base)
    page.goto(f"{base}/campaigns/{owned.campaign.pk}/integrations/servicetitan/referrers/")
    page.get_by_label("Customers with a tag").check()
    typed = page.get_by_label("Or type a tag id")
    typed.fill("501")
    typed.press("Enter")
    expect(page.locator("#sync-state")).to_have_text("Running")
    sync = CustomerSync.objects.get(integration__campaign=owned.campaign)
    assert (sync.state, sync.tag_id) == ("running", 501)
