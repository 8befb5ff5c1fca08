"""Screens at volume (issue 16 §2): `.venv/bin/python bench/screens.py [--db postgres] [--leads 1000 200000]`.

Makes its own database (a temp-dir SQLite file, or PostgreSQL `referloop_bench_screens_<pid>` on 127.0.0.1:5432
as user postgres, dropped afterwards), seeds one account (bench/screens_seed.py: a campaign, its ServiceTitan
integration, a referrer per 100 leads, one delivery per lead with 0-8 attempts, a followed booking per booked
lead) at the first size, measures every screen, grows the same account to the next size and measures again.

Each screen is requested through Django's test Client in this process, signed in as the owner: a warm-up, then
--requests timed requests (wall clock per request, the whole view and template). It prints p50/p95 per screen
and size, the ratio of the largest size to the first, and the SQL statements per request. Paginated screens are
measured on their first page and on their last (`?page=last`, the deepest OFFSET); the overview also with
`?refresh=1` (its totals counted afresh, not read from the cache). Run on demand only: never from the test suite
or CI.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import harness

SEARCH = "friend12"  # friend12, friend120-129, 1200-1299, ...: 11 leads of 1,000, 11,111 of 200,000


@dataclass
class Timing:
    samples_ms: list[float] = field(default_factory=list)
    queries: int = 0
    # CPU per request of this process and its PostgreSQL backend: unlike wall time, barely moved by other
    # processes sharing the CPUs (read from /proc in clock ticks, so averaged over all the timed requests).
    cpu_ms: float = 0.0

    def quantile(self, q: float) -> float:
        """Nearest rank: with 20 samples p95 is the 19th fastest."""
        ordered = sorted(self.samples_ms)
        rank = max(1, min(len(ordered), -(-int(q * 100) * len(ordered) // 100)))
        return ordered[rank - 1]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/screens.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--leads", type=int, nargs="+", default=[1_000, 200_000], help="sizes, ascending")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per screen (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests per screen first (default 2)")
    parser.add_argument("--only", help="measure only the screens whose name contains this")
    parser.add_argument("--explain", action="store_true", help="PostgreSQL: print each screen's slowest plan")
    parser.add_argument("--keep", action="store_true", help="keep the database (and print its URL)")
    args = parser.parse_args(argv)
    if any(b <= a for a, b in zip(args.leads, args.leads[1:], strict=False)) or args.leads[0] < 1:
        parser.error("--leads: sizes must be positive and ascending")
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    return args


def create_database(kind: str) -> harness.Database:
    var_dir = Path(tempfile.mkdtemp(prefix="referloop-screens-"))
    if kind == "sqlite":
        return harness.Database(kind, f"sqlite:///{var_dir / 'screens.sqlite3'}", var_dir)
    import psycopg

    name = f"referloop_bench_screens_{os.getpid()}"
    with psycopg.connect(f"{harness.PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')  # type: ignore[arg-type]  # our own name
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return harness.Database(kind, f"{harness.PG_SERVER}/{name}", var_dir, pg_name=name)


def start_django(db: harness.Database) -> None:
    os.environ.update(harness.environment(db, "http://127.0.0.1:9"))  # no sandbox: nothing here calls it
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def screens(campaign_id: int, lead_id: int) -> list[tuple[str, str]]:
    """(name, path) of every screen measured."""
    from referloop.campaigns import verification
    from referloop.campaigns.models import LeadStatus
    from referloop.campaigns.views import STAGE_FILTERS
    from referloop.integrations.models import DeliveryState

    base = f"/campaigns/{campaign_id}"
    leads = f"{base}/leads/"
    activity = f"{base}/integrations/servicetitan/activity/"
    found: list[tuple[str, str]] = [
        ("overview", f"{base}/"),
        # Past figures.LIVE_UP_TO leads "overview" shows the kept totals (after the warm-up, from the cache);
        # ?refresh=1 counts them again on every request: what a view pays once a minute. Below it, both are live.
        ("overview refresh", f"{base}/?refresh=1"),
        ("leads", leads),
        ("leads last page", f"{leads}?page=last"),
    ]
    found += [(f"leads status={s}", f"{leads}?status={s}") for s in LeadStatus.values]
    found += [(f"leads stage={s}", f"{leads}?stage={s}") for s in STAGE_FILTERS]
    found += [(f"leads verification={s.value}", f"{leads}?verification={s.value}") for s in verification.State]
    found += [
        ("leads search", f"{leads}?q={SEARCH}"),
        ("leads suspicious", f"{leads}?suspicious=1"),
        ("leads existing", f"{leads}?existing=1"),
        ("activity", activity),
        ("activity last page", f"{activity}?page=last"),
    ]
    found += [(f"activity state={s}", f"{activity}?state={s}") for s in DeliveryState.values]
    found += [
        ("activity search", f"{activity}?q={SEARCH}"),
        ("lead page", f"{base}/leads/{lead_id}/"),
        ("diagnose", f"{base}/integrations/servicetitan/diagnose/"),
    ]
    return found


def measure(client: object, path: str, warmup: int, requests: int) -> Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    get = client.get  # type: ignore[attr-defined]
    for _ in range(warmup):
        _ok(get(path), path)
    timing = Timing()
    backend = database_pid()
    cpu_before = time.process_time() + (harness.cpu_seconds(backend) if backend else 0.0)
    for _ in range(requests):
        started = time.perf_counter()
        response = get(path)
        timing.samples_ms.append((time.perf_counter() - started) * 1000)
        _ok(response, path)
    cpu_after = time.process_time() + (harness.cpu_seconds(backend) if backend else 0.0)
    timing.cpu_ms = (cpu_after - cpu_before) * 1000 / requests
    with CaptureQueriesContext(connection) as queries:  # a separate request: capturing costs time
        _ok(get(path), path)
    timing.queries = len(queries)
    return timing


def database_pid() -> int | None:
    """The PostgreSQL backend serving this process (its CPU is read from /proc), or None on SQLite."""
    from django.db import connection

    connection.ensure_connection()
    if connection.vendor != "postgresql":
        return None
    return int(connection.connection.info.backend_pid)


def _ok(response: object, path: str) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    if status != 200:
        raise SystemExit(f"GET {path} answered {status}")


def explain_slowest(path: str, client: object) -> None:
    """The plan of the slowest statement of one request (PostgreSQL), to stderr."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(path)  # type: ignore[attr-defined]
    slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:2]
    for query in slowest:
        harness.progress(f"  {query['time']} s: {query['sql'][:300]}")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN ANALYZE " + query["sql"])
            for (line,) in cursor.fetchall():
                harness.progress(f"    {line}")


