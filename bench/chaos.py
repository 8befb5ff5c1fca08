"""Issue 16 §5, the chaos run: every lead must become exactly one booking whatever fails on the way.

    .venv/bin/python bench/chaos.py                  # full: 5,000 leads, 10 worker kills, PostgreSQL down 30 s
    .venv/bin/python bench/chaos.py --small          # CI: about 300 leads, 3 kills, shorter outages (< 2 min)
    .venv/bin/python bench/chaos.py --db sqlite      # where no PostgreSQL binaries exist (no PostgreSQL phase)

N leads over 20 tenants go through `POST /api/v1/leads` (API key, JSON) to the web app served as `referloop serve`
serves it (uvicorn, one process), at a steady rate, each retried by the client until accepted. The worker is
`referloop worker` with the retry schedule compressed by the same factor as the outage (bench/chaos_worker.py);
the ServiceTitan sandbox sits behind a relay that can be switched off (bench/tcp_proxy.py). The run:

1. faults: the sandbox answers 10% of calls 500/503, hangs 5% (past the worker's send deadline), stores and then
   drops 2% of creates, throttles in 429 bursts, and tokens expire (a short lifetime, and all at once at random
   moments); the worker is SIGKILLed at seeded random moments and restarted at once;
2. PostgreSQL restart (its own throwaway cluster, never the machine's server): `pg_ctl stop -m fast`, down for
   --pg-down-seconds, start. Checked: /readyz answers 503, a page and the API answer a plain error (no traceback),
   the same worker process is alive afterwards and delivers again;
3. ServiceTitan down for a compressed "10 minutes" (--outage-seconds): every connection refused. Checked: leads
   are still accepted, the integrations with a failure streak show Needs attention (as the screens compute it,
   integrations/servicetitan/status.py), and after it every lead drains and every integration is Connected;
4. the count: bookings per lead code in the sandbox. Exit 1 unless every lead has exactly one booking and every
   phase check passed.

A fresh database (temp-dir SQLite, or a temp PostgreSQL cluster on a free port) is removed at the end, also on
Ctrl-C or failure (`--keep-logs` keeps the logs dir). Progress to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import harness
import httpx
import pg_cluster
from api_feeder import Feeder, Target, leaked
from harness import progress
from tcp_proxy import SwitchableProxy

TENANTS = 20
COMPRESSED_MINUTES = 10.0  # the outage the run stands for
WORKER_SCRIPT = Path(__file__).with_name("chaos_worker.py")
# Short enough that a killed worker's rows come back within seconds; the deadline under a hang's length, so a
# hung call is cut and its row retried with the booking looked up first.
LEASE_SECONDS = 8.0
SEND_DEADLINE = 4.0
HANG_SECONDS = 6.0
FAULTS = {
    "error_rate": 0.10,
    "hang_rate": 0.05,
    "hang_seconds": HANG_SECONDS,
    "drop_after_create_rate": 0.02,
    "token_lifetime_seconds": 10.0,
    "latency_ms": 10.0,
}
BURST_SECONDS = 1.5  # each 429 burst: every API call throttled for this long
RESTART_SHARE_START = 0.35  # leads from 35% on are posted from the PostgreSQL restart on
OUTAGE_SHARE_START = 0.7  # the last 30% of the leads are posted from the start of the ServiceTitan outage on
ATTENTION_AFTER_SECONDS = 300  # the shipped default of SERVICETITAN_ATTENTION_AFTER_SECONDS
STREAK_FOR_ATTENTION = 8  # failed tries in the outage after which Needs attention must show (alerts: 5 in a row)


@dataclass(frozen=True)
class Size:
    leads: int
    kills: int
    pg_down: float
    outage: float
    rate: float


FULL = Size(leads=5_000, kills=10, pg_down=30.0, outage=20.0, rate=30.0)
SMALL = Size(leads=300, kills=3, pg_down=4.0, outage=8.0, rate=10.0)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Outcome:
    leads: int = 0
    bookings: int = 0
    duplicates: int = 0
    lost: int = 0
    kills: int = 0
    seconds: float = 0.0
    checks: list[Check] = field(default_factory=list)
    sandbox_answers: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and all(check.ok for check in self.checks)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/chaos.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="the CI size: 300 leads, 3 kills, short outages")
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--leads", type=int, help=f"leads to post (full {FULL.leads}, small {SMALL.leads})")
    parser.add_argument("--kills", type=int, help=f"worker SIGKILLs (full {FULL.kills}, small {SMALL.kills})")
    parser.add_argument("--pg-down-seconds", type=float, help="PostgreSQL down for (full 30, small 4)")
    parser.add_argument("--outage-seconds", type=float, help="the compressed 10-minute ServiceTitan outage (20 / 8)")
    parser.add_argument("--rate", type=float, help="leads posted per second (full 30, small 10)")
    parser.add_argument("--threads", type=int, default=4, help="API client threads (default 4)")
    parser.add_argument("--seed", type=int, default=16, help="seeds the kill, burst and expiry moments and the sandbox")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up waiting for the drain after this")
    parser.add_argument("--json", type=Path, help="append the results as one JSON line to this file")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the process logs")
    args = parser.parse_args(argv)
    size = SMALL if args.small else FULL
    args.leads = args.leads if args.leads is not None else size.leads
    args.kills = args.kills if args.kills is not None else size.kills
    args.pg_down_seconds = args.pg_down_seconds if args.pg_down_seconds is not None else size.pg_down
    args.outage_seconds = args.outage_seconds if args.outage_seconds is not None else size.outage
    args.rate = args.rate if args.rate is not None else size.rate
    for name in ("leads", "rate", "outage_seconds", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.kills < 0 or args.pg_down_seconds < 0:
        parser.error("--kills and --pg-down-seconds must not be negative")
    return args


# -- the processes -----------------------------------------------------------------------------------------------


@dataclass
class Stack:
    """Everything the run started, for the `finally` that stops it."""

    var_dir: Path
    cluster: pg_cluster.Cluster | None = None
    sandbox: subprocess.Popen[bytes] | None = None
    proxy: SwitchableProxy | None = None
    web: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    sandbox_url: str = ""
    web_url: str = ""
    api_key: str = ""  # the run's key for POST /api/v1/leads (the children never see it)

    def start_worker(self) -> subprocess.Popen[bytes]:
        flags = ["--lease-seconds", str(LEASE_SECONDS), "--send-deadline", str(SEND_DEADLINE)]
        self.worker = harness.start_worker(self.env, flags, self.var_dir / "worker.log", script=WORKER_SCRIPT)
        return self.worker

    def start_web(self) -> None:
        """The web app as `referloop serve` runs it: uvicorn, one process."""
        port = harness.free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "uvicorn", "referloop.asgi:application", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--no-access-log", "--no-proxy-headers"]
        env = {**os.environ, **self.env, "REFERLOOP_PUBLIC_BASE_URL": self.web_url}
        with (self.var_dir / "web.log").open("ab") as log:
            self.web = subprocess.Popen(command, cwd=harness.REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        web = self.web
        harness.wait_for(lambda: _status(self.web_url + "/readyz") == 200 or web.poll() is not None, 60, "the web app")
        if web.poll() is not None:
            raise RuntimeError(f"the web app exited at start; see {self.var_dir / 'web.log'}")

    def stop_all(self) -> None:
        for process in (self.worker, self.web, self.sandbox):
            if process is not None:
                harness.stop(process, timeout=15)
        if self.proxy is not None:
            self.proxy.down()
        _close_django_connections()
        if self.cluster is not None:
            self.cluster.remove()


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2.0).status_code
    except httpx.HTTPError:
        return 0


def _close_django_connections() -> None:
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.close_all()


def set_up(args: argparse.Namespace, stack: Stack) -> list[Any]:
    """Database, Django in this process, sandbox + relay, tenants and the API key, web app, worker."""
    if args.db == "postgres":
        stack.cluster = pg_cluster.create(harness.free_port())
        url = stack.cluster.url
        progress(f"PostgreSQL {stack.cluster.bin_dir.parent.name}: throwaway cluster on port {stack.cluster.port}")
    else:
        url = f"sqlite:///{stack.var_dir / 'chaos.sqlite3'}"
    sandbox_port = harness.free_port()
    stack.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    stack.proxy = SwitchableProxy(harness.free_port(), sandbox_port)
    database = harness.Database(args.db, url, stack.var_dir)
    scale = COMPRESSED_MINUTES * 60 / args.outage_seconds
    stack.env = {
        **harness.environment(database, stack.proxy.url),
        "REFERLOOP_CHAOS_TIME_SCALE": f"{scale:g}",
        # Needs attention comes after 5 minutes without a booking (alerts.py): the same clock as the outage.
        "REFERLOOP_SERVICETITAN_ATTENTION_AFTER_SECONDS": f"{ATTENTION_AFTER_SECONDS / scale:g}",
    }
    os.environ.update(stack.env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    stack.sandbox = harness.start_sandbox(sandbox_port, 0, 60, stack.var_dir / "sandbox.log")
    stack.proxy.up()
    import seed

    from referloop.accounts.models import Account, ApiKey

    tenants = seed.make_tenants(TENANTS, "t")
    for tenant in tenants:
        harness.add_tenant(stack.sandbox_url, tenant.sandbox_config())
    account = Account.objects.get(name="Bench Heating & Air")
    _key, stack.api_key = ApiKey.issue(account, "chaos", None)
    knobs(stack, {**FAULTS, "seed": args.seed})
    stack.start_web()
    preflight = httpx.get(
        stack.web_url + "/api/v1/campaigns", headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=30
    )
    if preflight.status_code != 200:  # a broken app would only make the feeder retry until the timeout
        raise RuntimeError(f"the web app answers {preflight.status_code} to GET /api/v1/campaigns; see web.log")
    worker = stack.start_worker()
    harness.wait_for(lambda: seed.worker_started() or worker.poll() is not None, 60, "the worker to start", 0.1)
    return tenants


def knobs(stack: Stack, changes: dict[str, Any]) -> None:
    httpx.patch(f"{stack.sandbox_url}/_sandbox/config", json=changes, timeout=10).raise_for_status()


# -- phase 1: faults and kills -------------------------------------------------------------------------------------


def fault_phase(args: argparse.Namespace, stack: Stack, feeder: Feeder, rng: random.Random) -> tuple[int, Check]:
    """Over the first 35% of the leads: SIGKILL + restart the worker, 429 bursts and token expiries, at seeded
    moments."""
    span = feeder.gates[0] / args.rate
    events: list[tuple[float, str]] = [(t, "kill") for t in spread(rng, args.kills, 2.0, span, 2.0)]
    events += [(t, "burst") for t in spread(rng, max(args.kills, 3), 1.0, span, BURST_SECONDS * 2)]
    events += [(t, "expire") for t in spread(rng, max(args.kills, 3), 1.0, span, 1.0)]
    kills, bursts, expiries, exits = 0, 0, 0, []
    for at, kind in sorted(events):
        time.sleep(max(0.0, feeder.started + at - time.monotonic()))
        if kind == "kill":
            assert stack.worker is not None
            worker_working(stack)  # a worker killed while Django starts would test nothing
            exits.append(stack.worker.poll())  # None: it was running when killed, as it must be
            stack.worker.send_signal(signal.SIGKILL)
            stack.worker.wait()
            kills += 1
            elapsed = time.monotonic() - feeder.started
            progress(
                f"{elapsed:6.1f} s  worker SIGKILLed ({kills}/{args.kills}), restarted; {feeder.accepted()} leads in"
            )
            stack.start_worker()
        elif kind == "burst":
            knobs(stack, {"throttle_rate": 1.0})
            time.sleep(BURST_SECONDS)
            knobs(stack, {"throttle_rate": 0.0})
            bursts += 1
        else:
            httpx.post(f"{stack.sandbox_url}/_sandbox/tokens/expire", timeout=10).raise_for_status()
            expiries += 1
    wait_until(lambda: feeder.accepted() >= feeder.gates[0], args.timeout, "the leads of the fault phase")
    worker_working(stack)
    died = [code for code in exits if code is not None]
    detail = f"{kills} SIGKILLs and restarts, {bursts} 429 bursts of {BURST_SECONDS:g} s, {expiries} token expiries"
    detail += f"; the worker had exited on its own {len(died)} time(s)" if died else ""
    return kills, Check("faults and kills", not died and kills == args.kills, detail)


def worker_working(stack: Stack, settle: float = 2.0) -> None:
    """Wait until the current worker has written its first heartbeat (Django loaded, claiming), plus `settle`."""
    from referloop.integrations.models import WorkerHeartbeat

    worker = stack.worker
    assert worker is not None
    started = WorkerHeartbeat.objects.filter(pid=worker.pid, stopped_at__isnull=True)
    wait_until(lambda: started.exists() or worker.poll() is not None, 60, "the restarted worker's first heartbeat")
    time.sleep(settle)


def spread(rng: random.Random, count: int, start: float, end: float, gap: float) -> list[float]:
    """`count` seeded moments in [start, end], at least `gap` apart where the span allows."""
    if count <= 0:
        return []
    slot = max((end - start) / count, gap)
    return [start + n * slot + rng.uniform(0, max(slot - gap, 0.0)) for n in range(count)]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    harness.wait_for(condition, timeout, what, interval=0.2)


# -- phase 2: PostgreSQL restart ----------------------------------------------------------------------------------


def postgres_phase(args: argparse.Namespace, stack: Stack, tenants: list[Any], feeder: Feeder) -> list[Check]:
    import seed

    cluster, worker = stack.cluster, stack.worker
    assert cluster is not None and worker is not None
    delivered_before = seed.delivered_count()
    _close_django_connections()
    progress(f"PostgreSQL stopped (pg_ctl stop -m fast) for {args.pg_down_seconds:g} s")
    down_at = time.monotonic()
    cluster.stop()
    feeder.open_gate(0)  # leads keep coming while the database is down: the clients see errors and retry
    time.sleep(min(1.0, args.pg_down_seconds))
    ready = httpx.get(stack.web_url + "/readyz", timeout=10)
    page = httpx.get(f"{stack.web_url}/c/{tenants[0].integration.campaign.slug}/join/", timeout=10)
    api = httpx.post(
        stack.web_url + "/api/v1/leads",
        json={"campaign_id": tenants[0].integration.campaign_id, "first_name": "Pat", "email": "pat@down.example"},
        headers={"Authorization": f"Bearer {stack.api_key}"},
        timeout=10,
    )
    time.sleep(max(0.0, down_at + args.pg_down_seconds - time.monotonic()))
    cluster.start()
    progress(f"PostgreSQL started again after {time.monotonic() - down_at:.0f} s")
    up_at = time.monotonic()
    wait_until(lambda: _status(stack.web_url + "/readyz") == 200, 60, "/readyz to answer 200 again")
    ready_again = time.monotonic() - up_at
    _close_django_connections()
    try:
        wait_until(lambda: seed.delivered_count() > delivered_before + 5, 60, "the worker to deliver again")
        resumed = True
    except TimeoutError:
        resumed = False
    alive = worker.poll() is None and stack.worker is worker
    plain = [answer for answer in (page, api) if answer.status_code >= 500 and not leaked(answer.text)]
    return [
        Check(
            "PostgreSQL down: /readyz",
            ready.status_code == 503 and ready.json().get("checks", {}).get("database") == "unreachable",
            f"{ready.status_code} {ready.text[:120]}",
        ),
        Check(
            "PostgreSQL down: plain error page, no traceback",
            len(plain) == 2,
            f"referral page {page.status_code} ({_gist(page)}), POST /api/v1/leads {api.status_code} ({_gist(api)})",
        ),
        Check(
            "PostgreSQL back: the worker survived and resumed",
            alive and resumed,
            f"same worker process {'alive' if alive else 'GONE'}, "
            f"{'delivering again' if resumed else 'NOT delivering'}; /readyz 200 {ready_again:.1f} s after start",
        ),
    ]


def _gist(answer: httpx.Response) -> str:
    kind = answer.headers.get("content-type", "").split(";")[0]
    return f"{kind}, {len(answer.content)} bytes{', SHOWS A TRACEBACK' if leaked(answer.text) else ''}"


# -- phase 3: ServiceTitan down ------------------------------------------------------------------------------------


def outage_phase(args: argparse.Namespace, stack: Stack, feeder: Feeder) -> tuple[list[Check], float]:
    from django.utils import timezone

    assert stack.proxy is not None
    progress(f"ServiceTitan down for {args.outage_seconds:g} s (standing for {COMPRESSED_MINUTES:g} minutes)")
    # The faults end here: what follows measures the outage and its drain alone (a row the outage pushed up the
    # retry ladder would otherwise wait the ladder's next steps for each injected error after it).
    knobs(stack, {"error_rate": 0.0, "hang_rate": 0.0, "drop_after_create_rate": 0.0})
    started, accepted_before = timezone.now(), feeder.accepted()
    stack.proxy.down()
    feeder.open_gate(1)
    time.sleep(args.outage_seconds)
    accepted = feeder.accepted() - accepted_before
    labels, streaks = statuses(), failed_since(started)
    stack.proxy.up()
    back = time.monotonic()
    progress(f"ServiceTitan back; {accepted} leads accepted while it was down")
    due = [pk for pk, n in streaks.items() if n >= STREAK_FOR_ATTENTION]
    flagged = [pk for pk, label in labels.items() if label == "Needs attention"]
    checks = [
        Check("ServiceTitan down: leads still accepted", accepted > 0, f"{accepted} leads accepted during the outage"),
        Check(
            "ServiceTitan down: Needs attention",
            bool(due) and set(due) <= set(flagged),
            f"{len(flagged)} of {len(labels)} integrations show Needs attention; {len(due)} had "
            f"{STREAK_FOR_ATTENTION}+ failed tries in the outage and must",
        ),
    ]
    return checks, back


def statuses() -> dict[int, str]:
    """Each bench integration's word, computed as the CRM tile and the integration page compute it."""
    from referloop.integrations.models import Integration
    from referloop.integrations.servicetitan.status import status_of

    integrations = Integration.objects.filter(campaign__slug__startswith="bench-t").select_related("campaign")
    return {integration.pk: status_of(integration).label for integration in integrations}


