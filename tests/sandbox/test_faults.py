"""The fault knobs, seen from a client on a real socket."""

from __future__ import annotations

import time

import httpx
import pytest

from referloop.sandbox import DEMO_APP_KEY, BookingProvider, TenantConfig
from referloop.sandbox.testing import SandboxHandle
from tests.sandbox.helpers import BOOKINGS, api_headers, booking_body

OTHER_TENANT = TenantConfig(7654321, "cid.other", "cs.other", [BookingProvider(7, "other")])
OTHER_BOOKINGS = "/crm/v2/tenant/7654321/booking-provider/7/bookings"


def test_calls_over_the_per_tenant_limit_get_429_with_retry_after_and_other_tenants_do_not(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.config.put_tenant(OTHER_TENANT)
    other_headers = api_headers(client, OTHER_TENANT.client_id, OTHER_TENANT.client_secret)
    sandbox.set(rate_limit_per_second=5)

    statuses = [client.get(BOOKINGS, headers=headers).status_code for _ in range(8)]
    limited = client.get(BOOKINGS, headers=headers)
    other = client.get(OTHER_BOOKINGS, headers=other_headers)

    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 3
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["status"] == 429
    assert other.status_code == 200
    assert sandbox.stats()["by_tenant"]["1234567"]["429"] == 4


def test_the_limit_frees_up_once_the_window_has_passed(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.set(rate_limit_per_second=2)
    for _ in range(3):
        client.get(BOOKINGS, headers=headers)

    time.sleep(1.05)

    assert client.get(BOOKINGS, headers=headers).status_code == 200


def test_a_tenant_can_have_a_higher_limit_than_the_default(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.set(rate_limit_per_second=2)
    tenant = sandbox.config.tenant(1234567)
    assert tenant is not None
    tenant.rate_limit_per_second = 10

    statuses = [client.get(BOOKINGS, headers=headers).status_code for _ in range(10)]

    assert statuses == [200] * 10


def test_error_rate_one_answers_every_call_with_a_5xx_and_stores_nothing(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.set(error_rate=1.0)

    responses = [client.post(BOOKINGS, json=booking_body(), headers=headers) for _ in range(6)]

    assert {r.status_code for r in responses} <= {500, 503}
    assert all(r.json()["data"] == {"injected": True} for r in responses)
    assert sandbox.bookings() == []


def test_a_hung_call_outlasts_the_client_timeout_but_still_creates_the_booking(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.set(hang_rate=1.0, hang_seconds=3.0)

    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post(BOOKINGS, json=booking_body(), headers=headers, timeout=0.3)

    assert time.monotonic() - started < 2
    assert [b.external_id for b in sandbox.bookings()] == ["lead-1"]
    # The server stops waiting once its client has gone, long before hang_seconds.
    deadline = time.monotonic() + 1.5
    while "Bookings_Create" not in sandbox.stats()["by_operation"]:
        assert time.monotonic() < deadline, "the hung call was still waiting after its client left"
        time.sleep(0.02)


def test_a_dropped_create_stores_the_booking_and_cuts_the_connection_mid_response(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.set(drop_after_create_rate=1.0)

    with pytest.raises(httpx.RemoteProtocolError):
        client.post(BOOKINGS, json=booking_body(externalId="lead-dropped"), headers=headers)

    assert [b.external_id for b in sandbox.bookings()] == ["lead-dropped"]
    assert sandbox.stats()["by_operation"]["Bookings_Create"] == {"dropped": 1}
    sandbox.set(drop_after_create_rate=0.0)
    found = client.get(BOOKINGS, params={"externalId": "lead-dropped"}, headers=headers).json()["data"]
    assert len(found) == 1


def test_drops_only_affect_creates(sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]) -> None:
    sandbox.set(drop_after_create_rate=1.0)

    assert client.get(BOOKINGS, headers=headers).status_code == 200


def test_latency_and_jitter_delay_every_answer(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.set(latency_ms=100, jitter_ms=50)

    started = time.monotonic()
    response = client.get(BOOKINGS, headers=headers)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert 0.1 <= elapsed < 1.0


def test_faults_also_reach_the_token_endpoint(sandbox: SandboxHandle, client: httpx.Client) -> None:
    sandbox.set(error_rate=1.0)

    response = client.post(
        "/connect/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
        headers={"ST-App-Key": DEMO_APP_KEY},
    )

    assert response.status_code in (500, 503)
