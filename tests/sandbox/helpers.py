"""Request helpers shared by the sandbox tests."""

from __future__ import annotations

from typing import Any

import httpx

from referloop.sandbox import (
    DEMO_APP_KEY,
    DEMO_BOOKING_PROVIDER_ID,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
)

BOOKINGS = f"/crm/v2/tenant/{DEMO_TENANT_ID}/booking-provider/{DEMO_BOOKING_PROVIDER_ID}/bookings"


def booking_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "referloop",
        "name": "Ann Example",
        "summary": "Referred by Bob: AC tune-up",
        "isFirstTimeClient": True,
        "externalId": "lead-1",
        "address": {"street": "1 Main St", "city": "Austin", "state": "TX", "zip": "78701", "country": "USA"},
        "contacts": [{"type": "Email", "value": "ann@example.com"}],
    }
    body.update(overrides)
    return body


def fetch_token(
    client: httpx.Client, client_id: str = DEMO_CLIENT_ID, client_secret: str = DEMO_CLIENT_SECRET
) -> httpx.Response:
    return client.post(
        "/connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
    )


def api_headers(
    client: httpx.Client, client_id: str = DEMO_CLIENT_ID, secret: str = DEMO_CLIENT_SECRET
) -> dict[str, str]:
    """Headers for API calls, with a token fetched the way a client fetches it."""
    response = fetch_token(client, client_id, secret)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}", "ST-App-Key": DEMO_APP_KEY}


TENANT_BOOKINGS = f"/crm/v2/tenant/{DEMO_TENANT_ID}/bookings"
JOBS = f"/jpm/v2/tenant/{DEMO_TENANT_ID}/jobs"
INVOICES = f"/accounting/v2/tenant/{DEMO_TENANT_ID}/invoices"


def new_booking(client: httpx.Client, headers: dict[str, str], external_id: str = "lead-1") -> dict[str, Any]:
    response = client.post(BOOKINGS, json=booking_body(externalId=external_id), headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def control(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST a /_sandbox/ control endpoint with a JSON body and return its answer, which must be a 200."""
    response = client.post(f"/_sandbox/{path}", json=body or {})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def listed(client: httpx.Client, path: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """The `data` of a list call, which must be a 200."""
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data
