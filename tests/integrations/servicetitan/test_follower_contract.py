"""Contract: every request the follower builds is one ServiceTitan's published OpenAPI documents declare.

The follower reads three lists (`calls.list_changed_bookings`, `list_changed_jobs`, `list_changed_invoices`) by
`ids=` (at most 50), by `modifiedOnOrAfter`, and page by page. For each request, as it goes over the wire (the
httpx request of `Outgoing.to_httpx`, and the URL aiohttp builds with yarl in the worker), the method and path
must be one operation of crm-v2, jpm-v2 or accounting-v2, every path and query parameter must be declared for
that operation, and each value must fit the parameter's schema once read as its type (integers for int32/int64,
RFC 3339 for date-time). On top of the schemas, what the documents say in words: `ids` is a comma-separated list
of at most 50 ids, dates are in UTC, pages start at 1.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from referloop.integrations.servicetitan.follower import reader
from referloop.integrations.servicetitan.follower.store import Plan
from referloop.providers.servicetitan import PRODUCTION, Credentials
from referloop.providers.servicetitan import calls as st_calls
from referloop.providers.servicetitan.calls import CHANGES_PAGE_SIZE, DEFAULT_TIMEOUT, MAX_IDS, ApiCall, Changes, Page
from referloop.providers.servicetitan.models import Booking, Invoice, Job
from tests.servicetitan_contract import load_spec, validator_for
from tests.st_openapi import DOCUMENTS, needs_st_openapi

pytestmark = needs_st_openapi

CREDENTIALS = Credentials(PRODUCTION, tenant_id=1_234_567, client_id="cid.contract", client_secret="cs", app_key="ak")
BOOKING_PROVIDER_ID = 42
INT64_MAX = 2**63 - 1
# The three lists and the operation each must be.
LISTS = {
    "bookings": (
        lambda changes: st_calls.list_changed_bookings(CREDENTIALS, BOOKING_PROVIDER_ID, changes),
        "Bookings_GetList2",
    ),
    "jobs": (lambda changes: st_calls.list_changed_jobs(CREDENTIALS, changes), "Jobs_GetList"),
    "invoices": (lambda changes: st_calls.list_changed_invoices(CREDENTIALS, changes), "Invoices_GetList"),
}


# -- the documents ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    document: str
    operation_id: str
    parameters: dict[tuple[str, str], dict[str, Any]]  # (in, name) → the parameter object
    path_values: dict[str, str]  # the path's placeholders, as sent


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{([^}]+)\}", template)
    pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
    return re.compile(pattern)


def operation_at(method: str, path: str) -> Operation:
    """The one official operation at this method and path (the documents' server path plus the path template)."""
    found = []
    for document in DOCUMENTS:
        spec = load_spec(document)
        base = urlsplit(spec["servers"][0]["url"]).path
        for template, item in spec["paths"].items():
            operation = item.get(method.lower())
            match = _template_regex(base + template).fullmatch(path)
            if isinstance(operation, dict) and match:
                parameters = {(p["in"], p["name"]): p for p in operation.get("parameters", [])}
                found.append(Operation(document, operation["operationId"], parameters, match.groupdict()))
    assert len(found) == 1, f"{method} {path} is {len(found)} operations of the official documents, not one"
    return found[0]


def typed(raw: str, schema: dict[str, Any], name: str) -> object:
    """A query or path value (always text on the wire) as its schema's type: what the server will parse."""
    kind = schema.get("type")
    if kind == "integer":
        assert re.fullmatch(r"-?[0-9]+", raw), f"{name}={raw!r} is not an integer"
        return int(raw)
    if kind == "boolean":
        assert raw in ("true", "false"), f"{name}={raw!r} is not a boolean"
        return raw == "true"
    assert kind == "string", f"{name} has type {kind!r}, which this contract does not read"
    return raw


def check_value(document: str, parameter: dict[str, Any], raw: str) -> None:
    """The value against the parameter's own schema, converted the way the shared helper converts components
    (nullable, int32/int64 bounds, $refs inlined) and with its date-time check."""
    spec = load_spec(document)
    with_parameter = {"components": {"schemas": {**spec["components"]["schemas"], "_parameter": parameter["schema"]}}}
    name = parameter["name"]
    problems = [
        e.message
        for e in validator_for(with_parameter, "_parameter").iter_errors(typed(raw, parameter["schema"], name))
    ]
    assert not problems, f"{name}={raw!r} does not fit its schema in {document}: {problems}"


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    query: list[tuple[str, str]]


def as_sent(call: ApiCall[Any]) -> Sent:
    """The request as the follower's senders put it on the wire; httpx's and aiohttp's (yarl) must agree."""
    outgoing = st_calls.outgoing(call, CREDENTIALS, "token", DEFAULT_TIMEOUT)
    request = outgoing.to_httpx()
    query = list(request.url.params.multi_items())
    by_aiohttp = URL(outgoing.url).extend_query(dict(outgoing.params))
    assert sorted(by_aiohttp.query.items()) == sorted(query)
    assert by_aiohttp.path == request.url.path
    assert f"{request.url.scheme}://{request.url.host}" == CREDENTIALS.environment.api_base_url
    return Sent(request.method, request.url.path, query)


def validate(call: ApiCall[Any], operation_id: str) -> Sent:
    """Every check of the module docstring; returns the request as sent, for the caller's own checks."""
    sent = as_sent(call)
    operation = operation_at(sent.method, sent.path)
    assert operation.operation_id == operation_id
    for name, value in operation.path_values.items():
        assert ("path", name) in operation.parameters, (operation_id, name)
        check_value(operation.document, operation.parameters[("path", name)], value)
    names = [name for name, _ in sent.query]
    assert len(names) == len(set(names)), f"a query parameter is sent twice: {names}"
    for name, value in sent.query:
        parameter = operation.parameters.get(("query", name))
        assert parameter is not None, f"{name} is not a query parameter of {operation_id} in {operation.document}"
        check_value(operation.document, parameter, value)
        if name == "ids":
            ids = value.split(",")
            assert re.fullmatch(r"[0-9]+(,[0-9]+)*", value), f"ids={value!r} is not a comma-separated list of ids"
            assert all(0 < int(i) <= INT64_MAX for i in ids)
            assert len(ids) <= 50, f"{len(ids)} ids in one call: the documents allow at most 50"
            documented = re.search(r"maximum (\d+)", parameter.get("description", ""))
            if documented:  # crm-v2 and jpm-v2 say so; accounting-v2 says only "Comma-delimited list of invoice IDs."
                assert len(ids) <= int(documented.group(1))
        if name in ("page", "pageSize"):
            assert int(value) >= 1, f"{name}={value}: pages start at 1"
        if parameter["schema"].get("format") == "date-time":
            assert value.endswith("Z"), f"{name}={value!r}: the documents take these dates in UTC"
    for (where, name), parameter in operation.parameters.items():
        if where == "query" and parameter.get("required"):
            assert name in names, f"{operation_id} requires {name}"
    return sent


# -- each list, each way of asking ----------------------------------------------------------------------------------

ids_lists = st.lists(st.integers(1, INT64_MAX), min_size=1, max_size=MAX_IDS, unique=True).map(tuple)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.one_of(st.just(UTC), st.builds(timezone, st.timedeltas(timedelta(hours=-12), timedelta(hours=14)))),
)
pages = st.integers(1, 100_000)
changes = st.one_of(
    st.builds(Changes, ids=ids_lists, page=pages),
    st.builds(Changes, since=moments, page=pages),
    st.builds(Changes, ids=ids_lists, since=moments, page=pages),
)


