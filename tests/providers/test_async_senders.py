"""The async client over real HTTP with each sender: httpx (tests, screens) and aiohttp (the worker).

Every failure must come out as the same error with the same sentence whichever library moved the bytes: the
engine decides from it whether a booking may exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import httpx
import pytest

from referloop.providers.servicetitan import (
    AmbiguousError,
    AsyncServiceTitanClient,
    Credentials,
    CredentialsRejected,
    PermanentError,
    ServiceTitanError,
    TokenCache,
    TransientError,
    sandbox_environment,
)
from referloop.providers.transport import AiohttpSender, AsyncSender, HttpxSender
from referloop.sandbox.config import (
    DEMO_APP_KEY,
    DEMO_BOOKING_PROVIDER_ID,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
    SandboxConfig,
)
from referloop.sandbox.testing import SandboxHandle, running_sandbox
from tests.sandbox.helpers import booking_body

PROVIDER = DEMO_BOOKING_PROVIDER_ID
SHORT_READ = httpx.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0)
SENDERS: dict[str, Callable[[], AsyncSender]] = {
    "httpx": lambda: HttpxSender(httpx.AsyncClient(), owned=True),
    "aiohttp": lambda: AiohttpSender(connections=8),
}
Scenario = Callable[[AsyncServiceTitanClient], Coroutine[Any, Any, object]]


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig.demo(seed=11)) as handle:
        yield handle


@pytest.fixture(params=sorted(SENDERS))
def sender_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def credentials(base_url: str, secret: str = DEMO_CLIENT_SECRET) -> Credentials:
    return Credentials(sandbox_environment(base_url), DEMO_TENANT_ID, DEMO_CLIENT_ID, secret, DEMO_APP_KEY)


def run(
    sender_name: str, scenario: Scenario, *, base_url: str, secret: str = DEMO_CLIENT_SECRET, timeout: httpx.Timeout
) -> object:
    async def go() -> object:
        sender = SENDERS[sender_name]()
        client = AsyncServiceTitanClient(
            credentials(base_url, secret), sender=sender, timeout=timeout, token_cache=TokenCache()
        )
        try:
            return await scenario(client)
        finally:
            await sender.aclose()

    return asyncio.run(go())


def failure(sender_name: str, scenario: Scenario, base_url: str, **kwargs: Any) -> ServiceTitanError:
    with pytest.raises(ServiceTitanError) as excinfo:
        run(sender_name, scenario, base_url=base_url, timeout=kwargs.pop("timeout", SHORT_READ), **kwargs)
    return excinfo.value


def test_each_sender_creates_a_booking_and_finds_it_by_external_id(sandbox, sender_name):
    async def scenario(client: AsyncServiceTitanClient) -> object:
        created = await client.create_booking(PROVIDER, booking_body(externalId="LEAD-1"))
        return created, await client.find_bookings_by_external_id(PROVIDER, "LEAD-1")

    created, found = run(sender_name, scenario, base_url=sandbox.base_url, timeout=SHORT_READ)  # type: ignore[misc]
    assert found == [created]
    assert [booking.external_id for booking in sandbox.bookings()] == ["LEAD-1"]


def test_each_sender_gets_a_fresh_token_after_a_401_and_retries_once(sandbox, sender_name):
    async def scenario(client: AsyncServiceTitanClient) -> object:
        await client.fetch_token()
        sandbox.sandbox.tokens.expire_all()
        return await client.list_booking_provider_tags()

    tags = run(sender_name, scenario, base_url=sandbox.base_url, timeout=SHORT_READ)
    assert [tag.id for tag in tags] == [PROVIDER]  # type: ignore[attr-defined]
    assert sandbox.stats()["by_operation"]["BookingProviderTags_GetList"] == {"401": 1, "200": 1}


def test_each_sender_reports_a_refused_secret_as_credentials_rejected(sandbox, sender_name):
    async def scenario(client: AsyncServiceTitanClient) -> object:
        return await client.fetch_token()

    error = failure(sender_name, scenario, sandbox.base_url, secret="cs.wrong")
    assert isinstance(error, CredentialsRejected)
    assert error.status == 400  # OAuth's invalid_client, as ServiceTitan's identity server answers


def test_each_sender_reads_a_429s_retry_after(sandbox, sender_name):
    async def scenario(client: AsyncServiceTitanClient) -> object:
        await client.fetch_token()
        sandbox.set(rate_limit_per_second=1)
        await client.list_booking_provider_tags()
        return await client.list_booking_provider_tags()

    error = failure(sender_name, scenario, sandbox.base_url)
    assert isinstance(error, TransientError)
    assert (error.status, error.retry_after) == (429, 1.0)


def test_each_sender_keeps_servicetitans_text_for_a_bad_body(sandbox, sender_name):
    async def scenario(client: AsyncServiceTitanClient) -> object:
        return await client.create_booking(PROVIDER, booking_body(priority="Whenever"))

    error = failure(sender_name, scenario, sandbox.base_url)
    assert isinstance(error, PermanentError)
    assert error.status == 400
    assert error.message.startswith("ServiceTitan could not create the booking because of these fields: Priority: ")


def test_each_sender_calls_a_create_that_hangs_ambiguous_and_names_the_timeout(sandbox, sender_name):
    async def scenario(client: AsyncServiceTitanClient) -> object:
        await client.fetch_token()
        sandbox.set(hang_rate=1.0, hang_seconds=5)
        return await client.create_booking(PROVIDER, booking_body(externalId="LEAD-HANG"))

    error = failure(sender_name, scenario, sandbox.base_url)
    assert isinstance(error, AmbiguousError)
    assert error.message == (
        "ServiceTitan did not answer within 0.3 seconds after the request to create the booking was sent, "
        "so ServiceTitan may have carried it out; check before sending it again."
    )


def test_each_sender_calls_a_read_that_hangs_only_transient(sandbox, sender_name):
    async def scenario(client: AsyncServiceTitanClient) -> object:
        await client.fetch_token()
        sandbox.set(hang_rate=1.0, hang_seconds=5)
        return await client.find_bookings_by_external_id(PROVIDER, "LEAD-HANG")

    error = failure(sender_name, scenario, sandbox.base_url)
    assert type(error) is TransientError


def test_each_sender_calls_a_connection_dropped_after_create_ambiguous(sandbox, sender_name):
    async def scenario(client: AsyncServiceTitanClient) -> object:
        sandbox.set(drop_after_create_rate=1.0)
        return await client.create_booking(PROVIDER, booking_body(externalId="LEAD-DROP"))

    error = failure(sender_name, scenario, sandbox.base_url)
    assert isinstance(error, AmbiguousError)
    assert error.message == (
        "The connection to ServiceTitan was lost after the request to create the booking was sent, "
        "so ServiceTitan may have carried it out; check before sending it again."
    )
    assert [booking.external_id for booking in sandbox.bookings()] == ["LEAD-DROP"]  # it was created


def test_each_sender_says_nothing_was_sent_when_nothing_listens(sender_name):
    async def scenario(client: AsyncServiceTitanClient) -> object:
        return await client.create_booking(PROVIDER, booking_body())

    error = failure(sender_name, scenario, "http://127.0.0.1:9")
    assert type(error) is TransientError
    assert error.message == (
        "Could not connect to ServiceTitan (127.0.0.1) to get an access token; nothing was sent, "
        "so it is safe to try again."
    )


def test_each_sender_calls_a_url_no_library_would_send_to_a_permanent_mistake(sender_name):
    async def scenario(client: AsyncServiceTitanClient) -> object:
        return await client.create_booking(PROVIDER, booking_body())

    error = failure(sender_name, scenario, "ftp://127.0.0.1:9")
    assert type(error) is PermanentError
    assert error.message.startswith("referloop could not build a valid request to get an access token: ")
