"""Claiming: one short transaction that picks due deliveries fairly across tenants and leases them.

Run it in a thread (never on the event loop). On PostgreSQL, rows and buckets are taken with
SELECT … FOR UPDATE SKIP LOCKED, so any number of worker processes claim side by side without waiting on or
double-taking each other; on SQLite the IMMEDIATE transaction (settings.sqlite_options) serializes claimers.

A lease is also a postponed `next_attempt_at`: a claimed row is due again when its lease runs out, so the
index scan for due rows never wades through rows in flight, and a row whose worker died comes back by itself
(marked ambiguous, so its next try looks the booking up before creating one).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from referloop.integrations import outbox
from referloop.integrations.engine import ratelimit
from referloop.integrations.engine.ratelimit import RateLimit
from referloop.integrations.engine.rows import update_rows
from referloop.integrations.engine.targets import Target, TargetCache, load_records, load_targets
from referloop.integrations.engine.work import Job
from referloop.integrations.models import Attempt, AttemptOutcome, Delivery, DeliveryState, TenantBucket

LOST_TRY_SENTENCE = (
    "The worker sending this lead stopped before it recorded an answer (its lease ran out), so ServiceTitan "
    "may or may not have the booking; the next try looks it up by External Id first, so it is never created twice."
)
# Keys per statement when looking for due rows: keeps the SQL and its parameter list small with many tenants.
_KEYS_PER_QUERY = 200
# A lease still set on a due row ran out: that worker died mid-try, so the booking may exist.
_AMBIGUOUS_IF_LEASE_RAN_OUT = Case(When(lease_expires_at__isnull=False, then=Value(True)), default=F("ambiguous"))


@dataclass
class ClaimResult:
    jobs: list[Job] = field(default_factory=list)
    held: int = 0  # due rows whose integration can't send right now: held with the reason, not sent
    more_due: bool = False  # due rows were left for later (rate budget, `limit`, another claimer)


@dataclass(frozen=True)
class _Due:
    id: int
    rate_key: str


def claim(
    owner: str,
    limit: int,
    *,
    rate: RateLimit,
    lease_seconds: float,
    now: datetime | None = None,
    rng: random.Random | None = None,
    targets: TargetCache | None = None,
) -> ClaimResult:
    """Lease up to `limit` due deliveries to `owner`; each Job carries its send time within its tenant's budget.

    A worker passes its `targets` cache; without one, every integration is loaded afresh.
    """
    if limit <= 0:
        return ClaimResult(more_due=True)
    with transaction.atomic():
        return _claim(owner, limit, rate, lease_seconds, now or timezone.now(), rng or random.Random(), targets)


def _claim(
    owner: str,
    limit: int,
    rate: RateLimit,
    lease_seconds: float,
    now: datetime,
    rng: random.Random,
    cache: TargetCache | None,
) -> ClaimResult:
    result = ClaimResult()
    keys = pending_rate_keys()
    if not keys:
        return result
    buckets = ratelimit.lock_buckets(keys)
    result.more_due = len(buckets) < len(keys)  # another claimer holds some tenants right now
    epoch = now.timestamp()
    # Tenants another worker is serving right now are its business, not ours.
    buckets = {key: b for key, b in buckets.items() if not ratelimit.owned_by_other(b, owner, epoch)}
    budgets = {
        key: 0 if ratelimit.is_paused(bucket, now) else ratelimit.available(bucket.next_slot_at, epoch, rate)
        for key, bucket in buckets.items()
    }
    due = due_rows(budgets, now)
    waited = {key for key, rows in due.items() if len(rows) > budgets[key]}
    result.more_due |= bool(waited)
    order = list(due)
    rng.shuffle(order)  # ties for the last few places go to a different tenant each round
    shares = share({key: min(len(rows), budgets[key]) for key, rows in due.items()}, limit, order)
    result.more_due |= sum(shares.values()) < sum(min(len(rows), budgets[key]) for key, rows in due.items())
    chosen = [row.id for key in order for row in due[key][: shares[key]]]

    rows = _lock(chosen, now)
    integration_ids = {row["integration_id"] for row in rows}
    targets = cache.get(integration_ids) if cache is not None else load_targets(integration_ids)
    sendable, held = _split_held(rows, targets)
    result.held = _hold(held, targets)

    lease_end = now + timedelta(seconds=rate.horizon + lease_seconds)
    send_at = _plan_send_times(sendable, buckets, rate, epoch)
    result.more_due |= len(send_at) < len(sendable)
    claimed = [row for row in sendable if row["id"] in send_at]
    _lease(claimed, owner, lease_end, now)
    _record_lost_tries(claimed, now)
    _update_buckets(buckets, waited, _last_send_by_key(claimed, send_at), owner)

    records = load_records({row["lead_id"] for row in claimed})
    result.jobs = [
        _job(row, targets[row["integration_id"]], records[row["lead_id"]], owner, send_at[row["id"]], now)
        for row in claimed
    ]
    result.jobs.sort(key=lambda job: job.send_at)
    return result


def pending_rate_keys() -> list[str]:
    """The distinct rate keys with pending rows, by a loose index scan: one index seek per tenant.

    A plain DISTINCT would read every pending row, so a 100,000-row backlog would slow every claim.
    """
    table = Delivery._meta.db_table
    sql = f"""
        WITH RECURSIVE keys(rate_key) AS (
            SELECT MIN(rate_key) FROM {table} WHERE state = %s
            UNION ALL
            SELECT (SELECT MIN(d.rate_key) FROM {table} d WHERE d.state = %s AND d.rate_key > keys.rate_key)
            FROM keys WHERE keys.rate_key IS NOT NULL
        )
        SELECT rate_key FROM keys WHERE rate_key IS NOT NULL
    """  # noqa: S608 - the table name is ours; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [DeliveryState.PENDING, DeliveryState.PENDING])
        return [key for (key,) in cursor.fetchall()]


def due_rows(budgets: dict[str, int], now: datetime) -> dict[str, list[_Due]]:
    """Up to budget + 1 due rows per key, oldest first (the extra row tells "more were waiting").

    One index range scan per key on `delivery_due` (state, rate_key, next_attempt_at), all in one statement.
    """
    found: dict[str, list[_Due]] = {}
    items = list(budgets.items())
    for start in range(0, len(items), _KEYS_PER_QUERY):
        chunk = items[start : start + _KEYS_PER_QUERY]
        for row_id, key in _due_chunk(chunk, now):
            found.setdefault(key, []).append(_Due(row_id, key))
    return found


def _due_chunk(chunk: Sequence[tuple[str, int]], now: datetime) -> list[tuple[int, str]]:
    table = Delivery._meta.db_table
    one = (
        f"SELECT * FROM (SELECT id, rate_key FROM {table} WHERE state = %s AND rate_key = %s "  # noqa: S608
        "AND next_attempt_at <= %s ORDER BY next_attempt_at, id LIMIT %s) AS due{n}"
    )
    sql = " UNION ALL ".join(one.format(n=n) for n in range(len(chunk)))
    moment = connection.ops.adapt_datetimefield_value(now)
    params: list[Any] = []
    for key, budget in chunk:
        params += [DeliveryState.PENDING, key, moment, budget + 1]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row_id, key) for row_id, key in cursor.fetchall()]


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


def _lock(ids: Sequence[int], now: datetime) -> list[dict[str, Any]]:
    """Lock the chosen rows, re-checking they are still due (a row taken meanwhile is skipped, not waited on)."""
    if not ids:
        return []
    rows = (
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(pk__in=ids, state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .values(
            "id",
            "integration_id",
            "lead_id",
            "rate_key",
            "attempt_count",
            "ambiguous",
            "lease_expires_at",
            "first_attempt_at",
            "next_attempt_at",
        )
    )
    return sorted((dict(row) for row in rows), key=lambda row: (row["next_attempt_at"], row["id"]))


def _split_held(
    rows: Iterable[dict[str, Any]], targets: dict[int, Target]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sendable: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for row in rows:
        (held if targets[row["integration_id"]].hold_reason else sendable).append(row)
    return sendable, held


def _hold(rows: Sequence[dict[str, Any]], targets: dict[int, Target]) -> int:
    """Rows of an integration that can't send (disconnected, setup broken since) wait as *held*, not burned."""
    by_reason: dict[str, list[int]] = {}
    for row in rows:
        by_reason.setdefault(targets[row["integration_id"]].hold_reason, []).append(row["id"])
    for reason, ids in by_reason.items():
        Delivery.objects.filter(pk__in=ids).update(
            **outbox.held(reason, timezone.now()),
            lease_expires_at=None,
            leased_by="",
            ambiguous=_AMBIGUOUS_IF_LEASE_RAN_OUT,
        )
    return len(rows)


