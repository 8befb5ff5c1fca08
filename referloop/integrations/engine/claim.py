"""Claiming: one short transaction that picks due deliveries fairly across tenants and leases them.

Run it in a thread (never on the event loop). On PostgreSQL, rows and buckets are taken with
SELECT … FOR UPDATE SKIP LOCKED, so any number of worker processes claim side by side without waiting on or
double-taking each other; on SQLite the IMMEDIATE transaction (settings.sqlite_options) serializes claimers.

A lease is also a postponed `next_attempt_at`: a claimed row is due again when its lease runs out, so the
index scan for due rows never wades through rows in flight, and a row whose worker died comes back by itself
(marked ambiguous, so its next try settles whether the lost try arrived: ServiceTitan looks the booking up).

Which rows can go and what they carry is each destination kind's business (`integrations.destinations`): a
row whose destination can't take it now (disconnected, setup incomplete) is held with the reason, not sent.

The hand-written statements (the due-rows read, the lock, the lease, the buckets' new slots) are named in
`queries.py`, with why each one is not the ORM; the rare ones (holding, a lost try, counting waits) are ORM here.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from referloop.integrations import deliveries, destinations
from referloop.integrations.destinations import ConnectorOptions, DestinationKind, Destined
from referloop.integrations.engine import queries, ratelimit
from referloop.integrations.engine.queries import BucketSlot, DueRead, LockedRow
from referloop.integrations.engine.ratelimit import RateLimit
from referloop.integrations.engine.tries import Claim
from referloop.integrations.models import Attempt, AttemptOutcome, Delivery, DeliveryState, TenantBucket

# A lease still set on a due row ran out: that worker died mid-try, so the booking may exist.
_AMBIGUOUS_IF_LEASE_RAN_OUT = Case(When(lease_expires_at__isnull=False, then=Value(True)), default=F("ambiguous"))


@dataclass
class ClaimResult:
    claims: list[Claim] = field(default_factory=list)
    held: int = 0  # due rows whose destination can't take them now: held with the reason, not sent
    more_due: bool = False  # due rows were left for later (rate budget, `limit`, another claimer)
    contended: bool = False  # another claimer held some tenants' buckets (PostgreSQL): it is done in milliseconds


def claim_due(
    owner: str,
    limit: int,
    *,
    rate: RateLimit,
    lease_seconds: float,
    now: datetime | None = None,
    rng: random.Random | None = None,
    kinds: dict[str, DestinationKind] | None = None,
) -> ClaimResult:
    """Lease up to `limit` due deliveries to `owner`; each Claim carries its send time within its tenant's budget.

    A worker passes the destination `kinds` it keeps for its run (with their caches); without them, every
    destination is loaded afresh.
    """
    if limit <= 0:
        return ClaimResult(more_due=True)
    kinds = kinds if kinds is not None else destinations.fresh_kinds()
    with transaction.atomic():
        return _claim(owner, limit, rate, lease_seconds, now or timezone.now(), rng or random.Random(), kinds)


def _claim(
    owner: str,
    limit: int,
    rate: RateLimit,
    lease_seconds: float,
    now: datetime,
    rng: random.Random,
    kinds: dict[str, DestinationKind],
) -> ClaimResult:
    result = ClaimResult()
    keys = queries.pending_rate_keys()
    if not keys:
        return result
    candidates = _candidates(keys, limit, rng)
    buckets = ratelimit.lock_buckets(candidates)
    result.more_due = result.contended = len(buckets) < len(candidates)  # another claimer holds some right now
    result.more_due |= len(candidates) < len(keys)
    epoch = now.timestamp()
    # Tenants another worker is serving right now are its business, not ours.
    buckets = {key: b for key, b in buckets.items() if not ratelimit.owned_by_other(b, owner, epoch)}
    budgets = {
        key: 0 if ratelimit.is_paused(bucket, now) else ratelimit.available(bucket.next_slot_at, epoch, rate)
        for key, bucket in buckets.items()
    }
    picked = pick_due(budgets, limit, now, rng)
    waited = picked.waited
    result.more_due |= picked.more_due
    chosen = picked.ids

    rows = _lock(chosen, now)
    destined: dict[int, Destined] = {}
    for name, kind_rows in _by_kind(rows).items():
        destined.update(kinds[name].destinations(kind_rows))
    sendable = [row for row in rows if not destined[row.id].hold_reason]
    result.held = _hold([row for row in rows if destined[row.id].hold_reason], destined)

    lease_end = now + timedelta(seconds=rate.horizon + lease_seconds)
    # Payloads before send times: what a row carries can change what its try costs (a lookup to make first).
    payloads: dict[int, Mapping[str, object]] = {}
    for name, kind_rows in _by_kind(sendable).items():
        payloads.update(kinds[name].payloads(kind_rows))
    slots_before = {key: bucket.next_slot_at for key, bucket in buckets.items()}
    send_at = _plan_send_times(sendable, buckets, rate, epoch, kinds, payloads)
    result.more_due |= len(send_at) < len(sendable)
    claimed = [row for row in sendable if row.id in send_at]
    queries.lease([row.id for row in claimed], owner, lease_end, now)
    _record_lost_tries(claimed, kinds, now)
    owned = {
        key
        for key, bucket in buckets.items()
        if ratelimit.takes_ownership(slots_before[key], bucket.next_slot_at, epoch, rate)
    }
    _update_buckets(buckets, waited, _last_send_by_key(claimed, send_at), owner, owned)

    result.claims = [_claim_of(row, destined[row.id], payloads[row.id], owner, send_at[row.id], now) for row in claimed]
    result.claims.sort(key=lambda claim: claim.send_at)
    return result


# A claim locks the buckets of at most this many tenants per row it may take (chosen at random when there are more):
# enough that tenants with no budget left or served by another worker don't leave it short, few enough that two
# workers' small claims rarely want the same buckets. Locking every tenant's bucket made each claim wait for (on
# SQLite) or skip (PostgreSQL) every other worker's claim: two workers made 1.1-1.3 x one (issue 16 §3).
CANDIDATES_PER_ROW = 2


def _candidates(keys: list[str], limit: int, rng: random.Random) -> list[str]:
    """The rate keys this claim considers. A claim of `limit` rows gives at most `limit` tenants a row (the even
    share is one each when there are more tenants than rows), and a random subset of twice that is as fair as
    choosing among all of them, since `pick_due` shuffles the tenants anyway."""
    if len(keys) <= CANDIDATES_PER_ROW * limit:
        return keys
    return rng.sample(keys, CANDIDATES_PER_ROW * limit)


def _by_kind(rows: Iterable[LockedRow]) -> dict[str, list[LockedRow]]:
    grouped: dict[str, list[LockedRow]] = {}
    for row in rows:
        grouped.setdefault(row.connector, []).append(row)
    return grouped


@dataclass
class Picked:
    ids: list[int]  # the rows to lease, tenant by tenant, each tenant's oldest first
    waited: set[str]  # tenants with more due rows than their rate budget
    more_due: bool  # due rows were left (budget or `limit`)


def pick_due(budgets: dict[str, int], limit: int, now: datetime, rng: random.Random) -> Picked:
    """Which due rows to lease: each tenant's share (`share`) of `limit` within its budget, oldest first.

    Reading budget + 1 rows of every tenant (~30 x 50 with a backlog) to keep `limit` of them cost more than
    the rest of the claim, so each tenant is first read only up to its fair share of `limit` (+1, which tells
    "it has more"). A tenant whose share reaches what was read may deserve more: it is read again up to
    min(budget, limit) + 1 and the shares are redone, so the outcome is that of reading everything.
    """
    caps = dict.fromkeys(budgets, _fair_share(budgets, limit))
    due, over_budget = due_rows(budgets, caps, now)
    order = [key for key in budgets if key in due]
    rng.shuffle(order)  # ties for the last few places go to a different tenant each round
    while True:
        wanted = {key: min(len(due[key]), budgets[key]) for key in order}
        shares = share(wanted, limit, order)
        short = [key for key in order if _read_short(key, due, budgets, caps, shares)]
        if not short:
            break
        caps.update(dict.fromkeys(short, limit))
        more, _ = due_rows({key: budgets[key] for key in short}, caps, now, probe=False)
        due.update({key: more.get(key, []) for key in short})
    # A capped read can't count past the budget, so its tenant's probe row says whether it had more.
    waited = {
        key for key in order if (key in over_budget if caps[key] < budgets[key] else len(due[key]) > budgets[key])
    }
    more_due = bool(waited) or sum(shares.values()) < sum(wanted.values())
    return Picked([row_id for key in order for row_id in due[key][: shares[key]]], waited, more_due)


def _fair_share(budgets: dict[str, int], limit: int) -> int:
    """What each tenant with a budget gets when all of them have a backlog (water-filling gives no more)."""
    sending = sum(1 for budget in budgets.values() if budget > 0)
    return max(1, -(-limit // sending)) if sending else 0


def _read_short(
    key: str, due: dict[str, list[int]], budgets: dict[str, int], caps: dict[str, int], shares: dict[str, int]
) -> bool:
    """Its share took every row read, the read stopped at the cap, and the budget allows more."""
    read = len(due[key])
    return caps[key] < budgets[key] and read == caps[key] + 1 and shares[key] >= read


def due_rows(
    budgets: dict[str, int], caps: dict[str, int], now: datetime, *, probe: bool = True
) -> tuple[dict[str, list[int]], set[str]]:
    """Up to min(budget, cap) + 1 due row ids per key, oldest first (the extra row tells "more were waiting"),
    and, with `probe`, the capped keys that have more than `budget` due rows.

    All in one statement (`queries.select_due`): one index range scan per key.
    """
    reads: list[DueRead] = []
    for key, budget in budgets.items():
        reads.append(DueRead(key, min(budget, caps[key]) + 1))
        if probe and caps[key] < budget:
            reads.append(DueRead(key, budget, probe=True))
    found: dict[str, list[int]] = {}
    over: set[str] = set()
    for row in queries.select_due(reads, now):
        if row.probe:
            over.add(row.rate_key)
        else:
            found.setdefault(row.rate_key, []).append(row.id)
    return found, over


def share(wanted: dict[str, int], limit: int, order: Sequence[str]) -> dict[str, int]:
    """Split `limit` rows across tenants as evenly as their wants allow (water-filling), in `order`.

    A tenant with 50,000 due rows wants no more than its rate budget, and gets no more than an even share of
    the worker's free capacity, so another tenant's new lead always finds room in the next claim.
    """
    shares = dict.fromkeys(wanted, 0)
    remaining = limit
    active = [key for key in order if wanted.get(key, 0) > 0]
    while remaining > 0 and active:
        each = max(1, remaining // len(active))
        still = []
        for key in active:
            take = min(each, wanted[key] - shares[key], remaining)
            shares[key] += take
            remaining -= take
            if shares[key] < wanted[key]:
                still.append(key)
            if remaining == 0:
                break
        active = still
    return shares


def _lock(ids: Sequence[int], now: datetime) -> list[LockedRow]:
    """Lock the chosen rows, re-checking they are still due (a row taken meanwhile is skipped, not waited on).

    The rows are read by primary key alone (see `queries.lock_deliveries`), so state and due time are checked
    here; the rows are locked, so what is read stands.
    """
    due = [row for row in queries.lock_deliveries(ids) if _still_due(row, now)]
    return sorted(due, key=lambda row: (row.next_attempt_at, row.id))


def _still_due(row: LockedRow, now: datetime) -> bool:
    return row.state == DeliveryState.PENDING and row.next_attempt_at is not None and row.next_attempt_at <= now


def _hold(rows: Sequence[LockedRow], destined: dict[int, Destined]) -> int:
    """Rows of a destination that can't send (disconnected, setup broken since) wait as *held*, not burned.

    ORM: rare (a destination broke since its rows were queued), one statement per reason.
    """
    by_reason: dict[str, list[int]] = {}
    for row in rows:
        by_reason.setdefault(destined[row.id].hold_reason, []).append(row.id)
    for reason, ids in by_reason.items():
        Delivery.objects.filter(pk__in=ids).update(
            **deliveries.held(reason, timezone.now()),
            lease_expires_at=None,
            leased_by="",
            ambiguous=_AMBIGUOUS_IF_LEASE_RAN_OUT,
        )
    return len(rows)


def _plan_send_times(
    rows: Sequence[LockedRow],
    buckets: dict[str, TenantBucket],
    rate: RateLimit,
    epoch: float,
    kinds: dict[str, DestinationKind],
    payloads: Mapping[int, Mapping[str, object]],
) -> dict[int, float]:
    by_key: dict[str, list[LockedRow]] = {}
    for row in rows:
        by_key.setdefault(row.rate_key, []).append(row)
    connectors = {name: kinds[name].connector(ConnectorOptions()) for name in {row.connector for row in rows}}
    send_at: dict[int, float] = {}
    for key, key_rows in by_key.items():
        bucket = buckets[key]
        costs = [connectors[row.connector].calls_per_try(_settle_first(row), payloads.get(row.id)) for row in key_rows]
        times, bucket.next_slot_at = ratelimit.grant(bucket.next_slot_at, epoch, costs, rate)
        send_at.update((row.id, moment) for row, moment in zip(key_rows, times, strict=False))
    return send_at


def _settle_first(row: LockedRow) -> bool:
    return row.ambiguous or row.lease_expires_at is not None


def _record_lost_tries(rows: Sequence[LockedRow], kinds: dict[str, DestinationKind], now: datetime) -> None:
    """A try whose worker died left no Attempt; record it, so the history shows why the lead was late.

    ORM: rare (only after a worker died mid-try), so `bulk_create`'s cost per row doesn't matter.
    """
    lost = [
        Attempt(
            delivery_id=row.id,
            number=row.attempt_count,
            started_at=row.lease_expires_at,
            outcome=AttemptOutcome.AMBIGUOUS,
            sentence=kinds[row.connector].lost_try_sentence,
        )
        for row in rows
        if row.lease_expires_at is not None and row.attempt_count > 0
    ]
    if lost:
        Attempt.objects.bulk_create(lost)


def _last_send_by_key(claimed: Sequence[LockedRow], send_at: dict[int, float]) -> dict[str, float]:
    last: dict[str, float] = {}
    for row in claimed:
        last[row.rate_key] = max(last.get(row.rate_key, 0.0), send_at[row.id])
    return last


def _update_buckets(
    buckets: dict[str, TenantBucket], waited: set[str], last_send: dict[str, float], owner: str, owned: set[str]
) -> None:
    """Two statements however many tenants: the budgets move, and this worker takes (or extends) the tenants in
    `owned` (planned near their limit); the others keep their ownership as it was (ours, or run out). Waits count
    up.

    The waits are an ORM update: one small statement, and only when tenants had more due rows than budget.
    """
    slots = []
    for key, last in last_send.items():
        bucket = buckets[key]
        if key in owned:
            slots.append(BucketSlot(bucket.pk, bucket.next_slot_at, owner, last + ratelimit.OWNERSHIP_SECONDS))
        else:
            slots.append(BucketSlot(bucket.pk, bucket.next_slot_at, bucket.owner, bucket.owned_until))
    queries.save_bucket_slots(slots)
    if waited:
        TenantBucket.objects.filter(rate_key__in=waited).update(waits=F("waits") + 1)


def _claim_of(
    row: LockedRow, destined: Destined, payload: Mapping[str, object], owner: str, send_at: float, now: datetime
) -> Claim:
    return Claim(
        delivery_id=row.id,
        connector=row.connector,
        destination_id=destined.destination_id,
        number=row.attempt_count + 1,
        lease_owner=owner,
        rate_key=row.rate_key,
        send_at=send_at,
        settle_first=_settle_first(row),
        first_attempt_at=row.first_attempt_at or now,
        destination=destined.destination,
        payload=payload,
    )
