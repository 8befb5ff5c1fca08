"""The public forms' edges found in review: empty posts, inbox flooding, self-referral, addresses, cookies."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client, RequestFactory
from django.urls import reverse

from referloop.accounts.throttling import email_allowed
from referloop.campaigns.abuse.client import client_ip
from referloop.campaigns.models import Lead
from tests.accounts.windows import key_with_room
from tests.conftest import Tenant
from tests.public_forms import as_person

pytestmark = pytest.mark.django_db


def page_text(response: Any) -> str:
    body = response.content.decode()
    token = response.context.get("csrf_token") if response.context else None
    return body.replace(str(token), "") if token else body


@pytest.mark.parametrize("page", ["join", "referral"])
def test_an_empty_post_to_a_public_form_is_answered_with_the_form_not_a_500(tenant: Tenant, page: str) -> None:
    url = (
        reverse("referrer_join", args=[tenant.campaign.slug])
        if page == "join"
        else reverse("referral_page", args=[tenant.referrer.code])
    )
    response = Client().post(url, {})

    assert response.status_code == 400
    assert "Please check your details and send the form again" in response.content.decode()


def test_the_join_page_emails_one_address_at_most_three_times_an_hour_whoever_asks(
    tenant: Tenant, settings: Any
) -> None:
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    email = key_with_room(
        (f"victim{n}@example.com" for n in range(50)), "email:referral-link:address", "3/h"
    )  # a fresh window: the whole burst counts in one
    url = reverse("referrer_join", args=[tenant.campaign.slug])
    pages = set()
    for n in range(5):  # five different clients, so no per-IP limit is what stops it
        data = as_person(tenant.campaign, "join", {"first_name": "Click evil.example", "email": email})
        response = Client().post(url, data, HTTP_X_FORWARDED_FOR=f"198.51.100.{n + 1}")
        pages.add((response.status_code, page_text(response)))

    assert len(pages) == 1  # the same page every time: the page never says an email was held back
    assert len(mail.outbox) == 3
    assert {message.to[0] for message in mail.outbox} == {email}


def test_a_referrers_own_email_on_their_link_gets_a_leads_page_and_writes_nothing(tenant: Tenant) -> None:
    url = reverse("referral_page", args=[tenant.referrer.code])
    leads = Lead.objects.count()
    own = Client().post(
        url, as_person(tenant.campaign, "lead", {"first_name": "Eve", "email": tenant.referrer.email.upper(),
                                                 "system_type": "Furnace"})
    )  # fmt: skip
    other = Client().post(
        url, as_person(tenant.campaign, "lead", {"first_name": "Eve", "email": "someone@example.com",
                                                 "system_type": "Furnace"})
    )  # fmt: skip

    assert (own.status_code, page_text(own)) == (other.status_code, page_text(other))
    assert "can't refer their own email" not in own.content.decode()
    assert Lead.objects.count() == leads + 1  # only the other one


@pytest.mark.parametrize(
    ("remote", "expected"),
    [("::ffff:198.51.100.7", "198.51.100.7"), ("fe80::1%eth0", "fe80::1"), ("198.51.100.7", "198.51.100.7")],
)
def test_a_client_address_is_normalised_before_it_is_stored_or_counted(remote: str, expected: str) -> None:
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR=remote)) == expected


def test_the_email_limit_per_ip_counts_the_client_behind_the_proxy_not_the_proxy(settings: Any) -> None:
    settings.TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    first = key_with_room((f"203.0.113.{n}" for n in range(1, 200)), "email:reset:ip", "20/h", by_ip=True)
    for n in range(20):  # one client uses up its 20 emails an hour, each to another address
        request = RequestFactory().post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=first)
        assert email_allowed(request, "reset", f"person{n}@example.com")
    blocked = RequestFactory().post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=first)
    other = RequestFactory().post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.200")

    assert not email_allowed(blocked, "reset", "one-more@example.com")
    assert email_allowed(other, "reset", "someone-else@example.com")  # the proxy's own address is not the key


def test_a_cookie_holding_a_nul_is_dropped_instead_of_breaking_every_page(tenant: Tenant) -> None:
    client = Client()
    client.cookies["sessionid"] = "abc\x00def"

    response = client.get(reverse("referral_page", args=[tenant.referrer.code]))

    assert response.status_code == 200
