"""Delivery engine benchmarks (issue 4's Targets): `.venv/bin/python bench/delivery.py <scenario> [options]`.

Each run makes a fresh database (a temp-dir SQLite file, or PostgreSQL `referloop_bench_<pid>` on
127.0.0.1:5432 as user postgres, dropped afterwards), migrates it, starts `referloop sandbox` on a free port
and ONE `referloop worker` subprocess, measures, stops both with SIGTERM and prints a markdown table row per
result. Progress goes to stderr. Run on demand only: never from the test suite or CI.

    one-tenant     1 tenant at 60/s, 1,500 leads: steady bookings/s (≥ 57) and 429s (0)
    fifty-tenants  50 tenants: bookings/s vs the plain loop (≥ 50x) and worker CPU ms per booking
    plain-loop     the baseline alone: one booking at a time with ServiceTitanClient.create_booking
    latency        leads through submit_lead at --rate for 30 s: join-to-booking p50/p95/p99 (p99 < 1 s + latency)
    backlog        drain 1,000 then 100,000 with one worker: rate per booking (within 20%) and worker RSS (flat)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import harness

if TYPE_CHECKING:
    from scenarios import Context, Row, Settings

SCENARIO_NAMES = ("one-tenant", "fifty-tenants", "plain-loop", "latency", "backlog")
DEFAULT_LEADS = {"one-tenant": 1_500, "fifty-tenants": 20_000, "plain-loop": 50, "latency": 0, "backlog": 0}
DEFAULT_TENANTS = {"one-tenant": 1, "plain-loop": 1}
HEADER = "| date | scenario | db | setup | measured | target | result |\n|---|---|---|---|---|---|---|"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/delivery.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=SCENARIO_NAMES)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--leads", type=int, help="backlog size (one-tenant 1500, fifty-tenants 20000)")
    parser.add_argument("--tenants", type=int, help="sandbox tenants (default 50; 1 for one-tenant)")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="sandbox latency (default 100)")
    parser.add_argument("--rate-limit", type=int, default=60, help="sandbox calls/s per tenant (default 60)")
    parser.add_argument("--concurrency", type=int, default=64, help="worker --concurrency (default 64)")
    parser.add_argument("--batch", type=int, default=500, help="worker --batch (default 500)")
    parser.add_argument("--poll-interval", type=float, default=0.2, help="worker --poll-interval (default 0.2)")
    parser.add_argument("--sample-interval", type=float, default=0.5, help="seconds between CPU/RSS/count samples")
    parser.add_argument("--rate", type=float, help="latency: leads per second to feed (half the fifty-tenant rate)")
    parser.add_argument("--feeders", type=int, default=1, help="latency: feeder processes (1 = the bench itself)")
    parser.add_argument(
        "--intake",
        choices=("submit_lead", "direct"),
        default="submit_lead",
        help="latency: leads through submit_lead (default), or as bare lead + delivery rows (a tenth of the CPU)",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="latency: how long to feed (default 30)")
    parser.add_argument("--sizes", default="1000,100000", help="backlog: sizes drained in turn (default 1000,100000)")
    parser.add_argument("--plain-count", type=int, default=50, help="bookings the plain loop sends (default 50)")
    parser.add_argument("--timeout", type=float, default=540.0, help="give up on a drain after this many seconds")
    parser.add_argument("--json", type=Path, help="also append the results as JSON lines to this file")
    parser.add_argument("--profile", type=Path, help="run the worker under cProfile, write here, print the top")
    parser.add_argument(
        "--worker-script",
        type=Path,
        help="run the worker as `python SCRIPT worker ...` (a file that patches the engine, then calls "
        "referloop.__main__.main): to measure an engine change before making it",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the sandbox/worker logs")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    from scenarios import Settings

    leads = args.leads if args.leads is not None else DEFAULT_LEADS[args.scenario]
    plain_count = leads if args.scenario == "plain-loop" else args.plain_count
    return Settings(
        db=args.db,
        leads=leads,
        tenants=args.tenants or DEFAULT_TENANTS.get(args.scenario, 50),
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        concurrency=args.concurrency,
        batch=args.batch,
        poll_interval=args.poll_interval,
        sample_interval=args.sample_interval,
        feed_rate=args.rate,
        feed_seconds=args.seconds,
        sizes=tuple(int(size) for size in args.sizes.split(",")),
        plain_count=plain_count,
        timeout=args.timeout,
        feeders=args.feeders,
        direct_intake=args.intake == "direct",
        worker_script=args.worker_script.resolve() if args.worker_script else None,
        profile=args.profile.resolve() if args.profile else None,
    )


def start_django(db: harness.Database, sandbox_url: str) -> None:
    """Point this process at the bench database and sandbox, then start Django and migrate."""
    os.environ.update(harness.environment(db, sandbox_url))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def run(args: argparse.Namespace) -> list[Row]:
    db = harness.create_database(args.db)
    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    harness.progress(f"{args.scenario} on {args.db}: logs in {db.var_dir}")
    sandbox = None
    ctx: Context | None = None
    try:
        start_django(db, base_url)
        from scenarios import SCENARIOS, Context  # only now: it imports Django models

        sandbox = harness.start_sandbox(port, args.latency_ms, args.rate_limit, db.var_dir / "sandbox.log")
        ctx = Context(settings_from(args), harness.environment(db, base_url), base_url, sandbox, db.var_dir)
        return SCENARIOS[args.scenario](ctx)
    finally:
        if ctx is not None and ctx.worker is not None:
            harness.stop(ctx.worker)
        if sandbox is not None:
            harness.stop(sandbox)
        _close_django_connections()
        harness.drop_database(db, keep_logs=args.keep_logs)


def _close_django_connections() -> None:
    """Before dropping the database (PostgreSQL refuses to drop one with open connections)."""
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.close_all()


def markdown(row: Row, db: str, day: str) -> str:
    cells = [day, row.scenario, db, row.setup, row.measured, row.target, row.verdict]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def code_version() -> str:
    """The commit measured, with "+changes" when the work tree differs from it (engine work in progress)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=harness.REPO, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "referloop")
    return git("rev-parse", "--short", "HEAD") + ("+changes" if dirty else "")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    version = code_version()
    started = time.monotonic()
    rows = run(args)
    day = time.strftime("%Y-%m-%d")
    print(HEADER)
    for row in rows:
        print(markdown(row, args.db, day))
    elapsed = time.monotonic() - started
    harness.progress(
        f"done in {elapsed:.0f} s on {os.cpu_count()} cores, Python {platform.python_version()}, code {version}"
    )
    if args.json is not None:
        with args.json.open("a") as out:
            for row in rows:
                out.write(json.dumps({"date": day, "db": args.db, "code": version, **asdict(row)}) + "\n")
    return 0 if all(row.verdict == "pass" for row in rows if row.verdict != "—") else 1


if __name__ == "__main__":
    sys.exit(main())
