"""The /_sandbox/ control endpoints and the bookings page, over real HTTP."""

from __future__ import annotations

import httpx

from referloop.sandbox import DEMO_TENANT_ID
from referloop.sandbox.testing import SandboxHandle
from tests.sandbox.helpers import BOOKINGS, api_headers, booking_body

JOBS = f"/jpm/v2/tenant/{DEMO_TENANT_ID}/jobs"
INVOICES = f"/accounting/v2/tenant/{DEMO_TENANT_ID}/invoices"


def test_config_shows_the_knobs_and_the_demo_tenant(client: httpx.Client) -> None:
    config = client.get("/_sandbox/config").json()

    assert config["rate_limit_per_second"] == 60
    assert config["token_lifetime_seconds"] == 900
    assert config["app_keys"] == ["ak1.referloop-sandbox-app-key"]
    assert config["tenants"][0]["booking_providers"] == [
        {"id": 42, "name": "referloop", "description": "referloop referrals"}
    ]


def test_patching_config_changes_knobs_at_run_time(sandbox: SandboxHandle, client: httpx.Client) -> None:
    response = client.patch("/_sandbox/config", json={"latency_ms": 5, "error_rate": 0.25, "seed": 7})

    assert response.status_code == 200
    assert response.json()["error_rate"] == 0.25
    assert sandbox.config.latency_ms == 5.0


def test_a_bad_knob_is_refused_and_changes_nothing(sandbox: SandboxHandle, client: httpx.Client) -> None:
    out_of_range = client.patch("/_sandbox/config", json={"latency_ms": 5, "error_rate": 2})
    unknown = client.patch("/_sandbox/config", json={"speed": "fast"})

    assert out_of_range.status_code == 400
    assert out_of_range.json() == {"error": "error_rate must be between 0 and 1"}
    assert unknown.status_code == 400
    assert sandbox.config.latency_ms == 0.0


def test_a_tenant_added_at_run_time_can_get_tokens_and_create_bookings(
    sandbox: SandboxHandle, client: httpx.Client
) -> None:
    added = client.post(
        "/_sandbox/tenants",
        json={
            "tenant_id": 555,
            "client_id": "cid.acme",
            "client_secret": "cs.acme",
            "booking_providers": [{"id": 9, "name": "acme referrals"}],
        },
    )
    headers = api_headers(client, "cid.acme", "cs.acme")

    created = client.post("/crm/v2/tenant/555/booking-provider/9/bookings", json=booking_body(), headers=headers)

    assert added.status_code == 200
    assert created.status_code == 200
    assert [b.tenant_id for b in sandbox.bookings()] == [555]
    assert client.get("/_sandbox/bookings", params={"tenant": 555}).json()["counts_by_external_id"] == {"lead-1": 1}
    assert client.get("/_sandbox/bookings", params={"tenant": DEMO_TENANT_ID}).json()["bookings"] == []


def test_a_malformed_tenant_is_refused(client: httpx.Client) -> None:
    response = client.post("/_sandbox/tenants", json={"tenant_id": "x", "client_id": "c", "client_secret": "s"})

    assert response.status_code == 400
    assert response.json() == {"error": "tenant_id must be a positive integer"}


