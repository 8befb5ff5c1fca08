"""Issue 16 §1 over HTTP: leads/s through `POST /api/v1/leads` and the public referral form, against a minimal
Django view that inserts one row, all served by the same server as production serves referloop.

On demand only (never in CI), loopback only:

    .venv/bin/python bench/intake_http.py [--db sqlite|postgres] [--seconds 15] [--connections 8] [--rounds 3]

It makes a fresh database (as bench/delivery.py does), seeds one account whose campaign has a connected
ServiceTitan integration (so every lead also writes its pending delivery; no worker runs, nothing is sent) and
starts the web app the way `referloop serve` does: **uvicorn, one process, `referloop.asgi:application`**, DEBUG
off, with `DJANGO_SETTINGS_MODULE=intake_site` (bench/intake_site.py, intake_urls.py: referloop's settings and URLs plus
`/bench/insert/`, the minimal view). The public forms' bot protection is opened wide (no minimum fill time, no
per-IP or per-campaign ceiling reached), as bench/csv_import.py does, so what is measured is the work of a lead.

Then, per round, each target for `--seconds` after a one-second warm-up, from `--connections` concurrent
clients in this process (aiohttp, keep-alive):

- `insert`: `POST /bench/insert/` (JSON): one `Lead.objects.create`;
- `api`: `POST /api/v1/leads` (JSON, an API key): validation, the duplicate rule, the lead and its delivery;
- `form`: `POST /r/<code>/` as a browser posts it. Each form token is single-use, so every client first GETs as
  many forms as it will post (not timed) and then posts them; the POST is what is timed.

Each request's wall time is recorded; the table gives requests/s (2xx/3xx answers over the timed window), p50 and
p99, and each target's rate over `insert`'s in the same round (issue 16's target: ≥ 0.5). Leads created are
counted in the database afterwards and must equal the successful answers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402

OPEN_WIDE = {
    "REFERLOOP_PUBLIC_FORM_MIN_FILL_SECONDS": "0",
    "REFERLOOP_PUBLIC_FORM_IP_RATE": "1000000000/s",
}
TARGETS = ("insert", "api", "form")
REDIS_URL = "redis://127.0.0.1:6379/13"  # its own database number: the tests use 15
WARM_UP_SECONDS = 1.0
FORMS_PER_SECOND_GUESS = 400  # forms fetched per client before a form run: enough for this rate over --seconds


@dataclass
class Seeded:
    campaign_id: int
    referrer_id: int
    referrer_code: str
    api_key: str


@dataclass
class Run:
    target: str
    times: list[float] = field(default_factory=list)  # seconds, successful answers in the timed window
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.times) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description="Leads/s over HTTP: API and form against a one-row insert.")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=15.0, help="timed seconds per target (default 15)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the three targets (default 3)")
    parser.add_argument(
        "--cache",
        choices=("redis", "database"),
        default="redis",
        help="the shared cache (rate limits, form tokens): Redis at 127.0.0.1:6379 as in production (default), "
        "or the database cache of the embedded default",
    )
    args = parser.parse_args()

    db = harness.create_database(args.db)
    env = {
        **harness.environment(db, "http://127.0.0.1:9"),
        **OPEN_WIDE,
        "DJANGO_SETTINGS_MODULE": "intake_site",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH", "")])),
    }
    if args.cache == "redis":
        env["REFERLOOP_CACHE_URL"] = REDIS_URL
    server: subprocess.Popen[bytes] | None = None
    failed = True  # until the run ends and its checks pass: a crash keeps the server's log
    try:
        seeded = seed(env)
        server, base = start_server(db.var_dir, env)
        rounds = [asyncio.run(one_round(base, seeded, args)) for _ in range(args.rounds)]
        report(args, rounds)
        failed = False
        errors: Counter[int] = Counter()
        for runs in rounds:
            for run, _ in runs:
                errors.update({status: n for status, n in run.statuses.items() if status >= 400})
        if errors:  # an error answer is a defect to look at, not a slower request (the server log says which)
            print(f"FAIL: error answers {dict(errors)}; see {db.var_dir / 'server.log'}", file=sys.stderr)
            failed = True
        for target in TARGETS:  # every successful answer made exactly one lead
            answered = sum(len(run.times) + warm for runs in rounds for run, warm in runs if run.target == target)
            created = leads_of(target)
            if created != answered:
                print(f"FAIL: {target}: {answered} successful answers, {created} leads", file=sys.stderr)
                failed = True
        return 1 if failed else 0
    finally:
        if server is not None:
            harness.stop(server)
        from django.db import connections

        connections.close_all()
        harness.drop_database(db, keep_logs=failed)


def seed(env: dict[str, str]) -> Seeded:
    os.environ.update(env)
    import django

    django.setup()
    import seed as bench_seed
    from django.core.management import call_command
    from django.db import connections

    from referloop.accounts.models import ApiKey, Membership, Role, User
    from referloop.campaigns.models import Campaign

    call_command("migrate", interactive=False, verbosity=0)
    tenant = bench_seed.make_tenants(1, label="http")[0]
    campaign = tenant.integration.campaign
    Campaign.objects.filter(pk=campaign.pk).update(public_submissions_per_hour=1_000_000_000)
    user = User.objects.create_user(email="owner@http.bench.example", password="bench-password-not-secret-1")
    Membership.objects.create(user=user, account=campaign.account, role=Role.OWNER)
    _key, raw = ApiKey.issue(campaign.account, "bench", user)
    connections.close_all()
    return Seeded(campaign.pk, tenant.referrer.pk, tenant.referrer.code, raw)


def leads_of(target: str) -> int:
    from referloop.campaigns.models import Lead

    return Lead.objects.filter(email__endswith=f"@{target}.http.example").count()


def start_server(var_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn with referloop's ASGI app, one process, as `referloop serve` starts it."""
    port = harness.free_port()
    command = [sys.executable, "-m", "uvicorn", "referloop.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-access-log", "--no-proxy-headers"]
    server = subprocess.Popen(
        command,
        cwd=var_dir,
        env={**os.environ, **env},
        stdout=(var_dir / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    harness.wait_for(lambda: harness._answers(base + "/healthz"), 60, "the web app to answer")
    return server, base


async def one_round(base: str, seeded: Seeded, args: argparse.Namespace) -> list[tuple[Run, int]]:
    """Each target once; returns (run, successful warm-up answers) per target."""
    results = []
    for target in TARGETS:
        results.append(await drive(base, seeded, target, args))
        run = results[-1][0]
        print(
            f"{target}: {run.rate:.1f}/s p50 {run.percentile(0.5):.1f} ms p99 {run.percentile(0.99):.1f} ms "
            f"statuses {run.statuses}",
            file=sys.stderr,
        )
    return results


_counter = iter(range(10**9))


def body(target: str, seeded: Seeded) -> dict[str, Any]:
    n = next(_counter)
    email = f"liz{n}@{target}.http.example"
    if target == "insert":
        return {"campaign_id": seeded.campaign_id, "referrer_id": seeded.referrer_id, "email": email}
    fields = {"first_name": "Liz", "last_name": f"Live{n}", "email": email, "phone": "512-555-0102"}
    if target == "api":
        return {"campaign_id": seeded.campaign_id, "referrer_code": seeded.referrer_code, **fields}
    return fields


async def drive(base: str, seeded: Seeded, target: str, args: argparse.Namespace) -> tuple[Run, int]:
    run = Run(target)
    warm = [0]
    forms_each = int(FORMS_PER_SECOND_GUESS * (args.seconds + WARM_UP_SECONDS) / args.connections) + 1
    # unsafe: the cookie jar must keep cookies of an IP address (127.0.0.1), as a browser does.
    sessions = [aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in range(args.connections)]
    try:
        forms: list[list[dict[str, str]]] = [[] for _ in sessions]
        if target == "form":
            await asyncio.gather(*(fetch_forms(s, seeded, forms_each, f) for s, f in zip(sessions, forms, strict=True)))
        start = time.perf_counter()
        timed_from, timed_to = start + WARM_UP_SECONDS, start + WARM_UP_SECONDS + args.seconds
        await asyncio.gather(
            *(
                client(s, seeded, target, f, run, warm, timed_from, timed_to)
                for s, f in zip(sessions, forms, strict=True)
            )
        )
        run.seconds = args.seconds
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    return run, warm[0]


async def fetch_forms(session: aiohttp.ClientSession, seeded: Seeded, count: int, into: list[dict[str, str]]) -> None:
    for _ in range(count):
        async with session.get(f"/r/{seeded.referrer_code}/") as answer:
            if answer.status != 200:  # an error page has no form: its post would fail for the wrong reason
                raise RuntimeError(f"fetching a form answered {answer.status}")
            into.append(harness.hidden_fields(await answer.text()))


async def client(
    session: aiohttp.ClientSession,
    seeded: Seeded,
    target: str,
    forms: list[dict[str, str]],
    run: Run,
    warm: list[int],
    timed_from: float,
    timed_to: float,
) -> None:
    api_headers = {"Authorization": f"Bearer {seeded.api_key}"}
    while (now := time.perf_counter()) < timed_to:
        if target == "insert":
            request = session.post("/bench/insert/", json=body(target, seeded))
        elif target == "api":
            request = session.post("/api/v1/leads", json=body(target, seeded), headers=api_headers)
        elif forms:
            path = f"/r/{seeded.referrer_code}/"
            data = {**forms.pop(), **body(target, seeded)}
            request = session.post(path, data=data, headers={"Referer": base_of(session) + path}, allow_redirects=False)
        else:
            print("a form client ran out of fetched forms; raise FORMS_PER_SECOND_GUESS", file=sys.stderr)
            return
        async with request as answer:
            await answer.read()
        took = time.perf_counter() - now
        run.statuses[answer.status] = run.statuses.get(answer.status, 0) + 1
        if answer.status < 400:
            if now >= timed_from and now + took <= timed_to:
                run.times.append(took)
            else:
                warm[0] += 1


def base_of(session: aiohttp.ClientSession) -> str:
    return str(session._base_url).rstrip("/")


def report(args: argparse.Namespace, rounds: list[list[tuple[Run, int]]]) -> None:
    print(
        f"\nuvicorn, 1 process, {args.connections} connections, {args.seconds:.0f} s per target, {args.db}, "
        f"{args.cache} cache"
    )
    print("| target | requests/s (median of rounds) | p50 ms | p99 ms | ratio to insert (each round) |")
    print("|---|---|---|---|---|")
    by_target: dict[str, list[Run]] = {}
    for round_runs in rounds:
        for run, _ in round_runs:
            by_target.setdefault(run.target, []).append(run)
    inserts = by_target["insert"]
    for target, runs in by_target.items():
        ratios = ", ".join(f"{run.rate / base.rate:.2f}" for run, base in zip(runs, inserts, strict=True))
        rates = ", ".join(f"{run.rate:.1f}" for run in runs)
        print(
            f"| {target} | **{statistics.median(r.rate for r in runs):.1f}** ({rates}) "
            f"| {statistics.median(r.percentile(0.5) for r in runs):.1f} "
            f"| {statistics.median(r.percentile(0.99) for r in runs):.1f} | {ratios} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
