"""The campaign Overview's exact totals: the leads by status, the referrers and the funnel.

They are counts of the whole campaign, so their cost grows with it (200,000 leads: the funnel's 90 days alone
are 50,000 rows), against the rule that a page view's cost does not grow with the account (issue 16 §2). So:
- up to LIVE_UP_TO leads (known by a count that stops there) they are counted on each view: a small campaign
  always sees its newest lead at once;
- past it they are counted at most once a KEEP_FOR per campaign and period, kept in Django's cache (Redis in
  production, the database's cache table on the embedded default), and the page says when they were counted,
  with a Refresh link that counts them again.
A cache that fails (down, or an entry that doesn't read back) means counting live, never an error page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from referloop.campaigns import funnel as funnels
from referloop.campaigns.models import Campaign, LeadStatus
from referloop.runtime.capped import capped_count

logger = logging.getLogger(__name__)

LIVE_UP_TO = 10_000  # leads; read at call time, so a test can set it small
KEEP_FOR = timedelta(minutes=1)
STAT_KEYS = ("total", "pending", "qualified", "rewarded")


@dataclass(frozen=True)
class Figures:
    stats: dict[str, int]
    referrers: int
    funnel: funnels.Funnel
    counted_at: datetime | None = None  # None: counted for this view; else when the kept figures were counted


def overview_figures(campaign: Campaign, days: int, *, refresh: bool = False, now: datetime | None = None) -> Figures:
    """The Overview's totals, live for a campaign of up to LIVE_UP_TO leads, else kept (see the module)."""
    now = now or timezone.now()
    if capped_count(campaign.leads.all(), LIVE_UP_TO) <= LIVE_UP_TO:
        return count(campaign, days, now)
    key = cache_key(campaign, days)
    kept = None if refresh else _read(key, now)
    if kept is not None:
        return kept
    figures = count(campaign, days, now)
    figures = Figures(figures.stats, figures.referrers, figures.funnel, counted_at=now)
    _write(key, figures)
    return figures


def cache_key(campaign: Campaign, days: int) -> str:
    """Scoped by the campaign's id and the period; nothing else (nothing secret) in it."""
    return f"overview-figures:{campaign.pk}:{days}"


def count(campaign: Campaign, days: int, now: datetime) -> Figures:
    """The totals, counted now: three statements."""
    stats = campaign.leads.aggregate(
        total=Count("pk"),
        pending=Count("pk", filter=Q(status=LeadStatus.PENDING)),
        qualified=Count("pk", filter=Q(status=LeadStatus.QUALIFIED)),
        rewarded=Count("pk", filter=Q(status=LeadStatus.REWARDED)),
    )
    return Figures(stats=stats, referrers=campaign.referrers.count(), funnel=funnels.funnel(campaign, days, now))


def _read(key: str, now: datetime) -> Figures | None:
    """The kept figures if they are younger than KEEP_FOR, else None."""
    try:
        entry = cache.get(key)
        if entry is None:
            return None
        figures = _from_entry(entry)
    except Exception:  # a cache outage or an entry of another shape: count instead
        logger.warning("overview figures: the cache entry %s could not be read", key, exc_info=True)
        return None
    if figures.counted_at is None or figures.counted_at <= now - KEEP_FOR:
        return None
    return figures


def _write(key: str, figures: Figures) -> None:
    try:
        cache.set(key, _entry(figures), timeout=int(KEEP_FOR.total_seconds()))
    except Exception:  # the figures were counted: show them even if they can't be kept
        logger.warning("overview figures: the cache entry %s could not be written", key, exc_info=True)


def _entry(figures: Figures) -> dict[str, Any]:
    """Plain values (no pickled classes), so an entry from an older release reads back or is plainly refused."""
    f = figures.funnel
    return {
        "stats": {name: int(figures.stats[name]) for name in STAT_KEYS},
        "referrers": figures.referrers,
        "funnel": [f.days, f.since.isoformat(), f.referrers, f.leads, f.booked, f.jobs, f.completed, f.qualified],
        "counted_at": figures.counted_at.isoformat() if figures.counted_at else None,
    }


def _from_entry(entry: dict[str, Any]) -> Figures:
    days, since, referrers, leads, booked, jobs, completed, qualified = entry["funnel"]
    funnel = funnels.Funnel(
        days=int(days),
        since=datetime.fromisoformat(since),
        referrers=int(referrers),
        leads=int(leads),
        booked=int(booked),
        jobs=int(jobs),
        completed=int(completed),
        qualified=int(qualified),
    )
    counted_at = entry["counted_at"]
    return Figures(
        stats={name: int(entry["stats"][name]) for name in STAT_KEYS},
        referrers=int(entry["referrers"]),
        funnel=funnel,
        counted_at=datetime.fromisoformat(counted_at) if counted_at else None,
    )
