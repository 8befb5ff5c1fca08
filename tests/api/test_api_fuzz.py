"""Nothing answers 500: generated JSON objects POSTed to the write endpoints always get a 2xx or a 4xx error body."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.api.helpers import json_body, post_json
from tests.conftest import Tenant

# Any character, NUL and lone surrogates included (json.dumps escapes them as \u0000 and \ud800).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3),
    max_leaves=10,
)
names = st.one_of(st.text(min_size=1, max_size=90), any_text, json_values)
emails = st.emails() | st.sampled_from(["ana@friends.example", "ANA@friends.example", "a@b", "@", ""])
LEAD_TEXT_FIELDS = ("first_name", "last_name", "phone", "street", "city", "state", "zip_code", "notes")
REFERRER_TEXT_FIELDS = ("first_name", "last_name", "phone")

FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,  # no .hypothesis folder in the repository
)


def known_or_random(known: Any) -> st.SearchStrategy[Any]:
    """Mostly (3 in 4) the value a valid request would carry, else anything JSON can hold."""
    return st.one_of(st.just(known), st.just(known), st.just(known), json_values)


def body_strategy(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the operation's required fields (often valid, so many reach the service), some of its
    optional fields, and sometimes unknown keys."""
    known = st.fixed_dictionaries(required, optional=optional)
    extra = st.dictionaries(any_text, json_values, max_size=2)
    return st.builds(lambda base, more: {**more, **base}, known, st.one_of(st.just({}), extra))


def lead_bodies(tenant: Tenant) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, st.SearchStrategy[Any]] = {
        "campaign_id": known_or_random(tenant.campaign.pk),
        "referrer_code": known_or_random(tenant.referrer.code),
        "first_name": names,
        "email": emails | json_values,
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "referrer_id": known_or_random(tenant.referrer.pk),
        "custom_fields": st.dictionaries(
            st.sampled_from(["system_type", "unknown"]) | any_text,
            st.sampled_from(["Furnace", "Heat pump"]) | json_values,
            max_size=3,
        )
        | json_values,
    }
    optional.update({name: any_text | json_values for name in LEAD_TEXT_FIELDS if name != "first_name"})
    return body_strategy(required, optional)


def referrer_bodies(tenant: Tenant) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, st.SearchStrategy[Any]] = {
        "campaign_id": known_or_random(tenant.campaign.pk),
        "first_name": names,
        "email": emails | json_values,
    }
    optional = {name: any_text | json_values for name in REFERRER_TEXT_FIELDS if name != "first_name"}
    return body_strategy(required, optional)


def assert_answered_without_a_server_error(tenant: Tenant, path: str, body: dict[str, Any]) -> None:
    response = post_json(tenant, path, json.dumps(body))
    assert response.status_code < 500, (response.status_code, body)
    data = json_body(response)
    event(f"{response.status_code} {sorted(data.get('errors', {}))[:2]}")
    if response.status_code >= 400:
        assert isinstance(data["message"], str) and data["message"], data
        assert isinstance(data["errors"], dict) and data["errors"], data
    else:
        assert response.status_code in {200, 201}, data
        assert isinstance(data["id"], int), data


@FUZZ_SETTINGS
@given(data=st.data())
def test_generated_lead_bodies_never_cause_a_server_error(tenant: Tenant, data: st.DataObject) -> None:
    assert_answered_without_a_server_error(tenant, "/leads", data.draw(lead_bodies(tenant)))


@FUZZ_SETTINGS
@given(data=st.data())
def test_generated_referrer_bodies_never_cause_a_server_error(tenant: Tenant, data: st.DataObject) -> None:
    assert_answered_without_a_server_error(tenant, "/referrers", data.draw(referrer_bodies(tenant)))


@FUZZ_SETTINGS
@given(body=json_values)
def test_any_json_document_as_a_lead_body_never_causes_a_server_error(tenant: Tenant, body: Any) -> None:
    response = post_json(tenant, "/leads", json.dumps(body))

    assert 400 <= response.status_code < 500
    assert json_body(response)["message"]
