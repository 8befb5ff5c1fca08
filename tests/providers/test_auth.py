"""The token cache: one token per key, shared, renewed early, fetched once however many callers ask."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from referloop.providers.servicetitan import INTEGRATION, PRODUCTION, Credentials, Token, TokenCache, token_key
from referloop.providers.servicetitan.auth import new_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CREDENTIALS = Credentials(PRODUCTION, 1234567, "cid.abc", "cs.secret", "ak1.key")
KEY = token_key(CREDENTIALS)


def test_a_token_is_renewed_60_seconds_before_it_expires():
    clock = Clock()
    cache = TokenCache(clock)
    fetched: list[str] = []

    def fetch() -> Token:
        fetched.append("t")
        return new_token(f"token-{len(fetched)}", 900, clock())

    assert cache.get(KEY, fetch).access_token == "token-1"
    clock.now += 839
    assert cache.get(KEY, fetch).access_token == "token-1"
    clock.now += 1  # 60 s before expiry
    assert cache.get(KEY, fetch).access_token == "token-2"


def test_a_short_lived_token_is_renewed_halfway_through_its_life():
    token = new_token("t", 10, issued_at=0)
    assert (token.renew_at, token.expires_at) == (5, 10)


def test_the_key_tells_environments_tenants_clients_and_secrets_apart():
    variants = [
        Credentials(INTEGRATION, 1234567, "cid.abc", "cs.secret", "ak1.key"),
        Credentials(PRODUCTION, 7654321, "cid.abc", "cs.secret", "ak1.key"),
        Credentials(PRODUCTION, 1234567, "cid.xyz", "cs.secret", "ak1.key"),
        Credentials(PRODUCTION, 1234567, "cid.abc", "cs.rotated", "ak1.key"),
    ]
    assert len({KEY, *(token_key(c) for c in variants)}) == 5
    # The app key is the same everywhere, so it does not split the cache.
    assert token_key(Credentials(PRODUCTION, 1234567, "cid.abc", "cs.secret", "ak1.other")) == KEY
    assert "cs.secret" not in repr(KEY) and "cs.secret" not in repr(CREDENTIALS)


def test_invalidating_a_stale_token_keeps_a_newer_one():
    cache = TokenCache(Clock())
    cache.get(KEY, lambda: new_token("new", 900, cache.clock()))
    cache.invalidate(KEY, stale="old")
    assert cache.fresh(KEY) is not None
    cache.invalidate(KEY, stale="new")
    assert cache.fresh(KEY) is None


def test_threads_that_miss_together_share_one_fetch():
    cache = TokenCache()
    fetches = 0
    barrier = threading.Barrier(8)

    def fetch() -> Token:
        nonlocal fetches
        fetches += 1
        time.sleep(0.05)
        return new_token("shared", 900, time.monotonic())

    def caller(results: list[str]) -> None:
        barrier.wait()
        results.append(cache.get(KEY, fetch).access_token)

    results: list[str] = []
    threads = [threading.Thread(target=caller, args=(results,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (fetches, results) == (1, ["shared"] * 8)


def test_coroutines_share_one_fetch_and_a_cancelled_waiter_does_not_cancel_it():
    cache = TokenCache()
    fetches = 0

    async def fetch() -> Token:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0.05)
        return new_token("shared", 900, time.monotonic())

    async def scenario() -> list[str]:
        impatient = asyncio.create_task(cache.aget(KEY, fetch))
        waiters = [asyncio.create_task(cache.aget(KEY, fetch)) for _ in range(10)]
        await asyncio.sleep(0.01)
        impatient.cancel()
        return [token.access_token for token in await asyncio.gather(*waiters)]

    assert asyncio.run(scenario()) == ["shared"] * 10
    assert fetches == 1


def test_a_failed_fetch_reaches_every_waiter_and_the_next_call_tries_again():
    cache = TokenCache()
    attempts = 0

    async def fetch() -> Token:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        if attempts == 1:
            raise RuntimeError("token endpoint down")
        return new_token("second", 900, time.monotonic())

    async def scenario() -> str:
        results = await asyncio.gather(*(cache.aget(KEY, fetch) for _ in range(5)), return_exceptions=True)
        assert [type(r) for r in results] == [RuntimeError] * 5
        return (await cache.aget(KEY, fetch)).access_token

    assert asyncio.run(scenario()) == "second"
    assert attempts == 2


def test_a_token_fetched_in_one_event_loop_serves_another():
    cache = TokenCache()

    async def fetch() -> Token:
        return new_token("from-loop-1", 900, time.monotonic())

    async def must_not_fetch() -> Token:
        pytest.fail("the cached token should have been used")

    assert asyncio.run(cache.aget(KEY, fetch)).access_token == "from-loop-1"
    assert asyncio.run(cache.aget(KEY, must_not_fetch)).access_token == "from-loop-1"
