"""The capped pagination of the lead list and Activity (campaigns/paging.py): past the cap the count stops and the
screen says so with a "+"."""

from __future__ import annotations

from typing import Any

import pytest

from referloop.campaigns import paging
from referloop.campaigns.models import Lead
from referloop.campaigns.paging import CappedPaginator, capped_count, count_text
from tests.conftest import Tenant


def add_leads(tenant: Tenant, count: int) -> None:
    Lead.objects.bulk_create(
        Lead(
            campaign=tenant.campaign, referrer=tenant.referrer, first_name="Ann", email=f"a{n}@x.example", code=f"PG{n}"
        )
        for n in range(count)
    )


def test_a_count_past_the_cap_stops_one_row_after_it(tenant: Tenant) -> None:
    add_leads(tenant, 6)  # and the tenant's own lead: 7
    leads = Lead.objects.filter(campaign=tenant.campaign)
    assert capped_count(leads, cap=3) == 4
    assert capped_count(leads, cap=10) == 7


def test_the_paginator_offers_the_pages_up_to_the_cap_and_says_there_are_more(tenant: Tenant) -> None:
    add_leads(tenant, 6)
    pages = CappedPaginator(Lead.objects.filter(campaign=tenant.campaign).order_by("pk"), 2, cap=4)
    assert (pages.count, pages.num_pages, pages.capped) == (4, 2, True)
    assert len(pages.get_page("last").object_list) == 2
    exact = CappedPaginator(Lead.objects.filter(campaign=tenant.campaign).order_by("pk"), 2, cap=100)
    assert (exact.count, exact.num_pages, exact.capped) == (7, 4, False)


def test_a_known_count_is_used_without_counting_again(tenant: Tenant, django_assert_num_queries: Any) -> None:
    pages = CappedPaginator(Lead.objects.filter(campaign=tenant.campaign).order_by("pk"), 50, known_count=12_000)
    with django_assert_num_queries(0):
        assert (pages.count, pages.capped) == (10_000, True)


def test_a_capped_count_reads_as_the_cap_and_a_plus() -> None:
    assert count_text(10_001) == "10,000+"
    assert count_text(10_000) == "10,000"
    assert count_text(0) == "0"


def test_the_lead_list_says_page_one_of_a_capped_count_with_a_plus(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "CAP", 60)
    add_leads(tenant, 120)
    page = tenant.client.get(f"/campaigns/{tenant.campaign.pk}/leads/").content.decode()
    assert "Page 1 of 2+" in page


def test_the_next_and_previous_links_keep_every_filter_and_the_search(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("referloop.campaigns.views.PAGE_SIZE", 2)
    add_leads(tenant, 7)
    Lead.objects.filter(campaign=tenant.campaign).update(servicetitan_customer_id=77)
    url = f"/campaigns/{tenant.campaign.pk}/leads/?q=a&stage=not_booked&existing=1&page=2"
    page = tenant.client.get(url).content.decode()
    assert 'href="?q=a&amp;stage=not_booked&amp;existing=1&amp;page=1">Previous' in page
    assert 'href="?q=a&amp;stage=not_booked&amp;existing=1&amp;page=3">Next' in page
