"""Where a fix is made: the integration screen (tab) that fixes a problem, as a URL name and its parameters.

The CRM tab's screens are addressed by campaign and provider (`integration_leads`, campaign id, "servicetitan").
A check names the tab; the link is resolved only when shown, and falls back to the campaign's Integrations
settings when a screen's URL is not there (so a missing route never breaks the Diagnose tab or the banner).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from referloop.integrations.models import Integration

CONNECTION = "connection"
LEADS = "leads"
ACTIVITY = "activity"
DIAGNOSE = "diagnose"

# URL names of the integration's tabs, each taking (campaign id, provider).
TAB_URL_NAMES = {
    CONNECTION: "integration_connection",
    LEADS: "integration_leads",
    ACTIVITY: "integration_activity",
}
TAB_LABELS = {
    CONNECTION: "Open the Connection tab",
    LEADS: "Open the Leads tab",
    ACTIVITY: "Open the Activity tab",
    DIAGNOSE: "Open Diagnose",
}


@dataclass(frozen=True)
class FixLink:
    url_name: str
    params: tuple[object, ...]
    label: str


def tab_link(integration: Integration, tab: str) -> FixLink:
    if tab == DIAGNOSE:
        return FixLink("integration_diagnose", (integration.campaign_id, integration.provider), TAB_LABELS[DIAGNOSE])
    return FixLink(TAB_URL_NAMES[tab], (integration.campaign_id, integration.provider), TAB_LABELS[tab])


def resolve(url_name: str, params: tuple[object, ...]) -> str:
    """The path of a fix link; the campaign's Integrations settings if that screen has no route; "" if neither."""
    if not url_name:
        return ""
    try:
        return reverse(url_name, args=list(params))
    except NoReverseMatch:
        pass
    if params:
        try:
            return reverse("campaign_settings", args=[params[0], "integrations"])
        except NoReverseMatch:
            return ""
    return ""
