"""Request counts by outcome, per tenant and per operation, and a bounded log of the calls themselves, for
tests and benchmarks to assert on.

An outcome is the HTTP status as a string ("200", "429") or "dropped" for a connection cut mid-response.

The log answers "which calls of operation X did tenant T make since mark M": every call answered gets the next
sequence number; `mark()` is the last one given, and `calls(since=mark)` lists the calls answered after it.
Only the last `CALL_LOG_SIZE` calls are kept; asking about calls the log has already forgotten raises
`CallLogOverflow` rather than silently answering with fewer.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from referloop.sandbox.state import Conflict, utc_now

CALL_LOG_SIZE = 50_000


class CallLogOverflow(Conflict):
    """The calls asked about are older than the oldest call the log still holds."""


@dataclass(frozen=True)
class Call:
    """One answered call: its place in the log, the OpenAPI operation id (or "Token"), and what was asked."""

    seq: int
    operation: str
    tenant_id: int | None
    outcome: str
    method: str
    path: str
    query: str  # the query string as sent, e.g. "ids=1,2&page=2"
    at: datetime

    @property
    def params(self) -> dict[str, str]:
        """The query parameters (the last value of a repeated one)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "operation": self.operation,
            "tenant_id": self.tenant_id,
            "outcome": self.outcome,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "at": self.at.isoformat(),
        }


class Stats:
    def __init__(self, log_size: int = CALL_LOG_SIZE) -> None:
        self._lock = threading.Lock()
        self._by_status: Counter[str] = Counter()
        self._by_tenant: dict[str, Counter[str]] = {}
        self._by_operation: dict[str, Counter[str]] = {}
        self._log: deque[Call] = deque(maxlen=log_size)
        self._seq = 0  # never reset, so a mark taken before a reset still means "after that moment"
        self._forgotten_up_to = 0  # the newest seq pushed out of the full log (0: none since the last reset)

    def record(
        self,
        operation: str,
        tenant_id: int | None,
        outcome: str,
        method: str = "",
        path: str = "",
        query: str = "",
    ) -> None:
        with self._lock:
            self._by_status[outcome] += 1
            self._by_operation.setdefault(operation, Counter())[outcome] += 1
            if tenant_id is not None:
                self._by_tenant.setdefault(str(tenant_id), Counter())[outcome] += 1
            self._seq += 1
            if self._log.maxlen is not None and len(self._log) == self._log.maxlen:
                self._forgotten_up_to = self._log[0].seq
            self._log.append(Call(self._seq, operation, tenant_id, outcome, method, path, query, utc_now()))

    def mark(self) -> int:
        """The sequence number of the last call answered: pass it as `since` to see only later calls."""
        with self._lock:
            return self._seq

    def calls(self, since: int = 0, operation: str | None = None, tenant_id: int | None = None) -> list[Call]:
        """The calls answered after mark `since`, oldest first, optionally of one operation and/or tenant."""
        return self.calls_and_mark(since, operation, tenant_id)[1]

    def calls_and_mark(
        self, since: int = 0, operation: str | None = None, tenant_id: int | None = None
    ) -> tuple[int, list[Call]]:
        """`calls(...)` and the mark to ask from next time, read together (no call falls between them)."""
        with self._lock:
            if since < self._forgotten_up_to:
                raise CallLogOverflow(
                    f"the call log keeps the last {self._log.maxlen} calls and has forgotten some made after mark "
                    f"{since} (it holds calls after mark {self._forgotten_up_to}); take a newer mark"
                )
            found = [
                call
                for call in self._log
                if call.seq > since
                and (operation is None or call.operation == operation)
                and (tenant_id is None or call.tenant_id == tenant_id)
            ]
            return self._seq, found

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._by_status.values()),
                "by_status": dict(self._by_status),
                "by_tenant": {tenant: dict(counts) for tenant, counts in self._by_tenant.items()},
                "by_operation": {op: dict(counts) for op, counts in self._by_operation.items()},
            }

    def reset(self) -> None:
        with self._lock:
            self._by_status.clear()
            self._by_tenant.clear()
            self._by_operation.clear()
            self._log.clear()
            self._forgotten_up_to = 0
