"""The per-tenant call budget, shared by every worker process through one TenantBucket row per rate key.

ServiceTitan allows 60 calls per second per app per tenant, and the sandbox counts them in a 1-second
*sliding* window. A classic token bucket with burst capacity B and refill rate r lets B + r calls through in
one second, so it either bursts over the limit or must be set far below it. Instead the bucket is *paced*
(GCRA): it hands out send times one interval apart, `next_slot_at` being the next free one. A claim takes
only the slots that fall within a short horizon, every row gets its own slot, and the worker sends it at that
moment; so the calls reach ServiceTitan evenly spaced at a little under the limit (`headroom`), and any
second holds at most that many, whichever worker processes sent them.

The slots are shared, but a send that goes out late (a busy machine) could still meet another process's
on-time send. So a tenant planned near its limit also sticks to one worker at a time: the worker that claims
for it owns it until shortly after its last planned send (`owner`, `owned_until`), and the other workers serve
other tenants. All of that tenant's calls then leave from one process, whose wire pacing (pacing.py) spaces
them exactly. A worker that stops claiming for the tenant (busy, stopped, dead) loses it a second later, and
another takes over. A tenant sent well below its limit is owned by nobody (`takes_ownership`): bunched late
sends can't carry it past the limit, and owning it would keep every other worker off it.

A 429 that comes anyway (another app, a slow clock) pauses the tenant for its Retry-After: `paused_until`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.db.models.functions import Greatest

from referloop.integrations.models import TenantBucket


@dataclass(frozen=True)
class RateLimit:
    per_second: float = 60.0
    # Plan for 97% of the limit: the spare 3% (about 30 ms a second) absorbs the jitter between the moment a
    # call was planned and the moment ServiceTitan counts it, so even a late burst stays under 60 in a second.
    headroom: float = 0.97
    # How far ahead a claim may hand out send times. Longer than the poll interval, so a busy tenant's next
    # rows are claimed before its current ones have all gone out and its rate never dips.
    horizon: float = 0.5

    @property
    def interval(self) -> float:
        """Seconds between two calls of one tenant."""
        return 1.0 / (self.per_second * self.headroom)

    @classmethod
    def from_settings(cls) -> RateLimit:
        return cls(per_second=float(settings.SERVICETITAN_RATE_LIMIT_PER_SECOND))


def available(next_slot_at: float, now: float, limit: RateLimit) -> int:
    """How many calls a claim at `now` may plan: the free slots before `now + horizon`."""
    start = max(next_slot_at, now)
    room = now + limit.horizon - start
    return max(0, math.ceil(room / limit.interval - 1e-9))


def grant(next_slot_at: float, now: float, costs: Sequence[int], limit: RateLimit) -> tuple[list[float], float]:
    """Send times for a prefix of rows costing `costs` calls each, and the bucket's new `next_slot_at`.

    A row that needs two calls (look up, then create) takes two slots; its send time is the first.
    """
    start = max(next_slot_at, now)
    room = available(next_slot_at, now, limit)
    times: list[float] = []
    used = 0  # slots, counted (not summed) so float steps never let an extra row in
    for cost in costs:
        if used >= room:
            break
        times.append(start + used * limit.interval)
        used += cost
    return times, start + used * limit.interval


def lock_buckets(rate_keys: Iterable[str]) -> dict[str, TenantBucket]:
    """The buckets of these keys, created if missing, locked for this transaction.

    A bucket another claimer holds right now is skipped (SKIP LOCKED on PostgreSQL): that claimer is serving
    the tenant, and waiting for it would only serialize the claimers. SQLite's IMMEDIATE transaction already
    serializes them.
    """
    keys = sorted(set(rate_keys))
    if not keys:
        return {}
    existing = set(TenantBucket.objects.filter(rate_key__in=keys).values_list("rate_key", flat=True))
    missing = [TenantBucket(rate_key=key) for key in keys if key not in existing]
    if missing:
        TenantBucket.objects.bulk_create(missing, ignore_conflicts=True)
    locked = TenantBucket.objects.select_for_update(skip_locked=True).filter(rate_key__in=keys)
    return {bucket.rate_key: bucket for bucket in locked}


# How long after its last planned send a worker keeps a tenant: long enough for late sends to go out first.
OWNERSHIP_SECONDS = 1.0


def takes_ownership(slot_before: float, slot_after: float, epoch: float, limit: RateLimit) -> bool:
    """Whether a claim at `epoch` that moved a tenant's next slot from `slot_before` to `slot_after` takes the
    tenant for its worker: only when the tenant is planned near its limit, its slots running ahead of the clock
    (more than one slot from earlier claims still ahead, or this claim planning over half the horizon).

    A worker bound by its own `--concurrency` claims a row or two of every tenant each round; if each of those
    took the tenant, one worker would own them all and a second one would find nothing to send.
    """
    return slot_before > epoch + limit.interval or slot_after > epoch + limit.horizon / 2


def owned_by_other(bucket: TenantBucket, owner: str, epoch: float) -> bool:
    return bool(bucket.owner) and bucket.owner != owner and bucket.owned_until > epoch


def release_ownership(owner: str) -> int:
    """A stopping worker hands its tenants over at once instead of a second later."""
    return TenantBucket.objects.filter(owner=owner).update(owner="", owned_until=0)


def is_paused(bucket: TenantBucket, now: datetime) -> bool:
    return bucket.paused_until is not None and bucket.paused_until > now


def pause(rate_key: str, seconds: float, now: datetime) -> None:
    """After a 429: no claims for this tenant until Retry-After has passed (a longer pause already set wins)."""
    until = now + timedelta(seconds=max(seconds, 0.0))
    TenantBucket.objects.filter(rate_key=rate_key).filter(
        Q(paused_until__isnull=True) | Q(paused_until__lt=until)
    ).update(
        paused_until=until,
        pauses=F("pauses") + 1,
        next_slot_at=Greatest(F("next_slot_at"), until.timestamp()),
    )


def take_spare_slot(rate_key: str, owner: str, epoch: float, now: datetime, limit: RateLimit) -> float | None:
    """One send time for a low-priority call (the follower), only when the tenant has nothing planned: no
    delivery is waiting for a slot, no other worker serves it, no 429 pause. None: busy, ask again later.

    Deliveries planned after it wait at most this one slot; a tenant busy with deliveries gives the follower
    nothing until it is idle, so a new booking is never queued behind the follower's calls.
    """
    bucket = lock_buckets([rate_key]).get(rate_key)
    if bucket is None or is_paused(bucket, now) or owned_by_other(bucket, owner, epoch):
        return None
    if bucket.next_slot_at > epoch + limit.interval:
        return None  # deliveries hold the slots ahead
    slot = max(bucket.next_slot_at, epoch)
    TenantBucket.objects.filter(pk=bucket.pk).update(
        next_slot_at=slot + limit.interval, owner=owner, owned_until=slot + OWNERSHIP_SECONDS
    )
    return slot
