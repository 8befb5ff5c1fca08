"""The rewards screens in a real browser (no Content-Security-Policy violation on any page, see the `page`
fixture): the owner sets the rules (each rule shows only the fields its kind uses), friends qualify, and the
owner selects every Due reward with one checkbox and issues them with a note, on a phone-sized screen."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from referloop.campaigns import outcomes
from referloop.campaigns.intake import submit_lead
from referloop.rewards.models import Reward, RewardState
from tests.browser.helpers import log_in, owner_with_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_the_owner_sets_the_rules_and_issues_due_rewards_on_a_phone(
    page: Page, live_server: object, screenshot: Callable[[Page, str], None]
) -> None:
    owned = owner_with_campaign()
    base = live_server.url  # type: ignore[attr-defined]
    log_in(page, base)

    page.goto(f"{base}/campaigns/{owned.campaign.pk}/settings/rewards/")
    referrer_rule = page.get_by_role("group", name="The referrer's reward")
    expect(referrer_rule.get_by_label("Amount")).to_be_hidden()  # "No reward": nothing else to fill in
    referrer_rule.get_by_label("Reward").select_option("fixed")
    expect(referrer_rule.get_by_label("Amount")).to_be_visible()
    expect(referrer_rule.get_by_label("Percent of the invoice total")).to_be_hidden()
    referrer_rule.get_by_label("Amount").fill("50")
    page.get_by_label("How you describe the reward to referrers").fill("$50 for every friend who books a job")
    screenshot(page, "reward-rules")
    page.get_by_role("button", name="Save Changes").click()
    expect(page.get_by_text("Reward rules saved.")).to_be_visible()

    for name in ("Ana", "Ben"):
        lead = submit_lead(owned.campaign, owned.referrer, {"first_name": name, "email": f"{name}@x.example"}).lead
        outcomes.qualify_by_hand(lead, owned.user, "Job paid in cash")

    page.set_viewport_size(PHONE)
    page.goto(f"{base}/campaigns/{owned.campaign.pk}/rewards/")
    expect(page.get_by_text("USD 100.00")).to_be_visible()  # due now
    page.get_by_label("Select every reward on this page").check()
    page.get_by_label("Note for Issue").fill("Gift cards mailed")
    screenshot(page, "rewards-tab-phone")
    page.get_by_role("button", name="Issue selected").click()

    expect(page.get_by_text("Issued 2 rewards.")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert {reward.state for reward in Reward.objects.all()} == {RewardState.ISSUED}
    assert set(Reward.objects.values_list("issue_note", flat=True)) == {"Gift cards mailed"}

    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_role("link", name="USD 50.00").first.click()
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    expect(page.get_by_text("USD 50.00; note: Gift cards mailed")).to_be_visible()
    screenshot(page, "reward-detail")