def _plan_send_times(
    rows: Sequence[dict[str, Any]], buckets: dict[str, TenantBucket], rate: RateLimit, epoch: float
) -> dict[int, float]:
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault(row["rate_key"], []).append(row)
    send_at: dict[int, float] = {}
    for key, key_rows in by_key.items():
        bucket = buckets[key]
        costs = [2 if _lookup_first(row) else 1 for row in key_rows]
        times, bucket.next_slot_at = ratelimit.grant(bucket.next_slot_at, epoch, costs, rate)
        send_at.update((row["id"], moment) for row, moment in zip(key_rows, times, strict=False))
    return send_at


def _lookup_first(row: dict[str, Any]) -> bool:
    return bool(row["ambiguous"]) or row["lease_expires_at"] is not None


def _lease(rows: Sequence[dict[str, Any]], owner: str, lease_end: datetime, now: datetime) -> None:
    if not rows:
        return
    Delivery.objects.filter(pk__in=[row["id"] for row in rows]).update(
        leased_by=owner,
        lease_expires_at=lease_end,
        next_attempt_at=lease_end,
        attempt_count=F("attempt_count") + 1,
        first_attempt_at=Coalesce(F("first_attempt_at"), Value(now)),
        ambiguous=_AMBIGUOUS_IF_LEASE_RAN_OUT,
    )


