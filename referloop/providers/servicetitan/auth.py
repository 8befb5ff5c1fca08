"""OAuth2 client credentials and the process-wide access-token cache.

ServiceTitan throttles its token endpoint and a token lasts 900 s, so one token per (environment,
tenant, client id, secret) is shared by every thread and asyncio task in the process. When many
callers need a token at once it is fetched once: threads queue on a per-key lock, coroutines of one
event loop await one in-flight fetch. (A thread and a coroutine that miss at the same instant may
both fetch; that costs one extra token, never a wrong one.)
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .environments import Environment

RENEW_BEFORE_SECONDS = 60.0


@dataclass(frozen=True)
class Credentials:
    environment: Environment
    tenant_id: int
    client_id: str
    client_secret: str = field(repr=False)
    app_key: str = field(repr=False)


@dataclass(frozen=True)
class TokenKey:
    environment: str  # name and token URL: the same name could point at two sandboxes
    tenant_id: int
    client_id: str
    secret_hash: str  # a replaced secret must not be served the old secret's token


def token_key(credentials: Credentials) -> TokenKey:
    env = credentials.environment
    return TokenKey(
        environment=f"{env.name} {env.token_url}",
        tenant_id=credentials.tenant_id,
        client_id=credentials.client_id,
        secret_hash=hashlib.sha256(credentials.client_secret.encode()).hexdigest(),
    )


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float  # on the cache's clock (time.monotonic by default)
    renew_at: float


def new_token(access_token: str, expires_in: float, issued_at: float) -> Token:
    """A token renewed 60 s before it expires, or halfway through its life if that is shorter."""
    margin = min(RENEW_BEFORE_SECONDS, expires_in / 2)
    return Token(access_token, expires_at=issued_at + expires_in, renew_at=issued_at + expires_in - margin)


class TokenCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[TokenKey, Token] = {}
        self._locks: dict[TokenKey, threading.Lock] = {}
        self._inflight: dict[TokenKey, asyncio.Task[Token]] = {}
        self._guard = threading.Lock()  # protects the three dicts

    def fresh(self, key: TokenKey) -> Token | None:
        token = self._tokens.get(key)
        return token if token is not None and self.clock() < token.renew_at else None

    def invalidate(self, key: TokenKey, stale: str | None = None) -> None:
        """Forget the key's token (after a 401, or when the connection is changed or removed).

        With `stale`, only forget it if it is still that token: after a 401, a concurrent caller may
        already have fetched a new one, which must survive.
        """
        with self._guard:
            token = self._tokens.get(key)
            if token is not None and (stale is None or token.access_token == stale):
                del self._tokens[key]

    def get(self, key: TokenKey, fetch: Callable[[], Token]) -> Token:
        """The cached token, or one fetched by exactly one of the threads asking at once."""
        token = self.fresh(key)
        if token is not None:
            return token
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            token = self.fresh(key)
            if token is None:
                token = fetch()
                self._store(key, token)
            return token

    async def aget(self, key: TokenKey, fetch: Callable[[], Awaitable[Token]]) -> Token:
        """The cached token, or the result of the one fetch every waiting coroutine shares."""
        token = self.fresh(key)
        if token is not None:
            return token
        loop = asyncio.get_running_loop()
        with self._guard:
            task = self._inflight.get(key)
            if task is None or task.done() or task.get_loop() is not loop:
                task = loop.create_task(self._fetch_and_store(key, fetch))
                self._inflight[key] = task
        # shield: a caller that is cancelled must not cancel the fetch the others are waiting on
        return await asyncio.shield(task)

    async def _fetch_and_store(self, key: TokenKey, fetch: Callable[[], Awaitable[Token]]) -> Token:
        try:
            token = await fetch()
            self._store(key, token)
            return token
        finally:
            with self._guard:
                if self._inflight.get(key) is asyncio.current_task():
                    del self._inflight[key]

    def _store(self, key: TokenKey, token: Token) -> None:
        with self._guard:
            self._tokens[key] = token


TOKEN_CACHE = TokenCache()
"""The process-wide cache every client uses unless given another (tests use their own)."""