@pytest.mark.parametrize("kind", LISTS)
@settings(max_examples=60, deadline=None)
@given(asked=changes)
def test_every_change_list_request_validates_against_the_official_documents(kind: str, asked: Changes) -> None:
    build, operation_id = LISTS[kind]

    sent = dict(validate(build(asked), operation_id).query)

    assert sent["page"] == str(asked.page)
    if asked.ids:
        assert sent["ids"] == ",".join(map(str, asked.ids))
    if asked.since is not None:
        assert datetime.fromisoformat(sent["modifiedOnOrAfter"]) == asked.since


@pytest.mark.parametrize("kind", LISTS)
def test_by_ids_by_cursor_and_a_later_page_each_validate(kind: str) -> None:
    build, operation_id = LISTS[kind]
    since = datetime(2030, 5, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))

    by_ids = dict(validate(build(Changes(ids=tuple(range(1, MAX_IDS + 1)))), operation_id).query)
    by_cursor = dict(validate(build(Changes(since=since)), operation_id).query)
    later = dict(validate(build(Changes(since=since, page=3)), operation_id).query)
    later_ids = dict(validate(build(Changes(ids=(7, 8), page=2)), operation_id).query)

    assert by_ids == {"page": "1", "pageSize": "50", "ids": ",".join(str(n) for n in range(1, 51))}
    assert by_cursor == {
        "page": "1",
        "pageSize": str(CHANGES_PAGE_SIZE),
        "modifiedOnOrAfter": "2030-05-01T14:30:15.123456Z",
    }
    assert later == {**by_cursor, "page": "3"}
    assert later_ids == {"page": "2", "pageSize": "50", "ids": "7,8"}


