"""The scenarios of issue 4's Targets. Each seeds its data, runs one worker subprocess and returns table rows.

Imported only after django.setup() (see delivery.py).
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feeder
import harness
import seed
from harness import Sample, Watch
from plain_loop import PlainResult, run_plain_loop
from seed import BenchTenant

PROGRESS_EVERY = 5.0  # seconds between progress lines on stderr
WARM_UP = 500  # deliveries the backlog scenario drains before the sizes it compares


@dataclass(frozen=True)
class Settings:
    db: str
    leads: int
    tenants: int
    latency_ms: float
    rate_limit: int
    concurrency: int
    batch: int
    poll_interval: float
    sample_interval: float
    feed_rate: float | None
    feed_seconds: float
    sizes: tuple[int, ...]
    plain_count: int
    timeout: float
    profile: Path | None = None
    feeders: int = 1
    worker_script: Path | None = None
    direct_intake: bool = False
    followed: int = 0  # fifty-tenants, latency: bookings delivered and followed before measuring (issue 13)
    follow_interval: float | None = None  # REFERLOOP_FOLLOW_INTERVAL_SECONDS for the worker; None: its default
    cycles: int = 10  # follow: rounds of changes
    change: float = 0.01  # follow: share of the followed bookings changed per round
    seed: int = 13  # follow: which bookings change
    # Is First Time Client From ServiceTitan (issue 15): "copy" (a covering contacts copy answers, no call) or
    # "phone" (no copy: a phone lookup per lead); None: not asked.
    known_customers: str | None = None
    workers: tuple[int, ...] = (1, 2)  # scale-out (issue 16 §3): worker processes per drain, in turn


@dataclass
class Context:
    settings: Settings
    env: dict[str, str]
    base_url: str
    sandbox: subprocess.Popen[bytes]
    log_dir: Path
    worker: subprocess.Popen[bytes] | None = None


@dataclass
class Row:
    scenario: str
    setup: str
    measured: str
    target: str
    verdict: str
    numbers: dict[str, Any] = field(default_factory=dict)


# -- shared steps ----------------------------------------------------------------------------------------------


def tenants_in_sandbox(ctx: Context, count: int, label: str = "t") -> list[BenchTenant]:
    known = ctx.settings.known_customers if label == "t" else None
    tenants = seed.make_tenants(count, label, known_customers=known)
    for tenant in tenants:
        harness.add_tenant(ctx.base_url, tenant.sandbox_config())
    return tenants


def start_worker(ctx: Context) -> Watch:
    """One `referloop worker` on the bench database; returns once its heartbeat is written (Django loaded)."""
    s = ctx.settings
    flags = ["--concurrency", str(s.concurrency), "--batch", str(s.batch), "--poll-interval", str(s.poll_interval)]
    ctx.worker = harness.start_worker(ctx.env, flags, ctx.log_dir / "worker.log", s.profile, s.worker_script)
    worker = ctx.worker
    harness.wait_for(lambda: seed.worker_started() or worker.poll() is not None, 60, "the worker to start", 0.1)
    if worker.poll() is not None:
        raise RuntimeError(f"the worker exited at start; see {ctx.log_dir / 'worker.log'}")
    time.sleep(1.0)  # let its first claims (nothing due) and connection setup pass
    return Watch(worker.pid, ctx.sandbox.pid, [])


def stop_worker(ctx: Context) -> str:
    """SIGTERM the worker and return its last log line (its own report)."""
    if ctx.worker is None:
        return ""
    code = harness.stop(ctx.worker)
    lines = (ctx.log_dir / "worker.log").read_text(errors="replace").strip().splitlines()
    ctx.worker = None
    last = next((line for line in reversed(lines) if "worker stopped" in line), lines[-1] if lines else "")
    harness.progress(f"worker exited {code}: {last}")
    if ctx.settings.profile is not None:
        harness.print_profile(ctx.settings.profile)
    return last


@dataclass
class Drain:
    """One backlog made due at `released_at` and delivered; `samples[0]` is taken just before the release."""

    size: int
    released_at: float
    times: list[float]  # delivered_at of this drain's rows, sorted (epoch seconds)
    samples: list[Sample]

    @property
    def overall_rate(self) -> float:
        span = self.times[-1] - self.released_at if self.times else 0.0
        return len(self.times) / span if span > 0 else 0.0

    @property
    def steady_rate(self) -> float:
        """Bookings per second between the 10th and the 90th percentile delivery: ramp-up and tail left out."""
        if len(self.times) < 20:
            return self.overall_rate
        low, high = int(len(self.times) * 0.1), int(len(self.times) * 0.9)
        span = self.times[high] - self.times[low]
        return (high - low) / span if span > 0 else 0.0

    @property
    def worker_cpu_ms(self) -> float:
        """Worker CPU (user + system, all threads) per booking, from release to the last delivery seen."""
        cpu = self.samples[-1].worker_cpu - self.samples[0].worker_cpu
        return 1000 * cpu / len(self.times) if self.times else 0.0

    @property
    def loop_cpu_ms(self) -> float:
        """The worker's main thread (event loop) per booking; the rest of `worker_cpu_ms` is its DB thread."""
        cpu = self.samples[-1].worker_loop_cpu - self.samples[0].worker_loop_cpu
        return 1000 * cpu / len(self.times) if self.times else 0.0

    @property
    def sandbox_cpu_ms(self) -> float:
        cpu = self.samples[-1].sandbox_cpu - self.samples[0].sandbox_cpu
        return 1000 * cpu / len(self.times) if self.times else 0.0

    @property
    def rss(self) -> tuple[float, float, float]:
        """Worker RSS in MiB: at release, the peak while draining, at the end."""
        values = [sample.worker_rss for sample in self.samples]
        return values[0], max(values), values[-1]

    def numbers(self) -> dict[str, Any]:
        start, peak, end = self.rss
        return {
            "size": self.size,
            "delivered": len(self.times),
            "drain_seconds": round(self.times[-1] - self.released_at, 2) if self.times else None,
            "overall_rate": round(self.overall_rate, 1),
            "steady_rate": round(self.steady_rate, 1),
            "worker_cpu_ms_per_booking": round(self.worker_cpu_ms, 2),
            "worker_loop_cpu_ms_per_booking": round(self.loop_cpu_ms, 2),
            "sandbox_cpu_ms_per_booking": round(self.sandbox_cpu_ms, 2),
            "rss_mib": [round(start, 1), round(peak, 1), round(end, 1)],
        }


