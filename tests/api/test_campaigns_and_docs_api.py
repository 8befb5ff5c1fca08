"""GET /api/v1/campaigns and /campaigns/{id}; the OpenAPI document and the docs page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from referloop.campaigns.models import Campaign, CampaignStatus
from tests.api.helpers import API, get_json, items_of, json_body
from tests.conftest import Tenant

CAMPAIGN_KEYS = {"id", "name", "slug", "status", "offer_text", "reward_description", "join_url", "created_at"}


def test_listing_campaigns_returns_every_campaign_of_the_account_archived_included(tenant: Tenant) -> None:
    archived = Campaign.objects.create(
        account=tenant.account, name="Old promo", slug="old-promo", status=CampaignStatus.ARCHIVED
    )

    items = items_of(get_json(tenant, "/campaigns"))

    assert {item["id"] for item in items} == {tenant.campaign.pk, archived.pk}
    assert all(set(item) == CAMPAIGN_KEYS for item in items)
    assert {item["status"] for item in items} == {"active", "archived"}


def test_getting_a_campaign_returns_its_public_join_link(tenant: Tenant) -> None:
    response = get_json(tenant, f"/campaigns/{tenant.campaign.pk}")

    assert response.status_code == 200
    body = json_body(response)
    assert body["name"] == tenant.campaign.name
    assert body["slug"] == tenant.campaign.slug
    assert body["join_url"].endswith(f"/c/{tenant.campaign.slug}/join/")


def test_getting_a_campaign_that_does_not_exist_is_404(tenant: Tenant) -> None:
    response = get_json(tenant, "/campaigns/987654")

    assert response.status_code == 404
    assert json_body(response)["errors"] == {"id": ["No campaign with id 987654 in this account."]}


def test_campaigns_are_paginated(tenant: Tenant) -> None:
    Campaign.objects.bulk_create(
        Campaign(account=tenant.account, name=f"C{n}", slug=f"c-{n}") for n in range(50)
    )

    page_2 = get_json(tenant, "/campaigns", {"page": 2})

    assert len(items_of(page_2)) == 1
    assert json_body(page_2)["count"] == 51


def openapi_document() -> dict[str, Any]:
    response = Client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.content)
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/campaigns", {"get"}),
        ("/api/v1/campaigns/{campaign_id}", {"get"}),
        ("/api/v1/referrers", {"get", "post"}),
        ("/api/v1/referrers/{referrer_id}", {"get"}),
        ("/api/v1/leads", {"get", "post"}),
        ("/api/v1/leads/{lead_id}", {"get"}),
    ],
)
def test_the_openapi_document_lists_every_operation(db: None, path: str, methods: set[str]) -> None:
    assert set(openapi_document()["paths"][path]) == methods


def test_the_openapi_document_describes_bearer_auth_and_the_lead_fields(db: None) -> None:
    document = openapi_document()

    text = json.dumps(document)
    assert document["openapi"].startswith("3.")
    assert '"scheme": "bearer"' in text
    lead_in = document["components"]["schemas"]["LeadIn"]
    assert {"campaign_id", "first_name", "email", "custom_fields", "referrer_code"} <= set(lead_in["properties"])
    assert set(lead_in["required"]) == {"campaign_id", "first_name", "email"}
    assert lead_in["additionalProperties"] is False


def test_the_docs_page_answers_200_and_points_at_the_openapi_document(db: None) -> None:
    response = Client().get(f"{API}/docs")

    assert response.status_code == 200
    assert b"/api/v1/openapi.json" in response.content


def test_the_docs_page_loads_swagger_from_our_own_static_files_not_a_cdn(db: None) -> None:
    response = Client().get(f"{API}/docs")

    assert b"cdn.jsdelivr.net" not in response.content
    assert b"/static/ninja/swagger-ui-bundle.js" in response.content
    assert b"cdn." not in response.content and b"unpkg.com" not in response.content


def test_the_bundled_swagger_script_is_served(db: None) -> None:
    response = Client().get("/static/ninja/swagger-ui-bundle.js")

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/v1/campaigns", "get", {"200", "401", "422"}),
        ("/api/v1/campaigns/{campaign_id}", "get", {"200", "401", "404", "422"}),
        ("/api/v1/leads", "post", {"200", "201", "400", "401", "422"}),
        ("/api/v1/leads/{lead_id}", "get", {"200", "401", "404", "422"}),
        ("/api/v1/referrers", "post", {"200", "201", "400", "401", "422"}),
    ],
)
def test_the_openapi_document_lists_the_error_answers_in_the_error_shape(
    db: None, path: str, method: str, statuses: set[str]
) -> None:
    document = openapi_document()
    responses = document["paths"][path][method]["responses"]
    assert set(responses) == statuses
    for status in statuses - {"200", "201"}:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["message", "errors"]
    assert error["properties"]["errors"]["additionalProperties"]["items"]["type"] == "string"
