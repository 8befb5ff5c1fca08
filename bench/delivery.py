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
    follow         issue 13: deliver 10,000 bookings, then --cycles rounds each changing --change of them in the
                   sandbox (book a job, complete it, pay the invoice): the follower's ServiceTitan calls and worker
                   CPU per cycle (≤ 3 per tenant + 1 per later page, ≤ 1 per 50 followed) and job completed →
                   lead qualified (≤ interval + 2 s); follow interval 10 s unless --follow-interval
    scale-out      issue 16 §3: 1 worker process, then 2, on one database (fresh backlog each), each capped at
                   --concurrency 16: bookings/s ratio (≥ 1.8), duplicates (0), each process's CPU and RSS

fifty-tenants and latency take --followed N (issue 13, target 2): N bookings are delivered and followed first, and
the measured worker runs the follower at --follow-interval (default 10 s) over them; bench/follow_load.py runs
the with/without comparison.
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

SCENARIO_NAMES = ("one-tenant", "fifty-tenants", "plain-loop", "latency", "backlog", "follow", "scale-out")
DEFAULT_LEADS = {
    "one-tenant": 1_500,
    "fifty-tenants": 20_000,
    "plain-loop": 50,
    "latency": 0,
    "backlog": 0,
    "follow": 10_000,
    "scale-out": 5_000,  # per worker process: 5,000 with one, 10,000 with two
}
DEFAULT_CONCURRENCY = {"scale-out": 16}  # one process well below the machine, so it is the bottleneck
FOLLOW_INTERVAL = 10.0  # seconds: the follow scenario's, and --followed's, unless --follow-interval
DEFAULT_TENANTS = {"one-tenant": 1, "plain-loop": 1}
HEADER = "| date | scenario | db | setup | measured | target | result |\n|---|---|---|---|---|---|---|"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/delivery.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=SCENARIO_NAMES)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--leads",
        type=int,
        help="backlog size (one-tenant 1500, fifty-tenants 20000, follow 10000, scale-out 5000 per worker)",
    )
    parser.add_argument("--tenants", type=int, help="sandbox tenants (default 50; 1 for one-tenant)")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="sandbox latency (default 100)")
    parser.add_argument("--rate-limit", type=int, default=60, help="sandbox calls/s per tenant (default 60)")
    parser.add_argument("--concurrency", type=int, help="worker --concurrency (default 64; scale-out 16)")
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
    parser.add_argument("--workers", default="1,2", help="scale-out: worker processes per drain (default 1,2)")
    parser.add_argument("--plain-count", type=int, default=50, help="bookings the plain loop sends (default 50)")
    parser.add_argument(
        "--followed",
        type=int,
        default=0,
        help="fifty-tenants, latency: deliver and follow this many bookings first (issue 13 target 2: 10000)",
    )
    parser.add_argument(
        "--follow-interval",
        type=float,
        help="REFERLOOP_FOLLOW_INTERVAL_SECONDS for the worker (follow and --followed: default 10; else the "
        "worker's default, 300)",
    )
    parser.add_argument("--cycles", type=int, default=10, help="follow: rounds of changes (default 10)")
    parser.add_argument(
        "--change", type=float, default=0.01, help="follow: share of followed bookings changed per round (0.01)"
    )
    parser.add_argument("--seed", type=int, default=13, help="follow: random seed for which bookings change")
    parser.add_argument(
        "--known-customers",
        nargs="?",
        const="copy",
        choices=("copy", "phone"),
        help="Is First Time Client From ServiceTitan, every lead with its own phone. `copy` (the default): the "
        "contacts copy is complete and fresh (steady state), no lookup call; `phone`: no copy, one phone lookup "
        "per lead (the worst case)",
    )
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
        concurrency=args.concurrency or DEFAULT_CONCURRENCY.get(args.scenario, 64),
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
        followed=args.followed,
        follow_interval=follow_interval(args),
        cycles=args.cycles,
        change=args.change,
        seed=args.seed,
        known_customers=args.known_customers,
        workers=tuple(int(count) for count in args.workers.split(",")),
    )


def follow_interval(args: argparse.Namespace) -> float | None:
    if args.follow_interval is not None:
        return float(args.follow_interval)
    return FOLLOW_INTERVAL if args.scenario == "follow" or args.followed else None


def bench_environment(db: harness.Database, sandbox_url: str, args: argparse.Namespace) -> dict[str, str]:
    """The harness's environment, plus the follower's interval when the run sets one (the worker reads it)."""
    env = harness.environment(db, sandbox_url)
    interval = follow_interval(args)
    if interval is not None:
        env["REFERLOOP_FOLLOW_INTERVAL_SECONDS"] = f"{interval:g}"
    return env


def start_django(env: dict[str, str]) -> None:
    """Point this process at the bench database and sandbox, then start Django and migrate."""
    os.environ.update(env)
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
    env = bench_environment(db, base_url, args)
    try:
        start_django(env)
        from following import follow  # only now: these import Django models
        from scale_out import scale_out
        from scenarios import SCENARIOS, Context

        sandbox = harness.start_sandbox(port, args.latency_ms, args.rate_limit, db.var_dir / "sandbox.log")
        ctx = Context(settings_from(args), env, base_url, sandbox, db.var_dir)
        return {**SCENARIOS, "follow": follow, "scale-out": scale_out}[args.scenario](ctx)
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
                record = {"date": day, "db": args.db, "code": version, "followed": args.followed, **asdict(row)}
                out.write(json.dumps(record) + "\n")
    return 0 if all(row.verdict == "pass" for row in rows if row.verdict != "—") else 1


if __name__ == "__main__":
    sys.exit(main())