def _record_lost_tries(rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """A try whose worker died left no Attempt; record it, so the history shows why the lead was late."""
    lost = [
        Attempt(
            delivery_id=row["id"],
            number=row["attempt_count"],
            started_at=row["lease_expires_at"],
            outcome=AttemptOutcome.AMBIGUOUS,
            sentence=LOST_TRY_SENTENCE,
        )
        for row in rows
        if row["lease_expires_at"] is not None and row["attempt_count"] > 0
    ]
    if lost:
        Attempt.objects.bulk_create(lost)


def _last_send_by_key(claimed: Sequence[dict[str, Any]], send_at: dict[int, float]) -> dict[str, float]:
    last: dict[str, float] = {}
    for row in claimed:
        last[row["rate_key"]] = max(last.get(row["rate_key"], 0.0), send_at[row["id"]])
    return last


def _update_buckets(
    buckets: dict[str, TenantBucket], waited: set[str], last_send: dict[str, float], owner: str
) -> None:
    """Two statements however many tenants: the budgets (and this worker's ownership) move, waits count up."""
    update_rows(
        TenantBucket,
        ["next_slot_at", "owner", "owned_until"],
        [
            (
                buckets[key].pk,
                {
                    "next_slot_at": buckets[key].next_slot_at,
                    "owner": owner,
                    "owned_until": last + ratelimit.OWNERSHIP_SECONDS,
                },
            )
            for key, last in last_send.items()
        ],
    )
    if waited:
        TenantBucket.objects.filter(rate_key__in=waited).update(waits=F("waits") + 1)


def _job(
    row: dict[str, Any], target: Target, record: dict[str, object], owner: str, send_at: float, now: datetime
) -> Job:
    return Job(
        delivery_id=row["id"],
        integration_id=row["integration_id"],
        number=row["attempt_count"] + 1,
        lease_owner=owner,
        rate_key=row["rate_key"],
        send_at=send_at,
        lookup_first=_lookup_first(row),
        first_attempt_at=row["first_attempt_at"] or now,
        credentials=target.credentials,
        booking_provider_id=target.booking_provider_id,
        mapping=target.mapping,
        record=record,
        custom_fields=target.custom_fields,
        setup_error=target.setup_error,
    )
