"""The referral funnel on the campaign Overview: what each step counts, over which period, and how it is drawn."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from itertools import count
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from referloop.campaigns.funnel import Funnel, funnel, percent, period_from
from referloop.campaigns.models import Campaign, Lead, LeadStage, LeadStatus, Referrer
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db

_numbers = count(1)


def add_lead(
    tenant: Tenant,
    stage: str = LeadStage.NOT_BOOKED,
    status: str = LeadStatus.PENDING,
    age: timedelta = timedelta(0),
    now: datetime | None = None,
) -> Lead:
    n = next(_numbers)
    return Lead.objects.create(
        campaign=tenant.campaign,
        referrer=tenant.referrer,
        first_name="Friend",
        last_name=str(n),
        email=f"friend{n}@example.com",
        stage=stage,
        status=status,
        created_at=(now or timezone.now()) - age,
    )


def add_referrer(campaign: Campaign, age: timedelta = timedelta(0), now: datetime | None = None) -> Referrer:
    n = next(_numbers)
    return Referrer.objects.create(
        campaign=campaign, first_name="Ref", email=f"ref{n}@example.com", created_at=(now or timezone.now()) - age
    )


def only_the_tenants_lead_is_older(tenant: Tenant, days: int = 400) -> None:
    """The tenant fixture's own lead (Tom) and referrer (Maria), moved out of every period."""
    old = timezone.now() - timedelta(days=days)
    Lead.objects.filter(pk=tenant.lead.pk).update(created_at=old)
    Referrer.objects.filter(pk=tenant.referrer.pk).update(created_at=old)


def overview(tenant: Tenant, query: str = "") -> Any:
    return tenant.client.get(reverse("campaign_detail", args=[tenant.campaign.pk]) + query)


def counts(result: Funnel) -> dict[str, int]:
    return {step.key: step.count for step in result.steps}


def test_each_step_counts_the_leads_of_the_period_that_reached_it(tenant: Tenant, other_tenant: Tenant) -> None:
    # Tom (the fixture's lead) is pending and not booked; Maria (its referrer) joined today.
    add_lead(tenant, LeadStage.BOOKED)
    add_lead(tenant, LeadStage.DISMISSED, LeadStatus.NOT_QUALIFIED)  # booked, then dismissed: never a job
    add_lead(tenant, LeadStage.JOB)
    add_lead(tenant, LeadStage.COMPLETED, LeadStatus.QUALIFIED)
    add_lead(tenant, LeadStage.PAID, LeadStatus.REWARDED)
    add_lead(tenant, LeadStage.CANCELED, LeadStatus.NOT_QUALIFIED)  # a job, canceled: booked and a job
    add_lead(tenant, LeadStage.JOB, LeadStatus.QUALIFIED)  # "Booking becomes a job" qualifies before completion
    add_lead(tenant, LeadStage.NOT_BOOKED, LeadStatus.QUALIFIED)  # qualified by hand, never booked
    add_referrer(tenant.campaign)
    add_lead(other_tenant, LeadStage.PAID, LeadStatus.REWARDED)  # another account's campaign: never counted

    assert counts(funnel(tenant.campaign, 90)) == {
        "referrers": 2,
        "leads": 9,
        "booked": 7,
        "jobs": 5,
        "completed": 2,
        "qualified": 4,
    }


def test_the_funnel_costs_two_queries_whatever_the_number_of_leads(
    tenant: Tenant, django_assert_num_queries: Any
) -> None:
    for stage in (LeadStage.BOOKED, LeadStage.JOB, LeadStage.COMPLETED) * 10:
        add_lead(tenant, stage)
    with django_assert_num_queries(2):
        result = funnel(tenant.campaign, 30)
    assert (result.leads, result.booked) == (31, 30)


def test_a_lead_31_days_old_is_outside_the_last_30_days_and_inside_the_last_90(tenant: Tenant) -> None:
    now = timezone.now()
    only_the_tenants_lead_is_older(tenant)
    add_lead(tenant, LeadStage.COMPLETED, LeadStatus.QUALIFIED, age=timedelta(days=31), now=now)
    add_lead(tenant, LeadStage.BOOKED, age=timedelta(days=29, hours=23), now=now)
    add_referrer(tenant.campaign, age=timedelta(days=31), now=now)

    last_30 = funnel(tenant.campaign, 30, now=now)
    last_90 = funnel(tenant.campaign, 90, now=now)
    assert counts(last_30) == {"referrers": 0, "leads": 1, "booked": 1, "jobs": 0, "completed": 0, "qualified": 0}
    assert counts(last_90) == {"referrers": 1, "leads": 2, "booked": 2, "jobs": 1, "completed": 1, "qualified": 1}
    assert last_30.since == now - timedelta(days=30)


