"""The Overview's totals (issue 16 §2): live for a small campaign; past figures.LIVE_UP_TO leads counted at most
once a minute and kept in the cache, the page saying when, with a Refresh that counts them again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from referloop.campaigns import figures
from referloop.campaigns.models import Lead
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def add_leads(tenant: Tenant, n: int) -> None:
    for _ in range(n):
        number = Lead.objects.count()
        Lead.objects.create(
            campaign=tenant.campaign,
            referrer=tenant.referrer,
            first_name="Friend",
            email=f"friend{number}@example.com",
        )


def overview(tenant: Tenant, query: str = "") -> Any:
    response = tenant.client.get(reverse("campaign_detail", args=[tenant.campaign.pk]) + query)
    assert response.status_code == 200
    return response


def leads_shown(response: Any) -> int:
    return int(response.context["stats"]["total"])


def test_a_small_campaign_shows_a_new_lead_at_once(tenant: Tenant) -> None:
    first = overview(tenant)
    add_leads(tenant, 1)
    second = overview(tenant)

    assert (leads_shown(first), leads_shown(second)) == (1, 2)
    assert second.context["funnel"].leads == 2
    assert "Counted at" not in second.content.decode()


def test_past_the_threshold_the_kept_figures_are_shown_with_their_time_and_refresh_counts_again(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(figures, "LIVE_UP_TO", 2)
    add_leads(tenant, 2)  # three with the fixture's lead

    first = overview(tenant)
    add_leads(tenant, 1)
    kept = overview(tenant)
    refreshed = overview(tenant, "?refresh=1")

    assert (leads_shown(first), leads_shown(kept), leads_shown(refreshed)) == (3, 3, 4)
    assert kept.context["funnel"].leads == 3
    assert refreshed.context["funnel"].leads == 4
    page = kept.content.decode()
    counted_at = timezone.localtime(kept.context["counted_at"])
    assert f"Counted at {counted_at:%H:%M} UTC" in page
    assert '<a href="?days=90&amp;refresh=1">Refresh</a>' in page


def test_kept_figures_are_counted_again_after_a_minute(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(figures, "LIVE_UP_TO", 2)
    add_leads(tenant, 2)
    now = timezone.now()
    figures.overview_figures(tenant.campaign, 90, now=now)
    add_leads(tenant, 1)

    within = figures.overview_figures(tenant.campaign, 90, now=now + timedelta(seconds=59))
    after = figures.overview_figures(tenant.campaign, 90, now=now + timedelta(seconds=61))

    assert (within.stats["total"], within.counted_at) == (3, now)
    assert (after.stats["total"], after.counted_at) == (4, now + timedelta(seconds=61))


def test_each_campaign_and_period_keeps_its_own_figures(
    tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(figures, "LIVE_UP_TO", 0)
    add_leads(tenant, 2)
    now = timezone.now()
    mine = figures.overview_figures(tenant.campaign, 90, now=now)
    theirs = figures.overview_figures(other_tenant.campaign, 90, now=now)
    month = figures.overview_figures(tenant.campaign, 30, now=now)

    assert (mine.stats["total"], theirs.stats["total"]) == (3, 1)
    assert (mine.funnel.days, month.funnel.days) == (90, 30)
    assert figures.cache_key(tenant.campaign, 90) == f"overview-figures:{tenant.campaign.pk}:90"


def test_a_cache_that_fails_means_counting_live_not_an_error_page(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(figures, "LIVE_UP_TO", 0)

    def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionError("the cache is down")

    monkeypatch.setattr(figures.cache, "get", broken)
    monkeypatch.setattr(figures.cache, "set", broken)

    assert leads_shown(overview(tenant)) == 1
