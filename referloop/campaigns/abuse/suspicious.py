"""Which leads look like abuse: a lead from its referrer's own network, or one of more than N leads from one network.

"Network" is one client as the rate limits count it (`limits.client_network`, the one definition): an IPv4
address on its own, an IPv6 address's /64, which one host owns whole. Comparing exact IPv6 addresses would let a
farmer rotate through their /64 and never be flagged.

The database holds exact addresses, and neither SQLite nor PostgreSQL can group them by that key portably, so the
leads are counted per address in SQL and the counts added up per network here:
- a page of leads (`flag_suspicious`): one query, the per-address counts of the page's exact addresses and (when
  the page has a lead from a network wider than one address, i.e. IPv6) of the campaign's addresses of that
  family; "same network as the referrer" needs no query (the referrer is select_related);
- the "Suspicious" filter (`only_suspicious`): the exact addresses in crowded networks (IPv4: counted with
  HAVING in SQL; IPv6: per /64 here), the leads with their referrer's address (a column comparison) and those
  (IPv6 only) whose address differs from their referrer's inside one /64, gathered as lead ids. The lists are
  as long as what they flag, which the rate limits keep small. It looks at the campaign's newest FILTER_WINDOW
  leads with an address only (a range of the (campaign, created_at) index): grouping every one on each view cost
  a campaign of 200,000 leads 100 ms, growing with it (issue 16 §2). The lead list says so under the filter.
Leads from the API, CSV imports and the admin have no client IP, so they are never flagged.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet

from referloop.campaigns.abuse.limits import client_network
from referloop.campaigns.models import Campaign, Lead

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# An address of each IP version (documentation ranges), to ask `client_network` which versions span many addresses.
_PROBES = {4: "192.0.2.1", 6: "2001:db8::1"}
FILTER_WINDOW = 10_000  # the newest leads with a client IP that the Suspicious filter looks at; read at call time


def _threshold() -> int:
    return int(settings.SUSPICIOUS_LEADS_PER_IP)


def network_of(address: object) -> Network | None:
    """The client network of a stored address, or None (no address, or one that doesn't parse)."""
    if not address:
        return None
    try:
        return client_network(str(address))
    except ValueError:
        return None


def _address_counts(campaign: Campaign, where: Q | None = None) -> list[tuple[str, int]]:
    """(address, leads) for the campaign's leads with a client IP (and matching `where`), counted in SQL."""
    leads = Lead.objects.filter(campaign=campaign, client_ip__isnull=False)
    if where is not None:
        leads = leads.filter(where)
    return [(str(address), int(n)) for address, n in _counts(leads)]


def _counts(leads: QuerySet[Lead]) -> QuerySet[Lead, tuple[Any, int]]:
    return leads.values_list("client_ip").annotate(n=Count("pk")).order_by()


def _per_network(rows: Iterable[tuple[str, int]]) -> Counter[Network]:
    counts: Counter[Network] = Counter()
    for address, n in rows:
        network = network_of(address)
        if network is not None:
            counts[network] += n
    return counts


def _family(version: int) -> Q:
    """Leads whose address is of this IP version (the stored text of an IPv6 address has a colon, IPv4's none)."""
    ipv6 = Q(client_ip__contains=":")
    return ipv6 if version == 6 else ~ipv6


def _same_network_reason(lead: Lead) -> str | None:
    referrer_ip = lead.referrer.client_ip
    if not lead.client_ip or not referrer_ip:
        return None
    if lead.client_ip == referrer_ip:
        return "Same IP address as the referrer"
    network = network_of(lead.client_ip)
    if network is not None and network == network_of(referrer_ip):
        return f"Same network as the referrer ({network})"
    return None


def suspicion_reasons(lead: Lead, crowded: dict[Network, int]) -> list[str]:
    """Why `lead` looks like abuse; `crowded` holds the campaign's networks with more than N leads, and how many."""
    reasons = []
    if (same := _same_network_reason(lead)) is not None:
        reasons.append(same)
    network = network_of(lead.client_ip)
    if network is not None and network in crowded:
        where = "IP address" if network.num_addresses == 1 else "network"
        reasons.append(f"{crowded[network]} leads from this {where} in this campaign")
    return reasons


def crowded_networks(campaign: Campaign, among: Iterable[Network] | None = None) -> dict[Network, int]:
    """The campaign's networks with more than SUSPICIOUS_LEADS_PER_IP leads (of `among` only, if given): one query."""
    if among is None:
        counts = _per_network(_address_counts(campaign))
    else:
        wanted = set(among)
        if not wanted:
            return {}
        # A network of one address is found by that address; a wider one (an IPv6 /64) can't be matched in SQL
        # on both databases, so its family's addresses are counted and added up here.
        where = Q(client_ip__in=[str(net.network_address) for net in wanted if net.num_addresses == 1])
        for version in {net.version for net in wanted if net.num_addresses > 1}:
            where |= _family(version)
        counts = _per_network(_address_counts(campaign, where))
        counts = Counter({net: n for net, n in counts.items() if net in wanted})
    return {network: n for network, n in counts.items() if n > _threshold()}


def flag_suspicious(leads: Iterable[Lead], campaign: Campaign) -> None:
    """Set `lead.suspicion` (the reasons, "; "-joined, or "") on each lead; `referrer` should be select_related."""
    leads = list(leads)
    networks = {network for lead in leads if (network := network_of(lead.client_ip)) is not None}
    crowded = crowded_networks(campaign, networks) if networks else {}
    for lead in leads:
        lead.suspicion = "; ".join(suspicion_reasons(lead, crowded))


def only_suspicious(leads: QuerySet[Lead], campaign: Campaign) -> QuerySet[Lead]:
    """The leads of `leads` that `flag_suspicious` would flag: found first by their ids (lists as long as what
    they flag), then `leads` filtered to those ids, so the page and its count are index lookups. One WHERE with
    the referrer join OR'ed to the crowd scanned the campaign's 200,000 leads per page (and per count)."""
    addresses: list[str] = []
    same_network_ids: list[int] = []
    window = _newest_with_ip(campaign)
    for version, probe in _PROBES.items():
        wide = client_network(probe).num_addresses > 1
        addresses += _crowded_addresses(window, version, wide)
        if wide:
            same_network_ids += _same_wide_network_ids(window, version)
    mine = window
    # Same address as the referrer: a column comparison.
    same_ip = mine.filter(client_ip=F("referrer__client_ip")).values_list("pk", flat=True)
    crowded = mine.filter(client_ip__in=addresses).values_list("pk", flat=True) if addresses else []
    return leads.filter(pk__in={*same_ip, *crowded, *same_network_ids})


def filter_note() -> str:
    """What the Suspicious filter lists, in the lead list's words."""
    return (
        f"Suspicious: leads from their referrer's own network, or from a network with more than {_threshold()} "
        f"leads, among this campaign's newest {FILTER_WINDOW:,} leads that came with an IP address (from the "
        "lead form; leads from the API, imports and by hand have none)."
    )


def _newest_with_ip(campaign: Campaign) -> QuerySet[Lead]:
    """The campaign's newest FILTER_WINDOW leads with a client IP: the only ones the filter looks at.

    As a time range from the FILTER_WINDOW-th newest one's created_at (one statement that stops there; leads
    created at that same instant come along), which each query then reads off the (campaign, created_at) index.
    `id IN (... LIMIT n)` made PostgreSQL scan and hash all the campaign's leads in every query.
    """
    with_ip = Lead.objects.filter(campaign=campaign, client_ip__isnull=False)
    edge = with_ip.order_by("-created_at").values_list("created_at", flat=True)[FILTER_WINDOW - 1 : FILTER_WINDOW]
    since = next(iter(edge), None)
    return with_ip if since is None else with_ip.filter(created_at__gte=since)


def _same_wide_network_ids(window: QuerySet[Lead], version: int) -> list[int]:
    """Leads whose address differs from their referrer's inside one network (an IPv6 /64), compared here."""
    differing = (
        window.filter(referrer__client_ip__isnull=False)
        .filter(_family(version))
        .exclude(client_ip=F("referrer__client_ip"))
        .values_list("pk", "client_ip", "referrer__client_ip")
    )
    return [
        pk
        for pk, address, referrer_address in differing
        if (network := network_of(address)) is not None and network == network_of(referrer_address)
    ]


def _crowded_addresses(window: QuerySet[Lead], version: int, wide: bool) -> list[str]:
    """The addresses of one IP version whose network has more than N leads in `window` (of one campaign).

    An IPv4 network is one address, so its crowd is counted and compared in SQL (HAVING: a campaign of 200,000
    form leads has as many addresses, and parsing each here took a second). A wider network (an IPv6 /64) can't be
    matched in SQL on both databases: that family's addresses are counted per network here.
    """
    if not wide:
        crowded = (
            window.filter(_family(version))
            .values("client_ip")
            .annotate(n=Count("pk"))
            .filter(n__gt=_threshold())
            .values_list("client_ip", flat=True)
        )
        return [str(address) for address in crowded]
    rows = [(str(address), int(n)) for address, n in _counts(window.filter(_family(version)))]
    networks = {network for network, n in _per_network(rows).items() if n > _threshold()}
    return [address for address, _n in rows if network_of(address) in networks]
