"""The bookings, jobs and invoices lists a follower polls: filters, `ids` batches, paging, in a stable order."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import httpx
import pytest

from referloop.sandbox.state import JOB_STATUSES
from referloop.sandbox.testing import SandboxHandle
from tests.sandbox.helpers import (
    BOOKINGS,
    INVOICES,
    JOBS,
    TENANT_BOOKINGS,
    api_headers,
    control,
    listed,
    new_booking,
)

LISTS = [BOOKINGS, TENANT_BOOKINGS, JOBS, INVOICES]


def _booked(client: httpx.Client, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    """`count` bookings, each booked into a job: the control answers {booking, job, invoice}."""
    return [
        control(client, f"bookings/{new_booking(client, headers, f'lead-{n}')['id']}/job", {"total": f"{100 + n}"})
        for n in range(count)
    ]


def _ids(records: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in records]


@pytest.mark.parametrize("path", LISTS)
def test_every_list_pages_in_id_order_with_has_more_and_a_total_on_request(
    client: httpx.Client, headers: dict[str, str], path: str
) -> None:
    booked = _booked(client, headers, 5)
    kind = {JOBS: "job", INVOICES: "invoice"}.get(path, "booking")
    expected = [b[kind]["id"] for b in booked]

    pages = [client.get(path, params={"pageSize": 2, "page": n}, headers=headers).json() for n in (1, 2, 3, 4)]
    counted = client.get(path, params={"pageSize": 2, "page": 3, "includeTotal": "true"}, headers=headers).json()

    assert [_ids(p["data"]) for p in pages] == [expected[:2], expected[2:4], expected[4:], []]
    assert [p["hasMore"] for p in pages] == [True, True, False, False]
    assert [(p["page"], p["pageSize"], p["totalCount"]) for p in pages[:2]] == [(1, 2, None), (2, 2, None)]
    assert counted["totalCount"] == 5
    assert client.get(path, headers=headers).json()["pageSize"] == 50


@pytest.mark.parametrize("path", LISTS)
def test_every_list_answers_a_batch_of_50_ids_and_refuses_51(
    client: httpx.Client, headers: dict[str, str], path: str
) -> None:
    booked = _booked(client, headers, 2)
    kind = {JOBS: "job", INVOICES: "invoice"}.get(path, "booking")
    wanted = booked[1][kind]["id"]
    fifty = [wanted, *range(1, 50)]

    batch = client.get(path, params={"ids": ",".join(map(str, fifty))}, headers=headers)
    too_many = client.get(path, params={"ids": ",".join(map(str, [*fifty, 99]))}, headers=headers)

    assert batch.status_code == 200
    assert _ids(batch.json()["data"]) == [wanted]
    assert too_many.status_code == 400
    assert list(too_many.json()["errors"]) == ["ids"]


@pytest.mark.parametrize("path", LISTS)
def test_every_list_bounds_a_window_with_modified_on_or_after_and_modified_before(
    client: httpx.Client, headers: dict[str, str], path: str
) -> None:
    first, second, third = _booked(client, headers, 3)
    kind = {JOBS: "job", INVOICES: "invoice"}.get(path, "booking")

    window = listed(
        client,
        path,
        headers,
        modifiedOnOrAfter=second[kind]["modifiedOn"],
        modifiedBefore=third[kind]["modifiedOn"],
    )

    assert _ids(window) == [second[kind]["id"]]
    assert _ids(listed(client, path, headers, modifiedBefore=first[kind]["modifiedOn"])) == []
    assert _ids(listed(client, path, headers, createdOnOrAfter=third[kind]["createdOn"])) == [third[kind]["id"]]


def test_jobs_filter_by_booking_invoice_customer_number_and_status(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    first, second = (b["job"] for b in _booked(client, headers, 2))
    control(client, f"jobs/{second['id']}/complete")

    assert _ids(listed(client, JOBS, headers, bookingId=second["bookingId"])) == [second["id"]]
    assert _ids(listed(client, JOBS, headers, invoiceId=first["invoiceId"])) == [first["id"]]
    assert _ids(listed(client, JOBS, headers, customerId=first["customerId"])) == [first["id"]]
    assert _ids(listed(client, JOBS, headers, number=second["jobNumber"])) == [second["id"]]
    assert _ids(listed(client, JOBS, headers, jobStatus="completed")) == [second["id"]]  # enums bind in any case
    assert _ids(listed(client, JOBS, headers, jobStatus="Scheduled", ids=f"{first['id']},{second['id']}")) == [
        first["id"]
    ]
    assert _ids(listed(client, JOBS, headers, bookingId=1)) == []


def test_invoices_filter_by_job_job_number_customer_and_number(client: httpx.Client, headers: dict[str, str]) -> None:
    first, second = _booked(client, headers, 2)
    invoice = second["invoice"]

    assert _ids(listed(client, INVOICES, headers, jobId=second["job"]["id"])) == [invoice["id"]]
    assert _ids(listed(client, INVOICES, headers, jobNumber=second["job"]["jobNumber"])) == [invoice["id"]]
    assert _ids(listed(client, INVOICES, headers, customerId=invoice["customer"]["id"])) == [invoice["id"]]
    assert _ids(listed(client, INVOICES, headers, number=invoice["referenceNumber"])) == [invoice["id"]]
    assert _ids(listed(client, INVOICES, headers, jobId=first["job"]["id"], ids=invoice["id"])) == []


def test_bad_list_parameters_are_400_naming_each_one(client: httpx.Client, headers: dict[str, str]) -> None:
    jobs = client.get(
        JOBS,
        params={"jobStatus": "Done", "bookingId": "x", "completedOnOrAfter": "soon", "page": 0},
        headers=headers,
    )
    invoices = client.get(
        INVOICES, params={"jobId": "1.5", "modifiedBefore": "later", "pageSize": 5001}, headers=headers
    )

    assert jobs.status_code == invoices.status_code == 400
    assert set(jobs.json()["errors"]) == {"jobStatus", "bookingId", "completedOnOrAfter", "page"}
    assert set(invoices.json()["errors"]) == {"jobId", "modifiedBefore", "pageSize"}


def test_an_empty_ids_parameter_is_no_filter(client: httpx.Client, headers: dict[str, str]) -> None:
    booked = _booked(client, headers, 1)

    assert _ids(listed(client, JOBS, headers, ids="")) == [booked[0]["job"]["id"]]


def test_another_tenants_lists_do_not_show_these_records(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    booked = _booked(client, headers, 1)[0]
    client.post(
        "/_sandbox/tenants",
        json={"tenant_id": 555, "client_id": "cid.acme", "client_secret": "cs.acme", "booking_providers": []},
    ).raise_for_status()
    theirs = api_headers(client, "cid.acme", "cs.acme")

    assert listed(client, "/jpm/v2/tenant/555/jobs", theirs) == []
    assert listed(client, "/accounting/v2/tenant/555/invoices", theirs) == []
    assert listed(client, "/crm/v2/tenant/555/bookings", theirs) == []
    assert client.get(f"/jpm/v2/tenant/555/jobs/{booked['job']['id']}", headers=theirs).status_code == 404


def test_a_follower_with_inclusive_cursors_and_small_pages_sees_every_change(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    """Random changes between polls; each poll pages jobs and invoices from its cursors (the newest
    modifiedOn it has seen, inclusive). After each poll, its copy must equal what the API holds."""
    sandbox.set(rate_limit_per_second=None)
    rng = random.Random(13)
    booked = _booked(client, headers, 7)
    cursors: dict[str, str] = {JOBS: "2000-01-01T00:00:00Z", INVOICES: "2000-01-01T00:00:00Z"}
    seen: dict[str, dict[int, dict[str, Any]]] = {JOBS: {}, INVOICES: {}}

    def poll() -> None:
        for path in (JOBS, INVOICES):
            page, newest = 1, cursors[path]
            while True:
                body = client.get(
                    path, params={"modifiedOnOrAfter": cursors[path], "pageSize": 3, "page": page}, headers=headers
                ).json()
                for record in body["data"]:
                    seen[path][record["id"]] = record
                    newest = max(newest, record["modifiedOn"])
                if not body["hasMore"]:
                    break
                page += 1
            cursors[path] = newest

    for _ in range(25):
        for _ in range(rng.randint(1, 4)):
            pick = rng.choice(booked)
            job, invoice = sandbox.state.jobs[pick["job"]["id"]], sandbox.state.invoices[pick["invoice"]["id"]]
            move = rng.choice(["status", "total", "pay"])
            if move == "status":
                sandbox.set_job_status(job.id, rng.choice(JOB_STATUSES))
            elif move == "total":
                sandbox.set_job_total(job.id, invoice.total - invoice.balance + rng.randint(0, 50))
            elif invoice.balance > 0:
                sandbox.pay_invoice(invoice.id, min(invoice.balance, Decimal(rng.randint(1, 80))))
        poll()
        assert seen[JOBS] == {j["id"]: j for j in listed(client, JOBS, headers)}
        assert seen[INVOICES] == {i["id"]: i for i in listed(client, INVOICES, headers)}
