"""The Diagnose tab in a real browser: Run checks swaps the live results in (htmx); Send test booking answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from referloop.accounts.models import Account, Membership, Role, User
from referloop.campaigns.models import Campaign
from referloop.integrations.models import ConnectionState, Environment, Integration, LeadAction, WorkerHeartbeat
from referloop.providers.servicetitan import default_mapping
from referloop.sandbox.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID
from referloop.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery-staple"


def test_run_checks_and_send_a_test_booking_from_the_diagnose_tab(
    page: Page,
    public_base_url: str,
    sandbox: SandboxHandle,
    screenshot: Callable[[Page, str], None],
) -> None:
    user = User.objects.create_user(email="owner@comfortpro.example", password=PASSWORD)
    account = Account.objects.create(name="Comfort Pro HVAC")
    Membership.objects.create(user=user, account=account, role=Role.OWNER)
    campaign = Campaign.objects.create(account=account, name="Spring tune-up referrals", slug="spring-tune-up")
    integration = Integration(
        campaign=campaign,
        environment=Environment.SANDBOX,
        tenant_id=DEMO_TENANT_ID,
        client_id=DEMO_CLIENT_ID,
        booking_provider_id=404,  # wrong: the tenant's Booking Provider Value is 42
        state=ConnectionState.CONNECTED,
        lead_action=LeadAction.CREATE_BOOKING,
    )
    integration.client_secret = DEMO_CLIENT_SECRET
    integration.set_mapping(default_mapping())
    integration.save()
    WorkerHeartbeat.objects.create(worker_id="w", hostname="app-1", pid=7, seen_at=timezone.now() + timedelta(hours=1))

    page.goto(f"{public_base_url}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{public_base_url}/campaigns/{campaign.pk}/integrations/servicetitan/diagnose/")

    credentials = page.locator("#check-credentials")
    expect(credentials).to_contain_text("Not checked yet")
    page.get_by_role("button", name="Run checks").click()
    expect(credentials).to_contain_text(f"ServiceTitan issued a token for tenant {DEMO_TENANT_ID}")
    provider = page.locator("#check-booking_provider")
    expect(provider).to_have_attribute("data-status", "problem")
    expect(provider).to_contain_text(f"Booking Provider Value 404 was not found for tenant {DEMO_TENANT_ID}")
    expect(provider.get_by_role("link", name="Open the Connection tab →")).to_be_visible()
    screenshot(page, "diagnose")

    integration.booking_provider_id = 42
    integration.save()
    page.get_by_role("button", name="Send test booking").click()
    expect(page.locator("#test-booking-result")).to_contain_text("ServiceTitan created test booking")
    [booking] = sandbox.bookings(DEMO_TENANT_ID)
    assert booking.summary == "[TEST] Referral from Maria Lopez: Furnace makes a rattling noise."
    assert booking.external_id.startswith("test-")
