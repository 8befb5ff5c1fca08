"""Schemathesis against /api/v1/openapi.json: every operation answers what the document says it answers.

The document is read from the app in-process (WSGI, no server) and every built-in check runs on every answer:
no 5xx, status codes, content types, headers and bodies as documented, schema-violating requests rejected,
auth enforced, unsupported methods refused. Examples are bounded and derandomized, so a run is the same each time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import Tenant
from tests.rewards.conftest import friend, hold, only_reward, qualify, rule

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=25,
    deterministic=True,
    database="none",  # no example database in the repository; derandomized runs need none
    # The test sends the tenant's real key itself: generated Authorization headers would only ever be refused,
    # and the ignored_auth check still resends each authorized request without a key and with a wrong one.
    with_security_parameters=False,
)
schema.config.seed = 16  # a fixed seed as well: the same requests on every run and machine

# A schema-valid body is still refused (422, naming the field) when what it names is not in the account, or not in
# a state for the action: a campaign or referrer of another account, a custom field the campaign does not have,
# a lead already qualified, a reward already issued. No OpenAPI document can say which ids an account has, so
# positive_data_acceptance is off for these operations only; tests/api/test_api_fuzz.py and the API tests check
# that valid bodies with the account's own ids are accepted.
ACCEPTANCE_DEPENDS_ON_THE_ACCOUNT = {
    "POST /api/v1/referrers",
    "POST /api/v1/leads",
    "POST /api/v1/leads/{lead_id}/qualify",
    "POST /api/v1/leads/{lead_id}/unqualify",
    "POST /api/v1/rewards/{reward_id}/issue",
    "POST /api/v1/rewards/{reward_id}/cancel",
}


@pytest.fixture
def connection_kept_open() -> Iterator[None]:
    """Django closes the database connection at the end of each request, which would end the test's transaction;
    its own test client keeps it open the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def account_ids(tenant: Tenant) -> dict[str, int]:
    """Ids of real objects of the tenant's account, so that generated requests also reach the success paths:
    an unqualified lead, and a Due reward of another (qualified) lead."""
    rule(tenant.campaign)
    hold(tenant.campaign, 0)
    qualified = friend(tenant, "Quinn")
    qualify(qualified)
    return {
        "campaign_id": tenant.campaign.pk,
        "referrer_id": tenant.referrer.pk,
        "lead_id": tenant.lead.pk,
        "reward_id": only_reward(qualified).pk,
    }


def use_account_ids(case: Any, ids: dict[str, int]) -> None:
    """Point a schema-valid request at the account's own objects (path ids, and the ids a body refers to) when
    the generated id is even: odd ones stay as generated (negative, huge, another account's), so both are tried."""
    places = [case.path_parameters, case.body if isinstance(case.body, dict) else None]
    for values in places:
        for name, value in (values or {}).items():
            if name in ids and type(value) is int and value % 2 == 0:
                values[name] = ids[name]


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_operation_answers_as_documented(
    case: Any, tenant: Tenant, account_ids: dict[str, int], connection_kept_open: None
) -> None:
    # The coverage phase's cases stay as generated (ids at their bounds, which are not in the account: 404s);
    # half of the fuzzing phase's schema-valid ones use the account's objects, so successes are checked too.
    if case.meta is not None and case.meta.phase.name.value == "fuzzing" and case.meta.generation.mode.is_positive:
        use_account_ids(case, account_ids)
    excluded = [positive_data_acceptance] if case.operation.label in ACCEPTANCE_DEPENDS_ON_THE_ACCOUNT else []
    response = case.call_and_validate(headers={"Authorization": f"Bearer {tenant.api_key}"}, excluded_checks=excluded)
    if 400 <= response.status_code < 500:
        assert_names_the_field(response.json())


def assert_names_the_field(body: Any) -> None:
    """Every refusal, a wrong method included, is the API's error shape: a sentence and the problems by field."""
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["errors"], dict) and body["errors"], body
    assert all(
        field and problems and all(isinstance(p, str) and p for p in problems)
        for field, problems in body["errors"].items()
    ), body


def test_the_operations_excused_from_positive_data_acceptance_are_in_the_document() -> None:
    # A renamed path must not leave a stale exemption behind: each one is a decision about one operation.
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels >= ACCEPTANCE_DEPENDS_ON_THE_ACCOUNT
