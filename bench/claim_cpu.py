"""CPU time of the engine's database side: `claim_due` + `write_results`, in process, on a fresh SQLite file.

    .venv/bin/python bench/claim_cpu.py [--rounds 20] [--batch 500] [--tenants 50] [--parked 100000] [--cache-mib 64]

Seeds `--tenants` campaigns with a ServiceTitan integration each and a backlog due now, then runs one warm-up
round and `--rounds` measured rounds of what the worker's database thread does per batch: claim up to `--batch`
rows across the tenants' rate keys, then write a result for each (nine in ten delivered, one in ten a 503 to be
retried). Nothing is sent: the results are made up, so only the engine's own database work is measured.
`--parked N` adds N more pending deliveries (and leads) due in a year, as a big backlog leaves the tables, so a
run with and one without compare the same work against tables of different sizes (issue 16 §3). `--cache-mib`
sets SQLite's page cache (`PRAGMA cache_size`; its default is 2 MiB) for the engine's connection.

The measure is `time.process_time()` (CPU of this process), not wall time: other processes on a shared machine
slow the wall clock but not this. The clock the engine sees is simulated, one second per round, so each round
finds every tenant's rate budget full again. Prints one line per round and a summary; `--json FILE` appends it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import harness

ROUND_SECONDS = 1.0  # simulated time between rounds: longer than the rate horizon, so budgets refill
RETRY_SHARE = 0.1  # results that are a transient failure (retried later) rather than a booking


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/claim_cpu.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds (default 20)")
    parser.add_argument("--batch", type=int, default=500, help="rows one claim may take (default 500)")
    parser.add_argument("--tenants", type=int, default=50, help="tenants, one rate key each (default 50)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the made-up outcomes (default 7)")
    parser.add_argument("--parked", type=int, default=0, help="more pending rows, due in a year (default 0)")
    parser.add_argument("--cache-mib", type=int, help="SQLite page cache in MiB (default: SQLite's 2 MiB)")
    parser.add_argument("--json", type=Path, help="also append the summary as a JSON line to this file")
    return parser.parse_args()


def start_django(db: harness.Database) -> None:
    os.environ.update(harness.environment(db, "http://127.0.0.1:9"))  # nothing is sent: no sandbox needed
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def seed_backlog(tenants: int, rows: int, parked: int = 0) -> None:
    import seed

    made = seed.make_tenants(tenants)
    numbered = [(n, made[n % len(made)]) for n in range(rows)]
    for start in range(0, rows, seed.BULK_BATCH):
        seed.insert_due(numbered[start : start + seed.BULK_BATCH])
    if parked:
        seed.park_backlog(made, parked)


def made_up_results(claims: list[Any], now: datetime, rng: random.Random) -> list[Any]:
    from referloop.integrations.engine.tries import Result
    from referloop.integrations.models import AttemptOutcome
    from referloop.providers.base import Outcome, Tried

    results = []
    for claim in claims:
        request = {
            "method": "POST",
            "path": "/crm/v2/tenant/1/bookings",
            "body": {"name": claim.payload.get("lead.full_name")},
        }
        if rng.random() < RETRY_SHARE:
            tried = Tried(
                Outcome.TRANSIENT,
                "ServiceTitan answered 503.",
                response_status=503,
                response_text="Service Unavailable",
                requests=(request,),
            )
            outcome = AttemptOutcome.TRANSIENT
        else:
            tried = Tried(
                Outcome.DELIVERED,
                "Booked.",
                remote_id=claim.delivery_id + 10_000_000,
                external_id=f"referloop-{claim.delivery_id}",
                response_status=200,
                requests=(request,),
            )
            outcome = AttemptOutcome.DELIVERED
        results.append(Result(claim=claim, outcome=outcome, started_at=now, duration_ms=110, tried=tried))
    return results


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.utils import timezone

    from referloop.integrations import destinations
    from referloop.integrations.engine.claim import claim_due
    from referloop.integrations.engine.ratelimit import RateLimit
    from referloop.integrations.engine.results import write_results

    harness.progress(f"engine from {Path(claim_due.__code__.co_filename).parent}")
    seed_backlog(args.tenants, (args.rounds + 2) * args.batch, args.parked)
    if args.cache_mib:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = -{args.cache_mib * 1024}")
    kinds = destinations.fresh_kinds()  # kept for the run, with their caches, as a worker keeps them
    rate = RateLimit()
    rng = random.Random(args.seed)
    start = timezone.now()
    claim_ms: list[float] = []
    write_ms: list[float] = []
    rows: list[int] = []
    for n in range(args.rounds + 1):  # round 0 warms up (caches, first queries) and is not counted
        now = start + timedelta(seconds=ROUND_SECONDS * n)
        before = time.process_time()
        claims = claim_due("bench", args.batch, rate=rate, lease_seconds=60, now=now, rng=rng, kinds=kinds).claims
        claimed = time.process_time()
        results = made_up_results(claims, now, rng)
        made = time.process_time()
        write_results(results, now=now + timedelta(milliseconds=200), rng=rng, kinds=kinds)
        written = time.process_time()
        if n == 0:
            continue
        claim_ms.append((claimed - before) * 1000)
        write_ms.append((written - made) * 1000)
        rows.append(len(claims))
        harness.progress(f"round {n}: {len(claims)} rows, claim {claim_ms[-1]:.1f} ms, write {write_ms[-1]:.1f} ms CPU")
    total = sum(claim_ms) + sum(write_ms)
    rounds = [c + w for c, w in zip(claim_ms, write_ms, strict=True)]
    return {
        "rounds": args.rounds,
        "parked": args.parked,
        "cache_mib": args.cache_mib,
        "rows": sum(rows),
        "claim_ms_per_round": statistics.mean(claim_ms),
        "write_ms_per_round": statistics.mean(write_ms),
        "cpu_ms_per_round": total / args.rounds,
        # The middle and the fastest round: a burst of another process on a shared machine moves these least.
        "cpu_ms_median_round": statistics.median(rounds),
        "cpu_ms_min_round": min(rounds),
        "cpu_ms_per_row": total / max(1, sum(rows)),
    }


def main() -> int:
    args = parse_args()
    db = harness.create_database("sqlite")
    try:
        start_django(db)
        summary = run(args)
    finally:
        from django.db import connections

        connections.close_all()
        harness.drop_database(db, keep_logs=False)
    print(
        f"{summary['parked']} parked, cache {summary['cache_mib'] or 2} MiB; "
        f"{summary['rounds']} rounds, {summary['rows']} rows: claim {summary['claim_ms_per_round']:.1f} ms + "
        f"write {summary['write_ms_per_round']:.1f} ms = {summary['cpu_ms_per_round']:.1f} CPU ms per round "
        f"(median round {summary['cpu_ms_median_round']:.1f}, fastest {summary['cpu_ms_min_round']:.1f}), "
        f"{summary['cpu_ms_per_row']:.3f} CPU ms per row"
    )
    if args.json is not None:
        with args.json.open("a") as out:
            out.write(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), **summary}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
