"""Writing a batch of results in one transaction: Attempts, the deliveries' next states, the integration's health.

Each delivery moves with a conditional update that must match the lease it was claimed with (owner and attempt
number): if the lease ran out and another worker took the row, this worker's late answer is kept as an Attempt
but cannot overwrite the row. Each destination kind then counts its results towards its own health (failure
streaks, credentials rejected, disabling); its emails go out after the commit, never for a rolled-back change.
The statements (the Attempts' insert, the leases' lock, the rows' updates) are named in `queries.py`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from referloop.integrations import deliveries, destinations
from referloop.integrations.destinations import DestinationKind
from referloop.integrations.engine import queries, ratelimit
from referloop.integrations.engine.queries import AttemptRow
from referloop.integrations.engine.retry import DEFAULT_POLICY, RetryPolicy
from referloop.integrations.engine.tries import Result
from referloop.integrations.models import AttemptOutcome, DeliveryState

GAVE_UP = " referloop stopped retrying 24 hours after the first try; resend it once the destination is reachable."
# Without a Retry-After, a 429 pauses its tenant this long.
DEFAULT_PAUSE_SECONDS = 1.0


# Each kind with the notices (emails) its results raised.
Notices = list[tuple[DestinationKind, list[object]]]


@dataclass
class Written:
    # The rows' new states, and "stale" (the lease passed to another worker), "released", "gone" (deleted meanwhile).
    states: Counter[str] = field(default_factory=Counter)
    notices: Notices = field(default_factory=list)


def send_notices(notices: Notices) -> None:
    for kind, items in notices:
        kind.send_notices(items)


def write_results(
    results: Sequence[Result],
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
    rng: random.Random | None = None,
    send_alerts: Callable[[Notices], object] = send_notices,
    kinds: dict[str, DestinationKind] | None = None,
) -> Written:
    """`send_alerts` runs after the commit; the worker passes one that hands the emails to another thread, so a
    slow mail server never holds up its database thread."""
    written = Written()
    if not results:
        return written
    now = now or timezone.now()
    kinds = kinds if kinds is not None else destinations.fresh_kinds()
    with transaction.atomic():
        existing, leased = _still_leased(results)
        # A delivery deleted while it was in flight (its lead or endpoint was deleted) keeps no Attempt: inserting
        # one would break the foreign key and fail the whole batch, again at every retry of the write.
        queries.insert_attempts(
            [_attempt(result) for result in results if not result.released and result.claim.delivery_id in existing]
        )
        applied: list[tuple[Result, str]] = []
        changes: list[tuple[int, dict[str, Any]]] = []
        for result in results:
            if result.claim.delivery_id not in existing:
                written.states["gone"] += 1
                continue
            if result.claim.delivery_id not in leased:
                written.states["stale"] += 1
                continue
            state, change = _transition(result, kinds[result.claim.connector], policy, now, rng)
            applied.append((result, state))
            written.states[state] += 1
            changes.append((result.claim.delivery_id, change))
        queries.update_deliveries(changes)
        for result in results:
            if result.rate_limited:
                ratelimit.pause(result.claim.rate_key, result.retry_after or DEFAULT_PAUSE_SECONDS, now)
        for name, kind_applied in _by_kind(applied).items():
            raised = kinds[name].after_results(kind_applied)
            if raised:
                written.notices.append((kinds[name], raised))
        if written.notices:
            pending = list(written.notices)
            transaction.on_commit(lambda: send_alerts(pending))
    return written


def _by_kind(applied: Sequence[tuple[Result, str]]) -> dict[str, list[tuple[Result, str]]]:
    grouped: dict[str, list[tuple[Result, str]]] = {}
    for result, state in applied:
        grouped.setdefault(result.claim.connector, []).append((result, state))
    return grouped


def _still_leased(results: Sequence[Result]) -> tuple[set[int], set[int]]:
    """The rows that still exist, and those still leased as they were claimed (same owner and attempt number),
    all locked till the commit.

    A row another worker took over after this lease ran out is left alone: its late result is only an Attempt.
    """
    rows = queries.lock_leases([result.claim.delivery_id for result in results])
    leases = {row.id: (row.leased_by, row.attempt_count) for row in rows if row.state == DeliveryState.PENDING}
    leased = {
        result.claim.delivery_id
        for result in results
        if leases.get(result.claim.delivery_id) == (result.claim.lease_owner, result.claim.number)
    }
    return {row.id for row in rows}, leased


def _attempt(result: Result) -> AttemptRow:
    tried = result.tried
    return AttemptRow(
        delivery_id=result.claim.delivery_id,
        number=result.claim.number,
        started_at=result.started_at,
        duration_ms=result.duration_ms,
        outcome=result.outcome,
        request_summary=result.request_summary(),
        response_status=tried.response_status if tried else None,
        response_text=tried.response_text if tried else "",
        sentence=result.sentence,
        warnings=list(tried.warnings) if tried else [],
    )


def _transition(
    result: Result, kind: DestinationKind, policy: RetryPolicy, now: datetime, rng: random.Random | None
) -> tuple[str, dict[str, Any]]:
    """The delivery's next state and the column values that take it there."""
    unleased: dict[str, Any] = {"lease_expires_at": None, "leased_by": ""}
    if result.released:
        return "released", {
            **unleased,
            "next_attempt_at": result.release_until or now,
            "attempt_count": result.claim.number - 1,  # the try never started
        }
    tried = result.tried
    assert tried is not None
    if result.succeeded:
        return DeliveryState.DELIVERED, {
            **unleased,
            "state": DeliveryState.DELIVERED,
            "remote_id": tried.remote_id,
            "external_id": tried.external_id,
            "delivered_at": now,
            "next_attempt_at": None,
            "ambiguous": False,
            "reason": "",
            "last_error": "",
        }
    if result.outcome == AttemptOutcome.CREDENTIALS:
        # Not burned: held until the credentials are fixed (the destination releases its held rows then).
        return DeliveryState.HELD, {
            **unleased,
            **deliveries.held(kind.credentials_hold_reason, now),
            "ambiguous": tried.may_exist,
            "last_error": result.sentence,
        }
    if result.retryable:
        retry_at = now if result.retry_now else _retry_at(result, policy, now, rng)
        if retry_at is not None:
            return DeliveryState.PENDING, {
                **unleased,
                "next_attempt_at": retry_at,
                "ambiguous": tried.may_exist,
                "external_id": tried.external_id,
                "last_error": result.sentence,
            }
        return _failed(result, now, result.sentence + GAVE_UP)
    return _failed(result, now, result.sentence)


def _retry_at(result: Result, policy: RetryPolicy, now: datetime, rng: random.Random | None) -> datetime | None:
    if result.rate_limited:
        # ServiceTitan said when, and it is not the row's fault: no step up the backoff ladder.
        deadline = result.claim.first_attempt_at + timedelta(seconds=policy.give_up_after)
        if now >= deadline:
            return None
        return min(now + timedelta(seconds=result.retry_after or DEFAULT_PAUSE_SECONDS), deadline)
    return policy.next_attempt(
        now=now,
        first_attempt_at=result.claim.first_attempt_at,
        failures=result.claim.number,
        retry_after=result.retry_after,
        rng=rng,
    )


def _failed(result: Result, now: datetime, sentence: str) -> tuple[str, dict[str, Any]]:
    return DeliveryState.FAILED, {
        "lease_expires_at": None,
        "leased_by": "",
        "state": DeliveryState.FAILED,
        "failed_at": now,
        "next_attempt_at": None,
        "ambiguous": result.may_exist,
        "external_id": result.tried.external_id if result.tried else "",
        "reason": sentence[:500],
        "last_error": sentence,
    }
