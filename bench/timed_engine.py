"""A worker whose database-thread steps are timed: `bench/delivery.py backlog --worker-script bench/timed_engine.py
--keep-logs`.

Wraps, in the worker process, the claim and the results write and the statements inside them (`queries.*`,
`ratelimit.lock_buckets`, the ServiceTitan kind's `destinations` / `payloads` / `after_results`), and sums each
one's calls, rows and thread CPU per second; one line per step and second goes to the worker's log:

    STEP <epoch second> <step> calls <n> rows <n> cpu <ms> wall <ms>

`rows` is the claims a claim returned, or the results a write was given (0 for the statements). CPU is the
database thread's own (`time.thread_time`), so the event loop's work does not blur it. Comparing ms per row in
the 1,000 drain and the 100,000 drain shows which step grows with the table:

    .venv/bin/python bench/timed_engine.py report <worker.log>    # per drain: CPU ms per booking of each step

Measuring only, unless `BENCH_SQLITE_CACHE_MIB` is set: then every SQLite connection the worker opens gets
`PRAGMA cache_size` of that many MiB (SQLite's default is 2 MiB), to try a larger page cache before making it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_tally: dict[str, list[float]] = {}  # step → [calls, rows, cpu ms, wall ms] in the current second
_second = 0


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _add(step: str, rows: int, cpu: float, wall: float) -> None:
    global _second
    now = int(time.time())
    with _lock:
        if now != _second:
            for name, (calls, n, used, spent) in _tally.items():
                _log(f"STEP {_second} {name} calls {calls:.0f} rows {n:.0f} cpu {used:.2f} wall {spent:.2f}")
            _tally.clear()
            _second = now
        entry = _tally.setdefault(step, [0.0, 0.0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += rows
        entry[2] += cpu
        entry[3] += wall


def _timed(owner: Any, name: str, step: str, count: Callable[[Any, tuple[Any, ...]], int] | None = None) -> None:
    inner: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        result = inner(*args, **kwargs)
        wall, used = 1000 * (time.perf_counter() - start), 1000 * (time.thread_time() - cpu)
        _add(step, count(result, args) if count else 0, used, wall)
        return result

    setattr(owner, name, wrapper)


def report(log: str) -> None:
    """Per drain (seconds with claimed rows, a gap of over 3 s between drains): each step's CPU ms per booking."""
    drains: list[dict[str, list[float]]] = []
    last = -10
    for line in open(log, errors="replace"):  # noqa: SIM115 - a throwaway read
        if not line.startswith("STEP "):
            continue
        _, second, step, _, calls, _, rows, _, cpu, _, wall = line.split()
        moment = int(second)
        if step == "claim" and float(rows) > 0:
            if moment - last > 3:
                drains.append({})
            last = moment
        if not drains or moment - last > 3:
            continue
        entry = drains[-1].setdefault(step, [0.0, 0.0, 0.0, 0.0])
        for n, value in enumerate((calls, rows, cpu, wall)):
            entry[n] += float(value)
    for n, steps in enumerate(drains):
        booked = steps.get("results", [0.0, 1.0])[1] or 1.0
        print(f"drain {n + 1}: {booked:.0f} results written, {steps.get('claim', [0.0])[0]:.0f} claims")
        for step, (count, _rows, used, spent) in sorted(steps.items(), key=lambda item: -item[1][2]):
            print(
                f"  {step:20} {1000 * used / booked:8.1f} µs CPU/booking {1000 * spent / booked:8.1f} µs wall/booking "
                f"{used / count:7.2f} ms CPU/call  calls {count:.0f}"
            )


def main() -> None:
    if sys.argv[1:2] == ["report"]:
        report(sys.argv[2])
        return
    import django

    django.setup()
    from referloop.integrations.engine import queries, ratelimit, worker
    from referloop.integrations.servicetitan.destination import ServiceTitanKind

    cache_mib = os.environ.get("BENCH_SQLITE_CACHE_MIB")
    if cache_mib:
        from django.db.backends.signals import connection_created

        def larger_cache(sender: object, connection: Any, **kwargs: Any) -> None:
            if connection.vendor == "sqlite":
                with connection.cursor() as cursor:
                    cursor.execute(f"PRAGMA cache_size = -{int(cache_mib) * 1024}")

        connection_created.connect(larger_cache, weak=False)
    _timed(worker, "claim_due", "claim", lambda result, _args: len(result.claims))
    _timed(worker, "write_results", "results", lambda _result, args: len(args[0]))
    for name in (
        "pending_rate_keys",
        "select_due",
        "lock_deliveries",
        "lease",
        "save_bucket_slots",
        "integration_stamps",
        "lead_rows",
        "insert_attempts",
        "lock_leases",
        "update_deliveries",
    ):
        _timed(queries, name, name)
    _timed(ratelimit, "lock_buckets", "lock_buckets")
    for name in ("destinations", "payloads", "after_results"):
        _timed(ServiceTitanKind, name, f"kind.{name}")
    from referloop.__main__ import main as referloop_main

    referloop_main()


if __name__ == "__main__":
    main()
