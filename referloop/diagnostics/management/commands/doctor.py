"""`referloop doctor <campaign-slug>`: the Diagnose tab's checks for a terminal, or `--json` for machines.

Exit code 0 only when no check is a problem (warnings are allowed), 1 when one is, 2 when the campaign is unknown.
Colours only on a terminal, never when NO_COLOR is set (https://no-color.org) or with --no-color.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from referloop.campaigns.models import Campaign
from referloop.diagnostics.checks import run_checks
from referloop.diagnostics.report import as_data, integration_heading, no_paint, render_text
from referloop.diagnostics.result import Status, has_problem
from referloop.integrations.models import Integration

COLOURS = {Status.OK: "32", Status.WARNING: "33", Status.PROBLEM: "31;1", Status.SKIPPED: "2"}
NO_INTEGRATION = (
    "This campaign has no CRM integration, so no leads are sent anywhere. Fix: open the campaign's Campaign "
    "Settings → Integrations → CRM tab and connect ServiceTitan."
)


class Command(BaseCommand):
    help = "Check a campaign's CRM integration for every common cause of a failed booking, and say the fix."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("campaign", help="the campaign's slug (as in its join link /c/<slug>/join)")
        parser.add_argument("--json", action="store_true", help="print the results as JSON")
        parser.add_argument(
            "--offline", action="store_true", help="skip the checks that call ServiceTitan (database only)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"No campaign has the slug {options['campaign']!r}.", returncode=2)
        integrations = list(Integration.objects.filter(campaign=campaign).select_related("campaign").order_by("pk"))
        runs = [(integration, run_checks(integration, network=not options["offline"])) for integration in integrations]
        failed = not runs or any(has_problem(results) for _, results in runs)
        if options["json"]:
            self._print_json(campaign, runs, failed)
        else:
            self._print_text(campaign, runs, self._colour(options))
        if failed:
            sys.exit(1)

    def _print_json(self, campaign: Campaign, runs: list[tuple[Integration, list[Any]]], failed: bool) -> None:
        data = {
            "campaign": {"id": campaign.pk, "slug": campaign.slug, "name": campaign.name},
            "ok": not failed,
            "integrations": [as_data(integration, results) for integration, results in runs],
        }
        if not runs:
            data["message"] = NO_INTEGRATION
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))

    def _print_text(self, campaign: Campaign, runs: list[tuple[Integration, list[Any]]], colour: bool) -> None:
        def paint(status: Status, text: str) -> str:
            return f"\x1b[{COLOURS[status]}m{text}\x1b[0m" if colour else text

        bold = (lambda text: f"\x1b[1m{text}\x1b[0m") if colour else (lambda text: text)
        if not runs:
            self.stdout.write(bold(f"referloop doctor: “{campaign.name}” ({campaign.slug})"))
            self.stdout.write(paint(Status.PROBLEM, "problem") + "   " + NO_INTEGRATION)
            return
        for integration, results in runs:
            self.stdout.write(bold(f"referloop doctor: {integration_heading(integration)}"))
            self.stdout.write("")
            self.stdout.write(render_text(results, paint if colour else no_paint, settings.PUBLIC_BASE_URL))

    def _colour(self, options: dict[str, Any]) -> bool:
        if options.get("force_color"):
            return True
        if options.get("no_color") or os.environ.get("NO_COLOR"):
            return False
        return self.stdout.isatty()
