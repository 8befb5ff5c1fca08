"""`referloop serve`: migrate, create the demo account on an empty database, and run every process."""

from __future__ import annotations

import os
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from referloop.runtime import demo
from referloop.runtime.supervisor import ProcessSpec, Supervisor


class Command(BaseCommand):
    help = "Run referloop: the web app, the delivery worker and the ServiceTitan sandbox; Ctrl-C stops them all."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--sandbox-port", type=int, default=8700)
        parser.add_argument(
            "--sandbox",
            action="store_true",
            help="Start the ServiceTitan sandbox even with DEBUG off (it has no authentication: local use only).",
        )
        parser.add_argument(
            "--no-sandbox", action="store_true", help="Don't start the sandbox (the default with DEBUG off)."
        )
        parser.add_argument("--no-demo", action="store_true", help="Don't create the demo account.")
        parser.add_argument(
            "--no-worker", action="store_true", help="Don't start the delivery worker (run `referloop worker` apart)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sandbox"] and options["no_sandbox"]:
            raise CommandError("give --sandbox or --no-sandbox, not both")
        # The sandbox's control endpoints have no authentication: in production it runs only when asked for.
        options["no_sandbox"] = not with_sandbox(options["sandbox"], options["no_sandbox"])
        call_command("migrate", interactive=False, verbosity=0)
        with_demo = not options["no_demo"] and settings.DEBUG
        if with_demo and not demo.demo_exists():
            demo.create_demo()
            self.stdout.write("Created the demo account.")
        address = f"http://{options['host']}:{options['port']}"
        python = sys.executable
        # Referral links (in the app and in bookings) point at this server; the sandbox is the one started here.
        env = {"REFERLOOP_PUBLIC_BASE_URL": os.environ.get("REFERLOOP_PUBLIC_BASE_URL", address)}
        if not options["no_sandbox"] and "REFERLOOP_SERVICETITAN_SANDBOX_URL" not in os.environ:
            env["REFERLOOP_SERVICETITAN_SANDBOX_URL"] = f"http://127.0.0.1:{options['sandbox_port']}"
        specs = [
            ProcessSpec(
                "web",
                [
                    python,
                    "-m",
                    "uvicorn",
                    "referloop.asgi:application",
                    "--host",
                    options["host"],
                    "--port",
                    str(options["port"]),
                    "--no-access-log",
                    # The client address is REMOTE_ADDR, or a header only as REFERLOOP_TRUSTED_PROXY_HEADER says
                    # (campaigns/abuse/client.py): uvicorn must not rewrite it from X-Forwarded-For first.
                    "--no-proxy-headers",
                ],
                env=env,
            )
        ]
        if not options["no_worker"]:
            specs.append(ProcessSpec("worker", [python, "-m", "referloop", "worker"], env=env))
        if not options["no_sandbox"]:
            specs.append(
                ProcessSpec("sandbox", [python, "-m", "referloop", "sandbox", "--port", str(options["sandbox_port"])])
            )
        self.stdout.write(self.style.SUCCESS(f"\nreferloop is starting at {address}"))
        if with_demo:
            self.stdout.write(f"  Log in as {demo.DEMO_EMAIL} with password {demo.DEMO_PASSWORD}")
            self.stdout.write(f"  Demo referral page: {address}/c/{demo.DEMO_CAMPAIGN_SLUG}/join/")
        if not options["no_worker"]:
            self.stdout.write("  Delivery worker: sends new leads to ServiceTitan as they arrive.")
        if not options["no_sandbox"]:
            self.stdout.write(f"  ServiceTitan sandbox: http://127.0.0.1:{options['sandbox_port']}/")
        self.stdout.write("  Press Ctrl-C to stop.\n")
        self.stdout.flush()
        code = Supervisor(specs).run()
        if code:
            raise CommandError(f"a referloop process stopped with exit code {code}", returncode=code)


def with_sandbox(asked: bool, refused: bool) -> bool:
    """Whether `serve` starts the sandbox: by default with DEBUG on, and with DEBUG off only given --sandbox."""
    return asked or (settings.DEBUG and not refused)
