"""The error translator: ServiceTitan's answer (or its absence) → the right error class and one sentence."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referloop.providers.servicetitan import (
    AmbiguousError,
    CredentialsRejected,
    PermanentError,
    TransientError,
)
from referloop.providers.servicetitan.errors import (
    RequestContext,
    error_from_response,
    error_from_transport,
    token_error_from_response,
)
from referloop.providers.transport import InvalidRequest, TransportFailure, parse_retry_after
from tests.servicetitan_contract import official_bodies
from tests.st_openapi import needs_st_openapi

CREATE = RequestContext("create the booking", "Integration", 1234567, booking_provider_id=42, idempotent=False)
GET_BOOKING = RequestContext("read booking 17", "Integration", 1234567, booking_provider_id=42, subject="booking 17")
REQUEST = httpx.Request("POST", "https://api-integration.servicetitan.io/crm/v2/tenant/1234567/x")


def answer(status: int, body: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers, request=REQUEST)
    return httpx.Response(status, json=body, headers=headers, request=REQUEST)


def problem(status: int, title: str, errors: dict[str, list[str]] | None = None) -> dict:
    return {
        "type": "about:blank",
        "title": title,
        "status": status,
        "traceId": "00-ab-cd-00",
        "errors": errors or {},
        "data": {},
    }


def test_404_on_the_booking_provider_path_says_to_check_the_booking_provider_value():
    error = error_from_response(answer(404, problem(404, "Booking provider not found")), CREATE)
    assert isinstance(error, PermanentError)
    assert error.message == (
        "ServiceTitan has no booking provider 42 for this app in tenant 1234567, so check the Booking "
        "Provider Value (ServiceTitan shows it under Settings → Integrations → API Application Access → "
        "the app's details)."
    )
    assert error.servicetitan_text == "Booking provider not found"
    assert error.status == 404


def test_404_for_one_booking_names_it_and_still_points_at_the_booking_provider_value():
    error = error_from_response(answer(404, problem(404, "Booking not found")), GET_BOOKING)
    assert error.message.startswith("ServiceTitan found no booking 17 under booking provider 42;")
    assert "check the Booking Provider Value" in error.message


def test_400_lists_each_field_with_servicetitans_message():
    body = problem(
        400,
        "One or more validation errors occurred.",
        {
            "externalId": ["The ExternalId field is required."],
            "Address.Zip": ["The Zip field is required.", "Too short."],
            "contacts[0].type": ["Unknown contact type."],
        },
    )
    error = error_from_response(answer(400, body), CREATE)
    assert isinstance(error, PermanentError) and error.permanent
    assert error.message == (
        "ServiceTitan could not create the booking because of these fields: External Id: The ExternalId "
        "field is required; Zip: The Zip field is required, Too short; contacts[0].type: Unknown contact type."
    )
    assert error.servicetitan_text == (
        "One or more validation errors occurred; externalId: The ExternalId field is required; "
        "Address.Zip: The Zip field is required, Too short; contacts[0].type: Unknown contact type"
    )
    assert error.body == body


def test_403_says_the_app_lacks_permission_and_may_need_an_upgrade():
    error = error_from_response(answer(403, problem(403, "Forbidden")), CREATE)
    assert isinstance(error, PermanentError)
    assert error.message == (
        "ServiceTitan refused to let the app create the booking because the app lacks permission (a scope "
        "or booking provider 42 is not granted to it); if the app was updated, the tenant admin may need "
        'to click "Upgrade to New Version" under Settings → Integrations → API Application Access.'
    )


@pytest.mark.parametrize("status", [409, 422])
def test_conflict_and_unprocessable_are_permanent(status):
    error = error_from_response(answer(status, problem(status, "Duplicate external id")), CREATE)
    assert isinstance(error, PermanentError)
    assert "Duplicate external id" in error.message


def test_401_after_a_fresh_token_means_the_credentials_are_rejected():
    error = error_from_response(answer(401, ""), CREATE)
    assert isinstance(error, CredentialsRejected) and error.permanent
    assert error.message == (
        "ServiceTitan refused a newly issued access token for tenant 1234567 in the Integration environment: "
        "check the app key, and that the client ID and secret were generated for this tenant in Integration, "
        "since they are specific to one environment and one tenant."
    )


def test_token_endpoint_refusal_keeps_the_oauth_error_text():
    body = {"error": "invalid_client", "error_description": "Client authentication failed"}
    error = token_error_from_response(answer(400, body), RequestContext("get an access token", "Production", 9))
    assert isinstance(error, CredentialsRejected)
    assert error.message == (
        "ServiceTitan rejected the client ID and secret for tenant 9 in the Production environment: a client "
        "ID and secret are specific to one environment and one tenant, so use the pair generated for this "
        "tenant in Production."
    )
    assert error.servicetitan_text == "Client authentication failed"


def test_token_endpoint_outage_is_transient():
    error = token_error_from_response(answer(503, "down"), RequestContext("get an access token", "Production", 9))
    assert isinstance(error, TransientError)


def test_429_carries_retry_after_in_seconds():
    error = error_from_response(answer(429, problem(429, "Too many requests"), {"Retry-After": "7"}), CREATE)
    assert isinstance(error, TransientError)
    assert error.retry_after == 7.0
    assert error.message == (
        "ServiceTitan's rate limit was reached while trying to create the booking; try again in 7 seconds."
    )


def test_retry_after_as_an_http_date_becomes_seconds_from_now():
    now = datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 May 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 May 2025 11:59:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("1.5") == 1.5


@pytest.mark.parametrize("value", ["1" * 400, "inf", "nan", "²", "-5"])
def test_a_huge_or_odd_retry_after_is_capped_or_ignored_never_an_overflow(value):
    seconds = parse_retry_after(value)
    assert seconds is None or 0.0 <= seconds <= 24 * 3600
    assert parse_retry_after("99999999999999") == 24 * 3600


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient(status):
    error = error_from_response(answer(status, "<html>oops</html>"), CREATE)
    assert isinstance(error, TransientError) and not error.permanent
    assert error.message == (
        f"ServiceTitan had a server error (HTTP {status}) while trying to create the booking; "
        "this is usually temporary, so try again later."
    )
    assert error.servicetitan_text == "<html>oops</html>"


API_URL = "https://api-integration.servicetitan.io/crm/v2/tenant/1234567/x"


def not_sent(message: str, *, waited: str | None = None, seconds: float | None = None) -> TransportFailure:
    return TransportFailure(message, url=API_URL, reached=False, waited=waited, seconds=seconds)


def sent(message: str, *, waited: str | None = None, seconds: float | None = None) -> TransportFailure:
    return TransportFailure(message, url=API_URL, reached=True, waited=waited, seconds=seconds)


@pytest.mark.parametrize(
    "failure",
    [
        not_sent("refused"),
        not_sent("slow", waited="connect", seconds=5.0),
        not_sent("busy", waited="pool", seconds=10.0),
    ],
)
def test_failures_before_sending_are_transient_even_for_a_create(failure):
    error = error_from_transport(failure, CREATE)
    assert isinstance(error, TransientError)
    assert "safe to try again" in error.message


def test_a_failed_connect_names_the_host_and_says_nothing_was_sent():
    error = error_from_transport(not_sent("refused"), CREATE)
    assert error.message == (
        "Could not connect to ServiceTitan (api-integration.servicetitan.io) to create the booking; nothing was "
        "sent, so it is safe to try again."
    )


def test_no_free_pooled_connection_says_nothing_was_sent():
    error = error_from_transport(not_sent("busy", waited="pool", seconds=10.0), CREATE)
    assert type(error) is TransientError
    assert error.message == (
        "No connection to ServiceTitan was free to create the booking in time; nothing was sent, "
        "so it is safe to try again."
    )


@pytest.mark.parametrize(
    "failure",
    [
        sent("slow", waited="read", seconds=2.5),
        sent("slow", waited="write", seconds=10.0),
        sent("Server disconnected without sending a response."),
        sent("reset"),
    ],
)
def test_failures_after_sending_a_create_are_ambiguous(failure):
    error = error_from_transport(failure, CREATE)
    assert isinstance(error, AmbiguousError) and not error.permanent
    assert "may have carried it out; check before sending it again" in error.message


def test_a_read_timeout_names_the_timeout():
    error = error_from_transport(sent("slow", waited="read", seconds=2.5), CREATE)
    assert error.message.startswith("ServiceTitan did not answer within 2.5 seconds after the request to create")


def test_a_lost_answer_to_a_read_is_only_transient():
    error = error_from_transport(sent("slow", waited="read", seconds=1), GET_BOOKING)
    assert type(error) is TransientError
    assert error.message == (
        "ServiceTitan did not answer within 1 seconds while trying to read booking 17; it is safe to try again."
    )


def test_a_lost_connection_after_a_create_was_sent_is_ambiguous():
    error = error_from_transport(sent("Server disconnected"), CREATE)
    assert type(error) is AmbiguousError
    assert error.message == (
        "The connection to ServiceTitan was lost after the request to create the booking was sent, "
        "so ServiceTitan may have carried it out; check before sending it again."
    )


def test_an_invalid_request_is_permanent_even_though_it_never_left():
    failure = InvalidRequest("Request URL has an unsupported protocol 'ftp://'.", url="ftp://example.com/x")
    error = error_from_transport(failure, CREATE)
    assert type(error) is PermanentError
    assert error.message == (
        "referloop could not build a valid request to create the booking: Request URL has an unsupported "
        "protocol 'ftp://'."
    )


@needs_st_openapi
@settings(max_examples=60, deadline=None)
@given(
    body=official_bodies("crm-v2", "ApiErrorResponse"),
    status=st.sampled_from([400, 403, 404, 409, 422, 429, 500, 503]),
)
def test_any_documented_error_body_becomes_one_sentence(body, status):
    error = error_from_response(answer(status, body), CREATE)
    assert error.message.startswith("ServiceTitan")
    assert error.message.endswith(".")
    assert "\n" not in error.message and "\r" not in error.message
    assert error.body == body
    assert isinstance(error, TransientError) == (status in (429, 500, 503))
