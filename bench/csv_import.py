"""Issue 12 §3: a 50,000-row leads import driven the way the screen drives it, while another account's
public form is posted to at a steady rate.

On demand only (never in CI), loopback only, bounded in time (`--max-seconds`):

    .venv/bin/python bench/csv_import.py [--db sqlite|postgres] [--rows 50000] [--form-rate 5] [--max-seconds 900]

It makes a fresh database (a SQLite file in a temp dir, or PostgreSQL `referloop_bench_csv_<pid>`), migrates
it, seeds two accounts (A imports, B's referral page gets the form posts; each campaign has an integration
whose lead action is "Nothing to action", so every lead also writes its delivery row), and starts
`referloop serve --no-sandbox --no-demo` (uvicorn + the worker) on a free port. Then, over HTTP on 127.0.0.1:

- the import: A's owner logs in, uploads the generated CSV on the import screen, and POSTs the progress URL
  with `HX-Request` the way the htmx progress block does (`hx-trigger="load delay:100ms"`: the next POST
  100 ms after the previous answer), until "Import finished." Each POST's wall time and rows are recorded;
- the form: a scheduler fires at `--form-rate` per second (a thread pool, so a slow answer doesn't delay the
  next one); each shot GETs B's `/r/<code>/` page like a browser, keeps every hidden input of the form (CSRF
  token and whatever bot protection adds), fills the visible lead fields and POSTs. The POST's time counts.

Bot protection on the public forms (issue 12 §1) must not block the bench: the server gets
`REFERLOOP_PUBLIC_FORM_MIN_FILL_SECONDS=0` and `REFERLOOP_PUBLIC_FORM_IP_RATE=1000000/s` (`BOT_PROTECTION_ENV`),
B's campaign gets `public_submissions_per_hour` = 1,000,000 where that field exists, and the form is fetched
and posted as a person's browser would (hidden fields kept, honeypot left empty).

Run it against another tree (the "before" figure) with `PYTHONPATH=/path/to/tree`: the server inherits it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness
import httpx
from harness import hidden_fields, start_serve

PG_SERVER = "postgres://postgres@127.0.0.1:5432"
PASSWORD = "bench-password-not-secret-1"
HTMX_DELAY = 0.1  # _import_progress.html: hx-trigger="load delay:100ms"
# The public forms' bot protection (issue 12 §1), opened wide for the bench: a minimum fill time of 0 and a
# per-IP limit no bench reaches (the per-campaign ceiling is raised on the campaign, in `seed`). A tree without
# bot protection ignores them.
BOT_PROTECTION_ENV = {
    "REFERLOOP_PUBLIC_FORM_MIN_FILL_SECONDS": "0",
    "REFERLOOP_PUBLIC_FORM_IP_RATE": "1000000/s",
}
PROGRESS = re.compile(r"<b>(\d+)</b> of (\d+) rows")


def pg_admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def make_csv(rows: int, code: str) -> bytes:
    """A leads file; every 10th row has a quoted note with a comma and a line break (rows are not lines)."""
    out = ["first_name,last_name,email,referrer_code,phone,zip_code,notes\n"]
    for n in range(rows):
        note = f'"Call after 5pm, side door\nrow {n}"' if n % 10 == 0 else "first visit"
        out.append(f"Lead{n},Import,lead{n}@import.bench.example,{code},555-{n % 10000:04d},627{n % 100:02d},{note}\n")
    return "".join(out).encode()


# -- seeding (in this process, before the server starts) ------------------------------------------------------


@dataclass
class Seeded:
    email: str
    import_campaign: int
    import_code: str
    form_code: str


def seed(env: dict[str, str]) -> Seeded:
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referloop.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from referloop.accounts.models import Account, Membership, Role, User
    from referloop.campaigns.models import Campaign, Referrer
    from referloop.integrations.models import Integration, LeadAction

    print(f"referloop from {Path(sys.modules['referloop'].__file__ or '').parent}", file=sys.stderr)
    call_command("migrate", interactive=False, verbosity=0)

    def account(name: str, slug: str) -> tuple[User, Campaign, Referrer]:
        user = User.objects.create_user(email=f"owner@{slug}.bench.example", password=PASSWORD)
        acc = Account.objects.create(name=name)
        Membership.objects.create(user=user, account=acc, role=Role.OWNER)
        campaign = Campaign.objects.create(account=acc, name=f"{name} referrals", slug=slug)
        referrer = Referrer.objects.create(
            campaign=campaign, first_name="Maria", last_name="Lopez", email=f"maria@{slug}.bench.example"
        )
        Integration.objects.create(campaign=campaign, lead_action=LeadAction.NOTHING)
        return user, campaign, referrer

    user, campaign, referrer = account("Importer Heating", "bench-import")
    _user_b, campaign_b, referrer_b = account("Form Plumbing", "bench-form")
    if hasattr(campaign_b, "public_submissions_per_hour"):  # bot protection's per-campaign ceiling
        Campaign.objects.filter(pk=campaign_b.pk).update(public_submissions_per_hour=1_000_000)
    connections.close_all()
    return Seeded(user.email, campaign.pk, referrer.code, referrer_b.code)


# -- the two load generators ----------------------------------------------------------------------------------


@dataclass
class ImportRun:
    chunks: list[tuple[int, int, float]] = field(default_factory=list)  # (rows before, rows after, seconds)
    upload_seconds: float = 0.0
    total_rows: int = 0
    finished: bool = False
    error: str = ""


def drive_import(base: str, seeded: Seeded, content: bytes, deadline: float, run: ImportRun) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        page = client.get("/login/")
        token = hidden_fields(page.text)["csrfmiddlewaretoken"]
        login = client.post(
            "/login/",
            data={"csrfmiddlewaretoken": token, "username": seeded.email, "email": seeded.email, "password": PASSWORD},
        )
        assert login.status_code == 302, f"login failed: {login.status_code}"
        form_url = f"/campaigns/{seeded.import_campaign}/import/leads/"
        token = hidden_fields(client.get(form_url).text)["csrfmiddlewaretoken"]
        started = time.perf_counter()
        answer = client.post(
            form_url,
            data={"csrfmiddlewaretoken": token, "kind": "leads"},
            files={"file": ("leads.csv", content, "text/csv")},
        )
        run.upload_seconds = time.perf_counter() - started
        assert answer.status_code == 302, f"upload refused: {answer.status_code} {answer.text[:500]}"
        progress_url = answer.headers["location"]
        page = client.get(progress_url).text
        token = hidden_fields(page)["csrfmiddlewaretoken"]
        done = 0
        while time.monotonic() < deadline:
            time.sleep(HTMX_DELAY)
            started = time.perf_counter()
            try:
                answer = client.post(progress_url, headers={"HX-Request": "true", "X-CSRFToken": token})
            except httpx.HTTPError as error:
                run.error = f"chunk POST failed after {time.perf_counter() - started:.0f} s: {error!r}"
                return
            seconds = time.perf_counter() - started
            if answer.status_code != 200:
                run.error = f"chunk POST answered {answer.status_code}"
                return
            match = PROGRESS.search(answer.text)
            assert match, answer.text[:500]
            now_done, run.total_rows = int(match.group(1)), int(match.group(2))
            run.chunks.append((done, now_done, seconds))
            done = now_done
            if len(run.chunks) % 25 == 0:
                print(f"  import: {done}/{run.total_rows} rows, last chunk {seconds * 1000:.0f} ms", file=sys.stderr)
            if "Import finished." in answer.text:
                run.finished = True
                return
        run.error = "stopped at --max-seconds"


@dataclass
class FormRun:
    post_ms: list[float] = field(default_factory=list)
    get_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post_form_once(base: str, code: str, n: int, run: FormRun) -> None:
    try:
        post_form(base, code, n, run)
    except httpx.HTTPError:  # a timeout (60 s) counts as status 0
        with run.lock:
            run.statuses[0] = run.statuses.get(0, 0) + 1


def post_form(base: str, code: str, n: int, run: FormRun) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:  # a new visitor: fresh cookies
        started = time.perf_counter()
        page = client.get(f"/r/{code}/")
        got = time.perf_counter() - started
        data = hidden_fields(page.text)
        data.update(
            first_name="Friend", last_name=f"Number{n}", email=f"friend{n}@form.bench.example", phone="555-0100"
        )
        started = time.perf_counter()
        answer = client.post(f"/r/{code}/", data=data)
        posted = time.perf_counter() - started
    with run.lock:
        run.get_ms.append(got * 1000)
        run.post_ms.append(posted * 1000)
        run.statuses[answer.status_code] = run.statuses.get(answer.status_code, 0) + 1


def drive_forms(base: str, code: str, rate: float, stop: threading.Event, run: FormRun) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=64)
    start, n = time.monotonic(), 0
    while not stop.is_set():
        pool.submit(post_form_once, base, code, n, run)
        n += 1
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            stop.wait(delay)
    pool.shutdown(wait=True, cancel_futures=True)  # shots not started yet are dropped, not counted


# -- the run ----------------------------------------------------------------------------------------------------


def report(args: argparse.Namespace, run: ImportRun, forms: FormRun, baseline: FormRun, wall: float) -> bool:
    rows = run.chunks[-1][1] if run.chunks else 0
    outcome = run.error or "finished"
    print(f"\n## CSV import, {args.db}: {rows:,} of {run.total_rows:,} rows in {wall:.1f} s ({outcome})")
    print(f"upload (whole-file check + store): {run.upload_seconds * 1000:.0f} ms")
    print("\n| rows | chunk POSTs | ms per chunk (mean) | ms per 1,000 rows |")
    print("|---|---|---|---|")
    total = run.total_rows or 1
    deciles: list[float] = []
    for d in range(10):
        low, high = d * total / 10, (d + 1) * total / 10
        chunks = [c for c in run.chunks if low <= c[0] < high and c[1] > c[0]]
        if not chunks:
            continue
        seconds = sum(c[2] for c in chunks)
        count = sum(c[1] - c[0] for c in chunks)
        deciles.append(1000 * seconds / count)
        per_chunk = 1000 * seconds / len(chunks)
        print(f"| {int(low):,} to {int(high):,} | {len(chunks)} | {per_chunk:.0f} | {deciles[-1] * 1000:.0f} |")
    ratio = deciles[-1] / deciles[0] if len(deciles) == 10 else float("nan")
    linear = run.finished and ratio <= 1.2
    print(f"\nlast 10% / first 10% (time per row): {ratio:.2f} (target ≤ 1.2): {'met' if linear else 'NOT met'}")

    def line(name: str, sample: FormRun) -> str:
        p = sample.post_ms
        return (
            f"| {name} | {len(p)} | {percentile(p, 50):.0f} | {percentile(p, 99):.0f} | {max(p, default=0):.0f} "
            f"| {percentile(sample.get_ms, 50):.0f} | {dict(sorted(sample.statuses.items()))} |"
        )

    print(f"\nPublic form of another account, {args.form_rate:g} posts/s:\n")
    print("| when | posts | POST p50 ms | POST p99 ms | POST max ms | GET p50 ms | statuses |")
    print("|---|---|---|---|---|---|---|")
    print(line("alone (before the import)", baseline))
    print(line("during the import", forms))
    p99 = percentile(forms.post_ms, 99)
    ok = p99 < 300 and all(status == 200 for status in forms.statuses)
    print(f"\nform p99 during the import: {p99:.0f} ms (target < 300 ms, all 200): {'met' if ok else 'NOT met'}")
    return linear and ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--form-rate", type=float, default=5.0, help="public-form posts per second")
    parser.add_argument("--baseline-seconds", type=float, default=10.0, help="form posts alone, first")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop the import after this long")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server log, SQLite file)")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="referloop-bench-csv-"))
    pg_name = ""
    if args.db == "postgres":
        pg_name = f"referloop_bench_csv_{os.getpid()}"
        pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}"', f'CREATE DATABASE "{pg_name}"')
        url = f"{PG_SERVER}/{pg_name}"
    else:
        url = f"sqlite:///{var_dir / 'bench.sqlite3'}"
    env = {
        "DATABASE_URL": url,
        "REFERLOOP_VAR_DIR": str(var_dir),
        "REFERLOOP_DEBUG": "1",  # `serve`'s default; DEBUG's query log costs the same before and after
        "REFERLOOP_SECRET_KEY": secrets.token_urlsafe(50),
        "REFERLOOP_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        **BOT_PROTECTION_ENV,
    }
    seeded = seed(env)
    server, base = start_serve(var_dir, env, "/login/")
    try:
        content = make_csv(args.rows, seeded.import_code)
        print(f"file: {args.rows:,} rows, {len(content) / 1e6:.1f} MB; server {base}", file=sys.stderr)

        baseline, forms, run = FormRun(), FormRun(), ImportRun()
        stop = threading.Event()
        poster = threading.Thread(target=drive_forms, args=(base, seeded.form_code, args.form_rate, stop, baseline))
        poster.start()
        time.sleep(args.baseline_seconds)
        stop.set()
        poster.join()

        stop = threading.Event()
        poster = threading.Thread(target=drive_forms, args=(base, seeded.form_code, args.form_rate, stop, forms))
        poster.start()
        started = time.monotonic()
        try:
            drive_import(base, seeded, content, started + args.max_seconds, run)
        finally:
            stop.set()
            poster.join()
        return 0 if report(args, run, forms, baseline, time.monotonic() - started) else 1
    finally:
        harness.stop(server)
        if pg_name:
            from django.db import connections

            connections.close_all()
            pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        if args.keep:
            print(f"kept {var_dir}", file=sys.stderr)
        else:
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
