from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from referloop.campaigns.codes import CODE_ALPHABET, CODE_LENGTH, random_code
from referloop.campaigns.models import Lead, Referrer
from tests.conftest import Tenant
from tests.public_forms import as_person

pytestmark = pytest.mark.django_db


def test_codes_avoid_look_alike_characters() -> None:
    codes = {random_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert len(code) == CODE_LENGTH
        assert not set(code) & set("0O1IL")
        assert set(code) <= set(CODE_ALPHABET)


def test_joining_on_the_public_page_gives_a_link_and_a_code(tenant: Tenant) -> None:
    response = Client().post(
        reverse("referrer_join", args=[tenant.campaign.slug]),
        as_person(tenant.campaign, "join", {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}),
    )
    referrer = Referrer.objects.get(email="ann@example.com")
    assert referrer.campaign == tenant.campaign
    assert "Check your inbox" in response.content.decode()
    [message] = mail.outbox  # the link goes to the inbox only (tests/campaigns/test_no_leaks.py)
    assert referrer.referral_url in message.body
    assert re.fullmatch(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}", referrer.code)


def test_joining_twice_with_the_same_email_returns_the_same_link(tenant: Tenant) -> None:
    url = reverse("referrer_join", args=[tenant.campaign.slug])
    Client().post(url, as_person(tenant.campaign, "join", {"first_name": "Ann", "email": "ann@example.com"}))
    again = as_person(tenant.campaign, "join", {"first_name": "Annie", "email": "ANN@example.com"})
    response = Client().post(url, again)
    assert "Welcome back" not in response.content.decode()
    assert Referrer.objects.filter(email__iexact="ann@example.com").count() == 1
    assert len(mail.outbox) == 2  # the link again, by email
    assert Referrer.objects.get(email="ann@example.com").referral_url in mail.outbox[1].body


def test_join_form_errors_name_the_field(tenant: Tenant) -> None:
    response = Client().post(
        reverse("referrer_join", args=[tenant.campaign.slug]),
        as_person(tenant.campaign, "join", {"first_name": "", "email": "nope"}),
    )
    page = response.content.decode()
    assert "This field is required." in page
    assert "Enter a valid email address." in page
    assert Referrer.objects.count() == 1


def test_adding_a_referrer_by_hand_opens_their_page_with_link_and_leads(tenant: Tenant) -> None:
    response = tenant.client.post(
        reverse("referrer_add", args=[tenant.campaign.pk]), {"first_name": "Bo", "email": "bo@example.com"}, follow=True
    )
    referrer = Referrer.objects.get(email="bo@example.com")
    assert referrer.source == "manual"
    assert referrer.referral_url in response.content.decode()

    page = tenant.client.get(reverse("referrer_detail", args=[tenant.campaign.pk, tenant.referrer.pk])).content.decode()
    assert tenant.lead.email in page
    assert "Pending" in page


def test_a_leads_own_code_works_as_a_referral_link(tenant: Tenant) -> None:
    response = Client().post(
        reverse("referral_page", args=[tenant.lead.code]),
        as_person(tenant.campaign, "lead", {"first_name": "Friend", "email": "friend-of-tom@example.com"}),
    )
    assert response.status_code == 200
    new_lead = Lead.objects.get(email="friend-of-tom@example.com")
    assert new_lead.referrer.email == tenant.lead.email
    assert new_lead.referrer.code == tenant.lead.code


def test_codes_are_case_insensitive_and_unknown_codes_are_404(tenant: Tenant) -> None:
    response = Client().get(reverse("referral_page", args=[tenant.referrer.code.lower()]))
    assert response.status_code == 302
    assert Client().get(reverse("referral_page", args=["ZZZZZZZ"])).status_code == 404


def test_referrer_search_finds_by_email(tenant: Tenant) -> None:
    tenant.campaign.referrers.create(first_name="Zed", email="zed@example.com")
    page = tenant.client.get(reverse("referrer_list", args=[tenant.campaign.pk]) + "?q=zed@").content.decode()
    assert "zed@example.com" in page
    assert tenant.referrer.email not in page
