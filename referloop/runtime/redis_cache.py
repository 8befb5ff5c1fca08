"""Django's Redis cache, two costs lighter on the public forms' path (each post counts two rate limits).

Django's client builds a new `redis.Redis` for every call (~0.1 CPU ms each, seven calls a referral-form post)
and its `incr` is two round trips (EXISTS, then INCRBY; a key that expires between them comes back without a
timeout). Here one client per connection pool is kept, and `incr` is one atomic script.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

# The stock incr's contract: a missing key is an error, never a new counter without a timeout.
_INCR_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
"""


class _Client(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[bool, Any] = {}  # by `write`

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # redis.Redis over a pool is thread-safe: one serves every thread. With read replicas, a process keeps
        # the replica Django picked first for it (the processes spread over them).
        client = self._clients.get(write)
        if client is None:
            client = self._clients[write] = super().get_client(key, write=write)
        return client

    def incr(self, key: Any, delta: int) -> Any:
        value = self.get_client(key, write=True).eval(_INCR_IF_EXISTS, 1, key, delta)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _Client
