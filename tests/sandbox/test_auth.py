"""The token endpoint and the checks every API call goes through, over real HTTP."""

from __future__ import annotations

import time

import httpx

from referloop.sandbox import DEMO_APP_KEY, DEMO_CLIENT_ID, DEMO_TENANT_ID, BookingProvider, TenantConfig
from referloop.sandbox.testing import SandboxHandle
from tests.sandbox.helpers import BOOKINGS, api_headers, fetch_token

OTHER_TENANT = TenantConfig(7654321, "cid.other", "cs.other", [BookingProvider(7, "other")])


def test_token_endpoint_issues_a_bearer_token_for_the_client_credentials(client: httpx.Client) -> None:
    response = fetch_token(client)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] and isinstance(body["scope"], str)
    assert response.headers["cache-control"] == "no-store"


def test_token_endpoint_answers_invalid_client_for_a_wrong_secret_or_unknown_client(client: httpx.Client) -> None:
    wrong_secret = fetch_token(client, client_secret="nope")
    unknown_client = fetch_token(client, client_id="cid.nobody")

    for response in (wrong_secret, unknown_client):
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_client"}


def test_token_endpoint_rejects_other_grant_types_and_json_bodies(client: httpx.Client) -> None:
    password_grant = client.post(
        "/connect/token",
        data={"grant_type": "password", "client_id": DEMO_CLIENT_ID, "client_secret": "cs.referloop-demo-secret"},
    )
    json_body = client.post("/connect/token", json={"grant_type": "client_credentials"})

    assert password_grant.json() == {"error": "unsupported_grant_type"}
    assert json_body.status_code == 400
    assert json_body.json() == {"error": "invalid_request"}


def test_token_lifetime_knob_sets_expires_in_and_an_expired_token_gets_401(
    sandbox: SandboxHandle, client: httpx.Client
) -> None:
    sandbox.set(token_lifetime_seconds=0.3)
    response = fetch_token(client)
    headers = {"Authorization": f"Bearer {response.json()['access_token']}", "ST-App-Key": DEMO_APP_KEY}

    assert response.json()["expires_in"] == 1
    assert client.get(BOOKINGS, headers=headers).status_code == 200
    time.sleep(0.35)
    expired = client.get(BOOKINGS, headers=headers)

    assert expired.status_code == 401
    assert expired.json()["title"] == "The access token has expired."
    assert "invalid_token" in expired.headers["www-authenticate"]


def test_expiring_all_tokens_makes_the_next_call_401_until_a_new_token_is_fetched(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    assert client.post("/_sandbox/tokens/expire").json()["expired"] >= 1

    assert client.get(BOOKINGS, headers=headers).status_code == 401
    assert client.get(BOOKINGS, headers=api_headers(client)).status_code == 200


def test_a_call_without_the_app_key_gets_401(client: httpx.Client, headers: dict[str, str]) -> None:
    no_key = client.get(BOOKINGS, headers={"Authorization": headers["Authorization"]})
    wrong_key = client.get(BOOKINGS, headers={**headers, "ST-App-Key": "ak1.someone-else"})

    for response in (no_key, wrong_key):
        assert response.status_code == 401
        assert "ST-App-Key" in response.json()["title"]


def test_the_app_key_also_works_as_the_servicetitanapplicationkey_query_parameter(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    response = client.get(
        BOOKINGS,
        params={"servicetitanapplicationkey": DEMO_APP_KEY},
        headers={"Authorization": headers["Authorization"]},
    )

    assert response.status_code == 200


def test_a_bare_token_without_the_bearer_prefix_is_accepted(client: httpx.Client, headers: dict[str, str]) -> None:
    bare = headers["Authorization"].removeprefix("Bearer ")

    response = client.get(BOOKINGS, headers={"Authorization": bare, "ST-App-Key": DEMO_APP_KEY})

    assert response.status_code == 200


def test_a_missing_or_unknown_token_gets_401(client: httpx.Client) -> None:
    missing = client.get(BOOKINGS, headers={"ST-App-Key": DEMO_APP_KEY})
    unknown = client.get(BOOKINGS, headers={"ST-App-Key": DEMO_APP_KEY, "Authorization": "Bearer made-up"})

    assert missing.status_code == 401
    assert unknown.status_code == 401
    assert unknown.json()["title"] == "The access token is not valid."


def test_a_token_used_on_another_tenants_path_gets_403(sandbox: SandboxHandle, client: httpx.Client) -> None:
    sandbox.config.put_tenant(OTHER_TENANT)
    other_headers = api_headers(client, OTHER_TENANT.client_id, OTHER_TENANT.client_secret)

    response = client.get(BOOKINGS, headers=other_headers)

    assert response.status_code == 403
    assert response.json()["title"] == f"The access token was not issued for tenant {DEMO_TENANT_ID}."


def test_replacing_a_tenants_client_id_revokes_its_old_tokens(
    sandbox: SandboxHandle, client: httpx.Client, headers: dict[str, str]
) -> None:
    tenant = sandbox.config.tenant(DEMO_TENANT_ID)
    assert tenant is not None

    replaced = client.post("/_sandbox/tenants", json={**tenant.to_dict(), "client_id": "cid.rotated"})

    assert replaced.status_code == 200

    assert client.get(BOOKINGS, headers=headers).status_code == 401
    assert fetch_token(client).json() == {"error": "invalid_client"}


def test_an_unknown_tenant_gets_404_before_the_token_is_checked(client: httpx.Client) -> None:
    response = client.get("/crm/v2/tenant/999/booking-provider/42/bookings", headers={"ST-App-Key": DEMO_APP_KEY})

    assert response.status_code == 404
    assert response.json()["title"] == "Tenant 999 was not found."
