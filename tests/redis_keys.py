"""Redis at 127.0.0.1:6379 for the tests that need a shared cache: their own database number and a key prefix of
each test's own, removed afterwards; the test is skipped where Redis isn't running."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

REDIS_URL = "redis://127.0.0.1:6379/15"  # the tests' own database number
BACKEND = "referloop.runtime.redis_cache.RedisCache"


@contextmanager
def own_prefix() -> Iterator[tuple[redis.Redis, str]]:
    """A client and a fresh key prefix; every key under the prefix is deleted at the end."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running at 127.0.0.1:6379")
    prefix = f"referloop-test-{uuid.uuid4().hex}"
    try:
        yield client, prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
