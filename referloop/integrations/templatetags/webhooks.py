"""`{% webhooks_panel campaign %}`: the account's webhook endpoints, in Campaign Settings → Integrations and API."""

from __future__ import annotations

from typing import Any

from django import template

from referloop.campaigns.models import Campaign
from referloop.integrations.webhooks.views import panel_context

register = template.Library()


@register.inclusion_tag("integrations/webhooks/_panel.html", takes_context=True)
def webhooks_panel(context: template.Context, campaign: Campaign) -> dict[str, Any]:
    membership = context.get("current_membership")
    account = context.get("current_account")
    if account is None or account.pk != campaign.account_id:
        return {"rows": [], "hidden": True}
    return panel_context(account, bool(membership and membership.can_manage), campaign)
