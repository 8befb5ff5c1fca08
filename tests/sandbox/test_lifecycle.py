"""A booking's life, driven through the /_sandbox/ control endpoints over real HTTP, and what the API answers.

Each change must move `modifiedOn` of the records it changes, so a client following changes with
`modifiedOnOrAfter` finds it with the cursor it already had, and must leave the other records alone.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from referloop.sandbox import DEMO_TENANT_ID
from referloop.sandbox.testing import SandboxHandle
from tests.sandbox.helpers import (
    BOOKINGS,
    INVOICES,
    JOBS,
    TENANT_BOOKINGS,
    control,
    listed,
    new_booking,
)


def _ids(records: list[dict[str, object]]) -> list[object]:
    return [r["id"] for r in records]


def test_booking_a_job_converts_the_booking_and_a_cursor_from_before_finds_all_three_records(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    created = new_booking(client, headers)
    cursor = created["modifiedOn"]

    answer = control(client, f"bookings/{created['id']}/job", {"total": "480.5"})
    job, invoice = answer["job"], answer["invoice"]

    bookings = listed(client, BOOKINGS, headers, modifiedOnOrAfter=cursor)
    tenant_bookings = listed(client, TENANT_BOOKINGS, headers, modifiedOnOrAfter=cursor)
    jobs = listed(client, JOBS, headers, modifiedOnOrAfter=cursor)
    invoices = listed(client, INVOICES, headers, modifiedOnOrAfter=cursor)
    assert bookings == tenant_bookings == [answer["booking"]]
    assert bookings[0]["status"] == "Converted"
    assert bookings[0]["jobId"] == job["id"]
    assert bookings[0]["modifiedOn"] > cursor
    assert jobs == [job]
    assert (job["bookingId"], job["jobNumber"], job["jobStatus"]) == (created["id"], str(job["id"]), "Scheduled")
    assert (job["completedOn"], job["total"], job["invoiceId"]) == (None, 480.5, invoice["id"])
    assert invoices == [invoice]
    assert (invoice["total"], invoice["balance"], invoice["paidOn"]) == ("480.50", "480.50", None)
    assert invoice["job"] == {"id": job["id"], "number": job["jobNumber"], "type": None}
    # One change, one moment: all three carry the same modifiedOn, and a later cursor sees none of them.
    assert bookings[0]["modifiedOn"] == job["modifiedOn"] == invoice["modifiedOn"]
    later = _after(job["modifiedOn"])
    assert listed(client, TENANT_BOOKINGS, headers, modifiedOnOrAfter=later) == []
    assert listed(client, JOBS, headers, modifiedOnOrAfter=later) == []


def test_a_job_moves_through_every_status_and_each_move_is_found_from_the_previous_cursor(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    booking = new_booking(client, headers)
    job = control(client, f"bookings/{booking['id']}/job")["job"]
    invoice_before = listed(client, INVOICES, headers, jobId=job["id"])[0]

    for status in ("Dispatched", "InProgress", "Hold", "Scheduled", "Dispatched", "Completed", "Canceled"):
        cursor = job["modifiedOn"]
        answer = control(client, f"jobs/{job['id']}/status", {"jobStatus": status})
        job = client.get(f"{JOBS}/{job['id']}", headers=headers).json()

        assert answer["job"] == job
        assert job["jobStatus"] == status
        assert job["modifiedOn"] > cursor
        assert listed(client, JOBS, headers, modifiedOnOrAfter=cursor) == [job]
        assert listed(client, JOBS, headers, jobStatus=status) == [job]
        assert listed(client, JOBS, headers, modifiedOnOrAfter=_after(job["modifiedOn"])) == []
    # Moving a job does not touch its booking or its invoice.
    assert listed(client, INVOICES, headers, jobId=job["id"]) == [invoice_before]
    converted = client.get(f"{BOOKINGS}/{booking['id']}", headers=headers).json()
    assert converted["modifiedOn"] == invoice_before["createdOn"]


def test_moving_a_job_to_the_status_it_has_changes_nothing(client: httpx.Client, headers: dict[str, str]) -> None:
    job = control(client, f"bookings/{new_booking(client, headers)['id']}/job")["job"]

    again = control(client, f"jobs/{job['id']}/status", {"jobStatus": "scheduled"})["job"]

    assert again == job


def test_completing_a_job_with_a_total_sets_completed_on_and_the_invoice_total_at_once(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    job = control(client, f"bookings/{new_booking(client, headers)['id']}/job")["job"]

    answer = control(client, f"jobs/{job['id']}/complete", {"total": 612.4})

    completed = listed(client, JOBS, headers, modifiedOnOrAfter=job["modifiedOn"])
    invoices = listed(client, INVOICES, headers, modifiedOnOrAfter=job["modifiedOn"])
    assert completed == [answer["job"]]
    assert invoices == [answer["invoice"]]
    assert completed[0]["jobStatus"] == "Completed"
    assert completed[0]["completedOn"] == completed[0]["modifiedOn"] == invoices[0]["modifiedOn"]
    assert completed[0]["total"] == 612.4
    assert (invoices[0]["total"], invoices[0]["balance"], invoices[0]["paidOn"]) == ("612.40", "612.40", None)
    assert listed(client, JOBS, headers, completedOnOrAfter=completed[0]["completedOn"]) == completed


def test_a_job_can_be_completed_at_a_given_time(client: httpx.Client, headers: dict[str, str]) -> None:
    job = control(client, f"bookings/{new_booking(client, headers)['id']}/job")["job"]

    completed = control(client, f"jobs/{job['id']}/complete", {"completedOn": "2030-05-01T09:30:00-05:00"})["job"]

    assert completed["completedOn"] == "2030-05-01T14:30:00.000000Z"
    assert completed["modifiedOn"] > job["modifiedOn"]  # the change is now, whatever time it records
    assert listed(client, JOBS, headers, completedBefore="2030-05-01T14:30:00.000001Z") == [completed]
    assert listed(client, JOBS, headers, completedBefore="2030-05-01T14:30:00Z") == []


def test_a_reopened_job_loses_its_completed_on_until_it_is_completed_again(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    job = control(client, f"bookings/{new_booking(client, headers)['id']}/job")["job"]
    first = control(client, f"jobs/{job['id']}/complete")["job"]

    reopened = control(client, f"jobs/{job['id']}/status", {"jobStatus": "InProgress"})["job"]
    assert (reopened["jobStatus"], reopened["completedOn"]) == ("InProgress", None)
    assert listed(client, JOBS, headers, modifiedOnOrAfter=first["modifiedOn"]) == [reopened]
    assert listed(client, JOBS, headers, completedOnOrAfter=first["completedOn"]) == []
    assert listed(client, JOBS, headers, jobStatus="Completed") == []

    second = control(client, f"jobs/{job['id']}/complete")["job"]
    assert second["jobStatus"] == "Completed"
    assert second["completedOn"] > first["completedOn"]
    assert listed(client, JOBS, headers, modifiedOnOrAfter=reopened["modifiedOn"]) == [second]


def test_a_canceled_job_is_listed_as_canceled_and_keeps_its_booking_and_invoice(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    booking = new_booking(client, headers)
    booked = control(client, f"bookings/{booking['id']}/job")

    canceled = control(client, f"jobs/{booked['job']['id']}/status", {"jobStatus": "Canceled"})

    assert listed(client, JOBS, headers, jobStatus="Canceled") == [canceled["job"]]
    assert listed(client, JOBS, headers, jobStatus="Scheduled") == []
    assert canceled["invoice"] == booked["invoice"]
    assert client.get(f"{BOOKINGS}/{booking['id']}", headers=headers).json() == booked["booking"]


def test_an_invoice_paid_in_two_halves_is_paid_only_after_the_second(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    booked = control(client, f"bookings/{new_booking(client, headers)['id']}/job", {"total": "480.50"})
    invoice = booked["invoice"]

    first = control(client, f"invoices/{invoice['id']}/pay", {"amount": "240.25"})
    half = listed(client, INVOICES, headers, modifiedOnOrAfter=invoice["modifiedOn"])
    second = control(client, f"invoices/{invoice['id']}/pay", {"amount": 240.25})
    paid = listed(client, INVOICES, headers, modifiedOnOrAfter=half[0]["modifiedOn"])

    assert half == [first["invoice"]]
    assert (half[0]["balance"], half[0]["total"], half[0]["paidOn"]) == ("240.25", "480.50", None)
    assert half[0]["modifiedOn"] > invoice["modifiedOn"]
    assert paid == [second["invoice"]]
    assert (paid[0]["balance"], paid[0]["paidOn"]) == ("0.00", paid[0]["modifiedOn"])
    assert [p["amount"] for p in second["payments"]] == ["240.25", "240.25"]
    assert second["payments"][-1]["paidOn"] == paid[0]["paidOn"]
    # Paying does not touch the job.
    assert listed(client, JOBS, headers, modifiedOnOrAfter=invoice["modifiedOn"]) == [booked["job"]]
    nothing_left = client.post(f"/_sandbox/invoices/{invoice['id']}/pay", json={})
    assert nothing_left.status_code == 409


def test_a_payment_of_nothing_or_above_the_balance_is_refused_and_changes_nothing(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    invoice = control(client, f"bookings/{new_booking(client, headers)['id']}/job")["invoice"]

    refused = [
        client.post(f"/_sandbox/invoices/{invoice['id']}/pay", json={"amount": amount})
        for amount in ("0", "250.01", "-5", "lots", True)
    ]

    assert [r.status_code for r in refused] == [400] * 5
    assert listed(client, INVOICES, headers, ids=invoice["id"]) == [invoice]


def test_a_new_total_keeps_what_was_paid_and_can_settle_or_reopen_the_invoice(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    booked = control(client, f"bookings/{new_booking(client, headers)['id']}/job", {"total": "250.00"})
    job_id, invoice_id = booked["job"]["id"], booked["invoice"]["id"]
    paid = control(client, f"invoices/{invoice_id}/pay", {"amount": "100"})["invoice"]

    raised = control(client, f"jobs/{job_id}/total", {"total": "300"})
    assert raised["job"]["total"] == 300
    assert (raised["invoice"]["total"], raised["invoice"]["balance"]) == ("300.00", "200.00")
    assert raised["job"]["modifiedOn"] == raised["invoice"]["modifiedOn"] > paid["modifiedOn"]
    assert raised["job"]["jobStatus"] == "Scheduled"

    settled = control(client, f"jobs/{job_id}/total", {"total": "100.00"})["invoice"]
    assert (settled["balance"], settled["paidOn"]) == ("0.00", paid["modifiedOn"])  # the time of the last payment

    reopened = control(client, f"jobs/{job_id}/total", {"total": "120.00"})["invoice"]
    assert (reopened["balance"], reopened["paidOn"]) == ("20.00", None)

    below = client.post(f"/_sandbox/jobs/{job_id}/total", json={"total": "99.99"})
    assert below.status_code == 400
    assert "already paid" in below.json()["error"]


def test_dismissing_a_booking_sets_its_reason_and_a_cursor_from_before_finds_it(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    booking = new_booking(client, headers)

    answer = control(client, f"bookings/{booking['id']}/dismiss", {"dismissingReasonId": 7})

    for path in (BOOKINGS, TENANT_BOOKINGS):
        assert listed(client, path, headers, modifiedOnOrAfter=booking["modifiedOn"]) == [answer["booking"]]
    dismissed = answer["booking"]
    assert (dismissed["status"], dismissed["dismissingReasonId"], dismissed["jobId"]) == ("Dismissed", 7, None)
    assert dismissed["modifiedOn"] > booking["modifiedOn"]
    assert listed(client, JOBS, headers, bookingId=booking["id"]) == []


def test_a_dismissed_booking_cannot_be_booked_nor_a_booked_one_dismissed(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    dismissed = new_booking(client, headers, "lead-1")["id"]
    booked = new_booking(client, headers, "lead-2")["id"]
    control(client, f"bookings/{dismissed}/dismiss")
    control(client, f"bookings/{booked}/job")

    assert client.post(f"/_sandbox/bookings/{dismissed}/job", json={}).status_code == 409
    assert client.post(f"/_sandbox/bookings/{dismissed}/dismiss", json={}).status_code == 409
    assert client.post(f"/_sandbox/bookings/{booked}/dismiss", json={}).status_code == 409
    assert client.get(f"{BOOKINGS}/{dismissed}", headers=headers).json()["dismissingReasonId"] == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("jobs/{job}/status", {"status": "Completed"}),  # a misspelt field is not "use the default"
        ("jobs/{job}/status", {}),
        ("jobs/{job}/status", {"jobStatus": "Done"}),
        ("jobs/{job}/status", {"jobStatus": "Hold", "completedOn": "2030-01-01T00:00:00Z"}),
        ("jobs/{job}/complete", {"completedOn": "yesterday"}),
        ("jobs/{job}/complete", {"total": "1e99999"}),
        ("jobs/{job}/total", {}),
        ("jobs/{job}/total", {"total": {"value": 5}}),
        ("bookings/{booking}/dismiss", {"dismissingReasonId": "7"}),
        ("bookings/{booking}/dismiss", {"dismissingReasonId": 0}),
        ("bookings/{booking}/job", {"total": "-1"}),
        ("invoices/{invoice}/pay", {"amount": "10", "paidOn": "2030-01-01T00:00:00Z"}),
    ],
)
def test_a_control_call_with_a_bad_body_is_refused_with_400_and_changes_nothing(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str], path: str, body: dict[str, object]
) -> None:
    fresh = new_booking(client, headers, "lead-2")["id"]
    booked = control(client, f"bookings/{new_booking(client, headers)['id']}/job")
    ids = {"job": booked["job"]["id"], "invoice": booked["invoice"]["id"], "booking": fresh}
    before = copy.deepcopy((sandbox.bookings(), sandbox.jobs(), sandbox.invoices()))

    response = client.post(f"/_sandbox/{path.format(**ids)}", json=body)

    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert (sandbox.bookings(), sandbox.jobs(), sandbox.invoices()) == before


def test_unknown_records_are_404_on_every_transition(client: httpx.Client) -> None:
    for path, body in [
        ("bookings/1/job", {}),
        ("bookings/1/dismiss", {}),
        ("jobs/1/status", {"jobStatus": "Hold"}),
        ("jobs/1/complete", {}),
        ("jobs/1/total", {"total": "1"}),
        ("invoices/1/pay", {}),
    ]:
        response = client.post(f"/_sandbox/{path}", json=body)
        assert response.status_code == 404, path
        assert "was not found" in response.json()["error"]


def test_the_new_transitions_refuse_a_foreign_origin_and_a_body_not_declared_json(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    job = control(client, f"bookings/{new_booking(client, headers)['id']}/job")["job"]
    path = f"/_sandbox/jobs/{job['id']}/status"

    foreign = client.post(path, json={"jobStatus": "Canceled"}, headers={"Origin": "https://evil.example"})
    as_form = client.post(
        path, content=b"jobStatus=Canceled", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    rebound = client.post(
        path, json={"jobStatus": "Canceled"}, headers={"Host": "evil.example", "Origin": "http://evil.example"}
    )

    assert (foreign.status_code, as_form.status_code, rebound.status_code) == (403, 415, 403)
    assert client.get(f"{JOBS}/{job['id']}", headers=headers).json()["jobStatus"] == "Scheduled"


def test_the_python_helpers_drive_the_same_life_as_the_control_endpoints(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    kept, dropped = new_booking(client, headers, "lead-1"), new_booking(client, headers, "lead-2")

    booking, job, invoice = sandbox.book_job(kept["id"], total="99.90")
    sandbox.set_job_status(job.id, "Dispatched")
    sandbox.complete_job(job.id, total=Decimal("120.00"))
    sandbox.pay_invoice(invoice.id, amount="20")
    sandbox.pay_invoice(invoice.id)
    sandbox.dismiss_booking(dropped["id"], reason_id=3)

    api_job = client.get(f"{JOBS}/{job.id}", headers=headers).json()
    api_invoice = listed(client, INVOICES, headers, ids=invoice.id)[0]
    api_dropped = client.get(f"{BOOKINGS}/{dropped['id']}", headers=headers).json()
    assert (booking.status, api_job["jobStatus"], api_job["total"]) == ("Converted", "Completed", 120)
    assert (api_invoice["balance"], api_invoice["total"]) == ("0.00", "120.00")
    assert [p.amount for p in sandbox.invoices()[0].payments] == [Decimal("20.00"), Decimal("100.00")]
    assert (api_dropped["status"], api_dropped["dismissingReasonId"]) == ("Dismissed", 3)
    assert [j.id for j in sandbox.jobs(DEMO_TENANT_ID)] == [job.id]
    assert sandbox.jobs(555) == []


def test_a_naive_completion_time_is_refused_from_python(sandbox: SandboxHandle, client: httpx.Client) -> None:
    headers = sandbox.auth_headers()
    _, job, _ = sandbox.book_job(new_booking(client, headers)["id"])

    with pytest.raises(ValueError, match="time zone"):
        sandbox.complete_job(job.id, completed_on=datetime(2030, 1, 1))  # naive on purpose

    assert sandbox.complete_job(job.id, completed_on=datetime(2030, 1, 1, tzinfo=UTC)).job_status == "Completed"


def _after(stamp: str) -> str:
    """One microsecond after an API timestamp: a cursor that must not see the record stamped `stamp`."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(microseconds=1)
    return moment.isoformat().replace("+00:00", "Z")
