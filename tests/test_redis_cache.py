"""referloop's Redis cache (runtime/redis_cache.py): Django's, with one client per pool and a one-round-trip incr
that keeps the stock contract (a missing key is an error, never a counter without a timeout)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from referloop.runtime.redis_cache import RedisCache
from tests.redis_keys import REDIS_URL, own_prefix

pytestmark = pytest.mark.redis


@pytest.fixture
def cache() -> Iterator[tuple[RedisCache, redis.Redis]]:
    with own_prefix() as (client, prefix):
        yield RedisCache(REDIS_URL, {"KEY_PREFIX": prefix}), client


def commands(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name: int(value["calls"]) for name, value in stats.items()}


def test_incr_adds_to_a_counter_in_one_command_and_keeps_its_timeout(cache: tuple[RedisCache, redis.Redis]) -> None:
    backend, client = cache
    assert backend.add("hits", 1, 60)
    before = commands(client)
    assert backend.incr("hits", 2) == 3
    after = commands(client)
    changed = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    changed.pop("cmdstat_info", None)  # the INFO that read `before`
    assert changed == {
        "cmdstat_eval": 1,
        "cmdstat_exists": 1,  # inside the script: one round trip
        "cmdstat_incrby": 1,
    }
    assert backend.get("hits") == 3
    assert 0 < client.ttl(backend.make_and_validate_key("hits")) <= 60


def test_incr_of_a_missing_key_is_an_error_and_creates_nothing(cache: tuple[RedisCache, redis.Redis]) -> None:
    backend, client = cache
    with pytest.raises(ValueError, match="not found"):
        backend.incr("never-added", 1)
    assert not client.exists(backend.make_and_validate_key("never-added"))


def test_one_client_serves_every_call(cache: tuple[RedisCache, redis.Redis]) -> None:
    backend, _ = cache
    assert backend._cache.get_client(write=True) is backend._cache.get_client("any key", write=True)
    backend.set("a", "b", 60)
    assert backend.get("a") == "b"