def failed_since(moment: Any) -> dict[int, int]:
    from django.db.models import Count

    from referloop.integrations.models import Attempt, AttemptOutcome

    rows = (
        Attempt.objects.filter(started_at__gte=moment)
        .exclude(outcome__in=(AttemptOutcome.DELIVERED, AttemptOutcome.FOUND_EXISTING))
        .values("delivery__integration_id")
        .annotate(n=Count("id"))
        .values_list("delivery__integration_id", "n")
    )
    return dict(rows)


# -- the count -----------------------------------------------------------------------------------------------------


def count(stack: Stack, tenants: list[Any], outcome: Outcome, posted: int, refused: int) -> None:
    """Bookings per lead code, from the sandbox's own store (what ServiceTitan would hold)."""
    from referloop.campaigns.models import Lead

    booked: dict[str, int] = {}
    for tenant in tenants:
        booked.update(harness.booking_counts(stack.sandbox_url, tenant.tenant_id))
    codes = list(Lead.objects.filter(campaign__slug__startswith="bench-t").values_list("code", flat=True))
    outcome.leads = len(codes)
    outcome.bookings = sum(booked.values())
    outcome.duplicates = sum(n - 1 for n in booked.values() if n > 1)
    outcome.lost = sum(1 for code in codes if booked.get(code, 0) == 0) + (posted - len(codes))
    strays = set(booked) - set(codes)
    outcome.checks.append(
        Check(
            "every lead posted is one lead",
            len(codes) == posted and refused == 0 and not strays,
            f"{len(codes)} leads in the database for {posted} posted, {refused} refused by the API, "
            f"{len(strays)} bookings for unknown codes",
        )
    )


