"""POST/GET /api/v1/referrers and /referrers/{id}."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from referloop.campaigns.models import Campaign, LeadSource, Referrer
from tests.api.conftest import referrer_of
from tests.api.helpers import get_json, items_of, json_body, post_json, referrer_body
from tests.conftest import Tenant

REFERRER_KEYS = {
    "id", "campaign_id", "first_name", "last_name", "email", "phone", "code", "referral_url", "created_at",
    "lead_count", "qualified_count", "rewards",
}


def test_creating_a_referrer_answers_201_with_its_code_and_link(tenant: Tenant) -> None:
    response = post_json(tenant, "/referrers", referrer_body(tenant, email=" Jo@Neighbors.Example "))

    assert response.status_code == 201
    body = json_body(response)
    assert set(body) == REFERRER_KEYS
    referrer = Referrer.objects.get(pk=body["id"])
    assert referrer.campaign == tenant.campaign
    assert referrer.source == LeadSource.API
    assert body["email"] == referrer.email == "jo@neighbors.example"
    assert (body["first_name"], body["last_name"], body["phone"]) == ("Jo", "Park", "555-0100")
    assert body["code"] == referrer.code and len(referrer.code) >= 6
    assert body["referral_url"].endswith(f"/r/{referrer.code}/")


def test_creating_a_referrer_with_an_email_already_in_the_campaign_answers_200_with_that_referrer(
    tenant: Tenant,
) -> None:
    first = json_body(post_json(tenant, "/referrers", referrer_body(tenant)))

    again = post_json(tenant, "/referrers", referrer_body(tenant, email="JO@neighbors.example", first_name="Joanna"))

    assert again.status_code == 200
    body = json_body(again)
    assert body["id"] == first["id"]
    assert body["code"] == first["code"]
    assert body["first_name"] == "Jo"  # the existing referrer is returned unchanged
    assert Referrer.objects.filter(campaign=tenant.campaign, email="jo@neighbors.example").count() == 1


def test_the_same_email_in_another_campaign_is_a_new_referrer(tenant: Tenant, second_campaign: Campaign) -> None:
    first = json_body(post_json(tenant, "/referrers", referrer_body(tenant)))

    other = post_json(tenant, "/referrers", referrer_body(tenant, campaign_id=second_campaign.pk))

    assert other.status_code == 201
    assert json_body(other)["id"] != first["id"]
    assert json_body(other)["campaign_id"] == second_campaign.pk


def test_optional_referrer_fields_may_be_left_out(tenant: Tenant) -> None:
    response = post_json(
        tenant, "/referrers", {"campaign_id": tenant.campaign.pk, "first_name": "Kim", "email": "kim@x.example"}
    )

    assert response.status_code == 201
    assert json_body(response)["last_name"] == json_body(response)["phone"] == ""


def test_getting_a_referrer_by_id_returns_it(tenant: Tenant) -> None:
    response = get_json(tenant, f"/referrers/{tenant.referrer.pk}")

    assert response.status_code == 200
    body = json_body(response)
    assert body["id"] == tenant.referrer.pk
    assert body["email"] == tenant.referrer.email
    assert body["code"] == tenant.referrer.code
    assert body["campaign_id"] == tenant.campaign.pk


def test_getting_a_referrer_that_does_not_exist_is_404(tenant: Tenant) -> None:
    response = get_json(tenant, "/referrers/987654")

    assert response.status_code == 404
    assert json_body(response)["errors"]["id"]


def test_listing_referrers_returns_the_accounts_referrers_newest_first(tenant: Tenant) -> None:
    newer = json_body(post_json(tenant, "/referrers", referrer_body(tenant)))

    response = get_json(tenant, "/referrers")

    items = items_of(response)
    assert [item["id"] for item in items] == [newer["id"], tenant.referrer.pk]
    assert json_body(response)["count"] == 2


@pytest.mark.parametrize(
    ("filter_name", "value_of"),
    [
        ("email", lambda r: r.email),
        ("email", lambda r: r.email.upper()),
        ("code", lambda r: r.code),
        ("code", lambda r: f" {r.code.lower()} "),
        ("campaign_id", lambda r: r.campaign_id),
    ],
    ids=["email", "email-any-case", "code", "code-lowercase-with-spaces", "campaign_id"],
)
def test_listing_referrers_filtered_by_one_field_returns_only_the_match(
    tenant: Tenant, second_campaign: Campaign, filter_name: str, value_of: Callable[[Referrer], object]
) -> None:
    post_json(tenant, "/referrers", referrer_body(tenant))  # a third referrer that must be filtered out
    wanted = referrer_of(second_campaign)

    items = items_of(get_json(tenant, "/referrers", {filter_name: value_of(wanted)}))

    assert [item["id"] for item in items] == [wanted.pk]


def test_listing_referrers_with_a_filter_that_matches_nothing_is_empty_not_an_error(tenant: Tenant) -> None:
    response = get_json(tenant, "/referrers", {"email": "nobody@nowhere.example"})

    assert items_of(response) == []
    assert json_body(response)["count"] == 0
