from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from referloop.accounts.models import ApiKey, hash_token
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def test_a_new_key_is_shown_once_stored_hashed_and_listed_masked(tenant: Tenant) -> None:
    response = tenant.client.post(reverse("api_keys"), {"name": "Website form"})
    page = response.content.decode()
    raw = re.search(r'id="new-api-key">(rl_[^<]+)<', page)
    assert raw is not None
    key = ApiKey.objects.get(name="Website form")
    assert key.key_hash == hash_token(raw.group(1))
    assert raw.group(1) not in ApiKey.objects.values_list("key_hash", flat=True)

    listing = tenant.client.get(reverse("api_keys")).content.decode()
    assert raw.group(1) not in listing
    assert key.masked in listing


def test_a_revoked_key_is_refused_by_the_api(tenant: Tenant) -> None:
    assert Client().get("/api/v1/campaigns", **tenant.api()).status_code == 200
    key = ApiKey.objects.get(account=tenant.account)
    tenant.client.post(reverse("revoke_api_key", args=[key.pk]))
    response = Client().get("/api/v1/campaigns", **tenant.api())
    assert response.status_code == 401
    assert "authorization" in response.json()["errors"]
