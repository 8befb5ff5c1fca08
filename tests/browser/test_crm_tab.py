"""The CRM tab end to end in a real browser, against the running app and a real sandbox over HTTP.

connect → Finalize with a wrong Booking Provider Value (the error names it) → fix → Connected → Leads tab → Create
New Booking → remove the Email mapping → Setup Required names Email → Save → a friend's lead is held → map Email
again → Save → the held lead becomes a booking with exactly the mapped values; Nothing to action → skipped with the
reason; Disconnect → held; Reconnect → sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from referloop.accounts.models import Account, Membership, Role, User
from referloop.campaigns.models import Campaign, Referrer
from referloop.integrations.models import Delivery, DeliveryState
from referloop.integrations.servicetitan.outbox import SKIPPED_REASON
from referloop.sandbox.config import DEMO_BOOKING_PROVIDER_ID, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID
from referloop.sandbox.state import Booking
from referloop.sandbox.testing import SandboxHandle
from tests.browser.conftest import run_worker_until_idle
from tests.browser.helpers import PASSWORD, log_in, refer

pytestmark = pytest.mark.browser


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="ServiceTitan sections").get_by_role("link", name=name).click()
    expect(page.get_by_role("link", name=name, exact=True).and_(page.locator("[aria-current=page]"))).to_be_visible()


def save_mapping(page: Page) -> None:
    page.get_by_role("form", name="Map your fields").get_by_role("button", name="Save Changes").click()
    expect(page.locator(".messages")).to_be_visible()


def test_connect_map_hold_release_skip_disconnect_reconnect(
    page: Page, browser: Browser, public_base_url: str, sandbox: SandboxHandle, screenshot: Callable[[Page, str], None]
) -> None:
    base = public_base_url
    user = User.objects.create_user(email="owner@comfortpro.example", password=PASSWORD)
    account = Account.objects.create(name="Comfort Pro HVAC")
    Membership.objects.create(user=user, account=account, role=Role.OWNER)
    campaign = Campaign.objects.create(account=account, name="Spring tune-up referrals", slug="spring-tune-up")
    referrer = Referrer.objects.create(
        campaign=campaign, first_name="Maria", last_name="Lopez", email="maria@example.com"
    )
    log_in(page, base)

    # Campaign Settings → Integrations and API → CRM: the ServiceTitan tile, not connected yet.
    page.goto(f"{base}/campaigns/{campaign.pk}/settings/integrations/")
    tile = page.get_by_role("article", name="ServiceTitan")
    expect(tile.get_by_text("Not connected")).to_be_visible()
    screenshot(page, "crm-tab")
    tile.get_by_role("link", name="Connect ServiceTitan").click()

    # Step one: environment and tenant, with the steps to take inside ServiceTitan beside them.
    expect(page.get_by_role("heading", name="In ServiceTitan")).to_be_visible()
    page.get_by_label(re.compile("^Sandbox")).check()
    page.get_by_label("Tenant ID").fill(str(DEMO_TENANT_ID))
    screenshot(page, "crm-connect")
    page.get_by_role("button", name="Continue to Finalize").click()

    # Finalize with a wrong Booking Provider Value: the live check names it, in place, with the fix.
    expect(page.get_by_role("heading", name="Finalize")).to_be_visible()
    page.get_by_label("Client ID").fill(DEMO_CLIENT_ID)
    page.get_by_label("Client Secret").fill(DEMO_CLIENT_SECRET)
    page.get_by_label("Booking Provider Value").fill("99")
    page.get_by_role("button", name="Finalize and check").click()
    provider_field = page.get_by_label("Booking Provider Value")
    expect(provider_field).to_have_attribute("aria-invalid", "true")
    expect(provider_field).to_have_accessible_description(
        re.compile("Booking Provider Value 99 was not found for tenant 1234567")
    )
    expect(page.get_by_text("Replace", exact=True)).to_be_visible()  # the secret is kept, masked
    assert DEMO_CLIENT_SECRET not in page.content()
    screenshot(page, "crm-finalize-error")

    # Fix it; the stored secret is reused.
    provider_field.fill(str(DEMO_BOOKING_PROVIDER_ID))
    page.get_by_role("button", name="Finalize and check").click()
    expect(page.get_by_text("ServiceTitan is connected.")).to_be_visible()
    expect(page.locator(".integration-title .badge")).to_have_text("Connected")
    screenshot(page, "crm-connection")

    # Leads tab: Create New Booking, then remove the Email mapping: Setup Required names Email, live.
    open_tab(page, "Leads")
    page.get_by_label("When lead joins campaign").select_option(label="Create New Booking In ServiceTitan")
    expect(page.locator("#setup-banner")).not_to_contain_text("Setup Required")
    page.get_by_label("Email: referloop field").select_option("")
    banner = page.locator("#setup-banner")
    expect(banner).to_contain_text("Setup Required")
    expect(banner).to_contain_text("Map Email before leads can be sent")
    expect(page.locator("#error-contacts-Email")).to_contain_text("Required: not mapped yet.")
    expect(page.locator("#booking-preview")).to_contain_text("Email (empty) is required but not mapped")
    expect(page.get_by_text("Unsaved changes", exact=True)).to_be_visible()

    # Phone is mapped from the start (so is the address); a removed row can be added back with "+ Add more fields".
    expect(page.get_by_label("Phone: referloop field", exact=True)).to_have_value("lead.phone")
    expect(page.get_by_label("Country: fixed value", exact=True)).to_have_value("USA")
    page.get_by_role("button", name="Remove Phone").click()
    expect(page.locator("#row-contacts-Phone")).to_have_count(0)
    page.get_by_text("+ Add more fields").click()
    page.get_by_role("button", name="+ Phone", exact=True).click()
    expect(page.get_by_label("Data type for Phone", exact=True)).to_be_focused()
    page.get_by_label("Phone: referloop field", exact=True).select_option(label="Lead Phone")
    page.get_by_role("button", name="+ Mobile Phone", exact=True).click()
    expect(page.locator("#row-contacts-MobilePhone")).to_have_count(1)
    page.get_by_role("button", name="Remove Mobile Phone").click()
    expect(page.locator("#row-contacts-MobilePhone")).to_have_count(0)
    expect(page.get_by_role("button", name="+ Mobile Phone", exact=True)).to_be_visible()
    expect(page.locator("#setup-banner")).to_contain_text("Map Email before leads can be sent")

    # The value picker follows the data type: a grouped field picker, a text box or the allowed values.
    summary_type = page.get_by_label("Data type for Summary", exact=True)
    expect(page.get_by_label("Summary: fixed value", exact=True)).to_have_value(
        "Referral from {Referrer Full Name}: {Lead Notes}"
    )
    summary_type.focus()
    summary_type.select_option(label="Dynamic Value")
    expect(page.get_by_label("Summary: referloop field", exact=True)).to_be_visible()
    expect(page.get_by_label("Summary: fixed value", exact=True)).to_be_hidden()
    summary_type.select_option(label="Fixed Value")
    expect(page.get_by_label("Summary: fixed value", exact=True)).to_be_visible()
    expect(page.get_by_label("Data type for Is First Time Client", exact=True)).to_have_value("manual")
    expect(page.get_by_label("Is First Time Client: choice", exact=True)).to_have_value("Yes")
    screenshot(page, "crm-leads-setup-required")

    # Leaving with unsaved changes asks first; staying keeps the edits.
    dialogs: list[str] = []

    def stay(dialog: Dialog) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", stay)
    page.get_by_role("navigation", name="ServiceTitan sections").get_by_role("link", name="Activity").click()
    expect(page.get_by_label("Email: referloop field")).to_have_value("")
    assert dialogs == ["beforeunload"]
    save_mapping(page)
    expect(page.locator(".messages")).to_contain_text("Setup Required: map Email")

    # A friend submits the referral form: the lead is held, with the reason.
    jane = refer(browser, referrer.referral_url, "Jane", "jane.doe@example.com")
    delivery = Delivery.objects.get(lead=jane)
    assert delivery.state == DeliveryState.HELD
    assert "Email" in delivery.reason
    open_tab(page, "Activity")
    row = page.get_by_role("row").filter(has_text="jane.doe@example.com")
    expect(row.get_by_text("Held", exact=True)).to_be_visible()

    # Map Email again and save: the held lead is released ...
    open_tab(page, "Leads")
    page.get_by_label("Email: referloop field").select_option(label="Lead Email")
    expect(page.locator("#setup-banner")).not_to_contain_text("Setup Required")
    save_mapping(page)
    expect(page.locator(".messages")).to_contain_text("1 held lead is being sent now")
    assert Delivery.objects.get(lead=jane).state == DeliveryState.PENDING

    # ... and the worker turns it into a booking in the sandbox with exactly the mapped values.
    report = run_worker_until_idle()
    assert report.outcomes["delivered"] == 1, report
    delivery = Delivery.objects.get(lead=jane)
    assert delivery.state == DeliveryState.DELIVERED
    bookings = sandbox.bookings(DEMO_TENANT_ID)
    assert len(bookings) == 1
    assert booking_fields(bookings[0]) == {
        "source": "Spring tune-up referrals",
        "name": "Jane Doe",
        "contacts": [{"type": "Email", "value": "jane.doe@example.com"}, {"type": "Phone", "value": "555-0100"}],
        "summary": "Referral from Maria Lopez",
        "isFirstTimeClient": True,
        "externalId": jane.code,
    }
    assert delivery.remote_id == bookings[0].id

    # The Activity tab and the delivery page show it; the lead's page tells the whole story.
    open_tab(page, "Activity")
    row = page.get_by_role("row").filter(has_text="jane.doe@example.com")
    expect(row.get_by_text("Delivered", exact=True)).to_be_visible()
    expect(row).to_contain_text(str(delivery.remote_id))
    row.get_by_role("link", name="jane.doe@example.com").click()
    expect(page.get_by_role("heading", name=re.compile("Attempt 1 · Delivered"))).to_be_visible()
    screenshot(page, "crm-delivery")
    page.get_by_role("link", name="Jane Doe").click()
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("Joined the campaign")
    expect(timeline).to_contain_text("Attempt 1: Delivered")
    expect(timeline).to_contain_text(f"Booking {delivery.remote_id} created in ServiceTitan")
    screenshot(page, "crm-lead-timeline")

    # Nothing to action: the next lead is skipped, with that reason.
    page.goto(f"{base}/campaigns/{campaign.pk}/integrations/servicetitan/leads/")
    page.get_by_label("When lead joins campaign").select_option(label="Nothing to action")
    expect(page.locator("#setup-banner")).to_contain_text("new leads are recorded as skipped")
    save_mapping(page)
    john = refer(browser, referrer.referral_url, "John", "john@example.com")
    skipped = Delivery.objects.get(lead=john)
    assert (skipped.state, skipped.reason) == (DeliveryState.SKIPPED, SKIPPED_REASON)
    open_tab(page, "Activity")
    page.get_by_role("navigation", name="Filter by state").get_by_role("link", name=re.compile("^Skipped")).click()
    expect(page.get_by_role("row").filter(has_text="john@example.com")).to_contain_text("Nothing to action")

    # Disconnect (after confirming): the next lead is held. Reconnect: it is sent.
    open_tab(page, "Leads")
    page.get_by_label("When lead joins campaign").select_option(label="Create New Booking In ServiceTitan")
    save_mapping(page)
    open_tab(page, "Connection")
    page.get_by_role("link", name="Disconnect").click()
    expect(page.get_by_role("heading", name="Disconnect ServiceTitan?")).to_be_visible()
    page.get_by_role("button", name="Disconnect").click()
    expect(page.locator(".integration-title .badge")).to_have_text("Disconnected")
    ann = refer(browser, referrer.referral_url, "Ann", "ann@example.com")
    assert Delivery.objects.get(lead=ann).state == DeliveryState.HELD
    page.reload()
    expect(page.get_by_text("1 held right now")).to_be_visible()
    screenshot(page, "crm-disconnected")
    page.get_by_role("button", name="Reconnect").click()
    expect(page.get_by_text("1 held lead is being sent now")).to_be_visible()
    expect(page.locator(".integration-title .badge")).to_have_text("Connected")
    report = run_worker_until_idle()
    assert report.outcomes["delivered"] == 1, report
    assert Delivery.objects.get(lead=ann).state == DeliveryState.DELIVERED
    assert [b.external_id for b in sandbox.bookings(DEMO_TENANT_ID)] == [jane.code, ann.code]

    # The tile says Connected; the Diagnose tab is there; every tab works on a phone-sized screen.
    open_tab(page, "Activity")
    expect(page.get_by_role("row").filter(has_text="ann@example.com").get_by_text("Delivered")).to_be_visible()
    screenshot(page, "crm-activity")
    open_tab(page, "Diagnose")
    screenshot(page, "crm-diagnose")
    page.goto(f"{base}/campaigns/{campaign.pk}/settings/integrations/")
    expect(page.get_by_role("article", name="ServiceTitan").get_by_text("Connected", exact=True)).to_be_visible()
    screenshot(page, "crm-tab-connected")
    page.set_viewport_size({"width": 390, "height": 844})
    for name in ("connection", "leads", "activity"):
        page.goto(f"{base}/campaigns/{campaign.pk}/integrations/servicetitan/{name}/")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
        screenshot(page, f"crm-{name}-narrow")


def booking_fields(booking: Booking) -> dict[str, object]:
    """What the booking holds of the fields a mapping can fill, as referloop sent them (contacts without ids)."""
    return {
        "source": booking.source,
        "name": booking.name,
        "contacts": [{"type": c.type, "value": c.value} for c in booking.contacts],
        "summary": booking.summary,
        "isFirstTimeClient": booking.is_first_time_client,
        "externalId": booking.external_id,
    } | {
        key: value
        for key, value in {
            "address": booking.address,
            "customerType": booking.customer_type,
            "campaignId": booking.campaign_id,
            "businessUnitId": booking.business_unit_id,
            "jobTypeId": booking.job_type_id,
            "priority": booking.priority,
        }.items()
        if value is not None
    }
