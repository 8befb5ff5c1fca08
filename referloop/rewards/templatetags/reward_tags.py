"""`{% lead_rewards lead %}` and `{% referrer_rewards referrer %}`: the rewards on the lead and referrer pages
(one query each, whatever the number of rewards); `{{ amount|money:currency }}`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from referloop.campaigns.models import Lead, Referrer
from referloop.rewards import listing
from referloop.rewards.models import money as money_text

register = template.Library()


@register.inclusion_tag("rewards/_reward_list.html")
def lead_rewards(lead: Lead) -> dict[str, Any]:
    return {"rewards": listing.rewards_of_lead(lead), "campaign": lead.campaign, "whose": "lead"}


@register.inclusion_tag("rewards/_reward_list.html")
def referrer_rewards(referrer: Referrer) -> dict[str, Any]:
    return {"rewards": listing.all_rewards_of_referrer(referrer), "campaign": referrer.campaign, "whose": "referrer"}


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    return money_text(amount, currency)
