"""Which workers are alive: one definition for Diagnose, /metrics and /readyz."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import QuerySet

from referloop.integrations.models import WorkerHeartbeat

# A worker beats every 5 s; six beats missed and it is counted as gone.
ALIVE_WITHIN = timedelta(seconds=30)


def alive(now: datetime) -> QuerySet[WorkerHeartbeat]:
    """Workers that beat within ALIVE_WITHIN and have not said they stopped."""
    return WorkerHeartbeat.objects.filter(stopped_at__isnull=True, seen_at__gte=now - ALIVE_WITHIN)
