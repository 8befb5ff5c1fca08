"""The referrer's own page end to end, in a real browser, against the running app and a real sandbox over HTTP.

A friend claims the offer → the worker books them in ServiceTitan → the sandbox books and completes the job → one
follower cycle qualifies the friend and the referrer's reward is Due → the owner issues it on the Rewards tab → the
referrer, on a phone-sized screen, asks for a sign-in link, opens it from the email, signs in and sees the reward
Issued and their friend by first name. No Content-Security-Policy violation on any of the referrer's pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from referloop.campaigns.models import Lead, LeadStage, LeadStatus
from referloop.integrations.models import Follow, Integration, JobStatus, QualificationRule
from referloop.providers.servicetitan import default_mapping
from referloop.rewards.models import Reward, RewardRule, RewardState
from referloop.sandbox.testing import SandboxHandle
from tests.browser.conftest import run_worker_until_idle
from tests.browser.helpers import log_in, owner_with_campaign
from tests.integrations.engine.helpers import connect
from tests.integrations.servicetitan.following import follow_cycle_in_thread
from tests.sent import outbox

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def quick_follower(settings: Any) -> None:
    settings.FOLLOW_INTERVAL_SECONDS = 1.0


def claim_offer(browser: Browser, link: str) -> Lead:
    """Jane opens Maria's referral link in her own browser and claims the offer."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    friend = context.new_page()
    friend.goto(link)
    friend.get_by_label("First Name").fill("Jane")
    friend.get_by_label("Last Name").fill("Doe")
    friend.get_by_label("Email").fill("jane.doe@example.com")
    friend.get_by_label("Phone").fill("555-0100")
    friend.get_by_role("button", name="Claim offer").click()
    expect(friend.get_by_role("heading", name="Thank you, Jane!")).to_be_visible()
    context.close()
    return Lead.objects.get(email="jane.doe@example.com")


def issue_as_owner(browser: Browser, base: str, campaign_id: int, reward: Reward) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    owner = context.new_page()
    log_in(owner, base)
    owner.goto(f"{base}/campaigns/{campaign_id}/rewards/?state=due")
    owner.locator(f"#reward-{reward.pk}").check()
    owner.get_by_label("Note for Issue").fill("Gift card 4417 mailed")
    owner.get_by_role("button", name="Issue selected").click()
    expect(owner.get_by_text("Issued 1 reward.")).to_be_visible()
    context.close()


def test_a_friend_qualifies_the_owner_issues_and_the_referrer_sees_it_on_a_phone(
    page: Page, browser: Browser, public_base_url: str, sandbox: SandboxHandle, screenshot: Callable[[Page, str], None]
) -> None:
    base = public_base_url
    owned = owner_with_campaign()
    campaign, maria = owned.campaign, owned.referrer
    integration = connect(campaign, mapping=default_mapping())
    Integration.objects.filter(pk=integration.pk).update(
        qualification_rule=QualificationRule.JOB_STATUS, qualifying_job_status=JobStatus.COMPLETED
    )
    RewardRule.objects.create(
        campaign=campaign, recipient="referrer", trigger="qualified", kind="fixed", amount=Decimal("50"), currency="USD"
    )

    # Jane claims the offer; the worker books her in ServiceTitan; the technician completes the job.
    jane = claim_offer(browser, maria.referral_url)
    report = run_worker_until_idle()
    assert report.outcomes["delivered"] >= 1, report
    _, job, _ = sandbox.book_job(Follow.objects.get(lead=jane).booking_id, total="480.00")
    sandbox.complete_job(job.id)
    follow_cycle_in_thread()
    jane.refresh_from_db()
    assert (jane.stage, jane.status) == (LeadStage.COMPLETED, LeadStatus.QUALIFIED)
    reward = Reward.objects.get(lead=jane, recipient="referrer")
    assert reward.state is RewardState.DUE

    issue_as_owner(browser, base, campaign.pk, reward)
    reward.refresh_from_db()
    assert reward.state is RewardState.ISSUED

    # Maria, on her phone, asks for a sign-in link.
    page.set_viewport_size(PHONE)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.goto(f"{base}/c/{campaign.slug}/me/")
    expect(page.get_by_role("heading", name="Your referral page")).to_be_visible()
    page.get_by_label("Email").fill("Maria@Example.com")
    screenshot(page, "referrer-sign-in-phone")
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    [message] = [m for m in outbox() if m.subject.startswith("Sign in to your")]
    assert message.to == [maria.email]
    found = re.search(r"http\S+/me/in/\S+/", message.body)
    assert found is not None, message.body
    page.goto(found.group(0))
    expect(page).to_have_url(f"{base}/c/{campaign.slug}/me/in/")  # the token is in no URL after the first
    expect(page.get_by_role("heading", name="Sign in to your referral page")).to_be_visible()
    screenshot(page, "referrer-sign-in-link-phone")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Hi Maria")).to_be_visible()
    expect(page.get_by_label("Your link")).to_have_value(maria.referral_url)
    expect(page.locator("#referral-code")).to_have_text(maria.code)
    expect(page.locator("svg.qr-code")).to_be_visible()
    expect(page.get_by_role("link", name="Share by email")).to_have_attribute("href", re.compile(r"^mailto:\?subject="))
    expect(page.get_by_role("link", name="Share by text message")).to_have_attribute("href", re.compile(r"^sms:"))
    friends = page.get_by_role("list", name="Your friends, newest first")
    expect(friends.get_by_role("listitem")).to_have_count(1)
    expect(friends).to_contain_text("Jane")
    expect(friends).to_contain_text("Job completed")
    expect(friends).to_contain_text("Rewarded")  # qualified, and its reward issued (rewards/actions.issue)
    expect(friends).not_to_contain_text("Doe")
    rewards = page.get_by_role("list", name="Your rewards, newest first")
    expect(rewards).to_contain_text("USD 50.00")
    expect(rewards).to_contain_text("Friend qualified: Jane")
    expect(rewards.locator(".badge")).to_have_text("Issued")
    expect(rewards).to_contain_text("Gift card 4417 mailed")
    body = page.locator("main").inner_text()
    assert "jane.doe@example.com" not in body and "555-0100" not in body
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "referrer-page-phone")

    # Copy puts the link on the clipboard (the button appears only where the clipboard can be written).
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("status")).to_have_text("Copied your link.")
    assert page.evaluate("navigator.clipboard.readText()") == maria.referral_url

    # The link works once: opened again, it says so; signing out ends the session.
    page.goto(found.group(0))
    expect(page.get_by_role("heading", name="This sign-in link was already used")).to_be_visible()
    page.get_by_role("link", name="Open your referral page").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You're signed out.")).to_be_visible()
    expect(page.get_by_role("button", name="Email me a sign-in link")).to_be_visible()