def test_a_lead_91_days_old_counts_only_in_the_last_365_days(tenant: Tenant) -> None:
    now = timezone.now()
    only_the_tenants_lead_is_older(tenant)
    add_lead(tenant, LeadStage.JOB, age=timedelta(days=91), now=now)
    assert funnel(tenant.campaign, 90, now=now).leads == 0
    assert funnel(tenant.campaign, 365, now=now).jobs == 1


def test_each_step_converts_as_a_whole_percentage_of_the_step_before() -> None:
    result = Funnel(days=90, since=timezone.now(), referrers=4, leads=8, booked=6, jobs=4, completed=2, qualified=3)
    assert [(step.key, step.conversion) for step in result.steps] == [
        ("referrers", None),  # the first step has nothing before it
        ("leads", 200),  # one referrer sends many friends
        ("booked", 75),
        ("jobs", 67),  # 66.67 rounded
        ("completed", 50),
        ("qualified", 150),  # a rule can qualify at the job, before completion
    ]
    assert percent(1, 8) == 13  # 12.5 rounds half up


def test_a_step_after_an_empty_step_has_no_percentage_instead_of_a_division_by_zero() -> None:
    result = Funnel(days=30, since=timezone.now(), referrers=0, leads=3, booked=0, jobs=0, completed=0, qualified=0)
    assert [step.conversion for step in result.steps] == [None, None, 0, None, None, None]
    nothing = Funnel(days=30, since=timezone.now(), referrers=0, leads=0, booked=0, jobs=0, completed=0, qualified=0)
    assert [bar.width for bar in nothing.bars] == [0] * 6
    assert nothing.is_empty


def test_the_longest_step_fills_the_chart_and_the_others_are_drawn_to_scale() -> None:
    result = Funnel(days=90, since=timezone.now(), referrers=2, leads=8, booked=4, jobs=1, completed=0, qualified=0)
    widths = {bar.step.key: bar.width for bar in result.bars}
    assert widths == {"referrers": 25, "leads": 100, "booked": 50, "jobs": 12.5, "completed": 0, "qualified": 0}
    thirds = Funnel(days=90, since=timezone.now(), referrers=0, leads=3, booked=2, jobs=1, completed=0, qualified=0)
    assert [bar.width for bar in thirds.bars[1:4]] == [100, 66.7, 33.3]
    tiny = Funnel(days=90, since=timezone.now(), referrers=0, leads=1000, booked=1, jobs=0, completed=0, qualified=0)
    assert tiny.bars[2].width == 1.0  # one booking out of a thousand still shows, as a sliver


@pytest.mark.parametrize(("value", "expected"), [("30", 30), ("90", 90), ("365", 365), (None, 90)])
def test_the_period_is_one_of_30_90_or_365_days(value: str | None, expected: int) -> None:
    assert period_from(value) == expected


@pytest.mark.parametrize("bad", ["", "7", "0", "-30", "30.0", " 30", "abc", "9" * 40, "365&days=30", "٣٠"])
def test_a_bad_days_value_falls_back_to_90_days(tenant: Tenant, bad: str) -> None:
    response = tenant.client.get(reverse("campaign_detail", args=[tenant.campaign.pk]), {"days": bad})
    assert response.status_code == 200
    assert response.context["funnel"].days == 90
    assert "last 90 days" in response.content.decode()


def test_the_period_switch_links_to_each_period_and_marks_the_current_one(tenant: Tenant) -> None:
    page = overview(tenant, "?days=365").content.decode()
    switch = re.search(r'<nav class="period-switch".*?</nav>', page, re.S)
    assert switch is not None
    assert re.findall(r'href="\?days=(\d+)"', switch.group()) == ["30", "90", "365"]
    assert '<a href="?days=365" aria-current="page">365 days</a>' in switch.group()
    assert 'Referral funnel <span class="muted">· last 365 days</span>' in page


