"""Find a lead by email anywhere in the account: the support question "which referral failed?"."""

from __future__ import annotations

from django.db.models import Prefetch

from referloop.accounts.models import Account
from referloop.campaigns.models import Lead
from referloop.integrations.models import Delivery

MAX_RESULTS = 50
MIN_QUERY_LENGTH = 3


def find_leads(account: Account, query: str) -> list[Lead]:
    """The account's leads whose email contains `query` (any case), an exact match first, then newest first."""
    query = query.strip()
    if len(query) < MIN_QUERY_LENGTH:
        return []
    deliveries = Delivery.objects.select_related("integration").order_by("pk")
    leads = list(
        Lead.objects.filter(campaign__account=account, email__icontains=query)
        .select_related("campaign", "referrer")
        .prefetch_related(Prefetch("deliveries", queryset=deliveries))
        .order_by("-created_at", "-pk")[:MAX_RESULTS]
    )
    wanted = query.casefold()
    return sorted(leads, key=lambda lead: lead.email.casefold() != wanted)
