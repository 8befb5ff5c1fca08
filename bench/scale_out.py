"""Issue 16 §3, scale-out: K worker processes on one database against one, each capped well below the machine.

`bench/delivery.py scale-out [--db postgres] [--workers 1,2] [--concurrency 16] [--leads 5000]`: 50 tenants (so
no tenant's rate limit is the cap), sandbox latency 100 ms, every worker `--concurrency 16` (16 sends in flight
at 100 ms: ~145 bookings/s, far below what the 2 cores can do), so one process is the bottleneck. For each worker
count in turn, in one run against the same sandbox: a fresh backlog of `leads x K` is parked, K workers are
started and their heartbeats awaited, the backlog is released and drained, the workers are stopped. Reported per
count: steady bookings/s, worker CPU (all processes) per booking and each process's share of a core, each
process's RSS and bookings; then the ratio of the last count to the first, and duplicates (bookings per
externalId in the sandbox, over every drain).

Imported only after django.setup() (see delivery.py).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import harness
import seed
from harness import Sample, Watch
from scenarios import Context, Drain, Row, Settings, drain, integrity, tenants_in_sandbox, verdict, worker_setup

from referloop.integrations.models import WorkerHeartbeat

TARGET_RATIO = 1.8  # issue 16 §3: two workers make at least 1.8 x one's bookings/s


@dataclass
class Workers(Watch):
    """A Watch over several worker processes: CPU summed over them; RSS kept per process (the Sample's is the
    largest); the event-loop CPU summed over their main threads."""

    pids: list[int] = field(default_factory=list)
    rss_by_pid: dict[int, list[float]] = field(default_factory=dict)

    def take(self, delivered: int) -> Sample:
        rss = {pid: harness.rss_mib(pid) for pid in self.pids}
        for pid, value in rss.items():
            self.rss_by_pid.setdefault(pid, []).append(value)
        sample = Sample(
            at=time.time(),
            worker_cpu=sum(harness.cpu_seconds(pid) for pid in self.pids),
            worker_loop_cpu=sum(harness.cpu_seconds(pid, pid) for pid in self.pids),
            worker_rss=max(rss.values(), default=0.0),
            sandbox_cpu=harness.cpu_seconds(self.sandbox_pid),
            delivered=delivered,
        )
        self.samples.append(sample)
        return sample

    def cpu_by_pid(self) -> dict[int, float]:
        return {pid: harness.cpu_seconds(pid) for pid in self.pids}


@dataclass
class Measured:
    workers: int
    result: Drain
    booked_by_worker: list[int]  # each process's finished tries (its heartbeat's `processed` at stop)
    core_share: list[float]  # each process's CPU seconds over the drain's seconds
    rss: list[tuple[float, float]]  # each process's RSS at release and its peak, MiB


def scale_out(ctx: Context) -> list[Row]:
    s = ctx.settings
    tenants = tenants_in_sandbox(ctx, s.tenants)
    runs = [_measure(ctx, tenants, count) for count in s.workers]
    checks = integrity(ctx, tenants)
    rows = [_row(s, run, checks.describe()) for run in runs]
    first, last = runs[0], runs[-1]
    ratio = last.result.steady_rate / first.result.steady_rate if first.result.steady_rate else 0.0
    ok = ratio >= TARGET_RATIO and checks.duplicates == 0 and not checks.unfinished
    measured = (
        f"{last.workers} workers {last.result.steady_rate:.1f}/s vs {first.workers} {first.result.steady_rate:.1f}/s"
        f" = **{ratio:.2f} x**; {checks.describe()} (over {checks.bookings} bookings)"
    )
    numbers = {"ratio": round(ratio, 3), "duplicates": checks.duplicates, "429": checks.too_many_requests}
    target = f"≥ {TARGET_RATIO} x and 0 duplicates"
    rows.append(Row("scale-out ratio", _setup(s, last.workers), measured, target, verdict(ok), numbers))
    return rows


def _measure(ctx: Context, tenants: Sequence[seed.BenchTenant], count: int) -> Measured:
    s = ctx.settings
    made = seed.park_backlog(tenants, s.leads * count)
    harness.progress(f"scale-out, {count} worker(s): parked {made} deliveries")
    processes = _start_workers(ctx, count)
    try:
        watch = Workers(processes[0].pid, ctx.sandbox.pid, [], pids=[p.pid for p in processes])
        cpu_before = watch.cpu_by_pid()
        result = drain(ctx, watch, f"scale-out {count}")
        cpu_after = watch.cpu_by_pid()
    finally:
        for process in processes:
            harness.stop(process)
    seconds = result.times[-1] - result.released_at if result.times else 0.0
    booked = dict(WorkerHeartbeat.objects.filter(pid__in=watch.pids).values_list("pid", "processed"))
    return Measured(
        workers=count,
        result=result,
        booked_by_worker=[int(booked.get(pid, 0)) for pid in watch.pids],
        core_share=[(cpu_after[pid] - cpu_before[pid]) / seconds if seconds else 0.0 for pid in watch.pids],
        rss=[(values[0], max(values)) for values in watch.rss_by_pid.values()],
    )


def _start_workers(ctx: Context, count: int) -> list[subprocess.Popen[bytes]]:
    """`count` workers on the bench database; returns once every one has written its heartbeat."""
    s = ctx.settings
    flags = ["--concurrency", str(s.concurrency), "--batch", str(s.batch), "--poll-interval", str(s.poll_interval)]
    processes = [
        harness.start_worker(ctx.env, flags, ctx.log_dir / f"worker-{count}-{n}.log", script=s.worker_script)
        for n in range(count)
    ]
    pids = [process.pid for process in processes]

    def ready() -> bool:
        if any(process.poll() is not None for process in processes):
            return True
        return WorkerHeartbeat.objects.filter(pid__in=pids, stopped_at__isnull=True).count() == count

    try:
        harness.wait_for(ready, 60, f"{count} workers to start", 0.1)
        if any(process.poll() is not None for process in processes):
            raise RuntimeError(f"a worker exited at start; see {ctx.log_dir}")
    except BaseException:
        for process in processes:
            harness.stop(process)
        raise
    time.sleep(1.0)  # let their first claims (nothing due) and connection setup pass
    return processes


def _row(s: Settings, run: Measured, checks: str) -> Row:
    result = run.result
    processes = "; ".join(
        f"#{n + 1}: {booked} booked, {share:.2f} core, RSS {rss[0]:.0f} → peak {rss[1]:.0f} MiB"
        for n, (booked, share, rss) in enumerate(zip(run.booked_by_worker, run.core_share, run.rss, strict=True))
    )
    measured = (
        f"{result.steady_rate:.1f} bookings/s steady ({result.overall_rate:.1f} overall, "
        f"{result.times[-1] - result.released_at:.1f} s); workers {result.worker_cpu_ms:.2f} CPU ms/booking "
        f"(event loops {result.loop_cpu_ms:.2f}), sandbox {result.sandbox_cpu_ms:.2f}; {processes}"
    )
    numbers = {
        **result.numbers(),
        "workers": run.workers,
        "booked_by_worker": run.booked_by_worker,
        "core_share": [round(share, 3) for share in run.core_share],
        "rss_start_peak_mib": [[round(a, 1), round(b, 1)] for a, b in run.rss],
        "checks": checks,
    }
    return Row(f"scale-out {run.workers}", _setup(s, run.workers), measured, "(measured)", "—", numbers)


def _setup(s: Settings, count: int) -> str:
    return (
        f"{s.tenants} tenants, {count} worker process(es) on one database, backlog {s.leads * count} "
        f"({s.leads} per worker), latency {s.latency_ms:g} ms, each {worker_setup(s)}"
    )