def run(args: argparse.Namespace) -> Outcome:
    rng = random.Random(args.seed)
    stack = Stack(Path(tempfile.mkdtemp(prefix="referloop-chaos-")))
    outcome, started, passed = Outcome(), time.monotonic(), False
    progress(f"chaos run: {args.leads} leads, {args.kills} kills, {args.db}; logs in {stack.var_dir}")
    try:
        tenants = set_up(args, stack)
        import seed

        progress(f"set up in {time.monotonic() - started:.0f} s; posting {args.leads} leads at {args.rate:g}/s")
        targets = [Target(t.integration.campaign_id, t.referrer.pk, str(t.tenant_id)) for t in tenants]
        gates = (int(args.leads * RESTART_SHARE_START), int(args.leads * OUTAGE_SHARE_START))
        feeder = Feeder(stack.web_url, stack.api_key, targets, args.leads, args.rate, args.threads, gates)
        feeder.start()
        outcome.kills, check = fault_phase(args, stack, feeder, rng)
        outcome.checks.append(check)
        if stack.cluster is not None:
            outcome.checks += postgres_phase(args, stack, tenants, feeder)
        else:
            progress("no PostgreSQL phase: --db sqlite")
            feeder.open_gate(0)
        wait_until(lambda: feeder.accepted() >= feeder.gates[1], args.timeout, "the leads before the outage")
        checks, back = outage_phase(args, stack, feeder)
        outcome.checks += checks
        feeder.join()
        drained = drain(args, feeder)
        labels = statuses()
        connected = sum(1 for label in labels.values() if label == "Connected")
        outcome.checks.append(
            Check(
                "ServiceTitan back: everything drained",
                drained and connected == len(labels),
                f"{'all delivered' if drained else 'NOT all delivered'} {time.monotonic() - back:.0f} s after it "
                f"returned; {connected} of {len(labels)} integrations Connected",
            )
        )
        leaks = feeder.stats.leaks
        outcome.checks.append(
            Check(
                "no answer showed a traceback", not leaks, "; ".join(leaks) or f"API errors {dict(feeder.stats.errors)}"
            )
        )
        if stack.worker is not None:
            harness.stop(stack.worker)  # SIGTERM: it finishes what is in flight before the count
            stack.worker = None
        count(stack, tenants, outcome, args.leads, feeder.stats.refused)
        outcome.sandbox_answers = dict(harness.sandbox_stats(stack.sandbox_url)["by_status"])
        outcome.attempts = attempt_kinds(seed.unusual_attempts())
        outcome.seconds = time.monotonic() - started
        passed = outcome.passed
        return outcome
    finally:
        stack.stop_all()
        if args.keep_logs or not passed:
            progress(f"logs kept in {stack.var_dir}")
        else:
            shutil.rmtree(stack.var_dir, ignore_errors=True)