def test_a_booking_becomes_a_job_that_completes_and_an_invoice_that_gets_paid(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    booking_id = client.post(BOOKINGS, json=booking_body(), headers=headers).json()["id"]

    converted = client.post(f"/_sandbox/bookings/{booking_id}/job", json={"total": "480.5"}).json()
    job_id = converted["job"]["id"]
    booking = client.get(f"{BOOKINGS}/{booking_id}", headers=headers).json()
    scheduled = client.get(JOBS, params={"bookingId": booking_id}, headers=headers).json()["data"]
    unpaid = client.get(INVOICES, params={"jobId": job_id}, headers=headers).json()["data"]
    client.post(f"/_sandbox/jobs/{job_id}/complete")
    completed = client.get(f"{JOBS}/{job_id}", headers=headers).json()
    client.post(f"/_sandbox/invoices/{converted['invoice']['id']}/pay")
    paid = client.get(INVOICES, params={"ids": converted["invoice"]["id"]}, headers=headers).json()["data"]

    assert booking["status"] == "Converted"
    assert booking["jobId"] == job_id
    assert [(j["id"], j["jobStatus"], j["completedOn"]) for j in scheduled] == [(job_id, "Scheduled", None)]
    assert [(i["balance"], i["total"], i["paidOn"]) for i in unpaid] == [("480.50", "480.50", None)]
    assert completed["jobStatus"] == "Completed"
    assert completed["completedOn"].endswith("Z")
    assert paid[0]["balance"] == "0.00"
    assert paid[0]["paidOn"] is not None


def test_jobs_are_filtered_by_status(client: httpx.Client, headers: dict[str, str]) -> None:
    ids = [client.post(BOOKINGS, json=booking_body(), headers=headers).json()["id"] for _ in range(2)]
    jobs = [client.post(f"/_sandbox/bookings/{i}/job").json()["job"]["id"] for i in ids]
    client.post(f"/_sandbox/jobs/{jobs[0]}/complete")

    completed = client.get(JOBS, params={"jobStatus": "Completed"}, headers=headers).json()["data"]
    scheduled = client.get(JOBS, params={"jobStatus": "Scheduled"}, headers=headers).json()["data"]

    assert [j["id"] for j in completed] == [jobs[0]]
    assert [j["id"] for j in scheduled] == [jobs[1]]


def test_booking_a_booking_twice_is_a_conflict_and_unknown_ids_are_404(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    booking_id = client.post(BOOKINGS, json=booking_body(), headers=headers).json()["id"]
    client.post(f"/_sandbox/bookings/{booking_id}/job")

    assert client.post(f"/_sandbox/bookings/{booking_id}/job").status_code == 409
    assert client.post("/_sandbox/bookings/1/job").status_code == 404
    assert client.post("/_sandbox/jobs/1/complete").status_code == 404
    assert client.post("/_sandbox/invoices/1/pay").status_code == 404
    assert client.get(f"{JOBS}/{booking_id}", headers=headers).status_code == 404


def test_reset_clears_the_data_and_keeps_config_and_tokens(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    client.post(BOOKINGS, json=booking_body(), headers=headers)
    sandbox.set(latency_ms=1)

    assert client.post("/_sandbox/reset").status_code == 200

    assert sandbox.bookings() == []
    assert sandbox.config.latency_ms == 1.0
    assert client.get(BOOKINGS, headers=headers).json()["data"] == []


def test_stats_count_calls_by_status_tenant_and_operation(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.set(rate_limit_per_second=1)
    client.post(BOOKINGS, json=booking_body(), headers=headers)
    client.post(BOOKINGS, json=booking_body(), headers=headers)

    stats = client.get("/_sandbox/stats").json()

    assert stats["by_status"] == {"200": 2, "429": 1}
    assert stats["by_tenant"] == {str(DEMO_TENANT_ID): {"200": 2, "429": 1}}
    assert stats["by_operation"]["Token"] == {"200": 1}
    assert stats["by_operation"]["Bookings_Create"] == {"200": 1, "429": 1}


def test_the_bookings_page_lists_bookings_with_their_values_escaped(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    client.post(BOOKINGS, json=booking_body(name="<script>alert(1)</script>"), headers=headers)

    page = client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
    assert "lead-1" in page.text


def test_the_bookings_page_shows_each_bookings_job_status_and_balance(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    booking_id = client.post(BOOKINGS, json=booking_body(), headers=headers).json()["id"]
    _, job, invoice = sandbox.book_job(booking_id, total="480.00")
    sandbox.set_job_status(job.id, "InProgress")
    sandbox.pay_invoice(invoice.id, amount="80.00")

    page = client.get("/").text

    assert "<th>Job status</th>" in page
    assert f"<td>{job.id}</td><td>InProgress</td><td>400.00</td>" in page


def test_a_cross_origin_simple_post_is_refused_and_changes_nothing(client: httpx.Client) -> None:
    """What a web page the developer visits could send: a form post, with the page's Origin."""
    before = client.get("/_sandbox/config").json()
    form = client.post(
        "/_sandbox/reset",
        content=b"x=1",
        headers={"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 403
    assert "cross-origin" in form.json()["error"]
    no_body = client.post("/_sandbox/tokens/expire", headers={"Origin": "https://evil.example"})
    assert no_body.status_code == 403
    reading = client.get("/_sandbox/config", headers={"Origin": "https://evil.example"})
    assert reading.status_code == 403  # the config holds the tenants' client secrets
    assert client.get("/_sandbox/config").json() == before


def test_a_control_post_with_a_body_must_be_declared_json(client: httpx.Client) -> None:
    text = client.patch("/_sandbox/config", content=b'{"latency_ms": 5}', headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    assert client.get("/_sandbox/config").json()["latency_ms"] != 4321
    same_origin = client.patch(
        "/_sandbox/config", json={"latency_ms": 5}, headers={"Origin": str(client.base_url).rstrip("/")}
    )
    assert same_origin.status_code == 200
    assert same_origin.json()["latency_ms"] == 5


def test_a_rebound_name_cannot_reach_the_controls_even_from_its_own_origin(client: httpx.Client) -> None:
    """DNS rebinding: evil.example now resolves to 127.0.0.1, and its page is same-origin with itself."""
    rebound = {"Host": "evil.example:8700", "Origin": "http://evil.example:8700"}

    reading = client.get("/_sandbox/config", headers=rebound)
    changing = client.patch("/_sandbox/config", json={"latency_ms": 4321}, headers=rebound)

    assert (reading.status_code, changing.status_code) == (403, 403)
    assert "localhost only" in reading.json()["error"]
    assert client.get("/_sandbox/config").json()["latency_ms"] != 4321