def test_fifty_one_ids_or_page_zero_are_refused_before_any_request_is_built() -> None:
    with pytest.raises(ValueError, match="at most 50 ids per call, not 51"):
        Changes(ids=tuple(range(1, MAX_IDS + 2)))
    with pytest.raises(ValueError, match="pages start at 1, not 0"):
        Changes(page=0)


def test_the_contract_catches_an_undeclared_parameter_a_wrong_value_and_a_wrong_operation() -> None:
    """The contract itself can fail: an undeclared name, a wrong type, a local time, 51 ids, an unknown path and
    another method are each caught."""
    good = st_calls.list_changed_jobs(CREDENTIALS, Changes(ids=(1, 2)))
    wrong = [
        ({"modifiedSince": "2030-01-01T00:00:00Z"}, "modifiedSince is not a query parameter of Jobs_GetList"),
        ({"page": "first"}, "page='first' is not an integer"),
        ({"pageSize": 2**31}, "pageSize='2147483648' does not fit its schema"),  # beyond int32
        ({"modifiedOnOrAfter": "2030-01-01T00:00:00-05:00"}, "the documents take these dates in UTC"),
        ({"modifiedOnOrAfter": "2030-01-01 00:00"}, "modifiedOnOrAfter='2030-01-01 00:00' does not fit its schema"),
        ({"ids": ",".join(str(n) for n in range(1, 52))}, "51 ids in one call: the documents allow at most 50"),
        ({"ids": "1;2"}, "is not a comma-separated list of ids"),
    ]
    validate(good, "Jobs_GetList")
    for change, message in wrong:
        call = ApiCall(good.method, good.path, good.context, good.parse, params={**good.params, **change})
        with pytest.raises(AssertionError, match=re.escape(message)):
            validate(call, "Jobs_GetList")
    moved = ApiCall("GET", good.path.replace("/jpm/v2/", "/jpm/v3/"), good.context, good.parse, params=good.params)
    with pytest.raises(AssertionError, match="is 0 operations of the official documents"):
        validate(moved, "Jobs_GetList")
    posted = ApiCall("POST", good.path, good.context, good.parse, params=good.params)
    with pytest.raises(AssertionError, match="Jobs_Create"):
        validate(posted, "Jobs_GetList")


