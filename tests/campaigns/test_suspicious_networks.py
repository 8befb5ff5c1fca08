"""The "Suspicious" flag compares client networks the way the rate limits count them: an IPv6 client by its /64
(one host owns a whole /64, so a new address in it is the same client), an IPv4 address on its own."""

from __future__ import annotations

import re
from typing import Any

import pytest

from referloop.campaigns.models import Referrer
from tests.campaigns.test_abuse import form_lead, leads_page, row_of
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def test_a_lead_from_another_address_in_its_referrers_ipv6_64_is_suspicious(tenant: Tenant) -> None:
    Referrer.objects.filter(pk=tenant.referrer.pk).update(client_ip="2001:db8:1:2::1")
    form_lead(tenant, 1, "2001:db8:1:2:ffff::9")  # the referrer's own /64, another address in it
    form_lead(tenant, 2, "2001:db8:1:3::1")  # the next /64: another client

    page = leads_page(tenant)

    assert "Same network as the referrer" in row_of(page, "Friend1")
    assert "Suspicious" not in row_of(page, "Friend2")


def test_more_than_n_leads_from_one_ipv6_64_are_suspicious_whatever_addresses_they_use(
    tenant: Tenant, settings: Any
) -> None:
    settings.SUSPICIOUS_LEADS_PER_IP = 3
    for n in range(4):
        form_lead(tenant, n, f"2001:db8:1:2::{n + 1}")  # four addresses, one /64
    form_lead(tenant, 9, "2001:db8:1:3::1")

    page = leads_page(tenant)

    for n in range(4):
        assert "4 leads from this network in this campaign" in row_of(page, f"Friend{n}")
    assert "Suspicious" not in row_of(page, "Friend9")


def test_ipv4_neighbours_are_separate_clients(tenant: Tenant, settings: Any) -> None:
    settings.SUSPICIOUS_LEADS_PER_IP = 1
    Referrer.objects.filter(pk=tenant.referrer.pk).update(client_ip="203.0.113.4")
    form_lead(tenant, 1, "203.0.113.5")
    form_lead(tenant, 2, "203.0.113.6")

    page = leads_page(tenant)

    assert "Suspicious" not in row_of(page, "Friend1")
    assert "Suspicious" not in row_of(page, "Friend2")


def test_the_suspicious_filter_groups_ipv6_leads_by_their_64_too(tenant: Tenant, settings: Any) -> None:
    settings.SUSPICIOUS_LEADS_PER_IP = 2
    Referrer.objects.filter(pk=tenant.referrer.pk).update(client_ip="2001:db8:9::1")
    form_lead(tenant, 1, "2001:db8:1:2::1")
    form_lead(tenant, 2, "2001:db8:1:2::2")
    form_lead(tenant, 3, "2001:db8:1:2::3")  # three in one /64: more than 2
    form_lead(tenant, 4, "2001:db8:1:3::1")  # alone in its /64
    form_lead(tenant, 5, "2001:db8:9::abcd")  # the referrer's /64
    form_lead(tenant, 6, "203.0.113.4")

    page = leads_page(tenant, suspicious="1")

    names = re.findall(r"<tr><td><a [^>]*>([^<]+)</a>", page)
    assert sorted(names) == ["Friend1", "Friend2", "Friend3", "Friend5"]
