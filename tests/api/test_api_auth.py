"""Authentication: every operation needs a live API key of the account, sent as `Authorization: Bearer <key>`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from referloop.accounts.models import ApiKey
from tests.api.helpers import API, assert_rejected, json_body, lead_body, referrer_body, row_counts
from tests.conftest import Tenant

OPERATIONS: list[tuple[str, str]] = [
    ("get", "/campaigns"),
    ("get", "/campaigns/{campaign}"),
    ("get", "/referrers"),
    ("get", "/referrers/{referrer}"),
    ("post", "/referrers"),
    ("get", "/leads"),
    ("get", "/leads/{lead}"),
    ("post", "/leads"),
]


def call(tenant: Tenant, method: str, path: str, headers: dict[str, str]) -> Any:
    """Run one operation on the tenant's own objects with the given headers (a valid body for POSTs)."""
    url = API + path.format(campaign=tenant.campaign.pk, referrer=tenant.referrer.pk, lead=tenant.lead.pk)
    client = Client()
    if method == "post":
        body = lead_body(tenant) if path == "/leads" else referrer_body(tenant)
        return client.post(url, json.dumps(body), content_type="application/json", **headers)
    return client.get(url, **headers)


def revoke(tenant: Tenant) -> None:
    ApiKey.objects.filter(account=tenant.account).update(revoked_at=timezone.now())


BAD_HEADERS: list[tuple[str, dict[str, str]]] = [
    ("no-header", {}),
    ("empty-bearer", {"HTTP_AUTHORIZATION": "Bearer "}),
    ("unknown-key", {"HTTP_AUTHORIZATION": "Bearer rl_not-a-real-key"}),
    ("basic-scheme", {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}),
    ("key-without-scheme", {"HTTP_AUTHORIZATION": "rl_not-a-real-key"}),
    ("api-key-header", {"HTTP_X_API_KEY": "rl_not-a-real-key"}),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
@pytest.mark.parametrize("headers", [case[1] for case in BAD_HEADERS], ids=[case[0] for case in BAD_HEADERS])
def test_an_operation_without_a_valid_key_is_401_and_writes_nothing(
    tenant: Tenant, method: str, path: str, headers: dict[str, str]
) -> None:
    before = row_counts()

    assert_rejected(call(tenant, method, path, headers), 401, "authorization", "api key")
    assert row_counts() == before


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_a_revoked_key_is_401(tenant: Tenant, method: str, path: str) -> None:
    assert call(tenant, method, path, tenant.api()).status_code in {200, 201}
    revoke(tenant)

    assert_rejected(call(tenant, method, path, tenant.api()), 401, "authorization", "revoked")


def test_a_key_revoked_on_the_api_keys_screen_stops_working_at_once(tenant: Tenant) -> None:
    key = ApiKey.objects.get(account=tenant.account)

    response = tenant.client.post(reverse("revoke_api_key", args=[key.pk]))

    assert response.status_code == 302
    assert_rejected(call(tenant, "get", "/leads", tenant.api()), 401, "authorization", "")


def test_a_session_login_is_not_enough_for_the_api(tenant: Tenant) -> None:
    response = tenant.client.get(f"{API}/leads")  # logged in to the web app, but no key

    assert_rejected(response, 401, "authorization", "")


def test_the_scheme_name_is_case_insensitive(tenant: Tenant) -> None:
    response = Client().get(f"{API}/leads", HTTP_AUTHORIZATION=f"bearer {tenant.api_key}")

    assert response.status_code == 200


def test_using_a_key_records_when_it_was_last_used(tenant: Tenant) -> None:
    assert ApiKey.objects.get(account=tenant.account).last_used_at is None

    assert call(tenant, "get", "/campaigns", tenant.api()).status_code == 200

    last_used = ApiKey.objects.get(account=tenant.account).last_used_at
    assert last_used is not None
    assert (timezone.now() - last_used).total_seconds() < 60


def test_the_error_body_never_echoes_the_key(tenant: Tenant) -> None:
    secret = "rl_secret-looking-value-123"

    response = Client().get(f"{API}/leads", HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 401
    assert secret not in json.dumps(json_body(response))
