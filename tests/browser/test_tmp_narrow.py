import pytest
from playwright.sync_api import expect
from tests.conftest import make_tenant, PASSWORD

pytestmark = pytest.mark.browser

def test_narrow(browser, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    t = make_tenant("Comfort Pro", "owner@comfortpro.example", "comfort-pro")
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    p = ctx.new_page()
    p.goto(live_server.url + "/login/")
    p.get_by_label("Email").fill(t.user.email); p.get_by_label("Password").fill(PASSWORD)
    p.get_by_role("button", name="Log in").click()
    for name, path in [("campaign", f"/campaigns/{t.campaign.pk}/"), ("leads", f"/campaigns/{t.campaign.pk}/leads/"),
                       ("referrer", f"/campaigns/{t.campaign.pk}/referrers/{t.referrer.pk}/"), ("ref", f"/r/{t.referrer.code}/")]:
        p.goto(live_server.url + path)
        p.screenshot(path=f"/tmp/narrow-{name}.png", full_page=True)
        print(name, p.evaluate("document.documentElement.scrollWidth"))
    p.set_viewport_size({"width": 1280, "height": 800})
    p.goto(live_server.url + f"/r/{t.referrer.code}/")
    p.screenshot(path="/tmp/wide-ref.png", full_page=True)
    p.goto(live_server.url + f"/campaigns/{t.campaign.pk}/leads/")
    p.screenshot(path="/tmp/wide-leads.png", full_page=True)