def drain(ctx: Context, watch: Watch, label: str) -> Drain:
    """Release the parked backlog and sample until all of it is delivered (or the timeout)."""
    first = len(watch.samples)
    before = seed.delivered_count()
    watch.take(before)
    released, released_at = seed.release()
    target = before + released
    harness.progress(f"{label}: released {released} deliveries")
    _sample_until(ctx, watch, lambda n: n >= target, label, target)
    times = [moment for moment in seed.delivered_times() if moment >= released_at]
    return Drain(released, released_at, times, watch.samples[first:])


def _sample_until(ctx: Context, watch: Watch, done: Callable[[int], bool], label: str, target: int) -> None:
    deadline = time.monotonic() + ctx.settings.timeout
    next_report = time.monotonic() + PROGRESS_EVERY
    while True:
        time.sleep(ctx.settings.sample_interval)
        sample = watch.take(seed.delivered_count())
        if done(sample.delivered):
            return
        if ctx.worker is not None and ctx.worker.poll() is not None:
            raise RuntimeError(f"the worker died; see {ctx.log_dir / 'worker.log'}")
        if time.monotonic() > deadline:
            harness.progress(f"{label}: timed out with {sample.delivered}/{target} delivered")
            return
        if time.monotonic() >= next_report:
            next_report += PROGRESS_EVERY
            harness.progress(f"{label}: {sample.delivered}/{target} delivered, worker RSS {sample.worker_rss:.0f} MiB")


@dataclass(frozen=True)
class Integrity:
    too_many_requests: int
    duplicates: int
    bookings: int
    unfinished: dict[str, int]
    unusual_attempts: dict[str, int]

    def describe(self) -> str:
        text = f"429s {self.too_many_requests}, duplicate bookings {self.duplicates}"
        text += f", not delivered {self.unfinished}" if self.unfinished else ""
        return text + (f", other attempts {self.unusual_attempts}" if self.unusual_attempts else "")