def analyze(kind: str) -> None:
    """PostgreSQL: VACUUM ANALYZE the seeded tables, as autovacuum would soon after a bulk load."""
    if kind != "postgres":
        return
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("campaigns_lead", "campaigns_referrer", "integrations_delivery", "integrations_attempt"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("VACUUM ANALYZE integrations_follow")


def run(args: argparse.Namespace) -> dict[int, dict[str, Timing]]:
    db = create_database(args.db)
    harness.progress(f"screens on {args.db}: {db.url}")
    results: dict[int, dict[str, Timing]] = {}
    try:
        start_django(db)
        from django.test import Client
        from django.utils import timezone
        from screens_seed import grow, make_account

        from referloop.campaigns.models import Lead

        seeded = make_account()
        now = timezone.now()
        client = Client()
        client.force_login(seeded.user)
        for size in args.leads:
            started = time.monotonic()
            added = grow(seeded, size, now)
            analyze(args.db)
            harness.progress(f"seeded to {size:,} leads in {time.monotonic() - started:.0f} s: {added}")
            # A lead in the middle of the account with a few attempts: the lead page's timeline has work.
            lead = Lead.objects.filter(campaign=seeded.campaign, code=f"BL{size // 2:09d}").get()
            results[size] = {}
            for name, path in screens(seeded.campaign.pk, lead.pk):
                if args.only and args.only not in name:
                    continue
                timing = measure(client, path, args.warmup, args.requests)
                results[size][name] = timing
                harness.progress(
                    f"  {size:>7,} {name:<28} p50 {timing.quantile(0.5):7.1f} ms  p95 {timing.quantile(0.95):7.1f} ms"
                    f"  cpu {timing.cpu_ms:6.1f} ms  {timing.queries} queries"
                )
                if args.explain and args.db == "postgres":
                    explain_slowest(path, client)
        return results
    finally:
        from django.apps import apps

        if apps.ready:
            from django.db import connections

            connections.close_all()
        if args.keep:
            harness.progress(f"kept {db.url}")
        else:
            harness.drop_database(db, keep_logs=False)


def report(args: argparse.Namespace, results: dict[int, dict[str, Timing]]) -> str:
    small, big = args.leads[0], args.leads[-1]
    lines = [
        f"screens, {args.db}, {args.requests} requests per screen after {args.warmup} warm-up, "
        f"{platform.python_version()} on {os.cpu_count()} CPUs ({platform.machine()})",
        "",
        f"| screen | {small:,} p50 / p95 ms | {big:,} p50 / p95 ms | ratio p50 / p95 "
        f"| CPU ms {small:,} / {big:,} (ratio) | queries | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, timing in results[big].items():
        base = results[small][name]
        ratio50 = timing.quantile(0.5) / base.quantile(0.5)
        ratio95 = timing.quantile(0.95) / base.quantile(0.95)
        met = "yes" if timing.quantile(0.95) < 300 and ratio50 <= 2 else "NO"
        lines.append(
            f"| {name} | {base.quantile(0.5):.1f} / {base.quantile(0.95):.1f} "
            f"| {timing.quantile(0.5):.1f} / {timing.quantile(0.95):.1f} "
            f"| {ratio50:.2f} / {ratio95:.2f} "
            f"| {base.cpu_ms:.1f} / {timing.cpu_ms:.1f} ({timing.cpu_ms / max(base.cpu_ms, 0.1):.2f}) "
            f"| {base.queries} / {timing.queries} | {met} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    print(report(args, results))
    print(
        f"median of all p95 at {args.leads[-1]:,}: "
        f"{statistics.median(t.quantile(0.95) for t in results[args.leads[-1]].values()):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
