"""The Webhooks screen end to end in a real browser, against the running app and a real receiver over HTTP.

Campaign Settings → Integrations and API → Add endpoint (a refused URL first) → the signing secret, once, copied →
Send test event → the worker sends it → the log shows it Delivered, 200 → its page shows the signed request and
the answer → Rotate secret → the new one, once, and the old one still signs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from referloop.accounts.models import Account, Membership, Role, User
from referloop.campaigns.models import Campaign
from referloop.integrations.models import Delivery, DeliveryState
from referloop.integrations.webhooks.events import TEST_EVENT
from referloop.integrations.webhooks.models import WebhookEndpoint
from tests.browser.conftest import run_worker_until_idle
from tests.browser.helpers import PASSWORD, log_in
from tests.integrations.webhooks.receiver import Reply, receiving

pytestmark = pytest.mark.browser

SECRET = re.compile(r"^whsec_[A-Za-z0-9+/=]{40,}$")


def test_add_an_endpoint_see_the_secret_once_send_a_test_event_read_the_log_and_rotate(
    page: Page, live_server: Any, settings: Any, screenshot: Callable[[Page, str], None]
) -> None:
    settings.WEBHOOKS_ALLOW_HTTP = True  # the receiver is plain http on 127.0.0.1
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    base = live_server.url
    user = User.objects.create_user(email="owner@comfortpro.example", password=PASSWORD)
    account = Account.objects.create(name="Comfort Pro HVAC")
    Membership.objects.create(user=user, account=account, role=Role.OWNER)
    campaign = Campaign.objects.create(account=account, name="Spring tune-up referrals", slug="spring-tune-up")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    log_in(page, base)

    with receiving(default=Reply(200, '{"received": true}')) as receiver:
        # Campaign Settings → Integrations and API: the API section has Webhooks, with no endpoint yet.
        page.goto(f"{base}/campaigns/{campaign.pk}/settings/integrations/")
        panel = page.get_by_role("region", name="Webhooks")
        expect(panel).to_contain_text("No endpoints yet.")
        expect(panel).to_contain_text("Endpoints belong to the Comfort Pro HVAC account, not to this campaign")
        panel.get_by_role("link", name="Add endpoint").click()

        # A URL that may not receive events is refused in place, with the reason; what was typed stays.
        expect(page.get_by_role("heading", name="Add a webhook endpoint")).to_be_visible()
        url_field = page.get_by_label("Endpoint URL")
        url_field.fill("https://169.254.169.254/latest/meta-data")
        page.get_by_label("lead.created").check()
        page.get_by_role("button", name="Add endpoint").click()
        url_field = page.get_by_label("Endpoint URL")
        expect(url_field).to_have_attribute("aria-invalid", "true")
        expect(url_field).to_have_accessible_description(re.compile("the cloud metadata address"))
        expect(page.get_by_label("lead.created")).to_be_checked()
        assert not WebhookEndpoint.objects.exists()

        url_field.fill(receiver.url)
        page.get_by_label("Description").fill("Our CRM sync")
        page.get_by_label("referrer.joined").check()
        page.get_by_role("button", name="Add endpoint").click()

        # The secret, once, with a copy button and how to verify it; the address is the endpoint's own page.
        expect(page.get_by_role("heading", name="Endpoint added. Copy its signing secret now")).to_be_visible()
        endpoint = WebhookEndpoint.objects.get()
        secret = page.locator("#signing-secret").inner_text()
        assert SECRET.match(secret) and secret == endpoint.secret
        expect(page.get_by_text("Standard Webhooks", exact=True)).to_be_visible()
        page.get_by_role("button", name="Copy").click()
        expect(page.locator("#copy-status")).to_have_text("Copied.")
        assert page.evaluate("navigator.clipboard.readText()") == secret
        expect(page).to_have_url(f"{base}/account/webhooks/{endpoint.pk}/?campaign={campaign.pk}")
        page.reload()
        expect(page.get_by_role("heading", name=re.compile("Copy its signing secret"))).to_have_count(0)
        expect(page.get_by_text("whsec_••••••••" + secret[-4:])).to_be_visible()
        assert secret not in page.content()

        # Send a test event: it is queued, the worker sends it, and the log (refreshing itself) shows it.
        page.get_by_role("button", name="Send test event").click()
        expect(page.locator(".messages")).to_contain_text("queued")
        row = page.locator("#delivery-log tbody tr").first
        expect(row).to_contain_text(TEST_EVENT)
        expect(row.get_by_text("Pending", exact=True)).to_be_visible()
        report = run_worker_until_idle()
        assert report.outcomes["delivered"] == 1, report
        delivery = Delivery.objects.get(endpoint=endpoint)
        assert delivery.state == DeliveryState.DELIVERED and delivery.event is not None
        row = page.locator("#delivery-log tbody tr").first
        expect(row.get_by_text("Delivered", exact=True)).to_be_visible()
        expect(row.get_by_role("cell", name="200", exact=True)).to_be_visible()
        expect(row).to_contain_text(delivery.event.event_id)
        [received] = receiver.received
        assert received.webhook_id == delivery.event.event_id and received.verifies_with(secret)
        expect(page.get_by_text("this log refreshes on its own")).to_have_count(0)
        page.reload()  # without the "queued" message, which is out of date by now
        screenshot(page, "webhooks")

        # The delivery's page: the request as signed and sent, and the endpoint's answer.
        row.get_by_role("link", name=TEST_EVENT).click()
        expect(page.get_by_role("heading", name="Attempt 1 · Delivered · HTTP 200")).to_be_visible()
        headers = page.get_by_role("table", name="Request headers of attempt 1")
        expect(headers.get_by_role("row", name=re.compile("^webhook-id"))).to_contain_text(received.webhook_id)
        expect(headers.get_by_role("row", name=re.compile("^webhook-signature"))).to_contain_text(
            received.headers["webhook-signature"]
        )
        expect(headers.get_by_role("row", name=re.compile("^webhook-timestamp"))).to_be_visible()
        expect(page.get_by_text(f"POST {receiver.url}")).to_be_visible()
        expect(page.locator(".st-said blockquote")).to_have_text('{"received": true}')
        assert secret not in page.content()

        # Rotate (after confirming): a new secret, once; the old one keeps signing for 24 hours.
        page.get_by_role("link", name="← Delivery log").click()
        page.get_by_text("Rotate secret…").click()
        expect(page.get_by_text("The old secret keeps working for 24 hours")).to_be_visible()
        page.get_by_role("button", name="Rotate the secret").click()
        expect(page.get_by_role("heading", name="New signing secret. Copy it now")).to_be_visible()
        rotated = page.locator("#signing-secret").inner_text()
        endpoint.refresh_from_db()
        assert SECRET.match(rotated) and rotated != secret and rotated == endpoint.secret
        assert endpoint.signing_secrets() == (rotated, secret)
        expect(page.locator(".secret-reveal")).to_contain_text("The old secret keeps working for 24 hours")
        assert secret not in page.content()

        # Back on Campaign Settings: the endpoint is listed, enabled, with its last delivery.
        page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Webhooks").click()
        row = page.get_by_role("region", name="Webhooks").get_by_role("row").filter(has_text=receiver.url)
        expect(row.get_by_text("Enabled", exact=True)).to_be_visible()
        expect(row.get_by_text("Delivered", exact=True)).to_be_visible()
        assert rotated not in page.content()