def integrity(ctx: Context, tenants: Sequence[BenchTenant]) -> Integrity:
    """429s the sandbox answered, externalIds booked twice, and rows not delivered."""
    stats = harness.sandbox_stats(ctx.base_url)
    duplicates, bookings = 0, 0
    for tenant in tenants:
        counts = harness.booking_counts(ctx.base_url, tenant.tenant_id)
        bookings += sum(counts.values())
        duplicates += sum(n - 1 for n in counts.values() if n > 1)
    unfinished = {state: n for state, n in seed.state_counts().items() if state != "delivered"}
    unusual = seed.unusual_attempts()
    for what, n in unusual.items():
        harness.progress(f"attempts not delivered at once: {n} x {what}")
    too_many = int(stats["by_status"].get("429", 0))
    return Integrity(too_many, duplicates, bookings, unfinished, {key[:40]: n for key, n in unusual.items()})


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def worker_setup(s: Settings) -> str:
    interval = f", follow interval {s.follow_interval:g} s" if s.follow_interval is not None else ""
    if s.worker_script is not None:
        return f"EXPERIMENT {s.worker_script.name} worker --concurrency {s.concurrency} --batch {s.batch}{interval}"
    return f"worker --concurrency {s.concurrency} --batch {s.batch} --poll-interval {s.poll_interval:g}{interval}"


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


# -- scenarios -------------------------------------------------------------------------------------------------


def one_tenant(ctx: Context) -> list[Row]:
    s = ctx.settings
    tenants = tenants_in_sandbox(ctx, 1)
    seed.park_backlog(tenants, s.leads)
    watch = start_worker(ctx)
    result = drain(ctx, watch, "one-tenant")
    stop_worker(ctx)
    checks = integrity(ctx, tenants)
    ok = result.steady_rate >= 57 and checks.too_many_requests == 0 and checks.duplicates == 0
    measured = (
        f"{result.steady_rate:.1f} bookings/s steady (10-90%), {result.overall_rate:.1f}/s overall; "
        f"{checks.describe()}; worker {result.worker_cpu_ms:.2f} CPU ms/booking"
    )
    setup = f"1 tenant, {s.leads} leads, latency {s.latency_ms:g} ms, limit {s.rate_limit}/s, {worker_setup(s)}"
    numbers = {**result.numbers(), "429": checks.too_many_requests, "duplicates": checks.duplicates}
    return [Row("one-tenant", setup, measured, "≥ 57 bookings/s and 0 x 429", verdict(ok), numbers)]


def plain_loop(ctx: Context) -> list[Row]:
    s = ctx.settings
    baseline = _baseline(ctx)
    setup = f"1 tenant, {s.plain_count} bookings one at a time, latency {s.latency_ms:g} ms"
    measured = f"{baseline.rate:.2f} bookings/s ({baseline.seconds:.2f} s for {baseline.bookings})"
    numbers = {"rate": round(baseline.rate, 3), "seconds": round(baseline.seconds, 3)}
    return [Row("plain-loop", setup, measured, "(baseline)", "—", numbers)]


def _baseline(ctx: Context) -> PlainResult:
    tenant = tenants_in_sandbox(ctx, 1, label="plain")
    seed.park_backlog(tenant, ctx.settings.plain_count)
    result = run_plain_loop(tenant[0], ctx.settings.plain_count)
    harness.progress(f"plain loop: {result.rate:.2f} bookings/s")
    return result


def fifty_tenants(ctx: Context) -> list[Row]:
    s = ctx.settings
    baseline = _baseline(ctx)
    tenants = tenants_in_sandbox(ctx, s.tenants)
    followed = _follow_first(ctx, tenants)
    seed.park_backlog(tenants, s.leads)
    watch = start_worker(ctx)
    activity = _follower_watch(ctx, tenants)
    result = drain(ctx, watch, "fifty-tenants")
    following = activity() if activity else ""
    stop_worker(ctx)
    checks = integrity(ctx, tenants)
    ratio = result.steady_rate / baseline.rate
    measured = (
        f"{result.steady_rate:.1f} bookings/s steady ({result.overall_rate:.1f} overall) vs plain loop "
        f"{baseline.rate:.2f}/s = **{ratio:.1f}x**; worker {result.worker_cpu_ms:.2f} CPU ms/booking, "
        f"(event loop {result.loop_cpu_ms:.2f}), sandbox {result.sandbox_cpu_ms:.2f}; {checks.describe()}"
        + (f"; {following}" if following else "")
    )
    setup = f"{s.tenants} tenants, {s.leads} leads, latency {s.latency_ms:g} ms, {worker_setup(s)}" + followed
    if s.known_customers == "phone":
        setup += "; Is First Time Client From ServiceTitan (one phone lookup per lead)"
    elif s.known_customers == "copy":
        setup += "; Is First Time Client From ServiceTitan (a complete, fresh contacts copy answers: no call)"
    numbers = {**result.numbers(), "plain_rate": round(baseline.rate, 3), "ratio": round(ratio, 1)}
    numbers |= {"followed": s.followed, "follow_interval": s.follow_interval}
    numbers |= {"429": checks.too_many_requests, "duplicates": checks.duplicates}
    ok = ratio >= 50 and checks.duplicates == 0
    return [Row("fifty-tenants", setup, measured, "≥ 50x the plain loop", verdict(ok), numbers)]


