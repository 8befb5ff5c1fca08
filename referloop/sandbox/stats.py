"""Request counts by outcome, per tenant and per operation, for tests and benchmarks to assert on.

An outcome is the HTTP status as a string ("200", "429") or "dropped" for a connection cut mid-response.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_status: Counter[str] = Counter()
        self._by_tenant: dict[str, Counter[str]] = {}
        self._by_operation: dict[str, Counter[str]] = {}

    def record(self, operation: str, tenant_id: int | None, outcome: str) -> None:
        with self._lock:
            self._by_status[outcome] += 1
            self._by_operation.setdefault(operation, Counter())[outcome] += 1
            if tenant_id is not None:
                self._by_tenant.setdefault(str(tenant_id), Counter())[outcome] += 1

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