# -- what a real cycle builds ---------------------------------------------------------------------------------------


class RecordingTenant:
    """The follower's client, answering from one tenant's records: each request is built by `calls` (as the real
    client builds it) and recorded; `ids=` finds those ids, `modifiedOnOrAfter` the records changed since, and
    either answers page by page at the request's pageSize."""

    def __init__(self, records: dict[str, list[Any]], changed: dict[str, set[int]]) -> None:
        self.records = records
        self.changed = changed
        self.sent: list[tuple[str, ApiCall[Any]]] = []

    async def list_changed_bookings(self, booking_provider_id: int, changes: Changes) -> Page[Booking]:
        assert booking_provider_id == BOOKING_PROVIDER_ID
        return self._answer("bookings", changes)

    async def list_changed_jobs(self, changes: Changes) -> Page[Job]:
        return self._answer("jobs", changes)

    async def list_changed_invoices(self, changes: Changes) -> Page[Invoice]:
        return self._answer("invoices", changes)

    def _answer(self, kind: str, changes: Changes) -> Page[Any]:
        call = LISTS[kind][0](changes)
        self.sent.append((kind, call))
        wanted = set(changes.ids) if changes.ids else self.changed[kind]
        matching = [record for record in self.records[kind] if record.id in wanted]
        size = int(call.params["pageSize"])
        start = (changes.page - 1) * size
        return Page(matching[start : start + size], has_more=len(matching) > start + size)


def test_every_request_of_a_large_cycle_validates_by_ids_by_cursor_and_on_later_pages() -> None:
    """600 followed bookings, 120 of them booked as jobs: the bookings come by cursor over two pages; the jobs and
    invoices are more than 50, so by cursor too, and those the cursor did not list (changed before it) by id in
    batches of at most 50."""
    followed = list(range(1_000, 1_600))
    booked = followed[:120]
    records: dict[str, list[Any]] = {
        "bookings": [Booking.from_api({"id": b, "jobId": b + 10_000 if b in booked else None}) for b in followed],
        "jobs": [Job.from_api({"id": b + 10_000, "bookingId": b, "invoiceId": b + 20_000}) for b in booked],
        "invoices": [Invoice.from_api({"id": b + 20_000}) for b in booked],
    }
    changed = {
        "bookings": set(followed),
        "jobs": {b + 10_000 for b in booked[:30]},
        "invoices": {b + 20_000 for b in booked[:10]},
    }
    tenant = RecordingTenant(records, changed)
    cursor = datetime(2030, 1, 1, tzinfo=UTC)
    plan = Plan(
        integration_id=1,
        rate_key="contract",
        credentials=CREDENTIALS,
        booking_provider_id=BOOKING_PROVIDER_ID,
        bookings=tuple(followed),
        jobs=(),
        invoices=(),
        bookings_since=cursor,
        jobs_since=cursor,
        invoices_since=cursor,
        started_at=cursor + timedelta(hours=1),
    )

    seen = asyncio.run(reader.read(plan, tenant))  # type: ignore[arg-type]

    # The 480 bookings still New with no job tell nothing and are left out; the 120 booked ones are kept.
    assert (len(seen.bookings), len(seen.jobs), len(seen.invoices)) == (120, 120, 120)
    shapes = []
    for kind, call in tenant.sent:
        query = dict(validate(call, LISTS[kind][1]).query)
        shapes.append((kind, len(query.get("ids", "").split(",")) if "ids" in query else 0, query["page"]))
    assert shapes == [
        ("bookings", 0, "1"),
        ("bookings", 0, "2"),  # the second page of changes
        ("jobs", 0, "1"),
        ("jobs", 50, "1"),
        ("jobs", 40, "1"),
        ("invoices", 0, "1"),
        ("invoices", 50, "1"),
        ("invoices", 50, "1"),
        ("invoices", 10, "1"),
    ]
    assert seen.calls == len(tenant.sent)
