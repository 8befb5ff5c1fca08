"""What several browser tests do the same way: an owner with a campaign and a referrer, logging in."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Browser, Page, expect

from referloop.accounts.models import Account, Membership, Role, User
from referloop.campaigns.models import Campaign, Lead, Referrer

PASSWORD = "correct-horse-battery-staple"
OWNER_EMAIL = "owner@comfortpro.example"


@dataclass(frozen=True)
class Owned:
    user: User
    account: Account
    campaign: Campaign
    referrer: Referrer


def owner_with_campaign() -> Owned:
    user = User.objects.create_user(email=OWNER_EMAIL, password=PASSWORD)
    account = Account.objects.create(name="Comfort Pro HVAC")
    Membership.objects.create(user=user, account=account, role=Role.OWNER)
    campaign = Campaign.objects.create(account=account, name="Spring tune-up referrals", slug="spring-tune-up")
    referrer = Referrer.objects.create(
        campaign=campaign, first_name="Maria", last_name="Lopez", email="maria@example.com"
    )
    return Owned(user, account, campaign, referrer)


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()


def refer(browser: Browser, link: str, first: str, email: str) -> Lead:
    """A friend opens the referral link in their own browser and claims the offer."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    friend = context.new_page()
    friend.goto(link)
    friend.get_by_label("First Name").fill(first)
    friend.get_by_label("Last Name").fill("Doe")
    friend.get_by_label("Email").fill(email)
    friend.get_by_label("Phone").fill("555-0100")
    friend.get_by_role("button", name="Claim offer").click()
    expect(friend.get_by_role("heading", name=f"Thank you, {first}!")).to_be_visible()
    context.close()
    return Lead.objects.get(email=email)
