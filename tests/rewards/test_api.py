"""GET /api/v1/rewards (filters, pages), POST /rewards/{id}/issue and /cancel (errors named by field, another
account's reward is 404), and the referrer objects' lead counts and reward totals (no query per referrer)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from referloop.accounts.models import ApiKey
from referloop.campaigns.models import Campaign, Referrer
from referloop.rewards import actions, codes
from referloop.rewards.models import Reward, RewardEvent, RewardState
from tests.api.helpers import assert_rejected, get_json, items_of, json_body, post_json
from tests.conftest import Tenant
from tests.rewards.conftest import days_ago, friend, hold, only_reward, qualify, rule

pytestmark = pytest.mark.django_db


def ids(response: Any) -> list[int]:
    return [item["id"] for item in items_of(response)]


def test_listing_rewards_returns_the_accounts_rewards_with_their_state(tenant: Tenant, other_tenant: Tenant) -> None:
    rule(tenant.campaign, amount=Decimal("50"))
    rule(other_tenant.campaign)
    qualify(tenant.lead, invoice_total="300.00")
    qualify(other_tenant.lead)
    reward = only_reward(tenant.lead)

    (item,) = items_of(get_json(tenant, "/rewards"))

    assert item["id"] == reward.pk
    assert item["state"] == "due"
    assert (item["recipient"], item["recipient_email"]) == ("referrer", tenant.referrer.email)
    assert (item["amount"], item["currency"], item["kind"], item["occasion"]) == ("50.00", "USD", "fixed", "qualified")
    assert (item["lead_id"], item["referrer_id"], item["campaign_id"]) == (
        tenant.lead.pk,
        tenant.referrer.pk,
        tenant.campaign.pk,
    )
    assert item["code"] == "" and item["issued_at"] is None and item["problem"] == ""


def test_rewards_are_filtered_by_campaign_state_and_referrer(tenant: Tenant) -> None:
    rule(tenant.campaign)
    hold(tenant.campaign, 10)
    second = Campaign.objects.create(account=tenant.account, name="Spring", slug="spring")
    rule(second)
    lee = Referrer.objects.create(campaign=tenant.campaign, first_name="Lee", email="lee@x.example")
    pending = friend(tenant, "Ana")
    qualify(pending)
    due = friend(tenant, "Ben", referrer=lee)
    qualify(due, at=days_ago(20))
    qualify(tenant.lead, at=days_ago(20))
    issued = only_reward(tenant.lead)
    actions.issue(issued, tenant.user)
    spring_referrer = Referrer.objects.create(campaign=second, first_name="Sam", email="sam@x.example")
    from referloop.campaigns.intake import submit_lead

    spring_lead = submit_lead(second, spring_referrer, {"first_name": "Zed", "email": "zed@x.example"}).lead
    qualify(spring_lead)

    assert ids(get_json(tenant, "/rewards", {"state": "pending"})) == [only_reward(pending).pk]
    assert set(ids(get_json(tenant, "/rewards", {"state": "due"}))) == {
        only_reward(due).pk,
        only_reward(spring_lead).pk,
    }
    assert ids(get_json(tenant, "/rewards", {"state": "issued"})) == [issued.pk]
    assert ids(get_json(tenant, "/rewards", {"state": "canceled"})) == []
    assert ids(get_json(tenant, "/rewards", {"referrer_id": lee.pk})) == [only_reward(due).pk]
    assert ids(get_json(tenant, "/rewards", {"campaign_id": second.pk})) == [only_reward(spring_lead).pk]
    assert ids(get_json(tenant, "/rewards", {"campaign_id": tenant.campaign.pk, "state": "due"})) == [
        only_reward(due).pk
    ]


def test_a_filter_of_another_account_returns_nothing(tenant: Tenant, other_tenant: Tenant) -> None:
    rule(other_tenant.campaign)
    qualify(other_tenant.lead)

    assert ids(get_json(tenant, "/rewards", {"campaign_id": other_tenant.campaign.pk})) == []
    assert ids(get_json(tenant, "/rewards", {"referrer_id": other_tenant.referrer.pk})) == []


@pytest.mark.parametrize(
    ("params", "field", "problem"),
    [
        ({"state": "lost"}, "state", "pending"),
        ({"campaign_id": "abc"}, "campaign_id", "valid integer"),
        ({"referrer_id": str(2**70)}, "referrer_id", "less than or equal"),
        ({"page": "0"}, "page", "greater than or equal to 1"),
    ],
)
def test_a_bad_filter_is_422_naming_it(tenant: Tenant, params: dict[str, str], field: str, problem: str) -> None:
    assert_rejected(get_json(tenant, "/rewards", params), 422, field, problem)


def test_rewards_are_paginated(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="custom", amount=None, text="Thanks")
    for number in range(51):
        qualify(friend(tenant, f"P{number}x"))

    first = json_body(get_json(tenant, "/rewards"))
    second = json_body(get_json(tenant, "/rewards", {"page": "2"}))

    assert (first["count"], len(first["items"]), len(second["items"])) == (51, 50, 1)


def test_issuing_through_the_api_records_the_note_and_gives_the_code(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="code", amount=None, text="Gift card")
    qualify(tenant.lead)
    reward = only_reward(tenant.lead)
    codes.add(reward.rule, "API-CODE-1", tenant.user)

    response = post_json(tenant, f"/rewards/{reward.pk}/issue", {"note": "Emailed"})

    assert response.status_code == 200
    body = json_body(response)
    assert (body["state"], body["code"], body["issue_note"], body["issued_by"]) == (
        "issued",
        "API-CODE-1",
        "Emailed",
        "API",
    )
    event = RewardEvent.objects.get(reward=reward, kind="issued")
    key = ApiKey.objects.get(account=tenant.account)
    assert event.user is None
    assert f"through the API (key “tests”, {key.prefix}…)" in event.detail
    assert tenant.api_key not in event.detail  # the prefix names the key; the key itself is never kept


def test_issuing_with_no_body_fields_is_allowed(tenant: Tenant) -> None:
    rule(tenant.campaign)
    qualify(tenant.lead)

    response = post_json(tenant, f"/rewards/{only_reward(tenant.lead).pk}/issue", {})

    assert json_body(response)["state"] == "issued"


def test_issuing_a_canceled_reward_is_422_naming_state(tenant: Tenant) -> None:
    rule(tenant.campaign)
    qualify(tenant.lead)
    reward = only_reward(tenant.lead)
    assert post_json(tenant, f"/rewards/{reward.pk}/cancel", {"reason": "Duplicate lead"}).status_code == 200

    response = post_json(tenant, f"/rewards/{reward.pk}/issue", {"note": "x"})

    assert_rejected(response, 422, "state", "a canceled reward can't be issued")
    assert Reward.objects.get(pk=reward.pk).state is RewardState.CANCELED


def test_issuing_from_an_empty_code_pool_is_422_naming_code(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="code", amount=None)
    qualify(tenant.lead)

    response = post_json(tenant, f"/rewards/{only_reward(tenant.lead).pk}/issue", {})

    assert_rejected(response, 422, "code", "Code pool is empty: upload codes")


def test_a_reward_without_an_amount_needs_one_to_be_issued_through_the_api(tenant: Tenant) -> None:
    from referloop.campaigns import outcomes

    rule(tenant.campaign, kind="percent", percent=Decimal("10"), amount=None)
    outcomes.qualify_by_hand(tenant.lead, tenant.user, "Paid in cash")
    reward = only_reward(tenant.lead)

    assert_rejected(post_json(tenant, f"/rewards/{reward.pk}/issue", {}), 422, "amount", "No invoice total")
    assert_rejected(post_json(tenant, f"/rewards/{reward.pk}/issue", {"amount": "-3"}), 422, "amount", "greater")

    body = json_body(post_json(tenant, f"/rewards/{reward.pk}/issue", {"amount": "41.20"}))
    assert (body["state"], body["amount"]) == ("issued", "41.20")


@pytest.mark.parametrize(
    ("path", "body", "field", "problem"),
    [
        ("issue", {"note": "x" * 501}, "note", "at most 500"),
        ("issue", {"note": 5}, "note", "valid string"),
        ("issue", {"nope": 1}, "nope", "not permitted"),
        ("issue", {"note": "a\x00b"}, "note", "null characters"),
        ("cancel", {}, "reason", "required"),
        ("cancel", {"reason": ""}, "reason", "at least 1"),
        ("cancel", {"reason": "x" * 301}, "reason", "at most 300"),
    ],
)
def test_a_bad_body_is_422_naming_the_field(
    tenant: Tenant, path: str, body: dict[str, object], field: str, problem: str
) -> None:
    rule(tenant.campaign)
    qualify(tenant.lead)
    reward = only_reward(tenant.lead)

    assert_rejected(post_json(tenant, f"/rewards/{reward.pk}/{path}", body), 422, field, problem)
    assert Reward.objects.get(pk=reward.pk).state is RewardState.DUE


def test_a_blank_cancel_reason_is_422_naming_reason(tenant: Tenant) -> None:
    rule(tenant.campaign)
    qualify(tenant.lead)

    response = post_json(tenant, f"/rewards/{only_reward(tenant.lead).pk}/cancel", {"reason": "   "})

    assert_rejected(response, 422, "reason", "Say why")


def test_canceling_through_the_api_keeps_the_reason(tenant: Tenant) -> None:
    rule(tenant.campaign)
    hold(tenant.campaign, 30)
    qualify(tenant.lead)
    reward = only_reward(tenant.lead)

    body = json_body(post_json(tenant, f"/rewards/{reward.pk}/cancel", {"reason": "Refunded"}))

    assert (body["state"], body["cancel_reason"], body["canceled_by"]) == ("canceled", "Refunded", "API")
    assert_rejected(post_json(tenant, f"/rewards/{reward.pk}/cancel", {"reason": "again"}), 422, "state", "already")


def test_another_accounts_reward_is_404_like_one_that_does_not_exist(tenant: Tenant, other_tenant: Tenant) -> None:
    rule(other_tenant.campaign)
    qualify(other_tenant.lead)
    theirs = only_reward(other_tenant.lead)

    for method, path, body in (
        ("get", f"/rewards/{theirs.pk}", None),
        ("post", f"/rewards/{theirs.pk}/issue", {"note": "mine"}),
        ("post", f"/rewards/{theirs.pk}/cancel", {"reason": "mine"}),
        ("post", "/rewards/999999/issue", {}),
    ):
        response = get_json(tenant, path) if method == "get" else post_json(tenant, path, body)
        assert_rejected(response, 404, "id", "No reward with id")
    assert Reward.objects.get(pk=theirs.pk).state is RewardState.DUE


def test_the_rewards_api_needs_a_key(tenant: Tenant) -> None:
    response = Client().get("/api/v1/rewards")

    assert_rejected(response, 401, "authorization")


def test_the_openapi_document_describes_the_rewards_operations_and_their_errors(db: None) -> None:
    document = json.loads(Client().get("/api/v1/openapi.json").content)
    paths = document["paths"]

    assert set(paths["/api/v1/rewards"]) == {"get"}
    assert set(paths["/api/v1/rewards/{reward_id}/issue"]["post"]["responses"]) == {"200", "400", "401", "404", "422"}
    assert set(paths["/api/v1/rewards/{reward_id}/cancel"]["post"]["responses"]) == {"200", "400", "401", "404", "422"}
    state = document["components"]["schemas"]["RewardOut"]["properties"]["state"]
    assert "pending" in json.dumps(document["components"]["schemas"]) and state


# -- referrer objects --------------------------------------------------------------------------------------------


def test_a_referrer_object_carries_lead_counts_and_reward_totals(tenant: Tenant) -> None:
    rule(tenant.campaign, amount=Decimal("50"), currency="USD")
    hold(tenant.campaign, 10)
    qualify(tenant.lead, at=days_ago(20))
    actions.issue(only_reward(tenant.lead), tenant.user)
    pending = friend(tenant, "Ana")
    qualify(pending)
    due = friend(tenant, "Ben")
    qualify(due, at=days_ago(11))
    friend(tenant, "Cy")  # joined, not qualified
    canceled = friend(tenant, "Di")
    qualify(canceled)
    actions.cancel(only_reward(canceled), tenant.user, "Duplicate")

    body = json_body(get_json(tenant, f"/referrers/{tenant.referrer.pk}"))

    assert (body["lead_count"], body["qualified_count"]) == (5, 4)
    assert body["rewards"] == {
        "pending": 1,
        "due": 1,
        "issued": 1,
        "canceled": 1,
        "amounts": [{"currency": "USD", "pending": "50.00", "due": "50.00", "issued": "50.00"}],
    }


def test_a_new_referrer_has_zero_counts(tenant: Tenant) -> None:
    response = post_json(
        tenant, "/referrers", {"campaign_id": tenant.campaign.pk, "first_name": "Jo", "email": "jo@x.example"}
    )

    body = json_body(response)
    assert (body["lead_count"], body["qualified_count"]) == (0, 0)
    assert body["rewards"] == {"pending": 0, "due": 0, "issued": 0, "canceled": 0, "amounts": []}


def test_listing_referrers_makes_the_same_number_of_queries_for_5_and_50(tenant: Tenant) -> None:
    rule(tenant.campaign)

    def queries_for(count: int) -> int:
        while Referrer.objects.filter(campaign=tenant.campaign).count() < count:
            number = Referrer.objects.count()
            referrer = Referrer.objects.create(
                campaign=tenant.campaign, first_name=f"R{number}", email=f"r{number}@x.ex"
            )
            qualify(friend(tenant, f"L{number}x", referrer=referrer))
        get_json(tenant, "/campaigns")  # the key's last use is written at most once a minute: not in the count
        with CaptureQueriesContext(connection) as captured:
            items = items_of(get_json(tenant, "/referrers", {"page_size": "100"}))
        assert len(items) == count
        assert all(item["rewards"]["due"] == 1 for item in items if item["qualified_count"])
        return len(captured)

    assert queries_for(5) == queries_for(50)


def test_a_referrer_objects_reward_totals_leave_out_the_friends_rewards(tenant: Tenant) -> None:
    rule(tenant.campaign, amount=Decimal("50"), currency="USD")
    rule(tenant.campaign, "friend", amount=Decimal("20"), currency="USD")
    qualify(tenant.lead)

    expected = {"pending": 0, "due": 1, "issued": 0, "canceled": 0}
    expected_amounts = [{"currency": "USD", "pending": "0.00", "due": "50.00", "issued": "0.00"}]
    one = json_body(get_json(tenant, f"/referrers/{tenant.referrer.pk}"))["rewards"]
    [listed] = [item["rewards"] for item in items_of(get_json(tenant, "/referrers"))]
    for found in (one, listed):
        assert {state: found[state] for state in expected} == expected
        assert found["amounts"] == expected_amounts
