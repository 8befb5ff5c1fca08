"""Issue 16 §1: the CPU one lead costs at intake, in one process, against a bare insert in the same process.

On demand only (never in CI):

    .venv/bin/python bench/intake.py [--db sqlite|postgres] [--leads 2000] [--rounds 3] [--profile FILE]

It makes a fresh database (as bench/delivery.py does), migrates it and seeds one account with one campaign whose
ServiceTitan integration is connected with the default mapping (so every lead also writes its pending delivery),
then, in this process, alternately per round:

- **bare**: `Lead.objects.create(...)` with the same fields, `--leads` times (the floor: one INSERT through the
  ORM, autocommit);
- **submit_lead**: the real intake path (`referloop.campaigns.intake.submit_lead`, source API: validation, the
  duplicate check, the lead and its delivery in one transaction), `--leads` times, each lead a new email.

CPU is `time.process_time()` (user + system of this process; the database server's CPU on PostgreSQL is not in
it) per lead. Each round prints both and the ratio bare / submit_lead (issue 16's target: ≥ 0.3, and
submit_lead ≤ 1.2 CPU ms per lead). `--profile FILE` runs one more submit_lead pass under cProfile and prints
the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

SEED_LEADS = 200  # written before measuring, so both paths run on a table that is not empty


def main() -> int:
    parser = argparse.ArgumentParser(description="CPU per lead: submit_lead against a bare insert.")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--leads", type=int, default=2000, help="leads per path per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each running both paths (default 3)")
    parser.add_argument("--profile", type=Path, help="profile one more submit_lead pass, write the stats here")
    args = parser.parse_args()

    db = harness.create_database(args.db)
    try:
        os.environ.update(harness.environment(db, "http://127.0.0.1:9"))  # nothing is sent: no worker runs
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return _measure(args)
    finally:
        from django.db import connections

        connections.close_all()
        harness.drop_database(db, keep_logs=False)


def _measure(args: argparse.Namespace) -> int:
    import seed
    from django.db import connection

    from referloop.campaigns.models import Lead

    tenant = seed.make_tenants(1, label="intake")[0]
    campaign, referrer = tenant.integration.campaign, tenant.referrer
    counter = iter(range(10**9))

    def fields(n: int) -> dict[str, Any]:
        return {
            "first_name": "Liz",
            "last_name": f"Live{n}",
            "email": f"liz{n}@intake.example",
            "phone": "512-555-0102",
            "street": "3 Elm St",
            "city": "Austin",
            "state": "TX",
            "zip_code": "78703",
        }

    def bare(count: int) -> float:
        start = time.process_time()
        for _ in range(count):
            Lead.objects.create(campaign=campaign, referrer=referrer, source="api", **fields(next(counter)))
        return (time.process_time() - start) * 1000 / count

    def submitted(count: int) -> float:
        from referloop.campaigns.intake import submit_lead

        start = time.process_time()
        for _ in range(count):
            result = submit_lead(campaign, referrer, fields(next(counter)), source="api")
            assert result.created
        return (time.process_time() - start) * 1000 / count

    bare(SEED_LEADS)
    submitted(SEED_LEADS)
    rows = []
    for round_number in range(1, args.rounds + 1):
        bare_ms, submit_ms = bare(args.leads), submitted(args.leads)
        rows.append((bare_ms, submit_ms))
        print(
            f"round {round_number}: bare {bare_ms:.3f} CPU ms/lead, submit_lead {submit_ms:.3f} CPU ms/lead, "
            f"ratio {bare_ms / submit_ms:.2f}",
            file=sys.stderr,
        )
    deliveries = _delivery_count()
    expected = SEED_LEADS + args.leads * args.rounds
    if deliveries != expected:
        print(f"FAIL: {deliveries} deliveries for {expected} submitted leads", file=sys.stderr)
        return 1
    bare_ms = statistics.median(r[0] for r in rows)
    submit_ms = statistics.median(r[1] for r in rows)
    spread = (max(r[1] for r in rows) - min(r[1] for r in rows)) / submit_ms * 100
    print(
        f"| intake | {connection.vendor} | {args.leads} leads x {args.rounds} rounds | bare create {bare_ms:.3f} "
        f"CPU ms/lead, submit_lead **{submit_ms:.3f}** (spread {spread:.0f}%), ratio **{bare_ms / submit_ms:.2f}** "
        f"| ≤ 1.2 ms and ratio ≥ 0.3 | {'pass' if submit_ms <= 1.2 and bare_ms / submit_ms >= 0.3 else 'fail'} |"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        submitted(args.leads)
        profiler.disable()
        profiler.dump_stats(str(args.profile))
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(45)
    return 0


def _delivery_count() -> int:
    from referloop.integrations.models import Delivery

    return Delivery.objects.count()


if __name__ == "__main__":
    raise SystemExit(main())
