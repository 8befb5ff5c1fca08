"""The request log: which calls of an operation a tenant made since a mark, from Python and over HTTP."""

from __future__ import annotations

import httpx
import pytest

from referloop.sandbox import DEMO_TENANT_ID
from referloop.sandbox.stats import CallLogOverflow, Stats
from referloop.sandbox.testing import SandboxHandle
from tests.sandbox.helpers import BOOKINGS, INVOICES, JOBS, api_headers, booking_body


def test_calls_since_a_mark_are_listed_by_operation_and_tenant_with_their_query(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    client.get(JOBS, params={"ids": "1,2"}, headers=headers)  # before the mark: not counted
    mark = sandbox.mark()

    client.get(JOBS, params={"ids": "3,4", "page": 2}, headers=headers)
    client.get(JOBS, params={"modifiedOnOrAfter": "2030-01-01T00:00:00Z"}, headers=headers)
    client.get(INVOICES, params={"jobId": 3}, headers=headers)
    client.get(JOBS, params={"jobStatus": "Nope"}, headers=headers)  # a 400 is a call too
    client.get(f"{JOBS}/30000001", headers=headers)

    jobs = sandbox.calls(since=mark, operation="Jobs_GetList", tenant_id=DEMO_TENANT_ID)
    assert [(c.outcome, c.params) for c in jobs] == [
        ("200", {"ids": "3,4", "page": "2"}),
        ("200", {"modifiedOnOrAfter": "2030-01-01T00:00:00Z"}),
        ("400", {"jobStatus": "Nope"}),
    ]
    assert jobs[0].query == "ids=3%2C4&page=2"
    assert (jobs[0].method, jobs[0].path) == ("GET", JOBS)
    assert [c.operation for c in sandbox.calls(since=mark)] == [
        "Jobs_GetList",
        "Jobs_GetList",
        "Invoices_GetList",
        "Jobs_GetList",
        "Jobs_Get",
    ]
    assert sandbox.calls(since=mark, tenant_id=555) == []
    assert sandbox.calls(since=sandbox.mark()) == []


def test_token_calls_and_refused_calls_are_logged_too(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    mark = sandbox.mark()
    api_headers(client)
    client.get(JOBS, headers={"ST-App-Key": "wrong"})

    logged = sandbox.calls(since=mark)

    assert [(c.operation, c.tenant_id, c.outcome) for c in logged] == [
        ("Token", DEMO_TENANT_ID, "200"),
        ("Jobs_GetList", DEMO_TENANT_ID, "401"),
    ]


def test_the_log_answers_over_http_with_a_mark_to_ask_from_next_time(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    mark = client.get("/_sandbox/calls/mark").json()["mark"]
    client.post(BOOKINGS, json=booking_body(), headers=headers)
    client.get(BOOKINGS, params={"externalId": "lead-1"}, headers=headers)

    answer = client.get("/_sandbox/calls", params={"since": mark, "tenant": DEMO_TENANT_ID}).json()
    creates = client.get("/_sandbox/calls", params={"since": mark, "operation": "Bookings_Create"}).json()
    later = client.get("/_sandbox/calls", params={"since": answer["mark"]}).json()

    assert [(c["operation"], c["query"]) for c in answer["calls"]] == [
        ("Bookings_Create", ""),
        ("Bookings_GetList2", "externalId=lead-1"),
    ]
    assert answer["mark"] == mark + 2 == sandbox.mark()
    assert answer["calls"][0]["tenant_id"] == DEMO_TENANT_ID
    assert answer["calls"][0]["path"] == BOOKINGS
    assert [c["operation"] for c in creates["calls"]] == ["Bookings_Create"]
    assert later["calls"] == []
    assert client.get("/_sandbox/calls", params={"since": "x"}).status_code == 400
    assert client.get("/_sandbox/calls", headers={"Origin": "https://evil.example"}).status_code == 403


def test_reset_empties_the_log_and_a_mark_from_before_still_means_after_that_moment(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    mark = sandbox.mark()
    client.get(JOBS, headers=headers)
    sandbox.reset()
    client.get(INVOICES, headers=headers)

    assert [c.operation for c in sandbox.calls(since=mark)] == ["Invoices_GetList"]
    assert sandbox.mark() == mark + 2


def test_a_full_log_refuses_to_answer_about_calls_it_has_forgotten() -> None:
    stats = Stats(log_size=3)
    for n in range(5):
        stats.record("Jobs_GetList", 1, "200", "GET", "/jobs", f"page={n}")

    with pytest.raises(CallLogOverflow, match="forgotten"):
        stats.calls(since=1)

    assert [c.params["page"] for c in stats.calls(since=2)] == ["2", "3", "4"]
    assert stats.snapshot()["by_operation"] == {"Jobs_GetList": {"200": 5}}  # the counts keep everything
    stats.reset()
    assert stats.calls(since=1) == []


def test_asking_a_full_log_over_http_about_forgotten_calls_is_a_409(
    sandbox: SandboxHandle, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = Stats(log_size=2)
    monkeypatch.setattr(sandbox.sandbox, "stats", small)
    for _ in range(3):
        client.get(JOBS)  # 401s without credentials, still logged

    response = client.get("/_sandbox/calls", params={"since": 0})

    assert response.status_code == 409
    assert "forgotten" in response.json()["error"]
    assert len(client.get("/_sandbox/calls", params={"since": 1}).json()["calls"]) == 2
