"""The throttle knob: 429 bursts whatever the per-tenant window holds (bench/chaos.py turns it on for seconds)."""

from __future__ import annotations

import httpx

from referloop.sandbox.testing import SandboxHandle
from tests.sandbox.helpers import BOOKINGS, booking_body, fetch_token


def test_throttle_rate_one_answers_every_api_call_429_with_retry_after_and_stores_nothing(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.set(throttle_rate=1.0)

    responses = [client.post(BOOKINGS, json=booking_body(), headers=headers) for _ in range(4)]

    assert [r.status_code for r in responses] == [429] * 4
    assert all(r.headers["Retry-After"] == "1" for r in responses)
    assert sandbox.bookings() == []


def test_the_token_endpoint_is_not_throttled(sandbox: SandboxHandle, client: httpx.Client) -> None:
    sandbox.set(throttle_rate=1.0)

    assert fetch_token(client).status_code == 200


def test_calls_go_through_again_once_the_throttle_is_off(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    sandbox.set(throttle_rate=1.0)
    client.get(BOOKINGS, headers=headers)
    sandbox.set(throttle_rate=0.0)

    assert client.get(BOOKINGS, headers=headers).status_code == 200


def test_throttle_rate_outside_zero_to_one_is_refused_naming_the_knob(sandbox: SandboxHandle) -> None:
    answer = httpx.patch(f"{sandbox.base_url}/_sandbox/config", json={"throttle_rate": 1.5}, timeout=5)

    assert answer.status_code == 400
    assert "throttle_rate must be between 0 and 1" in answer.json()["error"]
