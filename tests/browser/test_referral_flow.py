"""The referral flow end to end, in a real browser: an owner sets up a campaign, a friend claims the offer.

Locators are by role and label on purpose: a field that a test cannot find by its label is a field a screen
reader user cannot find either.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, expect

from referloop.accounts.models import Account
from referloop.campaigns.models import Campaign, Lead, LeadStatus, Referrer
from tests.browser.helpers import owner_with_campaign

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery-staple"


def sign_up(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/signup/")
    page.get_by_label("Business name").fill("Comfort Pro HVAC")
    page.get_by_label("Work email").fill("owner@comfortpro.example")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your inbox to continue")).to_be_visible()
    # The password is chosen on the page the emailed link opens (referloop/accounts/signup.py).
    link = re.search(r"http\S+/signup/confirm/\S+/", mail.outbox[-1].body)
    assert link is not None, mail.outbox[-1].body
    page.goto(link.group(0))
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()


def test_owner_sets_up_a_campaign_and_a_friend_becomes_a_pending_lead(
    page: Page, browser: Browser, public_base_url: str, screenshot
) -> None:
    base = public_base_url
    sign_up(page, base)

    # Create a campaign.
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Spring tune-up referrals")
    page.get_by_label("Slug").fill("spring-tune-up")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("heading", name="Spring tune-up referrals")).to_be_visible()
    expect(page.get_by_text(f"{base}/c/spring-tune-up/join/")).to_be_visible()
    campaign_url = page.url
    screenshot(page, "campaign")

    # Add a referrer; their page shows the personal referral link.
    page.get_by_role("link", name="Add referrer").click()
    page.get_by_label("First Name").fill("Maria")
    page.get_by_label("Last Name").fill("Lopez")
    page.get_by_label("Email").fill("maria@example.com")
    page.get_by_label("Phone").fill("555-0142")
    page.get_by_role("button", name="Add referrer").click()
    expect(page.get_by_role("heading", name="Maria Lopez")).to_be_visible()
    referral_link = page.locator("#referral-link").inner_text().strip()
    assert re.fullmatch(rf"{re.escape(base)}/r/[A-Za-z0-9-]+/", referral_link), referral_link
    screenshot(page, "referrer")

    # The friend opens the link (a separate browser context: not logged in, no shared cookies).
    friend_context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    friend = friend_context.new_page()
    friend.goto(referral_link)
    expect(friend.get_by_role("heading", name="Maria is offering you")).to_be_visible()
    expect(friend.get_by_text("Comfort Pro HVAC")).to_be_visible()
    screenshot(friend, "referral-page")

    friend.get_by_label("First Name").fill("Jane")
    friend.get_by_label("Last Name").fill("Doe")
    friend.get_by_label("Email").fill("Jane.Doe@Example.com")
    friend.get_by_label("Phone").fill("555-0100")
    friend.get_by_label("Street").fill("12 Elm Street")
    friend.get_by_label("City").fill("Springfield")
    friend.get_by_label("State").fill("IL")
    friend.get_by_label("Zip").fill("62701")
    friend.get_by_label("Notes").fill("Furnace makes a rattling noise.")
    friend.get_by_role("button", name="Claim offer").click()
    expect(friend.get_by_role("heading", name="Thank you, Jane!")).to_be_visible()
    screenshot(friend, "thank-you")
    friend_context.close()

    lead = Lead.objects.get(email="jane.doe@example.com")
    assert lead.status == LeadStatus.PENDING
    assert lead.referrer.email == "maria@example.com"
    assert lead.campaign.slug == "spring-tune-up"

    # The owner sees the lead as Pending in the campaign's leads list ...
    page.goto(campaign_url)
    page.get_by_role("link", name="Leads", exact=True).click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Jane Doe"))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("jane.doe@example.com")
    expect(row).to_contain_text("Maria Lopez")
    expect(row.get_by_text("Pending", exact=True)).to_be_visible()
    screenshot(page, "leads")

    # ... and on the lead's own page.
    row.get_by_role("link", name="Jane Doe").click()
    expect(page.get_by_role("heading", name="Jane Doe")).to_contain_text("Pending")
    expect(page.get_by_role("link", name="Maria Lopez")).to_be_visible()
    expect(page.get_by_text("Furnace makes a rattling noise.")).to_be_visible()
    screenshot(page, "lead")

    # On a phone-sized window the app shell stacks and wide tables scroll inside their frame, not the page.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="Leads", exact=True).click()
    expect(row.get_by_text("Pending", exact=True)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_lead_form_shows_errors_in_place_and_creates_nothing(
    page: Page, browser: Browser, live_server, screenshot
) -> None:
    account = Account.objects.create(name="Comfort Pro HVAC")
    campaign = Campaign.objects.create(account=account, name="Spring tune-up", slug="spring-tune-up")
    referrer = Referrer.objects.create(campaign=campaign, first_name="Maria", email="maria@example.com")
    url = f"{live_server.url}/r/{referrer.code}/"

    page.goto(url)
    first_name = page.get_by_label("First Name")
    email = page.get_by_label("Email")

    # Nothing filled in: the required fields say so next to themselves, and are marked invalid.
    page.get_by_role("button", name="Claim offer").click()
    expect(page.get_by_role("heading", name="Maria is offering you")).to_be_visible()
    for field in (first_name, email):
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_accessible_description(re.compile("This field is required"))
        error_next_to_field = page.locator(".field", has=field).locator(".errorlist")
        expect(error_next_to_field).to_have_text("This field is required.")
    expect(page.get_by_label("Last Name")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator(".errorlist")).to_have_count(2)

    # A malformed email: the name is kept, only the email is wrong.
    first_name.fill("Jane")
    email.fill("jane-at-example")
    page.get_by_role("button", name="Claim offer").click()
    expect(email).to_have_accessible_description(re.compile("Enter a valid email address"))
    expect(first_name).to_have_value("Jane")
    expect(first_name).not_to_have_attribute("aria-invalid", "true")
    expect(email).to_have_value("jane-at-example")
    expect(page.locator(".errorlist")).to_have_count(1)
    screenshot(page, "referral-page-errors")

    assert not Lead.objects.exists()

    # The public page on a phone-sized window: looked at via the screenshot, checked here for overflow.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US", is_mobile=True)
    narrow = phone.new_page()
    narrow.goto(url)
    expect(narrow.get_by_role("button", name="Claim offer")).to_be_visible()
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(narrow, "referral-page-narrow")
    phone.close()


def test_a_double_click_on_claim_offer_sends_the_form_once_and_shows_the_thank_you(
    page: Page, public_base_url: str
) -> None:
    owned = owner_with_campaign()
    page.goto(f"{public_base_url}/r/{owned.referrer.code}/")
    page.get_by_label("First Name").fill("Dana")
    page.get_by_label("Email").fill("dana@example.com")

    # Two submits before the first answer arrives, as an impatient double click makes; the window's listener
    # runs after the page's own (app.js), so it sees whether the second was stopped.
    second_stopped = page.locator("form.lead-form").evaluate(
        """form => {
            form.requestSubmit();
            let stopped = null;
            window.addEventListener("submit", (event) => { stopped = event.defaultPrevented; }, {once: true});
            form.requestSubmit();
            return stopped;
        }"""
    )

    assert second_stopped is True

    expect(page.get_by_role("heading", name="Thank you, Dana!")).to_be_visible()
    assert Lead.objects.filter(email="dana@example.com").count() == 1
