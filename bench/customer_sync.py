"""Issue 15's Target: sync 20,000 ServiceTitan customers as referrers; elapsed against the time the rate limit
alone imposes (export calls / the paced rate), and the worker's peak memory.

On demand only, loopback only, bounded in time (`--max-seconds`):

    .venv/bin/python bench/customer_sync.py [--db sqlite|postgres] [--customers 20000] [--max-seconds 600]

It makes a fresh database (harness.create_database), migrates it, starts `referloop sandbox` in its own process
and seeds `--customers` generated customers into the demo tenant (`POST /_sandbox/customers/seed`: 9 in 10 with
an email), creates one account, campaign and connected integration, starts a One-time sync as the tab's Start
does, and runs `referloop worker` until the sync is Finished. Elapsed is from the Start to the sync's
`finished_at`; the worker's peak RSS is its VmHWM just before it is stopped. Run it at two sizes to see whether
memory grows with the customers (it should not: one page is in memory at a time).

While the sync runs, this process (not the worker) inserts one row in its own transaction every 20 ms, as a lead
posted on a public form would, and reports the longest and the 99th-percentile wait: on SQLite, how long the
worker's write transactions hold the database's only write lock, as a user feels it (SQLite's busy handler sleeps
in steps of up to 100 ms, so a wait is rounded up by up to that).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import harness
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class LockProbe(threading.Thread):
    """One-row INSERTs, each its own transaction, every 20 ms until stopped; the time each took."""

    def __init__(self) -> None:
        super().__init__(name="lock-probe", daemon=True)
        self.waits: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        from django.db import connection, transaction

        try:
            while not self.stopping.is_set():
                started = time.perf_counter()
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("INSERT INTO bench_probe (at) VALUES (%s)", [time.time()])
                self.waits.append(time.perf_counter() - started)
                self.stopping.wait(0.02)
        finally:
            connection.close()

    def summary(self) -> str:
        if not self.waits:
            return "lock probe: no insert measured"
        ordered = sorted(self.waits)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        over = sum(1 for wait in ordered if wait > 0.1)
        return (
            f"one-row insert during the sync: longest wait {ordered[-1] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"{over} of {len(ordered)} over 100 ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--profile", type=Path, help="write the worker's cProfile here (main thread only)")
    args = parser.parse_args()

    db = harness.create_database(args.db)
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    os.environ.update(harness.environment(db, base))
    sandbox = harness.start_sandbox(port, 0.0, 60, db.var_dir / "sandbox.log")
    worker = None
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.utils import timezone

        from referloop.accounts.models import Account
        from referloop.campaigns.models import Campaign, Referrer
        from referloop.integrations.engine.ratelimit import RateLimit
        from referloop.integrations.models import ConnectionState, Environment, Integration
        from referloop.integrations.servicetitan.customer_sync.models import CustomerSync, Mode, SyncState
        from referloop.integrations.servicetitan.customer_sync.progress import progress_of
        from referloop.sandbox.config import (
            DEMO_BOOKING_PROVIDER_ID,
            DEMO_CLIENT_ID,
            DEMO_CLIENT_SECRET,
            DEMO_TENANT_ID,
        )

        call_command("migrate", verbosity=0)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE bench_probe (at double precision)")
        seeded = time.perf_counter()
        httpx.post(f"{base}/_sandbox/customers/seed", json={"count": args.customers, "seed": 1}, timeout=120.0)
        print(f"seeded {args.customers:,} customers in {time.perf_counter() - seeded:.1f} s")
        account = Account.objects.create(name="Bench HVAC")
        campaign = Campaign.objects.create(account=account, name="Bench referrals", slug="bench-referrals")
        integration = Integration(
            campaign=campaign,
            environment=Environment.SANDBOX,
            tenant_id=DEMO_TENANT_ID,
            client_id=DEMO_CLIENT_ID,
            booking_provider_id=DEMO_BOOKING_PROVIDER_ID,
            state=ConnectionState.CONNECTED,
        )
        integration.client_secret = DEMO_CLIENT_SECRET
        integration.save()
        worker = harness.start_worker({}, ["--poll-interval", "0.05"], db.var_dir / "worker.log", profile=args.profile)
        time.sleep(2.0)  # the worker is up (imports, migrations checked) before the clock starts
        probe = LockProbe()
        probe.start()
        started = timezone.now()
        CustomerSync.objects.create(
            integration=integration, mode=Mode.ONE_TIME, state=SyncState.RUNNING, run=1, due_at=started
        )
        deadline = time.monotonic() + args.max_seconds
        while True:
            sync = CustomerSync.objects.get(integration=integration)
            if sync.state != SyncState.RUNNING or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        peak = peak_rss_mib(worker.pid)
        probe.stopping.set()
        probe.join()
        if sync.state != SyncState.FINISHED or sync.finished_at is None:
            print(f"did not finish: {sync.state} {sync.last_error}")
            return 1
        elapsed = (sync.finished_at - started).total_seconds()
        rate = RateLimit.from_settings()
        calls = sync.pages + (1 if sync.customers_total is not None else 0)  # the export pages and one count
        floor = calls / (rate.per_second * rate.headroom)
        progress = progress_of(sync)
        print(f"customers: {args.customers:,} (+30 seeded), contacts read: {sync.contacts_read:,}")
        print(f"calls: {calls} ({sync.pages} export pages of up to 5,000, 1 count); rate-limit floor: {floor:.2f} s")
        print(f"elapsed: {elapsed:.1f} s ({elapsed / floor:.0f}x the floor)")
        print(f"worker peak RSS: {peak:.0f} MiB")
        print(probe.summary())
        print(progress.summary)
        print(f"referrers in the campaign: {Referrer.objects.filter(campaign=campaign).count():,}")
        return 0
    finally:
        if worker is not None:
            harness.stop(worker)
        harness.stop(sandbox)
        harness.drop_database(db, args.keep_logs)


if __name__ == "__main__":
    raise SystemExit(main())
