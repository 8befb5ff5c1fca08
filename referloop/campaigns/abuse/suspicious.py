"""Which leads look like abuse: a lead from its referrer's own IP, or one of more than N leads from one IP.

Computed for a page of leads with one query (the per-IP counts of the addresses on the page), and as a
queryset filter for the lead list's "Suspicious" filter. Leads from the API, CSV imports and the admin have no
client IP, so they are never flagged.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet

from referloop.campaigns.models import Campaign, Lead


def _threshold() -> int:
    return int(settings.SUSPICIOUS_LEADS_PER_IP)


def crowded_ips(campaign: Campaign, among: Iterable[str] | None = None) -> QuerySet[Lead, dict[str, object]]:
    """(client_ip, n) rows for the campaign's addresses with more than SUSPICIOUS_LEADS_PER_IP leads."""
    leads = Lead.objects.filter(campaign=campaign, client_ip__isnull=False)
    if among is not None:
        leads = leads.filter(client_ip__in=list(among))
    return leads.values("client_ip").annotate(n=Count("pk")).filter(n__gt=_threshold()).order_by()


def suspicion_reasons(lead: Lead, crowded: dict[str, int]) -> list[str]:
    reasons = []
    if lead.client_ip and lead.client_ip == lead.referrer.client_ip:
        reasons.append("Same IP address as the referrer")
    if lead.client_ip in crowded:
        reasons.append(f"{crowded[lead.client_ip]} leads from this IP address in this campaign")
    return reasons


def flag_suspicious(leads: Iterable[Lead], campaign: Campaign) -> None:
    """Set `lead.suspicion` (the reasons, "; "-joined, or "") on each lead; `referrer` should be select_related."""
    leads = list(leads)
    ips = {lead.client_ip for lead in leads if lead.client_ip}
    crowded: dict[str, int] = {}
    if ips:
        crowded = {str(row["client_ip"]): int(str(row["n"])) for row in crowded_ips(campaign, ips)}
    for lead in leads:
        lead.suspicion = "; ".join(suspicion_reasons(lead, crowded))


def only_suspicious(leads: QuerySet[Lead], campaign: Campaign) -> QuerySet[Lead]:
    """The leads of `leads` that `flag_suspicious` would flag, as one query."""
    same_ip_as_referrer = Q(client_ip__isnull=False, client_ip=F("referrer__client_ip"))
    many_from_one_ip = Q(client_ip__in=crowded_ips(campaign).values("client_ip"))
    return leads.filter(same_ip_as_referrer | many_from_one_ip)