def latency(ctx: Context) -> list[Row]:
    s = ctx.settings
    if s.feed_rate is None:
        raise SystemExit("latency needs --rate: half of the fifty-tenants steady rate (see docs/performance.md)")
    tenants = tenants_in_sandbox(ctx, s.tenants)
    followed = _follow_first(ctx, tenants)
    watch = start_worker(ctx)
    activity = _follower_watch(ctx, tenants)
    before = seed.delivered_count()  # the followed bookings delivered first, if any
    since = datetime.now(UTC)
    fed = feed_leads(ctx, tenants, s.feed_rate, s.feed_seconds)
    rate = seed.intake_rate(since)
    harness.progress(f"latency: fed {fed} leads at {rate:.1f}/s")
    _sample_until(ctx, watch, lambda n: n >= before + fed, "latency: finishing", before + fed)
    following = activity() if activity else ""
    stop_worker(ctx)
    waits = seed.join_to_booking_seconds(since)
    checks = integrity(ctx, tenants)
    p50, p95, p99 = (percentile(waits, p) for p in (50, 95, 99))
    parts = {name: _ms(values) for name, values in seed.latency_parts(since).items()}
    harness.progress("latency parts (p50/p99 ms): " + ", ".join(f"{name} {p}" for name, p in parts.items()))
    limit = 1.0 + s.latency_ms / 1000
    measured = (
        f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, **p99 {p99 * 1000:.0f} ms**, max {waits[-1] * 1000:.0f} ms "
        f"over {len(waits)} leads fed at {rate:.1f}/s; parts p50/p99 ms: "
        + ", ".join(f"{name} {p}" for name, p in parts.items())
        + f"; {checks.describe()}"
        + (f"; {following}" if following else "")
    )
    intake = "lead + delivery rows (--intake direct)" if s.direct_intake else "submit_lead"
    feeders = f"{s.feeders} feeder process{'es' if s.feeders > 1 else ''}" if s.feeders > 1 else "the bench process"
    setup = (
        f"{s.tenants} tenants, {intake} at {s.feed_rate:g}/s for {s.feed_seconds:g} s from {feeders}, "
        f"latency {s.latency_ms:g} ms, {worker_setup(s)}"
    ) + followed
    numbers: dict[str, Any] = {"fed": fed, "fed_rate": round(rate, 1), "delivered": len(waits)}
    numbers |= {"followed": s.followed, "follow_interval": s.follow_interval}
    numbers |= {"p50_ms": round(p50 * 1000), "p95_ms": round(p95 * 1000), "p99_ms": round(p99 * 1000)}
    numbers["parts_p50_p99_ms"] = parts
    ok = p99 < limit and len(waits) == fed
    # Feeding costs ~10 ms of CPU per lead (submit_lead): on 2 cores the feeder may not reach the rate asked for,
    # and a pass at a lighter load proves nothing.
    result = verdict(ok) if rate >= 0.95 * s.feed_rate else f"inconclusive: fed {rate:.0f}/s"
    return [Row("latency", setup, measured, f"p99 < {limit * 1000:.0f} ms at {s.feed_rate:g}/s", result, numbers)]


def _follow_first(ctx: Context, tenants: Sequence[BenchTenant]) -> str:
    """With --followed N: deliver and follow N bookings first (issue 13, target 2); the setup's extra words."""
    if not ctx.settings.followed:
        return ""
    from following import prepare_followed  # it imports this module

    return "; " + prepare_followed(ctx, tenants, ctx.settings.followed)


