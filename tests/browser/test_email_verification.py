"""Verify the friend's email before booking, in a real browser: the owner turns it on, a friend claims the offer,
is asked to confirm, confirms from the emailed link, and the owner sees the lead confirmed."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, expect

from referloop.campaigns.models import EmailVerification, Lead
from tests.browser.helpers import log_in, owner_with_campaign

pytestmark = pytest.mark.browser


def test_a_friend_confirms_their_email_from_the_link_and_the_owner_sees_it(
    page: Page, browser: Browser, public_base_url: str
) -> None:
    base = public_base_url
    owned = owner_with_campaign()
    log_in(page, base)
    page.goto(f"{base}/campaigns/{owned.campaign.pk}/settings/general/")
    page.get_by_label("Verify the friend's email before booking").check()
    page.get_by_role("button", name="Save Changes").click()
    expect(page.get_by_text("Changes saved.")).to_be_visible()

    friend_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")  # a phone
    friend = friend_context.new_page()
    friend.goto(owned.referrer.referral_url)
    friend.get_by_label("First Name").fill("Jane")
    friend.get_by_label("Email").fill("jane@example.com")
    friend.get_by_role("button", name="Claim offer").click()
    expect(friend.get_by_role("heading", name="Thank you, Jane! Please confirm your email")).to_be_visible()

    lead = Lead.objects.get(email="jane@example.com")
    page.goto(f"{base}/campaigns/{owned.campaign.pk}/leads/")
    expect(page.get_by_role("row", name=re.compile("jane@example.com")).get_by_text("Unverified")).to_be_visible()
    page.goto(f"{base}/campaigns/{owned.campaign.pk}/leads/{lead.pk}/")
    expect(page.get_by_text("Waiting for email verification")).to_be_visible()
    expect(page.get_by_role("button", name="Send the link again")).to_be_visible()

    link = re.search(r"http\S+/v/\S+/", mail.outbox[-1].body)
    assert link is not None, mail.outbox[-1].body
    friend.goto(link.group(0))
    friend.get_by_role("button", name="Confirm my email").click()
    expect(friend.get_by_role("heading", name="Thank you, Jane: your email is confirmed")).to_be_visible()
    friend_context.close()

    page.reload()
    expect(page.get_by_text("Email confirmed")).to_be_visible()
    expect(page.get_by_text("The friend clicked the link.")).to_be_visible()
    expect(page.get_by_role("button", name="Send the link again")).to_have_count(0)
    lead.refresh_from_db()
    assert lead.email_verification == EmailVerification.VERIFIED