def attempt_kinds(unusual: dict[str, int]) -> dict[str, int]:
    """Attempts other than a plain delivery by outcome and sentence, ids blanked so like ones add up."""
    kinds: Counter[str] = Counter()
    for what, n in unusual.items():
        what = re.sub(r"External Id \S+", "External Id #", re.sub(r"\b\d{6,}\b", "#", what))
        kinds[what[:110]] += n
    return dict(kinds)


def drain(args: argparse.Namespace, feeder: Feeder) -> bool:
    import seed

    try:
        wait_until(
            lambda: seed.unfinished_count() == 0 and seed.lead_count() >= feeder.accepted(), args.timeout, "the drain"
        )
        return True
    except TimeoutError:
        progress(f"not drained: {seed.state_counts()}")
        return False


def report(args: argparse.Namespace, outcome: Outcome) -> str:
    where = "PostgreSQL (throwaway cluster)" if args.db == "postgres" else "SQLite (no PostgreSQL phase)"
    lines = [
        f"chaos run, seed {args.seed}: {args.leads} leads over {TENANTS} tenants through POST /api/v1/leads "
        f"(uvicorn, 1 process), {where}",
        f"leads {outcome.leads}, bookings {outcome.bookings}, duplicates {outcome.duplicates}, lost {outcome.lost}, "
        f"kills {outcome.kills}, time {outcome.seconds:.0f} s",
        "sandbox answers: " + ", ".join(f"{k} x{v}" for k, v in sorted(outcome.sandbox_answers.items())),
    ]
    lines += [f"attempts: {n} x {what}" for what, n in sorted(outcome.attempts.items(), key=lambda kv: -kv[1])]
    lines += [f"{'PASS' if check.ok else 'FAIL'}  {check.name}: {check.detail}" for check in outcome.checks]
    lines.append("PASSED" if outcome.passed else "FAILED")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # the cleanup in run()'s finally

    signal.signal(signal.SIGTERM, on_term)
    try:
        outcome = run(args)
    except KeyboardInterrupt:
        progress("interrupted: everything the run started is stopped and removed")
        return 130
    except (RuntimeError, TimeoutError) as error:
        progress(f"the run could not go on: {error}")
        return 1
    print(report(args, outcome), flush=True)
    if args.json is not None:
        record = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "db": args.db,
            "seed": args.seed,
            "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
            "passed": outcome.passed,
            **asdict(outcome),
        }
        with args.json.open("a") as out:
            out.write(json.dumps(record) + "\n")
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
