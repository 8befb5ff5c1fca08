"""The CAPTCHA widget in a real browser: the provider's script, frame and calls pass our CSP, and its token works.

The provider's origins are answered by Playwright (no network here): its api.js is a stand-in that does what the
real widget does to the page (an iframe from the provider, hCaptcha's stylesheet and API call, the token field in
the form). Chromium checks the page's Content-Security-Policy before any request leaves, routed or not, so a
policy that forgot one of those origins fails the test (the `page` fixture fails on any violation).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from referloop.accounts.models import Account
from referloop.campaigns.abuse import captcha
from referloop.campaigns.models import Campaign, Lead, Referrer
from tests.siteverify import running_siteverify

pytestmark = pytest.mark.browser

SITE_KEY = "browser-site-key"

# What each provider's widget does on the page, in miniature: frame, styles and calls from the provider's origins.
FAKE_WIDGET = {
    "turnstile": """
document.querySelectorAll(".cf-turnstile").forEach((box) => {
  const frame = document.createElement("iframe");
  frame.src = "https://challenges.cloudflare.com/cdn-cgi/challenge-platform/widget?k=" + box.dataset.sitekey;
  frame.title = "Widget containing a Cloudflare security challenge";
  box.appendChild(frame);
  const token = document.createElement("input");
  token.type = "hidden"; token.name = "cf-turnstile-response"; token.value = "token-for-" + box.dataset.sitekey;
  box.appendChild(token);
});
""",
    "hcaptcha": """
const sheet = document.createElement("link");
sheet.rel = "stylesheet"; sheet.href = "https://newassets.hcaptcha.com/captcha/v1/hcaptcha.css";
document.head.appendChild(sheet);
document.querySelectorAll(".h-captcha").forEach((box) => {
  fetch("https://api.hcaptcha.com/checksiteconfig?sitekey=" + box.dataset.sitekey, {method: "POST"}).then(() => {
    const frame = document.createElement("iframe");
    frame.src = "https://newassets.hcaptcha.com/captcha/v1/static/hcaptcha.html#sitekey=" + box.dataset.sitekey;
    frame.title = "Widget containing checkbox for hCaptcha security challenge";
    box.appendChild(frame);
    const token = document.createElement("textarea");
    token.name = "h-captcha-response"; token.hidden = true; token.value = "token-for-" + box.dataset.sitekey;
    box.appendChild(token);
  });
});
""",
}
PROVIDER_ORIGINS = {
    "turnstile": re.compile(r"^https://challenges\.cloudflare\.com/"),
    "hcaptcha": re.compile(r"^https://([a-z0-9-]+\.)?hcaptcha\.com/"),
}


def answer_as_provider(provider: str, requested: list[str]) -> Any:
    def answer(route: Route) -> None:
        url = route.request.url
        requested.append(url)
        if url.endswith("/api.js"):
            route.fulfill(status=200, content_type="application/javascript", body=FAKE_WIDGET[provider])
        elif url.endswith(".css"):
            route.fulfill(status=200, content_type="text/css", body=".h-captcha iframe { border: 0; }")
        elif "checksiteconfig" in url:
            route.fulfill(
                status=200,
                content_type="application/json",
                headers={"Access-Control-Allow-Origin": "*"},
                body='{"pass": true}',
            )
        else:
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><p>I am human</p>")

    return answer


@pytest.mark.parametrize("provider", ["turnstile", "hcaptcha"])
def test_the_captcha_widget_runs_under_the_csp_and_a_friend_who_passes_becomes_a_lead(
    page: Page, live_server: Any, settings: Any, provider: str
) -> None:
    account = Account.objects.create(name="Comfort Pro HVAC")
    campaign = Campaign.objects.create(account=account, name="Spring tune-up", slug="spring-tune-up")
    referrer = Referrer.objects.create(campaign=campaign, first_name="Maria", email="maria@example.com")
    requested: list[str] = []
    page.context.route(PROVIDER_ORIGINS[provider], answer_as_provider(provider, requested))
    # Tall enough that the button needs no scrolling: right after a scroll, headless Chromium can still route a
    # click to where a cross-origin iframe was before it (the click lands in the widget and submits nothing).
    page.set_viewport_size({"width": 1280, "height": 1200})

    with running_siteverify() as siteverify:
        settings.CAPTCHA_PROVIDER = provider
        settings.CAPTCHA_SITE_KEY = SITE_KEY
        settings.CAPTCHA_SECRET = "browser-secret"
        settings.CAPTCHA_VERIFY_URL = siteverify.url
        # What settings.py does at start for this provider (tests/campaigns/test_captcha.py checks that it does).
        settings.CONTENT_SECURITY_POLICY = captcha.content_security_policy(
            settings.CONTENT_SECURITY_POLICY, captcha.active()
        )

        page.goto(f"{live_server.url}/r/{referrer.code}/")
        expect(page.frame_locator(".field-captcha iframe").get_by_text("I am human")).to_be_visible()
        page.get_by_label("First Name").fill("Jane")
        page.get_by_label("Email").fill("jane@example.com")
        page.get_by_role("button", name="Claim offer").click()
        expect(page.get_by_role("heading", name=re.compile("Thank you, Jane"))).to_be_visible()

    assert Lead.objects.filter(campaign=campaign, email="jane@example.com").exists()
    assert [post["response"] for post in siteverify.posts] == [f"token-for-{SITE_KEY}"]
    assert any(url.endswith("/api.js") for url in requested)
    if provider == "hcaptcha":  # its stylesheet and its API call were allowed through too
        assert any(url.endswith(".css") for url in requested)
        assert any("checksiteconfig" in url for url in requested)
