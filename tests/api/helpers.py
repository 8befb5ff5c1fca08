"""Small helpers for API tests: JSON requests with a tenant's key, error-shape checks, row counts."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from django.test import Client

from referloop.accounts.models import ApiKey
from referloop.campaigns.models import Campaign, CustomField, Lead, Referrer
from referloop.integrations.models import Delivery
from tests.conftest import Tenant

API = "/api/v1"


def post_json(tenant: Tenant, path: str, body: Any) -> HttpResponse:
    """POST `body` as JSON (or raw bytes/str as they are) with the tenant's API key."""
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    return tenant.client.post(API + path, raw, content_type="application/json", **tenant.api())


def get_json(tenant: Tenant, path: str, params: dict[str, Any] | None = None) -> HttpResponse:
    return tenant.client.get(API + path, params or {}, **tenant.api())


def anonymous_client() -> Client:
    return Client()


def lead_body(tenant: Tenant, **changes: Any) -> dict[str, Any]:
    """A valid lead for the tenant's campaign, credited to its referrer; `changes` overrides fields."""
    body: dict[str, Any] = {
        "campaign_id": tenant.campaign.pk,
        "referrer_code": tenant.referrer.code,
        "first_name": "Ana",
        "last_name": "Silva",
        "email": "ana@friends.example",
    }
    body.update(changes)
    return body


def referrer_body(tenant: Tenant, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaign_id": tenant.campaign.pk,
        "first_name": "Jo",
        "last_name": "Park",
        "email": "jo@neighbors.example",
        "phone": "555-0100",
    }
    body.update(changes)
    return body


def row_counts() -> dict[str, int]:
    """Rows of every table an API call could write, to prove a rejected request wrote nothing."""
    return {
        "campaigns": Campaign.objects.count(),
        "custom_fields": CustomField.objects.count(),
        "referrers": Referrer.objects.count(),
        "leads": Lead.objects.count(),
        "deliveries": Delivery.objects.count(),
        "api_keys": ApiKey.objects.count(),
    }


def json_body(response: HttpResponse) -> Any:
    assert response["Content-Type"].startswith("application/json"), (response.status_code, response.content[:300])
    return json.loads(response.content)


def assert_rejected(response: HttpResponse, status: int, field: str, problem: str = "") -> list[str]:
    """The response is our error shape: `status`, a message, and `field` named with `problem` among its problems."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = json_body(response)
    assert isinstance(body.get("message"), str) and body["message"], body
    assert isinstance(body.get("errors"), dict), body
    assert field in body["errors"], body
    problems = body["errors"][field]
    assert problems and all(isinstance(p, str) and p for p in problems), body
    if problem:
        assert any(problem.lower() in p.lower() for p in problems), body
    return problems


def items_of(response: HttpResponse) -> list[dict[str, Any]]:
    assert response.status_code == 200, (response.status_code, response.content[:500])
    body = json_body(response)
    assert set(body) == {"items", "count"}, body
    return list(body["items"])
