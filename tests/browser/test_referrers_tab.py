"""The Referrers tab in a browser: start a sync, watch it run, read what it did (CSP checked by the `page` fixture)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from referloop.integrations.servicetitan.customer_sync.models import CustomerSync
from referloop.sandbox.testing import SandboxHandle
from tests.browser.helpers import log_in, owner_with_campaign
from tests.integrations.engine.helpers import connect
from tests.integrations.servicetitan.customer_syncing import finished, run_until

pytestmark = pytest.mark.browser


def sync_in_thread(sync: CustomerSync) -> None:
    """The worker in a thread of its own (this one runs Playwright's event loop) until the sync is Finished."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_until(finished, sync)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, name="referloop-customer-sync")
    thread.start()
    thread.join(timeout=90)
    assert not thread.is_alive(), "the sync did not finish"
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
    page.get_by_label("Tag id").fill("501")
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
