"""POST/GET /api/v1/leads and /leads/{id}: creation, deduplication, custom fields, filters, pagination."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, CustomField, Lead, LeadSource, LeadStatus, Referrer
from tests.api.conftest import referrer_of
from tests.api.helpers import get_json, items_of, json_body, lead_body, post_json, row_counts
from tests.conftest import Tenant

LEAD_KEYS = {
    "id", "campaign_id", "referrer_id", "referrer_code", "first_name", "last_name", "email", "phone", "street",
    "city", "state", "zip_code", "notes", "custom_fields", "code", "status", "source", "email_verification",
    "created_at", "status_reason", "stage", "qualified_at", "qualified_by_rule", "job_number",
    "servicetitan_customer_id",
}


def add_leads(tenant: Tenant, count: int, prefix: str = "friend") -> list[Lead]:
    return [
        submit_lead(
            tenant.campaign, tenant.referrer, {"first_name": f"F{n}", "email": f"{prefix}{n}@friends.example"}
        ).lead
        for n in range(count)
    ]


def make_older(lead: Lead, days: int) -> None:
    Lead.objects.filter(pk=lead.pk).update(created_at=datetime.now(UTC) - timedelta(days=days))


@pytest.mark.parametrize(
    "credit",
    [
        lambda tenant: {"referrer_code": tenant.referrer.code},
        lambda tenant: {"referrer_code": tenant.referrer.code.lower()},
        lambda tenant: {"referrer_code": None, "referrer_id": tenant.referrer.pk},
    ],
    ids=["referrer_code", "referrer_code-lowercase", "referrer_id"],
)
def test_creating_a_lead_answers_201_and_credits_the_referrer(
    tenant: Tenant, credit: Callable[[Tenant], dict[str, Any]]
) -> None:
    body = lead_body(
        tenant, phone="555-0199", street="1 Elm St", city="Austin", state="TX", zip_code="78701", notes="Noisy unit"
    )
    body.update(credit(tenant))

    response = post_json(tenant, "/leads", body)

    assert response.status_code == 201
    data = json_body(response)
    assert set(data) == LEAD_KEYS
    lead = Lead.objects.get(pk=data["id"])
    assert lead.referrer == tenant.referrer and lead.campaign == tenant.campaign
    assert lead.source == LeadSource.API
    assert data["referrer_id"] == tenant.referrer.pk
    assert data["referrer_code"] == tenant.referrer.code
    assert data["status"] == LeadStatus.PENDING
    assert data["source"] == "api"
    assert data["code"] == lead.code
    for field in ("first_name", "last_name", "email", "phone", "street", "city", "state", "zip_code", "notes"):
        assert data[field] == body[field] == getattr(lead, field), field


def test_a_duplicate_lead_email_answers_200_with_the_first_lead_unchanged(
    tenant: Tenant, second_campaign: Campaign
) -> None:
    first = json_body(post_json(tenant, "/leads", lead_body(tenant, notes="first")))
    other_referrer = Referrer.objects.create(campaign=tenant.campaign, first_name="Bo", email="bo@x.example")
    before = row_counts()

    again = post_json(
        tenant,
        "/leads",
        lead_body(
            tenant,
            email="ANA@friends.example",
            first_name="Changed",
            notes="second",
            referrer_code=other_referrer.code,
            custom_fields={"system_type": "Furnace"},
        ),
    )

    assert again.status_code == 200
    assert json_body(again) == first
    assert row_counts() == before
    lead = Lead.objects.get(pk=first["id"])
    assert (lead.first_name, lead.notes, lead.referrer_id, lead.custom_data) == ("Ana", "first", tenant.referrer.pk, {})


def test_the_same_lead_email_in_another_campaign_is_a_new_lead(tenant: Tenant, second_campaign: Campaign) -> None:
    first = json_body(post_json(tenant, "/leads", lead_body(tenant)))
    other = lead_body(tenant, campaign_id=second_campaign.pk, referrer_code=referrer_of(second_campaign).code)

    response = post_json(tenant, "/leads", other)

    assert response.status_code == 201
    assert json_body(response)["id"] != first["id"]


def test_custom_field_answers_are_stored_and_returned_typed(
    tenant: Tenant, typed_fields: dict[str, CustomField]
) -> None:
    answers = {
        "system_type": "Heat pump",
        "system_age": "12",
        "install_date": "2019-04-30",
        "best_time": "Mornings",
    }

    response = post_json(tenant, "/leads", lead_body(tenant, custom_fields=answers))

    assert response.status_code == 201
    expected = {**answers, "system_age": 12}
    assert json_body(response)["custom_fields"] == expected
    assert Lead.objects.get(pk=json_body(response)["id"]).custom_data == expected


@pytest.mark.parametrize(
    ("given", "stored"), [(True, True), ("true", True), ("on", True), (False, False), (None, False)]
)
def test_a_checkbox_custom_field_is_stored_as_true_or_false_and_unanswered_is_false(
    tenant: Tenant, checkbox_field: CustomField, given: object, stored: bool
) -> None:
    response = post_json(tenant, "/leads", lead_body(tenant, custom_fields={"has_warranty": given}))

    assert response.status_code == 201
    assert json_body(response)["custom_fields"] == {"has_warranty": stored}


@pytest.mark.parametrize(
    ("given", "stored"), [(7, 7), (2.5, 2.5), ("3.75", 3.75), ("-4", -4)], ids=["int", "float", "text", "negative"]
)
def test_a_number_custom_field_accepts_numbers_and_numeric_text(
    tenant: Tenant, typed_fields: dict[str, CustomField], given: object, stored: object
) -> None:
    response = post_json(tenant, "/leads", lead_body(tenant, custom_fields={"system_age": given}))

    assert response.status_code == 201
    assert json_body(response)["custom_fields"] == {"system_age": stored}


def test_a_null_or_empty_optional_custom_field_is_not_stored(
    tenant: Tenant, typed_fields: dict[str, CustomField]
) -> None:
    response = post_json(tenant, "/leads", lead_body(tenant, custom_fields={"system_age": None, "best_time": ""}))

    assert response.status_code == 201
    assert json_body(response)["custom_fields"] == {}


def test_getting_a_lead_by_id_returns_it_with_its_referrer_code(tenant: Tenant) -> None:
    response = get_json(tenant, f"/leads/{tenant.lead.pk}")

    assert response.status_code == 200
    body = json_body(response)
    assert set(body) == LEAD_KEYS
    assert (body["id"], body["email"], body["code"]) == (tenant.lead.pk, tenant.lead.email, tenant.lead.code)
    assert body["referrer_code"] == tenant.referrer.code


def test_a_lead_that_already_was_a_servicetitan_customer_carries_the_customer_id(tenant: Tenant) -> None:
    assert json_body(get_json(tenant, f"/leads/{tenant.lead.pk}"))["servicetitan_customer_id"] is None
    Lead.objects.filter(pk=tenant.lead.pk).update(servicetitan_customer_id=4821)

    assert json_body(get_json(tenant, f"/leads/{tenant.lead.pk}"))["servicetitan_customer_id"] == 4821


def test_getting_a_lead_that_does_not_exist_is_404_in_the_error_shape(tenant: Tenant) -> None:
    response = get_json(tenant, "/leads/987654")

    assert response.status_code == 404
    assert json_body(response)["errors"] == {"id": ["No lead with id 987654 in this account."]}


def test_listing_leads_returns_the_accounts_leads_newest_first(tenant: Tenant) -> None:
    newer = add_leads(tenant, 2)

    items = items_of(get_json(tenant, "/leads"))

    assert [item["id"] for item in items] == [newer[1].pk, newer[0].pk, tenant.lead.pk]


@pytest.mark.parametrize("email", ["friend1@friends.example", "FRIEND1@Friends.Example", " friend1@friends.example "])
def test_listing_leads_filtered_by_email_ignores_case_and_spaces(tenant: Tenant, email: str) -> None:
    leads = add_leads(tenant, 3)

    items = items_of(get_json(tenant, "/leads", {"email": email}))

    assert [item["id"] for item in items] == [leads[1].pk]


def test_listing_leads_filtered_by_status_returns_only_that_status(tenant: Tenant) -> None:
    leads = add_leads(tenant, 3)
    Lead.objects.filter(pk=leads[2].pk).update(status=LeadStatus.QUALIFIED)

    qualified = items_of(get_json(tenant, "/leads", {"status": "qualified"}))
    pending = items_of(get_json(tenant, "/leads", {"status": "pending"}))

    assert [item["id"] for item in qualified] == [leads[2].pk]
    assert {item["id"] for item in pending} == {tenant.lead.pk, leads[0].pk, leads[1].pk}


def test_listing_leads_filtered_by_campaign_returns_only_that_campaign(
    tenant: Tenant, second_campaign: Campaign
) -> None:
    other = submit_lead(
        second_campaign, referrer_of(second_campaign), {"first_name": "Z", "email": "z@friends.example"}
    ).lead

    first = items_of(get_json(tenant, "/leads", {"campaign_id": tenant.campaign.pk}))
    second = items_of(get_json(tenant, "/leads", {"campaign_id": second_campaign.pk}))

    assert [item["id"] for item in first] == [tenant.lead.pk]
    assert [item["id"] for item in second] == [other.pk]


@pytest.mark.parametrize(
    "since",
    [
        lambda now: (now - timedelta(days=5)).isoformat(),
        lambda now: (now - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        lambda now: (now - timedelta(days=5)).astimezone(UTC).replace(tzinfo=None).isoformat(),
        lambda now: (now - timedelta(days=5)).date().isoformat(),
    ],
    ids=["offset", "zulu", "naive-is-utc", "date-only"],
)
def test_listing_leads_created_since_a_time_leaves_out_older_leads(
    tenant: Tenant, since: Callable[[datetime], str]
) -> None:
    old, recent = add_leads(tenant, 2)
    make_older(old, days=10)
    make_older(tenant.lead, days=30)

    items = items_of(get_json(tenant, "/leads", {"created_since": since(datetime.now(UTC))}))

    assert [item["id"] for item in items] == [recent.pk]


def test_lead_filters_combine(tenant: Tenant) -> None:
    leads = add_leads(tenant, 2)
    Lead.objects.filter(pk__in=[leads[0].pk, leads[1].pk]).update(status=LeadStatus.REWARDED)

    items = items_of(
        get_json(tenant, "/leads", {"status": "rewarded", "email": leads[1].email, "campaign_id": tenant.campaign.pk})
    )

    assert [item["id"] for item in items] == [leads[1].pk]


def test_leads_are_paginated_50_a_page_and_page_2_holds_the_rest(tenant: Tenant) -> None:
    add_leads(tenant, 54)  # 55 with the fixture's lead

    page_1 = get_json(tenant, "/leads")
    page_2 = get_json(tenant, "/leads", {"page": 2})
    page_3 = get_json(tenant, "/leads", {"page": 3})

    first_ids = [item["id"] for item in items_of(page_1)]
    second_ids = [item["id"] for item in items_of(page_2)]
    assert len(first_ids) == 50 and len(second_ids) == 5
    assert json_body(page_1)["count"] == json_body(page_2)["count"] == 55
    assert set(first_ids).isdisjoint(second_ids)
    assert set(first_ids) | set(second_ids) == set(Lead.objects.values_list("pk", flat=True))
    assert second_ids[-1] == tenant.lead.pk  # oldest last
    assert items_of(page_3) == []


def test_referrers_are_paginated_too(tenant: Tenant) -> None:
    Referrer.objects.bulk_create(
        Referrer(campaign=tenant.campaign, first_name="R", email=f"r{n}@x.example", code=f"TESTR{n:03}")
        for n in range(51)
    )

    page_2 = get_json(tenant, "/referrers", {"page": 2})

    assert len(items_of(page_2)) == 2
    assert json_body(page_2)["count"] == 52
