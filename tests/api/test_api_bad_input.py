"""Bad input: every rejection is a 4xx in the error shape naming the field and the problem, and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from referloop.campaigns.models import Campaign, CampaignStatus, CustomField, Referrer
from tests.api.conftest import referrer_of
from tests.api.helpers import assert_rejected, get_json, lead_body, post_json, referrer_body, row_counts
from tests.conftest import Tenant

Body = Callable[[Tenant], Any]


def without(body: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != field}


def assert_post_rejected(
    tenant: Tenant, path: str, body: Any, status: int, field: str, problem: str
) -> list[str]:
    before = row_counts()
    problems = assert_rejected(post_json(tenant, path, body), status, field, problem)
    assert row_counts() == before
    return problems


LEAD_CASES: list[tuple[str, Body, str, str]] = [
    ("invalid-email", lambda t: lead_body(t, email="ana-at-friends"), "email", "valid email"),
    ("email-too-long", lambda t: lead_body(t, email="a" * 250 + "@x.example"), "email", ""),
    ("missing-first-name", lambda t: without(lead_body(t), "first_name"), "first_name", "required"),
    ("missing-email", lambda t: without(lead_body(t), "email"), "email", "required"),
    ("missing-campaign", lambda t: without(lead_body(t), "campaign_id"), "campaign_id", "required"),
    ("blank-first-name", lambda t: lead_body(t, first_name="  "), "first_name", "required"),
    ("first-name-81", lambda t: lead_body(t, first_name="x" * 81), "first_name", "at most 80"),
    ("last-name-81", lambda t: lead_body(t, last_name="x" * 81), "last_name", "at most 80"),
    ("phone-41", lambda t: lead_body(t, phone="5" * 41), "phone", "at most 40"),
    ("phone-no-number", lambda t: lead_body(t, phone="call me"), "phone", "at least 7 digits"),
    ("phone-too-short", lambda t: lead_body(t, phone="555-01"), "phone", "at least 7 digits"),
    ("street-201", lambda t: lead_body(t, street="x" * 201), "street", "at most 200"),
    ("city-101", lambda t: lead_body(t, city="x" * 101), "city", "at most 100"),
    ("zip-21", lambda t: lead_body(t, zip_code="9" * 21), "zip_code", "at most 20"),
    ("notes-2001", lambda t: lead_body(t, notes="x" * 2001), "notes", "at most 2000"),
    ("notes-2mb", lambda t: lead_body(t, notes="x" * 2_000_000), "notes", "at most 2000"),
    ("unknown-top-level-field", lambda t: lead_body(t, favourite_color="red"), "favourite_color", "not permitted"),
    ("unknown-field-named-payload", lambda t: lead_body(t, payload={}), "payload", "not permitted"),
    ("campaign-id-text", lambda t: lead_body(t, campaign_id="abc"), "campaign_id", "valid integer"),
    ("campaign-id-float", lambda t: lead_body(t, campaign_id=1.5), "campaign_id", "integer"),
    ("campaign-id-unknown", lambda t: lead_body(t, campaign_id=987654), "campaign_id", "no campaign"),
    ("referrer-id-text", lambda t: lead_body(t, referrer_code=None, referrer_id="abc"), "referrer_id", "integer"),
    ("first-name-number", lambda t: lead_body(t, first_name=42), "first_name", "valid string"),
    ("email-null", lambda t: lead_body(t, email=None), "email", "valid string"),
    ("nul-character", lambda t: lead_body(t, first_name="An\x00a"), "first_name", "null characters"),
    ("no-referrer", lambda t: without(lead_body(t), "referrer_code"), "referrer_code", "every lead needs"),
    ("unknown-referrer-code", lambda t: lead_body(t, referrer_code="NOPE123"), "referrer_code", "no referrer"),
    (
        "unknown-referrer-id",
        lambda t: lead_body(t, referrer_code=None, referrer_id=987654),
        "referrer_id",
        "no referrer",
    ),
    ("self-referral", lambda t: lead_body(t, email=t.referrer.email.upper()), "email", "own email"),
    (
        "unknown-custom-field",
        lambda t: lead_body(t, custom_fields={"pool_size": "big"}),
        "custom_fields.pool_size",
        "unknown field",
    ),
    (
        "select-value-not-a-choice",
        lambda t: lead_body(t, custom_fields={"system_type": "Boiler"}),
        "custom_fields.system_type",
        "valid choice",
    ),
    (
        "custom-field-object-value",
        lambda t: lead_body(t, custom_fields={"system_type": {"name": "Furnace"}}),
        "custom_fields.system_type",
        "one text, number",
    ),
    (
        "custom-field-list-value",
        lambda t: lead_body(t, custom_fields={"system_type": ["Furnace"]}),
        "custom_fields.system_type",
        "one text, number",
    ),
    ("custom-fields-not-an-object", lambda t: lead_body(t, custom_fields=["Furnace"]), "custom_fields", "dictionary"),
]


@pytest.mark.parametrize(
    ("body", "field", "problem"), [case[1:] for case in LEAD_CASES], ids=[case[0] for case in LEAD_CASES]
)
def test_a_bad_lead_is_rejected_naming_the_field_and_writing_nothing(
    tenant: Tenant, body: Body, field: str, problem: str
) -> None:
    assert_post_rejected(tenant, "/leads", body(tenant), 422, field, problem)


REFERRER_CASES: list[tuple[str, Body, str, str]] = [
    ("invalid-email", lambda t: referrer_body(t, email="jo@"), "email", "valid email"),
    ("missing-first-name", lambda t: without(referrer_body(t), "first_name"), "first_name", "required"),
    ("missing-email", lambda t: without(referrer_body(t), "email"), "email", "required"),
    ("missing-campaign", lambda t: without(referrer_body(t), "campaign_id"), "campaign_id", "required"),
    ("first-name-81", lambda t: referrer_body(t, first_name="x" * 81), "first_name", "at most 80"),
    ("last-name-81", lambda t: referrer_body(t, last_name="x" * 81), "last_name", "at most 80"),
    ("phone-41", lambda t: referrer_body(t, phone="5" * 41), "phone", "at most 40"),
    ("email-too-long", lambda t: referrer_body(t, email="a" * 250 + "@x.example"), "email", ""),
    ("unknown-top-level-field", lambda t: referrer_body(t, code="MYCODE1"), "code", "not permitted"),
    ("campaign-id-text", lambda t: referrer_body(t, campaign_id="abc"), "campaign_id", "valid integer"),
    ("campaign-id-unknown", lambda t: referrer_body(t, campaign_id=987654), "campaign_id", "no campaign"),
    ("first-name-list", lambda t: referrer_body(t, first_name=["Jo"]), "first_name", "valid string"),
    ("nul-character", lambda t: referrer_body(t, last_name="P\x00"), "last_name", "null characters"),
]


@pytest.mark.parametrize(
    ("body", "field", "problem"), [case[1:] for case in REFERRER_CASES], ids=[case[0] for case in REFERRER_CASES]
)
def test_a_bad_referrer_is_rejected_naming_the_field_and_writing_nothing(
    tenant: Tenant, body: Body, field: str, problem: str
) -> None:
    assert_post_rejected(tenant, "/referrers", body(tenant), 422, field, problem)


def test_every_problem_of_a_lead_is_reported_at_once(tenant: Tenant) -> None:
    response = post_json(tenant, "/leads", {"campaign_id": "abc", "first_name": 1, "notes": [], "extra": True})

    assert_rejected(response, 422, "campaign_id", "integer")
    assert set(response.json()["errors"]) == {"campaign_id", "first_name", "email", "notes", "extra"}


@pytest.mark.parametrize(
    ("value", "problem"),
    [("lots", "enter a number"), ("1e400", "digits"), (True, "enter a number"), ("12.1234567", "")],
    ids=["text", "overflowing", "boolean", "too-many-decimals"],
)
def test_a_number_custom_field_given_a_non_number_is_rejected_naming_the_field(
    tenant: Tenant, typed_fields: dict[str, CustomField], value: object, problem: str
) -> None:
    body = lead_body(tenant, custom_fields={"system_age": value})

    assert_post_rejected(tenant, "/leads", body, 422, "custom_fields.system_age", problem)


def test_a_date_custom_field_given_a_non_date_is_rejected_naming_the_field(
    tenant: Tenant, typed_fields: dict[str, CustomField]
) -> None:
    body = lead_body(tenant, custom_fields={"install_date": "last spring"})

    assert_post_rejected(tenant, "/leads", body, 422, "custom_fields.install_date", "valid date")


def test_a_missing_required_custom_field_is_rejected_naming_the_field(tenant: Tenant) -> None:
    CustomField.objects.filter(campaign=tenant.campaign, key="system_type").update(required=True)

    assert_post_rejected(tenant, "/leads", lead_body(tenant), 422, "custom_fields.system_type", "required")


def test_an_unknown_custom_field_error_lists_the_campaigns_fields(tenant: Tenant) -> None:
    problems = assert_post_rejected(
        tenant, "/leads", lead_body(tenant, custom_fields={"pool": "x"}), 422, "custom_fields.pool", ""
    )

    assert "system_type" in problems[0]


def test_a_referrer_code_of_another_campaign_is_rejected(tenant: Tenant, second_campaign: Campaign) -> None:
    body = lead_body(tenant, referrer_code=referrer_of(second_campaign).code)

    assert_post_rejected(tenant, "/leads", body, 422, "referrer_code", "no referrer")


def test_a_referrer_id_of_another_campaign_is_rejected(tenant: Tenant, second_campaign: Campaign) -> None:
    body = lead_body(tenant, referrer_code=None, referrer_id=referrer_of(second_campaign).pk)

    assert_post_rejected(tenant, "/leads", body, 422, "referrer_id", "no referrer")


@pytest.mark.parametrize(("path", "body"), [("/leads", lead_body), ("/referrers", referrer_body)])
def test_an_archived_campaign_accepts_nothing_and_the_error_names_campaign_id(
    tenant: Tenant, path: str, body: Callable[[Tenant], dict[str, Any]]
) -> None:
    Campaign.objects.filter(pk=tenant.campaign.pk).update(status=CampaignStatus.ARCHIVED)

    assert_post_rejected(tenant, path, body(tenant), 422, "campaign_id", "archived")


RAW_BODIES: list[tuple[str, bytes, int, str]] = [
    ("malformed-json", b'{"first_name": "Ana",', 400, "parse"),
    ("json-array", b'[{"first_name": "Ana"}]', 422, "dictionary or object"),
    ("json-string", b'"Ana"', 422, "dictionary or object"),
    ("json-number", b"42", 422, "dictionary or object"),
    ("json-null", b"null", 422, "dictionary or object"),
    ("empty-body", b"", 422, "required"),
    ("non-utf8-bytes", b'{"first_name": "\xff\xfe\xfd"}', 400, "parse"),
    ("latin-1-text", "{\"first_name\": \"Jos\xe9\"}".encode("latin-1"), 400, "parse"),
    ("lone-surrogate-escape", b'{"first_name": "\\ud800"}', 422, "valid unicode"),
    ("nested-100000-deep", b"[" * 100_000 + b"]" * 100_000, 400, "parse"),
    ("integer-of-5000-digits", b'{"campaign_id": ' + b"7" * 5000 + b"}", 400, "parse"),
]


@pytest.mark.parametrize("path", ["/leads", "/referrers"])
@pytest.mark.parametrize(
    ("raw", "status", "problem"), [case[1:] for case in RAW_BODIES], ids=[case[0] for case in RAW_BODIES]
)
def test_a_body_that_is_not_a_json_object_is_rejected_in_the_error_shape(
    tenant: Tenant, path: str, raw: bytes, status: int, problem: str
) -> None:
    field = "first_name" if b"ud800" in raw else "body"

    assert_post_rejected(tenant, path, raw, status, field, problem)


def test_a_lone_surrogate_in_a_valid_lead_is_rejected_before_it_reaches_the_database(tenant: Tenant) -> None:
    raw = (
        f'{{"campaign_id": {tenant.campaign.pk}, "referrer_code": "{tenant.referrer.code}", '
        '"first_name": "Ana", "email": "ana@friends.example", "notes": "caf\\udce9"}'
    )

    assert_post_rejected(tenant, "/leads", raw, 422, "notes", "valid unicode")


def test_a_form_encoded_body_is_rejected_in_the_error_shape(tenant: Tenant) -> None:
    before = row_counts()
    multipart = tenant.client.post("/api/v1/leads", lead_body(tenant), **tenant.api())

    assert_rejected(multipart, 400, "body", "parse")
    assert row_counts() == before


def test_a_body_over_the_upload_limit_is_413_in_the_error_shape(tenant: Tenant) -> None:
    assert_post_rejected(tenant, "/leads", lead_body(tenant, notes="x" * 11_000_000), 413, "body", "larger than")


QUERY_CASES: list[tuple[str, str, dict[str, str], str, str]] = [
    ("status-bogus", "/leads", {"status": "bogus"}, "status", "pending"),
    ("created-since-not-a-date", "/leads", {"created_since": "notadate"}, "created_since", "datetime"),
    ("created-since-negative-number", "/leads", {"created_since": "-153"}, "created_since", "iso 8601 datetime"),
    ("created-since-unix-seconds", "/leads", {"created_since": "1700000000"}, "created_since", "iso 8601 datetime"),
    ("created-since-out-of-range", "/leads", {"created_since": "0001-01-01T00:00:00+05:00"}, "created_since", "range"),
    ("page-zero", "/leads", {"page": "0"}, "page", "greater than or equal to 1"),
    ("page-negative", "/referrers", {"page": "-3"}, "page", "greater than or equal to 1"),
    ("page-text", "/leads", {"page": "abc"}, "page", "valid integer"),
    ("page-beyond-any-offset", "/leads", {"page": str(2**64)}, "page", "less than or equal"),
    ("campaigns-page-text", "/campaigns", {"page": "abc"}, "page", "valid integer"),
    ("lead-campaign-id-text", "/leads", {"campaign_id": "abc"}, "campaign_id", "valid integer"),
    ("lead-campaign-id-huge", "/leads", {"campaign_id": str(2**70)}, "campaign_id", "less than or equal"),
    ("referrer-campaign-id-text", "/referrers", {"campaign_id": "x"}, "campaign_id", "valid integer"),
    ("referrer-campaign-id-huge", "/referrers", {"campaign_id": str(2**64)}, "campaign_id", "less than or equal"),
    ("lead-email-nul", "/leads", {"email": "a\x00b@x.example"}, "email", "null characters"),
    ("referrer-code-nul", "/referrers", {"code": "AB\x00C"}, "code", "null characters"),
]


@pytest.mark.parametrize(
    ("path", "params", "field", "problem"), [case[1:] for case in QUERY_CASES], ids=[case[0] for case in QUERY_CASES]
)
def test_a_query_parameter_of_the_wrong_type_is_422_naming_it(
    tenant: Tenant, path: str, params: dict[str, str], field: str, problem: str
) -> None:
    assert_rejected(get_json(tenant, path, params), 422, field, problem)


@pytest.mark.parametrize("path", ["/campaigns/abc", "/referrers/1.5", "/leads/abc"])
def test_a_path_id_that_is_not_a_number_is_422_naming_it(tenant: Tenant, path: str) -> None:
    response = get_json(tenant, path)

    field = path.split("/")[1].rstrip("s") + "_id"
    assert_rejected(response, 422, field, "valid integer")


@pytest.mark.parametrize("path", ["/campaigns/", "/referrers/", "/leads/"])
@pytest.mark.parametrize("object_id", [0, -1, 2**63 - 1, 2**70])
def test_a_path_id_outside_the_database_range_is_a_plain_404(tenant: Tenant, path: str, object_id: int) -> None:
    assert_rejected(get_json(tenant, f"{path}{object_id}"), 404, "id", "no ")


def test_referrers_are_not_created_with_a_chosen_code(tenant: Tenant) -> None:
    assert_post_rejected(tenant, "/referrers", referrer_body(tenant, code="VIP0001"), 422, "code", "not permitted")

    assert not Referrer.objects.filter(code="VIP0001").exists()


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/nope"), ("post", "/leads/1/resend"), ("delete", "/things/1"), ("get", "/lead")]
)
def test_an_unknown_api_path_is_a_json_404_naming_the_path(tenant: Tenant, method: str, path: str) -> None:
    response = getattr(tenant.client, method)(f"/api/v1{path}", **tenant.api())

    assert_rejected(response, 404, "path", f"/api/v1{path}")


@pytest.mark.parametrize(("method", "path"), [("delete", "/leads"), ("put", "/leads/1"), ("patch", "/referrers/1")])
def test_an_unsupported_method_is_a_json_405_naming_the_method_and_changes_nothing(
    tenant: Tenant, method: str, path: str
) -> None:
    before = row_counts()

    response = getattr(tenant.client, method)(f"/api/v1{path}", **tenant.api())

    assert_rejected(response, 405, "method", f"{method.upper()} is not allowed here")
    assert response["Allow"]
    assert row_counts() == before
