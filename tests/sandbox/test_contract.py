"""The sandbox against ServiceTitan's published OpenAPI documents: same request rules, same response shapes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referloop.sandbox import DEMO_TENANT_ID, SandboxConfig
from referloop.sandbox.schemas import REQUEST_SCHEMAS
from referloop.sandbox.testing import SandboxHandle, running_sandbox
from tests.sandbox.helpers import BOOKINGS, booking_body
from tests.servicetitan_contract import official_bodies, official_schema, official_validator
from tests.st_openapi import needs_st_openapi

pytestmark = needs_st_openapi
VALID_BOOKINGS = official_bodies("crm-v2", "Crm.V2.CreateBookingRequest")
HYPOTHESIS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def unlimited() -> Iterator[SandboxHandle]:
    """A server of its own with no rate limit, so hypothesis can send hundreds of bodies."""
    with running_sandbox(SandboxConfig.demo(rate_limit_per_second=None)) as handle:
        yield handle


@pytest.fixture(scope="module")
def app_client(unlimited: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=unlimited.base_url, headers=unlimited.auth_headers(), timeout=5.0) as client:
        yield client


def _shape(schema: dict[str, Any]) -> dict[str, Any]:
    """What decides validity, with OpenAPI's and our spellings of "nullable" and of nesting made equal."""
    alternatives = schema.get("anyOf", [])
    if len(alternatives) == 2 and {"type": "null"} in alternatives:
        inner = _shape(next(a for a in alternatives if a != {"type": "null"}))
        inner["types"] = inner["types"] | {"null"}
        if inner["enum"] is not None:
            inner["enum"] = inner["enum"] | {None}
        return inner
    if len(schema.get("oneOf", [])) == 1:
        return _shape(schema["oneOf"][0])
    types = schema.get("type", [])
    return {
        "types": frozenset([types] if isinstance(types, str) else types),
        "enum": frozenset(schema["enum"]) if "enum" in schema else None,
        "date-time": schema.get("format") == "date-time",
        "range": (schema.get("minimum"), schema.get("maximum")),
        "required": frozenset(schema.get("required", [])),
        "additionalProperties": schema.get("additionalProperties", True),
        "properties": {name: _shape(sub) for name, sub in schema.get("properties", {}).items()},
        "items": _shape(schema["items"]) if "items" in schema else None,
    }


@pytest.mark.parametrize(
    ("ours", "official"),
    [
        ("CreateBookingRequest", "Crm.V2.CreateBookingRequest"),
        ("ContactCreateRequest", "Crm.V2.ContactCreateRequest"),
        ("UpdateBookingRequest", "Crm.V2.UpdateBookingRequest"),
    ],
)
def test_sandbox_request_schemas_match_the_official_documents(ours: str, official: str) -> None:
    assert _shape(REQUEST_SCHEMAS[ours]) == _shape(official_schema("crm-v2", official))


@HYPOTHESIS
@given(body=VALID_BOOKINGS)
def test_sandbox_accepts_every_booking_the_official_schema_accepts(
    app_client: httpx.Client, body: dict[str, Any]
) -> None:
    response = app_client.post(BOOKINGS, json=body)

    assert response.status_code == 200, response.json()
    official_validator("crm-v2", "Crm.V2.BookingResponse").validate(response.json())


_WRONG_VALUES = [None, 0, -7, 1.5, "", "text", "Urgent", "Email", True, [], ["x"], {}, {"street": "x"}]
_EXTRA_NAMES = ["unexpected", "Source", "id", "bookingProviderId", "tenant"]


def _objects(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, dict):
        yield path
        for key, sub in value.items():
            yield from _objects(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _objects(sub, (*path, index))


@st.composite
def _mutated_bookings(draw: st.DrawFn) -> Any:
    """A valid body with one thing broken (or, sometimes, harmlessly changed): the official schema judges."""
    body = copy.deepcopy(draw(VALID_BOOKINGS))
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([[], "body", 1, None, [body]]))
    target = body
    for step in draw(st.sampled_from(list(_objects(body)))):
        target = target[step]
    action = draw(st.sampled_from(["drop", "replace", "add"]))
    if action == "add" or not target:
        target[draw(st.sampled_from(_EXTRA_NAMES))] = draw(st.sampled_from(_WRONG_VALUES))
    elif action == "drop":
        del target[draw(st.sampled_from(sorted(target)))]
    else:
        target[draw(st.sampled_from(sorted(target)))] = draw(st.sampled_from(_WRONG_VALUES))
    return body


