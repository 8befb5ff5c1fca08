"""The sandbox against ServiceTitan's published OpenAPI documents: same request rules, same response shapes."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from referloop.sandbox import DEMO_TENANT_ID, SandboxConfig
from referloop.sandbox.query import Query
from referloop.sandbox.schemas import REQUEST_SCHEMAS
from referloop.sandbox.testing import SandboxHandle, running_sandbox
from tests.sandbox.helpers import BOOKINGS, booking_body
from tests.servicetitan_contract import load_spec, official_bodies, official_schema, official_validator
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


# -- a booking's life: every answer, every parameter and every operation against the documents ---------------

JOBS = f"/jpm/v2/tenant/{DEMO_TENANT_ID}/jobs"
INVOICES = f"/accounting/v2/tenant/{DEMO_TENANT_ID}/invoices"
TENANT_BOOKINGS = f"/crm/v2/tenant/{DEMO_TENANT_ID}/bookings"
_SCHEMAS = {
    "booking": ("crm-v2", "Crm.V2.BookingResponse"),
    "job": ("jpm-v2", "Jpm.V2.JobResponse"),
    "invoice": ("accounting-v2", "Accounting.V2.InvoiceResponse"),
}


def _official_operation(operation: str) -> tuple[str, str, str, dict[str, Any]]:
    """(document, method, full path template, operation object) of an operation id in the official documents."""
    for document in ("crm-v2", "jpm-v2", "accounting-v2"):
        spec = load_spec(document)
        base = urlsplit(spec["servers"][0]["url"]).path
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if isinstance(op, dict) and op.get("operationId") == operation:
                    return document, method.upper(), base + path, op
    raise AssertionError(f"{operation} is not an operation of the official documents")


def _checked_control(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A control call's answer, whose API records (booking, job, invoice) must be in the official shapes."""
    response = client.post(f"/_sandbox/{path}", json=body or {})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    for kind, record in answer.items():
        if kind in _SCHEMAS:
            official_validator(*_SCHEMAS[kind]).validate(record)
    return answer


def _lifecycle(client: httpx.Client) -> dict[str, Any]:
    """Bookings and jobs in every state the control endpoints can make: the reads below cover them all."""
    ids: dict[str, Any] = {}
    new = [client.post(BOOKINGS, json=booking_body(externalId=f"life-{n}")).json() for n in range(5)]
    ids["dismissed"] = _checked_control(client, f"bookings/{new[0]['id']}/dismiss", {"dismissingReasonId": 5})
    booked = [_checked_control(client, f"bookings/{b['id']}/job", {"total": "310.20"}) for b in new[1:]]
    first, second, third, fourth = (b["job"]["id"] for b in booked)  # the fourth stays Scheduled
    for status in ("Dispatched", "InProgress", "Hold"):
        _checked_control(client, f"jobs/{first}/status", {"jobStatus": status})
    _checked_control(client, f"jobs/{first}/complete", {"total": "400", "completedOn": "2030-01-01T00:00:00Z"})
    _checked_control(client, f"invoices/{booked[0]['invoice']['id']}/pay", {"amount": "150"})
    _checked_control(client, f"invoices/{booked[0]['invoice']['id']}/pay")
    _checked_control(client, f"jobs/{second}/status", {"jobStatus": "Canceled"})
    _checked_control(client, f"jobs/{third}/complete")
    _checked_control(client, f"jobs/{third}/status", {"jobStatus": "InProgress"})
    _checked_control(client, f"jobs/{third}/total", {"total": "0"})
    ids["bookings"] = [b["id"] for b in new]
    ids["jobs"] = [first, second, third, fourth]
    ids["booked"] = booked
    return ids


