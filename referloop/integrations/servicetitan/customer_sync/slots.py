"""Which of the tenant's call slots a sync page may take.

An owner who pressed Start is waiting for the first pass: it takes a *normal* slot, queued after the deliveries
already planned, as a delivery would. It cannot starve bookings: a sync asks for one page at a time (one call per
thousands of customers, then writes them for a second or more), so it uses about one call a second of the
tenant's 58 and a booking planned after it waits one slot (17 ms). Spare slots only (the follower's rule) would let a
tenant busy with bookings stall an owner's import indefinitely. Later passes of an Ongoing sync are background
polling nobody waits for: they take spare slots only (`ratelimit.take_spare_slot`), as the follower does.
"""

from __future__ import annotations

from datetime import datetime

from referloop.integrations.engine import ratelimit
from referloop.integrations.engine.ratelimit import RateLimit
from referloop.integrations.models import TenantBucket


def take_slot(rate_key: str, owner: str, epoch: float, now: datetime, limit: RateLimit) -> float | None:
    """One send time after the slots already handed out. None while the tenant is paused after a 429 or served by
    another worker (all of a tenant's calls leave from one process, ratelimit.py)."""
    bucket = ratelimit.lock_buckets([rate_key]).get(rate_key)
    if bucket is None or ratelimit.is_paused(bucket, now) or ratelimit.owned_by_other(bucket, owner, epoch):
        return None
    slot = max(bucket.next_slot_at, epoch)
    TenantBucket.objects.filter(pk=bucket.pk).update(
        next_slot_at=slot + limit.interval, owner=owner, owned_until=slot + ratelimit.OWNERSHIP_SECONDS
    )
    return slot
