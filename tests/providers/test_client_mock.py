"""Client cases the sandbox cannot produce, served by httpx.MockTransport.

The sandbox always sends Retry-After in seconds and always answers with well-formed JSON; these tests
cover Retry-After as an HTTP-date, a garbled success answer, and the exact request the client sends.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from referloop.providers.servicetitan import (
    INTEGRATION,
    AmbiguousError,
    AsyncServiceTitanClient,
    Credentials,
    ServiceTitanClient,
    TokenCache,
    TransientError,
)

CREDENTIALS = Credentials(INTEGRATION, 1234567, "cid.abc", "cs.secret", "ak1.app")
TOKEN = {"access_token": "tok-1", "expires_in": 900, "token_type": "Bearer"}
BOOKING = {"id": 1, "externalId": "LEAD-1", "bookingProviderId": 42, "status": "New"}


def transport(api: httpx.Response, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if request.url.path == "/connect/token":
            return httpx.Response(200, json=TOKEN)
        return api

    return httpx.MockTransport(handle)


def test_retry_after_as_an_http_date_is_turned_into_seconds():
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    api = httpx.Response(429, headers={"Retry-After": later}, json={"title": "Too many requests"})
    with (
        ServiceTitanClient(CREDENTIALS, transport=transport(api), token_cache=TokenCache()) as client,
        pytest.raises(TransientError) as excinfo,
    ):
        client.list_booking_provider_tags()
    assert excinfo.value.retry_after is not None
    assert 28 <= excinfo.value.retry_after <= 30


def test_the_request_carries_the_bearer_token_app_key_json_body_and_explicit_timeouts():
    seen: list[httpx.Request] = []
    timeout = httpx.Timeout(connect=1.0, read=2.0, write=3.0, pool=4.0)
    with ServiceTitanClient(
        CREDENTIALS,
        timeout=timeout,
        transport=transport(httpx.Response(200, json=BOOKING), seen),
        token_cache=TokenCache(),
    ) as client:
        booking = client.create_booking(42, {"name": "Tom"})
    token_request, create_request = seen
    assert str(token_request.url) == "https://auth-integration.servicetitan.io/connect/token"
    assert token_request.content == b"grant_type=client_credentials&client_id=cid.abc&client_secret=cs.secret"
    assert str(create_request.url) == (
        "https://api-integration.servicetitan.io/crm/v2/tenant/1234567/booking-provider/42/bookings"
    )
    assert create_request.headers["Authorization"] == "Bearer tok-1"
    assert create_request.headers["ST-App-Key"] == "ak1.app"
    assert json.loads(create_request.content) == {"name": "Tom"}
    assert create_request.extensions["timeout"] == {"connect": 1.0, "read": 2.0, "write": 3.0, "pool": 4.0}
    assert booking.external_id == "LEAD-1"


def test_lookups_send_their_filters_as_query_parameters():
    seen: list[httpx.Request] = []
    page = httpx.Response(200, json={"page": 1, "pageSize": 200, "hasMore": False, "data": []})
    with ServiceTitanClient(CREDENTIALS, transport=transport(page, seen), token_cache=TokenCache()) as client:
        assert client.find_bookings_by_external_id(42, "LEAD 1&2") == []
        assert client.list_jobs_by_booking(7) == []
        assert client.list_invoices_by_job(8) == []
    assert [(r.url.path, dict(r.url.params)) for r in seen[1:]] == [
        ("/crm/v2/tenant/1234567/booking-provider/42/bookings", {"externalId": "LEAD 1&2", "pageSize": "200"}),
        ("/jpm/v2/tenant/1234567/jobs", {"bookingId": "7", "pageSize": "200"}),
        ("/accounting/v2/tenant/1234567/invoices", {"jobId": "8", "pageSize": "200"}),
    ]


def test_a_garbled_answer_to_a_create_is_ambiguous():
    garbled = httpx.Response(200, text="<html>gateway page</html>")
    with (
        ServiceTitanClient(CREDENTIALS, transport=transport(garbled), token_cache=TokenCache()) as client,
        pytest.raises(AmbiguousError) as excinfo,
    ):
        client.create_booking(42, {"name": "Tom"})
    assert excinfo.value.message == (
        "ServiceTitan answered the request to create the booking (HTTP 200) with a response referloop could "
        "not read, so it may have been carried out; check before sending it again."
    )
    assert excinfo.value.body == "<html>gateway page</html>"


def test_a_garbled_answer_to_a_read_is_transient():
    async def scenario() -> None:
        api = httpx.Response(200, json={"unexpected": True})
        async with AsyncServiceTitanClient(CREDENTIALS, transport=transport(api), token_cache=TokenCache()) as client:
            with pytest.raises(TransientError):
                await client.get_job(3)

    asyncio.run(scenario())


def test_a_token_answer_without_an_access_token_is_transient():
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"token_type": "Bearer"})

    with (
        ServiceTitanClient(CREDENTIALS, transport=httpx.MockTransport(handle), token_cache=TokenCache()) as client,
        pytest.raises(TransientError) as excinfo,
    ):
        client.fetch_token()
    assert "get an access token" in excinfo.value.message
