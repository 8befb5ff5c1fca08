"""The follower's benchmarks (issue 13's Targets): following thousands of delivered bookings in the sandbox.

Imported only after django.setup() (see delivery.py), like scenarios.py.

`follow` (targets 1 and 3): the worker delivers `--leads` bookings (so the follower starts following each one),
a cycle of every integration after the delivery is awaited, then `--cycles` rounds each wait a random part of the
interval, change `--change` of the followed bookings through the sandbox's control endpoints (book a job,
complete a job, pay an invoice) and wait until every integration has run a cycle planned after the last change
(its FollowSync cursor is the plan time minus CURSOR_OVERLAP). Each round reads the sandbox's request log: that
cycle's calls per tenant (those answered between its plan and its write), by operation, Token calls apart; and
the worker's CPU over the round. Every completed job is timed from the bench's call to the lead's `qualified_at`.

`prepare_followed` (target 2): before a fifty-tenants or latency measurement, deliver and follow N bookings with
a short follow interval, so the follower's cycles run while the scenario measures (scenarios.py calls it for
`--followed N`).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import harness
import httpx
import scenarios
import seed
from scenarios import Context, Row, Settings, percentile, verdict, worker_setup
from seed import BenchTenant

from referloop.campaigns.models import Lead
from referloop.integrations.models import Follow, FollowSync, Integration, JobStatus, QualificationRule
from referloop.integrations.servicetitan.follower.store import CURSOR_OVERLAP
from referloop.providers.servicetitan.calls import CHANGES_PAGE_SIZE, MAX_IDS

READS = ("Bookings_GetList2", "Jobs_GetList", "Invoices_GetList")  # what the follower asks
DEFAULT_INTERVAL = 10.0
MIX = (("book", 0.4), ("complete", 0.4), ("pay", 0.2))  # shares of a round's changes; short kinds → booking


# -- the integrations' follower state, as the bench reads it ---------------------------------------------------


def qualify_on_completed(tenants: Sequence[BenchTenant]) -> None:
    """The bench campaigns qualify a lead when its job reaches Completed ("The job reaches a status")."""
    Integration.objects.filter(pk__in=[t.integration.pk for t in tenants]).update(
        qualification_rule=QualificationRule.JOB_STATUS, qualifying_job_status=JobStatus.COMPLETED
    )


@dataclass(frozen=True)
class SyncState:
    tenant_id: int
    cycle_started: datetime | None  # the last successful cycle's plan time (its cursor + the overlap)
    succeeded: datetime | None  # FollowSync.last_success_at
    last_calls: int  # the follower's own count for that cycle
    error: str


def sync_states(tenants: Sequence[BenchTenant]) -> dict[int, SyncState]:
    by_integration = {t.integration.pk: t.tenant_id for t in tenants}
    rows = FollowSync.objects.filter(integration_id__in=by_integration).values_list(
        "integration_id", "bookings_since", "last_success_at", "last_calls", "last_error"
    )
    states = {}
    for integration_id, since, success, calls, error in rows:
        tenant = by_integration[integration_id]
        started = since + CURSOR_OVERLAP if since is not None else None
        states[tenant] = SyncState(tenant, started, success, calls, error)
    return states


def wait_for_cycles(
    ctx: Context, tenants: Sequence[BenchTenant], after: datetime, label: str, seen: dict[int, datetime | None]
) -> tuple[dict[int, SyncState], int]:
    """Until every integration has finished a cycle planned at or after `after`.

    Returns the states then and how many cycles finished while waiting (a changed `last_success_at`; polled every
    0.2 s, far below the interval, so none is missed); `seen` (tenant → last success) is updated in place.
    """
    timeout = 3 * _interval(ctx.settings) + 60
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + scenarios.PROGRESS_EVERY
    finished = 0
    while True:
        states = sync_states(tenants)
        finished += _note_cycles(states, seen)
        behind = [t.tenant_id for t in tenants if not _cycled_since(states.get(t.tenant_id), after)]
        if not behind:
            return states, finished
        if ctx.worker is not None and ctx.worker.poll() is not None:
            raise RuntimeError(f"the worker died; see {ctx.log_dir / 'worker.log'}")
        if time.monotonic() > deadline:
            errors = {s.error[:80] for s in states.values() if s.error}
            raise TimeoutError(f"{label}: {len(behind)} integrations ran no cycle in {timeout:g} s; errors {errors}")
        if time.monotonic() >= next_report:
            next_report += scenarios.PROGRESS_EVERY
            harness.progress(f"{label}: waiting for {len(behind)}/{len(tenants)} integrations' cycles")
        time.sleep(0.2)


def _cycled_since(state: SyncState | None, after: datetime) -> bool:
    return state is not None and state.cycle_started is not None and state.cycle_started >= after


def watch_cycles(tenants: Sequence[BenchTenant], seconds: float, seen: dict[int, datetime | None]) -> int:
    """Sleep `seconds` while counting the cycles that finish (as wait_for_cycles does)."""
    finished = 0
    deadline = time.monotonic() + seconds
    while True:
        finished += _note_cycles(sync_states(tenants), seen)
        if time.monotonic() >= deadline:
            return finished
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def _note_cycles(states: dict[int, SyncState], seen: dict[int, datetime | None]) -> int:
    finished = 0
    for tenant, state in states.items():
        if state.succeeded is not None and state.succeeded != seen.get(tenant):
            finished += 1
            seen[tenant] = state.succeeded
    return finished


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _interval(s: Settings) -> float:
    return s.follow_interval if s.follow_interval is not None else DEFAULT_INTERVAL


# -- the sandbox's request log ---------------------------------------------------------------------------------


def log_mark(base_url: str) -> int:
    response = httpx.get(f"{base_url}/_sandbox/calls/mark", timeout=10.0)
    response.raise_for_status()
    return int(response.json()["mark"])


def calls_since(base_url: str, mark: int) -> list[dict[str, Any]]:
    response = httpx.get(f"{base_url}/_sandbox/calls", params={"since": mark}, timeout=60.0)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["calls"]
    for call in found:
        call["at"] = datetime.fromisoformat(call["at"])
    return found


@dataclass
class CycleCalls:
    """The calls of one cycle of every integration: the one `states` describes, found in the log by its window."""

    per_tenant: dict[int, int]  # follower reads per tenant (Token calls apart)
    operations: Counter[str]
    tokens: int
    later_pages_per_tenant: dict[int, int]  # reads with page >= 2 (one more page of changes)
    by_ids: int  # reads with `ids=` (one call for up to 50 followed records)
    since_cursor: int  # reads with `modifiedOnOrAfter`
    outcomes: Counter[str]
    follower_count: int  # the follower's own count (FollowSync.last_calls), to cross-check

    @property
    def total(self) -> int:
        return sum(self.per_tenant.values())

    @property
    def later_pages(self) -> int:
        return sum(self.later_pages_per_tenant.values())


def cycle_calls(log: Sequence[dict[str, Any]], states: dict[int, SyncState]) -> CycleCalls:
    """Each tenant's calls answered between its cycle's plan and its write (a cycle's calls all fall in there)."""
    result = CycleCalls({}, Counter(), 0, {}, 0, 0, Counter(), sum(s.last_calls for s in states.values()))
    for tenant, state in states.items():
        assert state.cycle_started is not None and state.succeeded is not None
        mine = [c for c in log if c["tenant_id"] == tenant and state.cycle_started <= c["at"] <= state.succeeded]
        reads = [c for c in mine if c["operation"] != "Token"]
        result.tokens += len(mine) - len(reads)
        result.per_tenant[tenant] = len(reads)
        for call in reads:
            result.operations[call["operation"]] += 1
            result.outcomes[call["outcome"]] += 1
            params = _params(call["query"])
            if int(params.get("page", "1")) >= 2:
                result.later_pages_per_tenant[tenant] = result.later_pages_per_tenant.get(tenant, 0) + 1
            result.by_ids += "ids" in params
            result.since_cursor += "modifiedOnOrAfter" in params
    return result


def _params(query: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(query, keep_blank_values=True))


def within_target(calls: CycleCalls, followed: int) -> tuple[bool, str]:
    """Issue 13's target 1 for one cycle: per tenant at most 3 calls plus one per later page of changes, and in
    all never more than one call per 50 followed leads (Token calls apart in both)."""
    over = {t: n for t, n in calls.per_tenant.items() if n > 3 + calls.later_pages_per_tenant.get(t, 0)}
    budget = max(1, followed // MAX_IDS)
    why = []
    if over:
        why.append(f"{len(over)} tenants over 3 calls + their later pages (max {max(over.values())})")
    if calls.total > budget:
        why.append(f"{calls.total} calls > {budget} (one per {MAX_IDS} of {followed} followed)")
    return not why, "; ".join(why)


# -- changing bookings in the sandbox --------------------------------------------------------------------------


@dataclass
class Tracked:
    """One followed booking as the bench changed it in the sandbox."""

    lead_id: int
    tenant_id: int
    booking_id: int
    job_id: int | None = None
    invoice_id: int | None = None
    completed: bool = False
    paid: bool = False


@dataclass
class Changer:
    base_url: str
    bookings: list[Tracked]
    rng: random.Random
    client: httpx.Client = field(init=False)
    completed_at: dict[int, float] = field(default_factory=dict)  # lead id → epoch just before the complete call

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=30.0)

    def change(self, count: int) -> Counter[str]:
        """`count` changes, MIX shares where there is something to change, the rest booked into jobs."""
        open_bookings = [b for b in self.bookings if b.job_id is None]
        scheduled = [b for b in self.bookings if b.job_id is not None and not b.completed]
        unpaid = [b for b in self.bookings if b.completed and not b.paid]
        wanted = {kind: int(count * share) for kind, share in MIX}
        picks = {
            "complete": self.rng.sample(scheduled, min(wanted["complete"], len(scheduled))),
            "pay": self.rng.sample(unpaid, min(wanted["pay"], len(unpaid))),
        }
        rest = count - len(picks["complete"]) - len(picks["pay"])
        picks["book"] = self.rng.sample(open_bookings, min(rest, len(open_bookings)))
        done: Counter[str] = Counter()
        for kind in ("complete", "pay", "book"):  # completions first: their clock starts at their own call
            for booking in picks[kind]:
                getattr(self, kind)(booking)
                done[kind] += 1
        return done

    def book(self, booking: Tracked) -> None:
        answer = self._post(f"/_sandbox/bookings/{booking.booking_id}/job")
        booking.job_id, booking.invoice_id = answer["job"]["id"], answer["invoice"]["id"]

    def complete(self, booking: Tracked) -> None:
        self.completed_at[booking.lead_id] = time.time()
        self._post(f"/_sandbox/jobs/{booking.job_id}/complete")
        booking.completed = True

    def pay(self, booking: Tracked) -> None:
        self._post(f"/_sandbox/invoices/{booking.invoice_id}/pay")
        booking.paid = True

    def _post(self, path: str) -> dict[str, Any]:
        response = self.client.post(path, json={})
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def close(self) -> None:
        self.client.close()


def tracked_bookings(tenants: Sequence[BenchTenant]) -> list[Tracked]:
    by_integration = {t.integration.pk: t.tenant_id for t in tenants}
    follows = Follow.objects.filter(integration_id__in=by_integration)
    rows = follows.values_list("lead_id", "integration_id", "booking_id")
    return [Tracked(lead, by_integration[integration], booking) for lead, integration, booking in rows.order_by("pk")]


# -- following N delivered bookings before a measurement (target 2) --------------------------------------------


def prepare_followed(ctx: Context, tenants: Sequence[BenchTenant], count: int) -> str:
    """Deliver `count` bookings (parked, released, drained by a worker), wait for every integration's first
    follow cycle, then stop that worker: the scenario's own worker starts fresh with the same follow interval,
    and its follower keeps cycling over them (and over what the scenario delivers) while it measures."""
    qualify_on_completed(tenants)
    seed.park_backlog(tenants, count)
    watch = scenarios.start_worker(ctx)
    result = scenarios.drain(ctx, watch, f"followed {count}")
    seen: dict[int, datetime | None] = {}
    start = datetime.now(UTC)
    wait_for_cycles(ctx, tenants, _EPOCH, "first follow cycles", seen)
    harness.progress(f"followed {count}: first cycle of every integration in {_since(start):.1f} s")
    scenarios.stop_worker(ctx)
    # Every integration due again now (as if its interval had passed while the worker restarted): the measured
    # worker's follower starts cycling at once, then every interval, during the measurement.
    FollowSync.objects.filter(integration__in=[t.integration for t in tenants]).update(due_at=datetime.now(UTC))
    followed = Follow.objects.filter(settled_at__isnull=True).count()
    return (
        f"first {count} leads delivered at {result.steady_rate:.0f}/s and followed ({followed} open follows, "
        "every integration due at the measured worker's start)"
    )


@dataclass
class FollowerActivity:
    """What the follower did during a measurement: its reads (sandbox stats) and its integrations' errors."""

    reads: int
    failures: int  # integrations whose last cycle failed (e.g. the tenant was busy with bookings for 30 s)
    cycled: int  # integrations with a successful cycle during the measurement

    def describe(self) -> str:
        cycled = f"{self.cycled} integrations cycled"
        return f"follower during it: {self.reads} list calls, {cycled}, {self.failures} with a failed last cycle"


def follower_reads(base_url: str) -> int:
    by_operation = harness.sandbox_stats(base_url)["by_operation"]
    return sum(sum(by_operation.get(op, {}).values()) for op in READS)


def follower_activity(
    tenants: Sequence[BenchTenant], reads_before: int, base_url: str, since: datetime
) -> FollowerActivity:
    states = sync_states(tenants)
    failing = sum(1 for s in states.values() if s.error)
    cycled = sum(1 for s in states.values() if s.succeeded is not None and s.succeeded >= since)
    return FollowerActivity(follower_reads(base_url) - reads_before, failing, cycled)


def _since(start: datetime) -> float:
    return (datetime.now(UTC) - start).total_seconds()


# -- the scenario ----------------------------------------------------------------------------------------------


@dataclass
class Round:
    number: int
    changes: Counter[str]
    calls: CycleCalls
    seconds: float
    worker_cpu_ms: float  # over the round: the changes, then waiting for every integration's cycle
    cycles: int  # integration cycles that finished in the round
    open_follows: int  # before the round's changes

    @property
    def cpu_ms_per_cycle(self) -> float:
        """Worker CPU per cycle of all integrations (the round's CPU over its integration-cycles, times tenants)."""
        return self.worker_cpu_ms * len(self.calls.per_tenant) / self.cycles if self.cycles else 0.0

    def numbers(self) -> dict[str, Any]:
        return {
            "round": self.number,
            "changes": dict(self.changes),
            "open_follows": self.open_follows,
            "calls_total": self.calls.total,
            "calls_max_per_tenant": max(self.calls.per_tenant.values(), default=0),
            "calls_by_operation": dict(self.calls.operations),
            "token_calls": self.calls.tokens,
            "later_pages": self.calls.later_pages,
            "by_ids": self.calls.by_ids,
            "since_cursor": self.calls.since_cursor,
            "outcomes": dict(self.calls.outcomes),
            "follower_count": self.calls.follower_count,
            "seconds": round(self.seconds, 2),
            "integration_cycles": self.cycles,
            "worker_cpu_ms": round(self.worker_cpu_ms, 1),
            "worker_cpu_ms_per_cycle": round(self.cpu_ms_per_cycle, 1),
        }

    def describe(self) -> str:
        c = self.calls
        ops = ", ".join(f"{op.split('_')[0]} {n}" for op, n in sorted(c.operations.items()))
        return (
            f"round {self.number}: {sum(self.changes.values())} changes {dict(self.changes)}; cycle calls {c.total} "
            f"(max {max(c.per_tenant.values(), default=0)}/tenant; {ops}; ids= {c.by_ids}, since {c.since_cursor}, "
            f"later pages {c.later_pages}; Token {c.tokens}; follower says {c.follower_count}); "
            f"{self.cycles} integration cycles in {self.seconds:.1f} s, worker {self.worker_cpu_ms:.0f} CPU ms "
            f"= {self.cpu_ms_per_cycle:.0f} per cycle of all"
        )


def follow(ctx: Context) -> list[Row]:
    s = ctx.settings
    interval = _interval(s)
    tenants = scenarios.tenants_in_sandbox(ctx, s.tenants)
    qualify_on_completed(tenants)
    seed.park_backlog(tenants, s.leads)
    watch = scenarios.start_worker(ctx)
    idle_rate = _idle_cpu_rate(watch, seconds=10.0)
    delivered = scenarios.drain(ctx, watch, f"follow: delivering {s.leads}")
    harness.progress(f"follow: delivered {len(delivered.times)} at {delivered.steady_rate:.0f}/s")

    # A cycle of every integration planned after the delivery (its first, or its second if the first ran during the
    # delivery): it reads everything it follows, with no change made yet. Reported apart, not judged.
    seen: dict[int, datetime | None] = {}
    mark = log_mark(ctx.base_url)
    drained_at = datetime.now(UTC)
    states, _ = wait_for_cycles(ctx, tenants, drained_at, "follow: first cycles", seen)
    first = cycle_calls(calls_since(ctx.base_url, mark), states)
    harness.progress(f"follow: first cycle {first.total} calls, {dict(first.operations)}, Token {first.tokens}")

    changer = Changer(ctx.base_url, tracked_bookings(tenants), random.Random(s.seed))
    followed = len(changer.bookings)
    rounds: list[Round] = []
    phase_cpu = harness.cpu_seconds(watch.worker_pid)
    phase_start = time.monotonic()
    phase_cycles = 0
    try:
        for number in range(1, s.cycles + 1):
            cpu, began = harness.cpu_seconds(watch.worker_pid), time.monotonic()
            # A random moment within the interval, so the changes meet the integrations' cycles at every phase (right
            # after a round, every integration has just finished a cycle: the changes would always wait a whole one).
            cycles = watch_cycles(tenants, changer.rng.uniform(0, interval), seen)
            open_follows = Follow.objects.filter(integration__in=[t.integration for t in tenants], settled_at=None)
            following = open_follows.count()
            mark = log_mark(ctx.base_url)
            changes = changer.change(max(1, round(followed * s.change)))
            changed_at = datetime.now(UTC)
            states, waited = wait_for_cycles(ctx, tenants, changed_at, f"follow round {number}", seen)
            cycles += waited
            calls = cycle_calls(calls_since(ctx.base_url, mark), states)
            spent = 1000 * (harness.cpu_seconds(watch.worker_pid) - cpu)
            one = Round(number, changes, calls, time.monotonic() - began, spent, cycles, following)
            phase_cycles += cycles
            harness.progress(one.describe())
            rounds.append(one)
    finally:
        changer.close()
    phase_seconds = time.monotonic() - phase_start
    phase_cpu_ms = 1000 * (harness.cpu_seconds(watch.worker_pid) - phase_cpu)
    waits = _qualification_waits(changer.completed_at)
    scenarios.stop_worker(ctx)
    checks = scenarios.integrity(ctx, tenants)
    return [
        _calls_row(s, followed, first, rounds, phase_cpu_ms, phase_seconds, phase_cycles, idle_rate, checks),
        _qualify_row(s, interval, waits, len(changer.completed_at)),
    ]


def _idle_cpu_rate(watch: harness.Watch, seconds: float) -> float:
    """The worker's CPU ms per second with nothing due and nothing followed (its polls and heartbeat)."""
    before, start = harness.cpu_seconds(watch.worker_pid), time.monotonic()
    time.sleep(seconds)
    return 1000 * (harness.cpu_seconds(watch.worker_pid) - before) / (time.monotonic() - start)


def _qualification_waits(completed_at: dict[int, float]) -> list[float]:
    """qualified_at - the bench's complete call, per completed job (sorted); inf for a lead not qualified."""
    qualified = dict(Lead.objects.filter(pk__in=completed_at).values_list("pk", "qualified_at"))
    waits = []
    for lead, at in completed_at.items():
        moment = qualified.get(lead)
        waits.append(moment.timestamp() - at if moment is not None else float("inf"))
    return sorted(waits)


def _calls_row(
    s: Settings,
    followed: int,
    first: CycleCalls,
    rounds: Sequence[Round],
    phase_cpu_ms: float,
    phase_seconds: float,
    phase_cycles: int,
    idle_rate: float,
    checks: scenarios.Integrity,
) -> Row:
    results = [within_target(r.calls, r.open_follows) for r in rounds]
    ok = all(passed for passed, _ in results) and checks.duplicates == 0 and bool(rounds)
    totals = [r.calls.total for r in rounds]
    max_tenant = max((max(r.calls.per_tenant.values(), default=0) for r in rounds), default=0)
    tokens = sum(r.calls.tokens for r in rounds)
    operations: Counter[str] = Counter()
    for r in rounds:
        operations.update(r.calls.operations)
    per_cycle = phase_cpu_ms * s.tenants / phase_cycles if phase_cycles else 0.0
    above_idle = (phase_cpu_ms - idle_rate * phase_seconds) * s.tenants / phase_cycles if phase_cycles else 0.0
    mean_total = sum(totals) / len(totals) if totals else 0.0
    ops = ", ".join(f"{op} {n / max(1, len(rounds)):.1f}" for op, n in sorted(operations.items()))
    measured = (
        f"calls per cycle of all tenants: mean {mean_total:.1f}, max {max(totals, default=0)} "
        f"(≤ {followed // MAX_IDS} allowed), max per tenant **{max_tenant}**; per cycle {ops}; "
        f"later pages {sum(r.calls.later_pages for r in rounds)}; Token calls {tokens} in {len(rounds)} cycles "
        f"(first cycle {first.total} reads + {first.tokens} Token); worker **{per_cycle:.0f} CPU ms per cycle** "
        f"({above_idle:.0f} above its idle {idle_rate:.1f} ms/s); {checks.describe()}"
    )
    failures = "; ".join(why for passed, why in results if not passed)
    measured += f"; over target: {failures}" if failures else ""
    setup = (
        f"{s.tenants} tenants, {followed} followed leads, {s.change:.0%} changed per cycle (book/complete/pay), "
        f"{len(rounds)} cycles, latency {s.latency_ms:g} ms, {worker_setup(s)}"
    )
    numbers = {
        "followed": followed,
        "first_cycle_calls": first.total,
        "first_cycle_tokens": first.tokens,
        "calls_per_cycle_mean": round(mean_total, 1),
        "calls_per_cycle_max": max(totals, default=0),
        "calls_max_per_tenant": max_tenant,
        "token_calls": tokens,
        "worker_cpu_ms_per_cycle": round(per_cycle, 1),
        "worker_cpu_ms_per_cycle_above_idle": round(above_idle, 1),
        "worker_idle_cpu_ms_per_s": round(idle_rate, 2),
        "rounds": [r.numbers() for r in rounds],
        "duplicates": checks.duplicates,
    }
    target = f"≤ 3 calls/tenant + 1 per later page, ≤ 1 call per {MAX_IDS} followed (pages hold {CHANGES_PAGE_SIZE})"
    return Row("follow calls", setup, measured, target, verdict(ok), numbers)


def _qualify_row(s: Settings, interval: float, waits: Sequence[float], completed: int) -> Row:
    limit = interval + 2.0
    missing = sum(1 for w in waits if w == float("inf"))
    got = [w for w in waits if w != float("inf")]
    p50, p95 = percentile(got, 50), percentile(got, 95)
    worst = max(got, default=float("nan"))
    measured = (
        f"complete call → qualified_at over {completed} jobs: p50 {p50:.2f} s, p95 {p95:.2f} s, **max {worst:.2f} s**"
        + (f"; **{missing} not qualified**" if missing else "")
    )
    setup = f"{s.tenants} tenants, jobs completed by `POST /_sandbox/jobs/{{id}}/complete`, interval {interval:g} s"
    ok = completed > 0 and missing == 0 and worst <= limit
    numbers = {"completed": completed, "not_qualified": missing, "p50_s": round(p50, 3), "p95_s": round(p95, 3)}
    numbers["max_s"] = round(worst, 3)
    return Row("follow qualify", setup, measured, f"max ≤ {limit:g} s (interval + 2 s)", verdict(ok), numbers)
