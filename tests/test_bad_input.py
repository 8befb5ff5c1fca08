"""Hostile input the security review sent: the same 400/404 on SQLite and PostgreSQL, never a 500.

Run on both databases (DATABASE_URL selects PostgreSQL), where a NUL used to raise DataError and a 30-digit id
OverflowError (SQLite) or DataError (PostgreSQL).
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from referloop.accounts.models import Membership, Role
from referloop.security.ids import MAX_ID, id_from
from tests.conftest import Tenant


def client_of(tenant: Tenant) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(tenant.user)
    return client


def test_a_nul_in_a_referral_code_answers_400_with_a_message(db: None) -> None:
    response = Client(raise_request_exception=False).get("/r/ABC%00DEF/")
    assert response.status_code == 400
    assert b"NUL character" in response.content


@pytest.mark.parametrize("name", ["referrer_list", "lead_list"])
def test_a_nul_in_a_campaign_list_search_answers_400(tenant: Tenant, name: str) -> None:
    response = client_of(tenant).get(reverse(name, args=[tenant.campaign.pk]), {"q": "\x00"})
    assert response.status_code == 400


def test_a_nul_in_the_activity_search_answers_400(tenant: Tenant) -> None:
    url = reverse("integration_activity", args=[tenant.campaign.pk, "servicetitan"])
    assert client_of(tenant).get(url, {"q": "a\x00b"}).status_code == 400


def test_a_nul_in_the_lead_finder_answers_400(tenant: Tenant) -> None:
    assert client_of(tenant).get("/leads/find/?email=abc%00def").status_code == 400


def test_a_nul_in_a_posted_form_answers_400(tenant: Tenant) -> None:
    url = reverse("referrer_add", args=[tenant.campaign.pk])
    response = client_of(tenant).post(url, {"first_name": "Ana\x00", "email": "ana@example.com"})
    assert response.status_code == 400


def test_the_api_keeps_its_own_answer_naming_the_field(tenant: Tenant) -> None:
    response = Client().get("/api/v1/leads", {"email": "a\x00b@x.example"}, **tenant.api())
    assert response.status_code == 422
    assert "email" in response.json()["errors"]


def test_text_without_nul_still_searches(tenant: Tenant) -> None:
    response = client_of(tenant).get(reverse("lead_list", args=[tenant.campaign.pk]), {"q": "Tom"})
    assert response.status_code == 200
    assert tenant.lead.email.encode() in response.content


@pytest.mark.parametrize("account_id", ["9" * 30, "²", "-1", "0", "1e3", " ", str(MAX_ID + 1)])
def test_switching_to_an_impossible_account_id_answers_404(tenant: Tenant, account_id: str) -> None:
    response = client_of(tenant).post(reverse("switch_account"), {"account_id": account_id})
    assert response.status_code == 404


def test_switching_to_an_account_of_ones_own_still_works(tenant: Tenant, other_tenant: Tenant) -> None:
    Membership.objects.create(user=tenant.user, account=other_tenant.account, role=Role.MEMBER)
    response = client_of(tenant).post(reverse("switch_account"), {"account_id": str(other_tenant.account.pk)})
    assert response.status_code == 302


@pytest.mark.parametrize("referrer", ["²", "9" * 30, "-3"])
def test_adding_a_lead_with_an_impossible_referrer_id_asks_for_the_referrer(tenant: Tenant, referrer: str) -> None:
    response = client_of(tenant).post(
        reverse("lead_add", args=[tenant.campaign.pk]),
        {"referrer": referrer, "first_name": "Ana", "email": "ana@example.com"},
    )
    assert response.status_code == 200
    assert b"Choose the referrer who sent this lead." in response.content
    assert not tenant.campaign.leads.filter(email="ana@example.com").exists()


def test_a_webhooks_screen_ignores_an_impossible_campaign_id(tenant: Tenant) -> None:
    for raw in ("²", "9" * 30):
        assert client_of(tenant).get(reverse("webhook_list"), {"campaign": raw}).status_code == 200


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("12", 12), (str(MAX_ID), MAX_ID), (str(MAX_ID + 1), None), ("²", None), ("0", None), ("", None), ("x", None),
     ("9" * 10_000, None), ("-1", None)],
)  # fmt: skip
def test_id_from_accepts_database_ids_only(raw: str, parsed: int | None) -> None:
    assert id_from({"id": raw}, "id") == parsed
