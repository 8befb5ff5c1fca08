"""Qualification end to end in a real browser, against the running app and a real sandbox over HTTP.

Qualification Rules (The job reaches a status: Completed) → a friend's lead becomes a booking → ServiceTitan books
and completes the job → one follower cycle → the lead page shows Qualified, the ServiceTitan facts and the
timeline → another lead is qualified by hand with a reason → the campaign Overview's funnel counts both, on a
desktop and on a phone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from referloop.campaigns.models import Campaign, Lead, LeadStage, LeadStatus, Referrer
from referloop.integrations.models import Follow, JobStatus, QualificationRule
from referloop.providers.servicetitan import default_mapping
from referloop.sandbox.testing import SandboxHandle
from tests.browser.conftest import run_worker_until_idle
from tests.browser.helpers import OWNER_EMAIL, log_in, owner_with_campaign, refer
from tests.integrations.engine.helpers import connect
from tests.integrations.servicetitan.following import follow_cycle_in_thread

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def quick_follower(settings: Any) -> None:
    settings.FOLLOW_INTERVAL_SECONDS = 1.0


def earlier_referrals(campaign: Campaign, referrer: Referrer) -> None:
    """The campaign's last weeks, written directly: seven more referrers (two joined 45 days ago) and ten leads
    at every stage, one of them 40 days old (outside the last 30 days)."""
    now = timezone.now()
    for n in range(7):
        Referrer.objects.create(
            campaign=campaign,
            first_name=f"Referrer{n}",
            email=f"referrer{n}@example.com",
            created_at=now - timedelta(days=45 if n < 2 else n + 1),
        )
    history = [
        (LeadStage.NOT_BOOKED, LeadStatus.PENDING, 2),
        (LeadStage.NOT_BOOKED, LeadStatus.PENDING, 5),
        (LeadStage.NOT_BOOKED, LeadStatus.PENDING, 40),
        (LeadStage.BOOKED, LeadStatus.PENDING, 3),
        (LeadStage.BOOKED, LeadStatus.PENDING, 8),
        (LeadStage.DISMISSED, LeadStatus.NOT_QUALIFIED, 12),
        (LeadStage.JOB, LeadStatus.PENDING, 6),
        (LeadStage.COMPLETED, LeadStatus.QUALIFIED, 15),
        (LeadStage.PAID, LeadStatus.REWARDED, 20),
        (LeadStage.CANCELED, LeadStatus.NOT_QUALIFIED, 25),
    ]
    for n, (stage, status, days) in enumerate(history):
        Lead.objects.create(
            campaign=campaign,
            referrer=referrer,
            first_name=f"Earlier{n}",
            last_name="Friend",
            email=f"earlier{n}@example.com",
            stage=stage,
            status=status,
            created_at=now - timedelta(days=days),
        )


def funnel_rows(page: Page) -> list[list[str]]:
    """The funnel's table (there for screen readers), as the browser has it."""
    table = page.get_by_role("table", name=re.compile("^Referral funnel"))
    return [
        [cell.strip() for cell in row.locator("th, td").all_text_contents()] for row in table.locator("tbody tr").all()
    ]


