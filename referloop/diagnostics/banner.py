"""The short banner the campaign page and the CRM tile show when a database-only check is a problem.

No network here: it runs on ordinary page views. The live ServiceTitan checks run on the Diagnose tab.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from referloop.campaigns.models import Campaign
from referloop.diagnostics.checks import cheap_checks
from referloop.diagnostics.result import CheckResult
from referloop.integrations.models import Integration


@dataclass(frozen=True)
class Banner:
    integration: Integration
    problems: list[CheckResult]

    @property
    def headline(self) -> str:
        return self.problems[0].sentence

    @property
    def more(self) -> int:
        return len(self.problems) - 1

    @property
    def provider_label(self) -> str:
        return self.integration.get_provider_display()

    @property
    def diagnose_url(self) -> str:
        return reverse("integration_diagnose", args=[self.integration.campaign_id, self.integration.provider])


def integration_banner(integration: Integration) -> Banner | None:
    """The integration's problems from the cheap checks, or None when there are none."""
    problems = [result for result in cheap_checks(integration) if result.is_problem]
    return Banner(integration, problems) if problems else None


def problem_banner(campaign: Campaign) -> Banner | None:
    """The first of the campaign's integrations that has a problem (one per provider), or None."""
    for integration in Integration.objects.filter(campaign=campaign).select_related("campaign").order_by("pk"):
        banner = integration_banner(integration)
        if banner is not None:
            return banner
    return None
