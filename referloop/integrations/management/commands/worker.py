"""`referloop worker`: send pending deliveries to ServiceTitan until SIGTERM or Ctrl-C."""

from __future__ import annotations

import gc
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from referloop.integrations.engine.worker import WorkerOptions, run_worker


class Command(BaseCommand):
    help = (
        "Send pending deliveries (leads → ServiceTitan bookings). Run one per machine or more: workers share "
        "the database, the per-tenant rate limit and the queue. Stops cleanly on SIGTERM or Ctrl-C."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        defaults = WorkerOptions()
        parser.add_argument(
            "--concurrency", type=int, default=defaults.concurrency, help="Sends in flight at once (default 64)."
        )
        parser.add_argument("--batch", type=int, default=defaults.batch, help="Most deliveries one claim takes.")
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=defaults.poll_interval,
            help="Seconds between looks for new work when idle (default 0.2).",
        )
        parser.add_argument("--worker-id", default="", help="Name shown in the heartbeat (default host:pid).")
        parser.add_argument(
            "--lease-seconds",
            type=float,
            default=defaults.lease_seconds,
            help="How long a claimed delivery stays with this worker before another may take it over.",
        )
        parser.add_argument(
            "--send-deadline",
            type=float,
            default=defaults.send_deadline,
            help="Seconds one try may take in all; keep it below --lease-seconds.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        worker_options = WorkerOptions(
            concurrency=options["concurrency"],
            batch=options["batch"],
            poll_interval=options["poll_interval"],
            worker_id=options["worker_id"],
            lease_seconds=options["lease_seconds"],
            send_deadline=options["send_deadline"],
        )
        if worker_options.concurrency < 1 or worker_options.batch < 1:
            raise CommandError("--concurrency and --batch must be at least 1.")
        if worker_options.send_deadline >= worker_options.lease_seconds:
            raise CommandError("--send-deadline must be shorter than --lease-seconds.")
        self.stdout.write(f"referloop worker: {worker_options.concurrency} sends in flight at most. Ctrl-C stops.")
        self.stdout.flush()
        # What start-up loaded (Django, URL patterns, the connector) stays for the life of the process: frozen, the
        # garbage collector stops rescanning it, which keeps its pauses (and the event loop's stalls) short.
        gc.collect()
        gc.freeze()
        report = run_worker(worker_options, handle_signals=True)
        self.stdout.write(
            f"referloop worker stopped: {report.finished} tries in {report.seconds:.1f} s "
            f"({dict(report.outcomes)}), {report.released} given back."
        )