def test_rules_a_completed_job_qualifies_its_lead_by_hand_too_and_the_funnel_counts_them(
    page: Page, browser: Browser, public_base_url: str, sandbox: SandboxHandle, screenshot: Callable[[Page, str], None]
) -> None:
    base = public_base_url
    owned = owner_with_campaign()
    campaign, referrer = owned.campaign, owned.referrer
    integration = connect(campaign, mapping=default_mapping())
    earlier_referrals(campaign, referrer)
    log_in(page, base)

    # Leads tab → Qualification Rules: the job reaches a status, Completed.
    page.goto(f"{base}/campaigns/{campaign.pk}/integrations/servicetitan/leads/")
    rules = page.get_by_role("form", name="Qualification Rules")
    expect(rules.get_by_label("Do not qualify my referrals")).to_be_checked()
    rules.get_by_label("The job reaches a status").check()
    rules.get_by_label("Job status").select_option(label="Completed")
    rules.get_by_role("button", name="Save Changes").click()
    expect(page.locator(".messages")).to_contain_text("Qualification Rules saved.")
    rules = page.get_by_role("form", name="Qualification Rules")
    expect(rules.get_by_label("The job reaches a status")).to_be_checked()
    screenshot(page, "qualification-rules")
    integration.refresh_from_db()
    assert (integration.qualification_rule, integration.qualifying_job_status) == (
        QualificationRule.JOB_STATUS,
        JobStatus.COMPLETED,
    )

    # Two friends claim the offer; the worker turns each into a booking in ServiceTitan.
    jane = refer(browser, referrer.referral_url, "Jane", "jane.doe@example.com")
    john = refer(browser, referrer.referral_url, "John", "john.doe@example.com")
    report = run_worker_until_idle()
    assert report.outcomes["delivered"] == 2, report
    booking_id = Follow.objects.get(lead=jane).booking_id

    # In ServiceTitan, a CSR books Jane's booking as a job: a job is not enough for this rule.
    _, job, _ = sandbox.book_job(booking_id, total="480.00")
    follow_cycle_in_thread()
    jane.refresh_from_db()
    assert (jane.stage, jane.status) == (LeadStage.JOB, LeadStatus.PENDING)
    # The technician completes the job: the next cycle qualifies Jane.
    sandbox.complete_job(job.id)
    follow_cycle_in_thread()
    jane.refresh_from_db()
    assert (jane.stage, jane.status) == (LeadStage.COMPLETED, LeadStatus.QUALIFIED)

    # Jane's page: Qualified, what ServiceTitan says, and how it got there.
    page.goto(f"{base}/campaigns/{campaign.pk}/leads/?status=qualified")
    page.get_by_role("link", name="Jane Doe").click()
    expect(page.get_by_role("heading", name=re.compile("^Jane Doe"))).to_contain_text("Qualified")
    facts = page.get_by_role("region", name="In ServiceTitan")
    fact = {name: facts.locator("dt", has_text=name).locator("+ dd") for name in ("Booking", "Job", "Invoice")}
    expect(fact["Booking"]).to_contain_text(str(booking_id))
    expect(fact["Job"]).to_contain_text(f"{job.id} · Completed")
    expect(fact["Invoice"]).to_contain_text("480.00")
    expect(facts.locator("dt", has_text="Qualified").locator("+ dd")).to_contain_text("The job reaches Completed")
    timeline = page.get_by_role("list", name="Timeline")
    expect(timeline).to_contain_text(f"Job {job.id} completed")
    story = [
        f"Booking {booking_id} created in ServiceTitan",
        f"Booked as job {job.id} in ServiceTitan",
        "Invoice total 480.00",
        f"Job {job.id} completed",
        "Qualified",
    ]
    titles = [title.strip() for title in timeline.locator(".t-title").all_text_contents()]
    assert [title for title in titles if title in story] == story, titles  # each once, in this order
    expect(timeline.locator("li").filter(has_text=re.compile("^Qualified"))).to_contain_text(
        f"The job reaches Completed · job {job.id} (Completed) · invoice total 480.00"
    )
    screenshot(page, "qualified-lead")

    # John's booking has no job yet: the owner qualifies him by hand, and says why.
    page.goto(f"{base}/campaigns/{campaign.pk}/leads/{john.pk}/")
    expect(page.get_by_role("heading", name=re.compile("^John Doe"))).to_contain_text("Pending")
    by_hand = page.get_by_role("region", name="Qualify by hand")
    reason = "Booked by phone: the CSR made a new booking instead of using this one"
    by_hand.get_by_label("Reason").fill(reason)
    by_hand.get_by_role("button", name="Qualify", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("John Doe is now Qualified.")
    entry = page.get_by_role("list", name="Timeline").locator("li").filter(has_text="Qualified by hand")
    expect(entry).to_contain_text(reason)
    expect(entry).to_contain_text(f"by {OWNER_EMAIL}")
    john.refresh_from_db()
    assert (john.status, john.qualified_by_rule, john.status_reason) == (LeadStatus.QUALIFIED, "by_hand", reason)

    # The Overview's funnel, last 90 days: 8 referrers; 12 leads, of which 9 booked (one dismissed since),
    # 5 became jobs (one canceled), 3 were completed, 4 qualified (John by hand, before any job).
    page.get_by_role("link", name="Overview", exact=True).click()
    funnel = page.get_by_role("region", name=re.compile("^Referral funnel"))
    expect(funnel).to_contain_text("last 90 days")
    expect(funnel.get_by_role("link", name="90 days")).to_have_attribute("aria-current", "page")
    chart = funnel.get_by_role("img")
    expect(chart).to_have_accessible_name(
        "Referral funnel, last 90 days. Referrers: 8; Leads: 12 (150% of referrers); Booked: 9 (75% of leads); "
        "Jobs: 5 (56% of booked); Completed: 3 (60% of jobs); Qualified: 4 (133% of completed)."
    )
    for step, numbers in [
        ("referrers", "8"),
        ("leads", "12150% of referrers"),
        ("booked", "975% of leads"),
        ("jobs", "556% of booked"),
        ("completed", "360% of jobs"),
        ("qualified", "4133% of completed"),
    ]:
        expect(chart.locator(f".step-{step} .funnel-value")).to_have_text(numbers)
    assert funnel_rows(page) == [
        ["Referrers", "8", "\N{EN DASH}"],
        ["Leads", "12", "150% of referrers"],
        ["Booked", "9", "75% of leads"],
        ["Jobs", "5", "56% of booked"],
        ["Completed", "3", "60% of jobs"],
        ["Qualified", "4", "133% of completed"],
    ]
    widths = {
        step: float((chart.locator(f".step-{step} .funnel-bar").get_attribute("width") or "").removesuffix("%"))
        for step in ("leads", "booked", "qualified")
    }
    assert widths == {"leads": 100.0, "booked": 75.0, "qualified": 33.3}  # to scale: the longest fills the chart
    screenshot(page, "funnel")

    # The last 30 days leave out the two referrers who joined 45 days ago and the lead from 40 days ago.
    funnel.get_by_role("link", name="30 days").click()
    expect(page).to_have_url(re.compile(r"\?days=30$"))
    assert [row[:2] for row in funnel_rows(page)] == [
        ["Referrers", "6"],
        ["Leads", "11"],
        ["Booked", "9"],
        ["Jobs", "5"],
        ["Completed", "3"],
        ["Qualified", "4"],
    ]

    # On a phone: the chart shrinks to the screen, no sideways scrolling, and its text stays legible.
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/campaigns/{campaign.pk}/")
    chart = page.get_by_role("region", name=re.compile("^Referral funnel")).get_by_role("img")
    expect(chart).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = chart.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert chart.locator(".funnel-label").first.evaluate("e => getComputedStyle(e).fontSize") == "14px"
    bars = [chart.locator(f".step-{step} .funnel-bar").bounding_box() for step in ("leads", "booked")]
    assert bars[0] is not None and bars[1] is not None
    assert bars[0]["width"] == pytest.approx(box["width"], abs=1)  # the bars shrink to the screen, not the text
    assert bars[1]["width"] == pytest.approx(box["width"] * 0.75, abs=1)
    screenshot(page, "funnel-narrow")


def test_a_campaign_without_referrals_in_the_period_says_so_instead_of_a_chart(page: Page, live_server: Any) -> None:
    owned = owner_with_campaign()
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/campaigns/{owned.campaign.pk}/?days=30")
    funnel = page.get_by_role("region", name=re.compile("^Referral funnel"))
    expect(funnel).to_contain_text("No referrals in the last 30 days yet.")
    expect(funnel).to_contain_text("1 referrer joined in that time")
    expect(funnel.get_by_role("img")).to_have_count(0)
    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