def _follower_watch(ctx: Context, tenants: Sequence[BenchTenant]) -> Callable[[], str] | None:
    """With --followed: a function that says what the follower did from now on (reads, cycles, failing)."""
    if not ctx.settings.followed:
        return None
    from following import follower_activity, follower_reads

    reads, since = follower_reads(ctx.base_url), datetime.now(UTC)
    return lambda: follower_activity(tenants, reads, ctx.base_url, since).describe()


def _ms(values: Sequence[float]) -> str:
    return f"{percentile(values, 50) * 1000:.0f}/{percentile(values, 99) * 1000:.0f}"


def feed_leads(ctx: Context, tenants: Sequence[BenchTenant], rate: float, seconds: float) -> int:
    """Leads fed, in this process or split over `feeders` processes that start together."""
    count, direct = ctx.settings.feeders, ctx.settings.direct_intake
    first = seed.lead_count()  # leads already there (followed ones) keep their numbers, and their emails
    if count <= 1:
        return feeder.feed(tenants, rate, seconds, direct=direct, first=first)[0]
    start = time.time() + 3.0  # time for the feeders to start Django
    children = [
        harness.start_feeder(
            ctx.env, rate / count, seconds, start, index, count, direct, ctx.log_dir / f"feeder{index}.log", first
        )
        for index in range(count)
    ]
    try:
        for child in children:
            child.wait(timeout=seconds + 60)
    finally:
        for child in children:
            harness.stop(child, timeout=5.0)
    return sum(harness.fed_count(ctx.log_dir / f"feeder{index}.log") for index in range(count))


def backlog(ctx: Context) -> list[Row]:
    """Drain each size in turn with one worker that keeps running, so memory is followed across them."""
    s = ctx.settings
    tenants = tenants_in_sandbox(ctx, s.tenants)
    watch = start_worker(ctx)
    # A first, unreported drain warms the worker up (a token per tenant, its target cache, connections), so the
    # smallest backlog is not charged with what every worker pays once.
    seed.park_backlog(tenants, WARM_UP)
    warm = drain(ctx, watch, "backlog warm-up")
    harness.progress(
        f"backlog warm-up: {warm.steady_rate:.1f}/s, {warm.worker_cpu_ms:.2f} CPU ms/booking (not compared)"
    )
    drains: list[Drain] = []
    for size in s.sizes:
        made = seed.park_backlog(tenants, size)
        harness.progress(f"backlog: parked {made} deliveries")
        drains.append(drain(ctx, watch, f"backlog {size}"))
    stop_worker(ctx)
    checks = integrity(ctx, tenants)
    return [_backlog_row(s, d, drains[0], checks) for d in drains]


def _backlog_row(s: Settings, result: Drain, first: Drain, checks: Integrity) -> Row:
    """The first size is the reference. Memory is judged from the second on: the first drain also warms the
    worker up (imports, connections, caches), so its own growth says nothing about a bigger backlog."""
    start, peak, end = result.rss
    change = result.steady_rate / first.steady_rate - 1 if first.steady_rate else 0.0
    cpu_change = result.worker_cpu_ms / first.worker_cpu_ms - 1 if first.worker_cpu_ms else 0.0
    flat = result is first or peak <= 1.2 * start
    measured = (
        f"{result.steady_rate:.1f} bookings/s steady ({result.overall_rate:.1f} overall, "
        f"{result.times[-1] - result.released_at:.1f} s), {change:+.0%} vs {first.size}; "
        f"worker {result.worker_cpu_ms:.2f} CPU ms/booking ({cpu_change:+.0%}); "
        f"RSS {start:.0f} → peak {peak:.0f} → {end:.0f} MiB; {checks.describe()}"
    )
    setup = f"{s.tenants} tenants, backlog {result.size}, latency {s.latency_ms:g} ms, {worker_setup(s)}"
    ok = abs(change) <= 0.2 and flat and checks.duplicates == 0
    numbers = {**result.numbers(), "change_vs_first": round(change, 3), "cpu_change_vs_first": round(cpu_change, 3)}
    return Row(
        f"backlog {result.size}", setup, measured, "rate within 20%, RSS peak ≤ 1.2 x its start", verdict(ok), numbers
    )


SCENARIOS: dict[str, Callable[[Context], list[Row]]] = {
    "one-tenant": one_tenant,
    "fifty-tenants": fifty_tenants,
    "plain-loop": plain_loop,
    "latency": latency,
    "backlog": backlog,
}
