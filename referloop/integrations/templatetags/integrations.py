"""`{% crm_tiles campaign %}`: the CRM tab's provider tiles on Campaign Settings → Integrations and API."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from referloop.campaigns.models import Campaign
from referloop.integrations.models import Integration, Provider
from referloop.integrations.servicetitan.status import status_of

register = template.Library()

DESCRIPTIONS = {
    Provider.SERVICETITAN: "Turn every new lead into a booking in ServiceTitan, with the fields you choose.",
}


@register.inclusion_tag("integrations/_crm_tiles.html")
def crm_tiles(campaign: Campaign) -> dict[str, Any]:
    by_provider = {i.provider: i for i in Integration.objects.select_related("campaign").filter(campaign=campaign)}
    tiles = []
    for provider in Provider:
        integration = by_provider.get(provider.value)
        tiles.append(
            {
                "provider": provider.value,
                "label": provider.label,
                "description": DESCRIPTIONS.get(provider, ""),
                "integration": integration,
                "status": status_of(integration),
                "url": reverse("integration_connection", args=[campaign.pk, provider.value]),
            }
        )
    return {"tiles": tiles}
