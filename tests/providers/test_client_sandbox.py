"""The ServiceTitan client over real HTTP against referloop's sandbox on a free local port.

Every test gets its own TokenCache, so token fetches can be counted from the sandbox's stats.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

from referloop.providers.servicetitan import (
    AmbiguousError,
    AsyncServiceTitanClient,
    Credentials,
    CredentialsRejected,
    PermanentError,
    ServiceTitanClient,
    TokenCache,
    TransientError,
    build_booking_body,
    default_mapping,
    sandbox_environment,
    token_key,
)
from referloop.sandbox.config import (
    DEMO_APP_KEY,
    DEMO_BOOKING_PROVIDER_ID,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
    BookingProvider,
    SandboxConfig,
    TenantConfig,
)
from referloop.sandbox.testing import SandboxHandle, running_sandbox

PROVIDER = DEMO_BOOKING_PROVIDER_ID
SHORT_READ = httpx.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0)


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig.demo(seed=7)) as handle:
        yield handle


def demo_credentials(sandbox: SandboxHandle, secret: str = DEMO_CLIENT_SECRET) -> Credentials:
    return Credentials(
        environment=sandbox_environment(sandbox.base_url),
        tenant_id=DEMO_TENANT_ID,
        client_id=DEMO_CLIENT_ID,
        client_secret=secret,
        app_key=DEMO_APP_KEY,
    )


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[ServiceTitanClient]:
    with ServiceTitanClient(demo_credentials(sandbox), token_cache=TokenCache()) as st_client:
        yield st_client


def booking_body(external_id: str = "LEAD-0001") -> dict[str, object]:
    return build_booking_body(
        default_mapping(),
        {
            "campaign.name": "Spring referrals",
            "lead.full_name": "Tom Nguyen",
            "lead.email": "tom@example.com",
            "lead.referral_code": external_id,
            "referrer.full_name": "Maria Lopez",
        },
    )


def calls(sandbox: SandboxHandle, operation: str, outcome: str = "200") -> int:
    return sandbox.stats()["by_operation"].get(operation, {}).get(outcome, 0)


# -- the happy path ------------------------------------------------------------------------------


def test_a_booking_is_created_and_found_again_by_external_id(sandbox, client):
    created = client.create_booking(PROVIDER, booking_body("LEAD-0001"))

    assert (created.external_id, created.name, created.status) == ("LEAD-0001", "Tom Nguyen", "New")
    assert created.booking_provider_id == PROVIDER
    assert client.get_booking(PROVIDER, created.id) == created
    assert client.find_bookings_by_external_id(PROVIDER, "LEAD-0001") == [created]
    assert client.find_bookings_by_external_id(PROVIDER, "LEAD-9999") == []
    assert [b.summary for b in sandbox.bookings()] == ["Referral from Maria Lopez"]


def test_booking_provider_tags_are_listed_and_read(client):
    [tag] = client.list_booking_provider_tags()
    assert (tag.id, tag.tag_name, tag.active) == (PROVIDER, "referloop", True)
    assert client.get_booking_provider_tag(PROVIDER) == tag


def test_a_converted_booking_leads_to_its_job_and_invoice(sandbox, client):
    booking = client.create_booking(PROVIDER, booking_body())
    _, job, invoice = sandbox.state.convert_to_job(booking.id, Decimal("249.00"))
    sandbox.state.complete_job(job.id)
    sandbox.state.pay_invoice(invoice.id)

    assert client.get_booking(PROVIDER, booking.id).job_id == job.id
    [listed] = client.list_jobs_by_booking(booking.id)
    assert listed == client.get_job(job.id)
    assert (listed.booking_id, listed.is_completed, listed.total) == (booking.id, True, Decimal("249"))
    [paid] = client.list_invoices_by_job(job.id)
    assert (paid.id, paid.job_id, paid.balance, paid.is_paid) == (invoice.id, job.id, Decimal("0.00"), True)


# -- tokens --------------------------------------------------------------------------------------


def test_many_calls_share_one_token(sandbox, client):
    for _ in range(5):
        client.list_booking_provider_tags()
    assert calls(sandbox, "Token") == 1


def test_many_threads_at_once_fetch_the_token_once(sandbox):
    sandbox.set(latency_ms=100)  # a slow token endpoint makes every thread miss the cache together
    with (
        ServiceTitanClient(demo_credentials(sandbox), token_cache=TokenCache()) as st_client,
        ThreadPoolExecutor(max_workers=10) as pool,
    ):
        results = list(pool.map(lambda _: st_client.get_booking_provider_tag(PROVIDER), range(10)))
    assert {tag.id for tag in results} == {PROVIDER}
    assert calls(sandbox, "Token") == 1


def test_many_concurrent_async_callers_fetch_the_token_once(sandbox):
    sandbox.set(latency_ms=100)

    async def scenario() -> list[int]:
        async with AsyncServiceTitanClient(demo_credentials(sandbox), token_cache=TokenCache()) as st_client:
            tags = await asyncio.gather(*(st_client.get_booking_provider_tag(PROVIDER) for _ in range(20)))
        return [tag.id for tag in tags]

    assert asyncio.run(scenario()) == [PROVIDER] * 20
    assert calls(sandbox, "Token") == 1


def test_the_token_is_renewed_before_it_expires(sandbox, client):
    sandbox.set(token_lifetime_seconds=3)  # renewed halfway through (1.5 s), as 60 s is more than its life
    client.list_booking_provider_tags()
    client.list_booking_provider_tags()
    assert calls(sandbox, "Token") == 1
    time.sleep(1.6)
    client.list_booking_provider_tags()
    assert calls(sandbox, "Token") == 2
    assert calls(sandbox, "BookingProviderTags_GetList", "401") == 0  # renewed before ServiceTitan refused it


def test_a_401_gets_a_fresh_token_and_the_call_is_retried_once(sandbox, client):
    client.list_booking_provider_tags()
    sandbox.sandbox.tokens.expire_all()  # ServiceTitan revoked or expired the token early

    created = client.create_booking(PROVIDER, booking_body())

    assert calls(sandbox, "Bookings_Create", "401") == 1
    assert calls(sandbox, "Token") == 2
    assert [b.id for b in sandbox.bookings()] == [created.id]


def test_a_401_with_a_fresh_token_is_credentials_rejected(sandbox, client):
    sandbox.set(app_keys=["ak1.some-other-app"])
    with pytest.raises(CredentialsRejected) as excinfo:
        client.create_booking(PROVIDER, booking_body())
    assert calls(sandbox, "Bookings_Create", "401") == 2
    assert excinfo.value.message == (
        f"ServiceTitan refused a newly issued access token for tenant {DEMO_TENANT_ID} in the Sandbox "
        "environment: check the app key, and that the client ID and secret were generated for this tenant "
        "in Sandbox, since they are specific to one environment and one tenant."
    )
    assert excinfo.value.servicetitan_text == ("The ST-App-Key header is missing or is not an accepted application key")


def test_fetch_token_checks_the_credentials_with_a_new_token(sandbox, client):
    first = client.fetch_token()
    second = client.fetch_token()
    assert first.access_token != second.access_token
    assert calls(sandbox, "Token") == 2
    client.list_booking_provider_tags()  # served by the token the check fetched
    assert calls(sandbox, "Token") == 2


def test_invalidating_the_key_forgets_the_cached_token(sandbox, client):
    client.list_booking_provider_tags()
    client.token_cache.invalidate(token_key(client.credentials))  # what "reconnect" does
    client.list_booking_provider_tags()
    assert calls(sandbox, "Token") == 2


def test_rejected_token_says_credentials_are_per_environment_and_tenant(sandbox):
    with (
        ServiceTitanClient(demo_credentials(sandbox, secret="cs.wrong"), token_cache=TokenCache()) as st_client,
        pytest.raises(CredentialsRejected) as excinfo,
    ):
        st_client.fetch_token()
    assert excinfo.value.permanent
    assert excinfo.value.status == 400
    assert excinfo.value.message == (
        f"ServiceTitan rejected the client ID and secret for tenant {DEMO_TENANT_ID} in the Sandbox "
        "environment: a client ID and secret are specific to one environment and one tenant, so use the "
        "pair generated for this tenant in Sandbox."
    )
    assert excinfo.value.servicetitan_text == "invalid_client"


def test_a_replaced_secret_is_never_served_the_old_secrets_token(sandbox):
    cache = TokenCache()
    with ServiceTitanClient(demo_credentials(sandbox), token_cache=cache) as good:
        good.list_booking_provider_tags()
    with (
        ServiceTitanClient(demo_credentials(sandbox, secret="cs.replaced"), token_cache=cache) as replaced,
        pytest.raises(CredentialsRejected),
    ):
        replaced.list_booking_provider_tags()
    assert calls(sandbox, "BookingProviderTags_GetList") == 1


def test_credentials_of_one_environment_are_rejected_by_another():
    other = SandboxConfig(
        tenants=[TenantConfig(7654321, "cid.other-env", "cs.other-env-secret", [BookingProvider(42, "x")])],
        app_keys=[DEMO_APP_KEY],
    )
    with running_sandbox(SandboxConfig.demo()) as integration, running_sandbox(other) as production:
        integration_credentials = demo_credentials(integration)
        misplaced = Credentials(
            environment=sandbox_environment(production.base_url),
            tenant_id=integration_credentials.tenant_id,
            client_id=integration_credentials.client_id,
            client_secret=integration_credentials.client_secret,
            app_key=DEMO_APP_KEY,
        )
        with ServiceTitanClient(integration_credentials, token_cache=TokenCache()) as right:
            right.fetch_token()
        with (
            ServiceTitanClient(misplaced, token_cache=TokenCache()) as wrong,
            pytest.raises(CredentialsRejected) as excinfo,
        ):
            wrong.create_booking(PROVIDER, booking_body())
    assert "specific to one environment and one tenant" in excinfo.value.message
    assert production.bookings() == []


# -- failures the delivery engine sorts by what to do next ---------------------------------------


def test_429_with_retry_after_is_a_transient_error_with_retry_after(sandbox, client):
    client.fetch_token()
    sandbox.set(rate_limit_per_second=1)
    client.list_booking_provider_tags()
    with pytest.raises(TransientError) as excinfo:
        client.list_booking_provider_tags()
    assert excinfo.value.status == 429
    assert excinfo.value.retry_after == 1.0
    assert excinfo.value.message == (
        "ServiceTitan's rate limit was reached while trying to list the booking provider tags; try again in 1 second."
    )


def test_a_5xx_is_a_transient_error(sandbox, client):
    client.fetch_token()
    sandbox.set(error_rate=1.0)
    with pytest.raises(TransientError) as excinfo:
        client.create_booking(PROVIDER, booking_body())
    assert excinfo.value.status in (500, 503)
    assert not excinfo.value.permanent
    assert excinfo.value.message == (
        f"ServiceTitan had a server error (HTTP {excinfo.value.status}) while trying to create the booking; "
        "this is usually temporary, so try again later."
    )
    assert sandbox.bookings() == []


def test_a_create_that_hangs_past_the_read_timeout_is_ambiguous(sandbox):
    with ServiceTitanClient(demo_credentials(sandbox), timeout=SHORT_READ, token_cache=TokenCache()) as st_client:
        st_client.fetch_token()
        sandbox.set(hang_rate=1.0, hang_seconds=5)
        with pytest.raises(AmbiguousError) as excinfo:
            st_client.create_booking(PROVIDER, booking_body("LEAD-HANG"))
    assert excinfo.value.message == (
        "ServiceTitan did not answer within 0.3 seconds after the request to create the booking was sent, "
        "so ServiceTitan may have carried it out; check before sending it again."
    )
    assert [b.external_id for b in sandbox.bookings()] == ["LEAD-HANG"]  # it did


def test_a_read_that_hangs_is_only_transient(sandbox):
    with ServiceTitanClient(demo_credentials(sandbox), timeout=SHORT_READ, token_cache=TokenCache()) as st_client:
        st_client.fetch_token()
        sandbox.set(hang_rate=1.0, hang_seconds=5)
        with pytest.raises(TransientError):
            st_client.find_bookings_by_external_id(PROVIDER, "LEAD-HANG")


def test_a_connection_dropped_after_create_is_ambiguous_and_the_booking_exists(sandbox, client):
    sandbox.set(drop_after_create_rate=1.0)
    with pytest.raises(AmbiguousError) as excinfo:
        client.create_booking(PROVIDER, booking_body("LEAD-DROP"))
    assert excinfo.value.message == (
        "The connection to ServiceTitan was lost after the request to create the booking was sent, "
        "so ServiceTitan may have carried it out; check before sending it again."
    )
    sandbox.set(drop_after_create_rate=0.0)
    [found] = client.find_bookings_by_external_id(PROVIDER, "LEAD-DROP")
    assert found.id == sandbox.bookings()[0].id


def test_a_wrong_booking_provider_is_permanent_and_names_the_booking_provider_value(sandbox, client):
    with pytest.raises(PermanentError) as excinfo:
        client.create_booking(999, booking_body())
    assert excinfo.value.status == 404
    assert excinfo.value.message == (
        f"ServiceTitan has no booking provider 999 for this app in tenant {DEMO_TENANT_ID}, so check the "
        "Booking Provider Value (ServiceTitan shows it under Settings → Integrations → API Application "
        "Access → the app's details)."
    )
    assert excinfo.value.servicetitan_text == f"Booking provider 999 was not found for tenant {DEMO_TENANT_ID}"


def test_a_body_the_schema_rejects_lists_servicetitans_field_errors(client):
    with pytest.raises(PermanentError) as excinfo:
        client.create_booking(PROVIDER, {**booking_body(), "priority": "Whenever", "campaignId": "x"})
    assert excinfo.value.status == 400
    assert excinfo.value.message.startswith("ServiceTitan could not create the booking because of these fields: ")
    assert "Priority: " in excinfo.value.message and "Campaign Id: " in excinfo.value.message


def test_nothing_listening_is_a_transient_error():
    credentials = Credentials(sandbox_environment("http://127.0.0.1:9"), 1, "cid", "cs", "ak")
    with (
        ServiceTitanClient(credentials, token_cache=TokenCache()) as st_client,
        pytest.raises(TransientError) as excinfo,
    ):
        st_client.list_booking_provider_tags()
    assert excinfo.value.message == (
        "Could not connect to ServiceTitan (127.0.0.1) to get an access token; nothing was sent, "
        "so it is safe to try again."
    )


# -- the async client ----------------------------------------------------------------------------


def test_the_async_client_creates_and_reads_through_a_shared_http_client(sandbox):
    async def scenario() -> None:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=100)) as shared:
            st_client = AsyncServiceTitanClient(demo_credentials(sandbox), http_client=shared, token_cache=TokenCache())
            created = await st_client.create_booking(PROVIDER, booking_body("LEAD-ASYNC"))
            assert await st_client.find_bookings_by_external_id(PROVIDER, "LEAD-ASYNC") == [created]
            await st_client.aclose()
            assert not shared.is_closed  # the worker's pool outlives one client

    asyncio.run(scenario())
    assert calls(sandbox, "Token") == 1


def test_the_async_client_retries_a_401_and_reports_a_hang_as_ambiguous(sandbox):
    async def scenario() -> None:
        async with AsyncServiceTitanClient(
            demo_credentials(sandbox), timeout=SHORT_READ, token_cache=TokenCache()
        ) as st_client:
            await st_client.fetch_token()
            sandbox.sandbox.tokens.expire_all()
            await st_client.list_booking_provider_tags()
            sandbox.set(hang_rate=1.0, hang_seconds=5)
            with pytest.raises(AmbiguousError):
                await st_client.create_booking(PROVIDER, booking_body("LEAD-ASYNC-HANG"))

    asyncio.run(scenario())
    assert calls(sandbox, "Token") == 2
    assert calls(sandbox, "BookingProviderTags_GetList", "401") == 1