@HYPOTHESIS
@given(body=_mutated_bookings())
def test_sandbox_rejects_a_changed_booking_exactly_when_the_official_schema_does(
    app_client: httpx.Client, body: Any
) -> None:
    # content= rather than json=, which would send no body at all for None.
    response = app_client.post(BOOKINGS, content=json.dumps(body), headers={"Content-Type": "application/json"})

    if official_validator("crm-v2", "Crm.V2.CreateBookingRequest").is_valid(body):
        assert response.status_code == 200, response.json()
    else:
        assert response.status_code == 400
        official_validator("crm-v2", "ApiErrorResponse").validate(response.json())
        assert response.json()["errors"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=official_bodies("crm-v2", "Crm.V2.UpdateBookingRequest"))
def test_sandbox_accepts_every_update_the_official_schema_accepts(
    app_client: httpx.Client, changes: dict[str, Any]
) -> None:
    booking_id = app_client.post(BOOKINGS, json=booking_body()).json()["id"]

    response = app_client.patch(f"{BOOKINGS}/{booking_id}", json=changes)

    assert response.status_code == 200, response.json()
    official_validator("crm-v2", "Crm.V2.BookingResponse").validate(response.json())


def test_every_read_answers_in_the_official_response_shape(app_client: httpx.Client, unlimited: SandboxHandle) -> None:
    booking_id = app_client.post(BOOKINGS, json=booking_body(start="2030-05-01T09:30:00-05:00")).json()["id"]
    job = app_client.post(f"/_sandbox/bookings/{booking_id}/job").json()["job"]
    app_client.post(f"/_sandbox/jobs/{job['id']}/complete")
    app_client.post(f"/_sandbox/invoices/{job['invoiceId']}/pay")
    tenant = f"/crm/v2/tenant/{DEMO_TENANT_ID}"
    reads = [
        (f"{BOOKINGS}?includeTotal=true", "crm-v2", "PaginatedResponse_Of_Crm.V2.BookingResponse"),
        (f"{BOOKINGS}/{booking_id}", "crm-v2", "Crm.V2.BookingResponse"),
        (f"{tenant}/bookings/{booking_id}", "crm-v2", "Crm.V2.BookingResponse"),
        (f"{BOOKINGS}/{booking_id}/contacts", "crm-v2", "PaginatedResponse_Of_Crm.V2.BookingContactResponse"),
        (f"{tenant}/booking-provider-tags", "crm-v2", "PaginatedResponse_Of_Crm.V2.GetBookingProviderTagResponse"),
        (f"{tenant}/booking-provider-tags/42", "crm-v2", "Crm.V2.GetBookingProviderTagResponse"),
        (f"/jpm/v2/tenant/{DEMO_TENANT_ID}/jobs/{job['id']}", "jpm-v2", "Jpm.V2.JobResponse"),
        (
            f"/jpm/v2/tenant/{DEMO_TENANT_ID}/jobs?bookingId={booking_id}",
            "jpm-v2",
            "PaginatedResponse_Of_Jpm.V2.JobResponse",
        ),
        (
            f"/accounting/v2/tenant/{DEMO_TENANT_ID}/invoices?jobId={job['id']}",
            "accounting-v2",
            "PaginatedResponse_Of_Accounting.V2.InvoiceResponse",
        ),
    ]
    for path, document, schema in reads:
        response = app_client.get(path)
        assert response.status_code == 200, (path, response.json())
        official_validator(document, schema).validate(response.json())
    assert unlimited.state.bookings[booking_id].start.isoformat() == "2030-05-01T14:30:00+00:00"

    contact = app_client.post(f"{BOOKINGS}/{booking_id}/contacts", json={"type": "Phone", "value": "5125550100"})
    official_validator("crm-v2", "Crm.V2.BookingContactResponse").validate(contact.json())


def test_every_error_answers_in_the_official_error_shape(app_client: httpx.Client, unlimited: SandboxHandle) -> None:
    errors = [
        app_client.post(BOOKINGS, json={"source": 1}),
        app_client.post(BOOKINGS, content=b"{", headers={"Content-Type": "application/json"}),
        app_client.post(BOOKINGS, content=b"source=x", headers={"Content-Type": "text/plain"}),
        app_client.get(BOOKINGS, headers={"ST-App-Key": ""}),
        app_client.get(BOOKINGS, headers={"Authorization": "Bearer not-a-token"}),
        app_client.get(f"{BOOKINGS}/1"),
        app_client.get(f"{BOOKINGS}?ids=a,b"),
        app_client.get("/crm/v2/tenant/1/bookings/1"),
        app_client.delete(BOOKINGS),
        app_client.get("/no/such/path"),
    ]
    unlimited.set(error_rate=1.0)
    try:
        errors += [app_client.get(BOOKINGS) for _ in range(4)]
    finally:
        unlimited.set(error_rate=0.0)

    statuses = {r.status_code for r in errors}
    assert {400, 401, 404, 405, 415} <= statuses
    assert statuses & {500, 503}
    for response in errors:
        official_validator("crm-v2", "ApiErrorResponse").validate(response.json())
        assert response.json()["status"] == response.status_code