def test_the_overview_draws_the_funnel_with_its_numbers_as_text_and_a_table(tenant: Tenant) -> None:
    add_lead(tenant, LeadStage.BOOKED)
    add_lead(tenant, LeadStage.COMPLETED, LeadStatus.QUALIFIED)
    add_lead(tenant, LeadStage.PAID, LeadStatus.REWARDED)
    page = overview(tenant).content.decode()
    # Maria joined; Tom + 3 leads; 3 booked; 2 jobs; 2 completed; 2 qualified.
    summary = (
        "Referral funnel, last 90 days. Referrers: 1; Leads: 4 (400% of referrers); Booked: 3 (75% of leads); "
        "Jobs: 2 (67% of booked); Completed: 2 (100% of jobs); Qualified: 2 (100% of completed)."
    )
    assert f'<title id="funnel-title">{summary}</title>' in page
    assert '<svg class="funnel-chart" role="img" aria-labelledby="funnel-title" width="100%" height="290"' in page
    assert '<rect class="funnel-bar" x="0" y="74" width="100.0%" height="16" rx="4"/>' in page  # leads: longest
    assert '<rect class="funnel-bar" x="0" y="124" width="75.0%" height="16" rx="4"/>' in page  # booked: 3 of 4
    assert '<tspan class="funnel-count">4</tspan><tspan class="funnel-rate" dx="8">400% of referrers</tspan>' in page
    assert '<tspan class="funnel-count">3</tspan><tspan class="funnel-rate" dx="8">75% of leads</tspan>' in page
    rows = re.findall(r'<tr><th scope="row">(\w+)</th><td>(\d+)</td><td>([^<]*)</td></tr>', page)
    assert rows == [
        ("Referrers", "1", "\N{EN DASH}"),
        ("Leads", "4", "400% of referrers"),
        ("Booked", "3", "75% of leads"),
        ("Jobs", "2", "67% of booked"),
        ("Completed", "2", "100% of jobs"),
        ("Qualified", "2", "100% of completed"),
    ]
    chart = page[page.index('<section class="card funnel"') : page.index("</section>", page.index("funnel-heading"))]
    assert "style=" not in chart  # the CSP may block inline styles: classes and SVG attributes only
    assert "<script" not in chart


def test_a_period_without_referrals_says_so_instead_of_drawing_zeros(tenant: Tenant) -> None:
    only_the_tenants_lead_is_older(tenant, days=45)
    add_referrer(tenant.campaign)
    page = overview(tenant, "?days=30").content.decode()
    assert "No referrals in the last 30 days yet." in page
    assert "1 referrer joined in that time" in page
    assert "funnel-chart" not in page
    page = overview(tenant, "?days=90").content.decode()
    assert "No referrals" not in page
    assert 'class="funnel-chart"' in page


def test_the_overview_asks_the_same_number_of_queries_for_5_leads_as_for_50(tenant: Tenant) -> None:
    stages = [LeadStage.BOOKED, LeadStage.JOB, LeadStage.COMPLETED, LeadStage.PAID, LeadStage.CANCELED]
    for n in range(4):
        add_lead(tenant, stages[n % 5], LeadStatus.QUALIFIED if n % 2 else LeadStatus.PENDING)
    overview(tenant)  # the session, the account: the first request warms what a second one reuses

    with CaptureQueriesContext(connection) as five:
        assert overview(tenant).context["funnel"].leads == 5
    for n in range(45):
        add_lead(tenant, stages[n % 5], LeadStatus.QUALIFIED if n % 2 else LeadStatus.PENDING)
        add_referrer(tenant.campaign)
    with CaptureQueriesContext(connection) as fifty:
        assert overview(tenant).context["funnel"].leads == 50

    assert len(fifty) == len(five), [q["sql"] for q in fifty.captured_queries]


def test_leads_without_referrers_in_the_period_show_no_percentage_on_the_page(tenant: Tenant) -> None:
    Referrer.objects.filter(pk=tenant.referrer.pk).update(created_at=timezone.now() - timedelta(days=100))
    page = overview(tenant).content.decode()  # Tom joined today; Maria, his referrer, 100 days ago
    assert '<tr><th scope="row">Leads</th><td>1</td><td>\N{EN DASH} (referrers: 0)</td></tr>' in page
    assert '<tspan class="funnel-count">1</tspan></text>' in page  # the count, without a percentage
    assert "Leads: 1;" in page
