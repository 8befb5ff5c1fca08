"""Access tokens: random opaque strings bound to the tenant and client id that asked for them.

Real tokens are RS256 JWTs carrying a `tenant` claim; clients must treat them as opaque, so the sandbox
hands out random strings and keeps what a JWT would carry beside them.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

# The scope string format is unconfirmed; space-separated per OAuth convention.
_FORGET_AFTER_SECONDS = 3600.0
SCOPE = "tn.crm.bookings:r tn.crm.bookings:w tn.crm.bookingprovidertags:r tn.jpm.jobs:r tn.acc.invoices:r"


@dataclass(frozen=True)
class Token:
    value: str
    tenant_id: int
    client_id: str
    expires_at: float  # time.monotonic()

    def expired(self) -> bool:
        return time.monotonic() >= self.expires_at


class TokenStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}

    def issue(self, tenant_id: int, client_id: str, lifetime_seconds: float) -> Token:
        token = Token(secrets.token_urlsafe(32), tenant_id, client_id, time.monotonic() + lifetime_seconds)
        with self._lock:
            self._drop_expired()
            self._tokens[token.value] = token
        return token

    def find(self, value: str) -> Token | None:
        return self._tokens.get(value)

    def expire_all(self) -> int:
        """Make every issued token expired now (to test a client's refresh-on-401); returns how many."""
        with self._lock:
            count = len(self._tokens)
            now = time.monotonic()
            self._tokens = {v: Token(v, t.tenant_id, t.client_id, now) for v, t in self._tokens.items()}
            return count

    def _drop_expired(self) -> None:
        # Keeps a long benchmark from growing the table forever, while a recently expired token still
        # answers "expired" (as a real JWT would) rather than "unknown".
        cutoff = time.monotonic() - _FORGET_AFTER_SECONDS
        self._tokens = {v: t for v, t in self._tokens.items() if t.expires_at > cutoff}