def _lifecycle_reads(life: dict[str, Any]) -> list[tuple[str, dict[str, Any], str, str]]:
    """(path, params, document, schema) of reads with every filter the sandbox implements."""
    bookings, jobs, booked = life["bookings"], life["jobs"], life["booked"]
    cursor = "2000-01-01T00:00:00Z"
    window = {"modifiedOnOrAfter": cursor, "modifiedBefore": "2100-01-01T00:00:00Z"}
    created = {"createdOnOrAfter": cursor, "createdBefore": "2100-01-01T00:00:00Z"}
    paging = {"page": 1, "pageSize": 2, "includeTotal": "true"}
    booking_list = "PaginatedResponse_Of_Crm.V2.BookingResponse"
    job_list = "PaginatedResponse_Of_Jpm.V2.JobResponse"
    invoice_list = "PaginatedResponse_Of_Accounting.V2.InvoiceResponse"
    reads = [
        (path, params, "crm-v2", booking_list)
        for path in (BOOKINGS, TENANT_BOOKINGS)
        for params in (
            {"ids": ",".join(map(str, bookings)), **paging},
            {**window, **created, "page": 2, "pageSize": 2},
            {"externalId": "life-0"},
        )
    ]
    reads += [
        (f"{path}/{b}", {}, "crm-v2", "Crm.V2.BookingResponse")
        for path in (BOOKINGS, TENANT_BOOKINGS)
        for b in bookings
    ]
    reads += [(f"{JOBS}/{j}", {}, "jpm-v2", "Jpm.V2.JobResponse") for j in jobs]
    reads += [
        (JOBS, params, "jpm-v2", job_list)
        for params in (
            {"ids": ",".join(map(str, jobs)), **paging},
            {**window, **created},
            {"bookingId": bookings[1]},
            {"invoiceId": booked[1]["invoice"]["id"], "customerId": booked[1]["job"]["customerId"]},
            {"number": booked[2]["job"]["jobNumber"]},
            {"completedOnOrAfter": cursor, "completedBefore": "2100-01-01T00:00:00Z"},
            *({"jobStatus": status} for status in ("Scheduled", "Completed", "Canceled", "InProgress")),
        )
    ]
    reads += [
        (INVOICES, params, "accounting-v2", invoice_list)
        for params in (
            {"ids": ",".join(str(b["invoice"]["id"]) for b in booked), **paging},
            {**window, **created, "page": 2, "pageSize": 1},
            {"jobId": jobs[0]},
            {"jobNumber": booked[0]["job"]["jobNumber"], "customerId": booked[0]["invoice"]["customer"]["id"]},
            {"number": booked[2]["invoice"]["referenceNumber"]},
        )
    ]
    return reads


def test_every_answer_along_a_bookings_life_validates_against_the_official_documents(
    app_client: httpx.Client,
) -> None:
    life = _lifecycle(app_client)

    reads = _lifecycle_reads(life)
    for path, params, document, schema in reads:
        response = app_client.get(path, params=params)
        assert response.status_code == 200, (path, params, response.json())
        official_validator(document, schema).validate(response.json())
        if "data" in response.json():
            assert response.json()["data"], (path, params)  # every read finds something worth validating
    refused = app_client.get(JOBS, params={"ids": ",".join(str(n) for n in range(51)), "jobStatus": "Done"})
    assert refused.status_code == 400
    official_validator("jpm-v2", "ApiErrorResponse").validate(refused.json())


def test_the_sandbox_reads_only_query_parameters_the_official_documents_declare(
    app_client: httpx.Client, unlimited: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every parameter name a handler asks for (whether or not it was sent) is declared for its operation."""
    asked: list[str] = []
    original = Query.__init__

    class Recording:
        def __init__(self, params: QueryParams) -> None:
            self._params = params

        def get(self, name: str, default: str | None = None) -> str | None:
            asked.append(name)
            return self._params.get(name, default)

    def recording_init(self: Query, params: QueryParams) -> None:
        original(self, cast(QueryParams, Recording(params)))

    monkeypatch.setattr(Query, "__init__", recording_init)
    life = _lifecycle(app_client)
    reads = [(path, {}) for path, *_ in _lifecycle_reads(life)]
    reads += [
        (f"{BOOKINGS}/{life['bookings'][0]}/contacts", {}),
        (f"{TENANT_BOOKINGS}/{life['bookings'][0]}/contacts", {}),
        (f"/crm/v2/tenant/{DEMO_TENANT_ID}/booking-provider-tags", {}),
    ]
    checked = set()
    for path, params in reads:
        asked.clear()
        mark = unlimited.mark()
        assert app_client.get(path, params=params).status_code == 200, path
        (call,) = unlimited.calls(since=mark)
        declared = {
            p["name"] for p in _official_operation(call.operation)[3].get("parameters", []) if p["in"] == "query"
        }
        assert set(asked) <= declared, (call.operation, set(asked) - declared)
        checked.add(call.operation)
    assert {"Bookings_GetList", "Bookings_GetList2", "Jobs_GetList", "Invoices_GetList"} <= checked


def test_every_operation_the_sandbox_answers_is_declared_at_that_method_and_path(
    app_client: httpx.Client, unlimited: SandboxHandle
) -> None:
    mark = unlimited.mark()
    life = _lifecycle(app_client)
    for path, params, *_ in _lifecycle_reads(life):
        app_client.get(path, params=params)
    app_client.post(f"{BOOKINGS}/{life['bookings'][0]}/contacts", json={"type": "Phone", "value": "5125550100"})
    app_client.patch(f"{BOOKINGS}/{life['bookings'][0]}", json={"summary": "changed"})

    operations = {(c.operation, c.method, c.path) for c in unlimited.calls(since=mark)}
    for operation, method, path in operations:
        _, official_method, template, _ = _official_operation(operation)
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        assert method == official_method, operation
        assert re.fullmatch(pattern, path), (operation, path, template)
    assert {op for op, *_ in operations} >= {
        "Bookings_Create",
        "Bookings_GetList2",
        "Bookings_GetList",
        "Bookings_Get",
        "Bookings_GetForProvider",
        "Bookings_Update",
        "Bookings_CreateContact",
        "Jobs_Get",
        "Jobs_GetList",
        "Invoices_GetList",
    }
