"""Issue 12 §1: how many leads (and referrers) one anonymous client can create per second on the public forms.

Measured the way the security review did: 8 threads from one IP (127.0.0.1) for 30 s against `referloop serve`.
Each thread is one bot: it GETs the form once (CSRF cookie and token, and whatever hidden fields the form has)
and then POSTs it again and again with a new email each time, reusing the token.

On demand only (never in CI), loopback only, bounded in time and count:

    .venv/bin/python bench/public_forms.py [--seconds 30] [--threads 8] [--max-posts 20000]

A fresh SQLite database in a temp dir, one campaign with one referrer, `referloop serve --no-sandbox --no-demo`
on a free port of 127.0.0.1. First `/r/<code>/` (leads), then `/c/<slug>/join/` (referrers), each for
`--seconds`. What was created is counted in the database afterwards, not from the answers.

The "before" figure: run it against a checkout of the old code with `PYTHONPATH=/path/to/tree`; both this
process (seeding, counting) and the server import referloop from there.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from harness import hidden_fields, start_serve, stop

MAX_SECONDS = 120.0


@dataclass
class Shots:
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    posts: int = 0


def bot(base: str, path: str, tag: str, deadline: float, max_posts: int, shots: Shots) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        form = hidden_fields(client.get(path).text)
        n = 0
        while time.monotonic() < deadline:
            with shots.lock:
                if shots.posts >= max_posts:
                    return
                shots.posts += 1
            n += 1
            data = {**form, "first_name": "Bot", "last_name": f"{tag}{n}", "email": f"bot-{tag}-{n}@bench.example"}
            answer = client.post(path, data=data, headers={"Referer": base + path})
            with shots.lock:
                shots.statuses[answer.status_code] += 1


def attack(base: str, path: str, threads: int, seconds: float, max_posts: int) -> tuple[Shots, float]:
    shots = Shots()
    started = time.monotonic()
    deadline = started + seconds
    workers = [
        threading.Thread(target=bot, args=(base, path, f"t{i}", deadline, max_posts, shots)) for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return shots, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--max-posts", type=int, default=20_000, help="per form, across all threads")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server log, SQLite file)")
    args = parser.parse_args()
    seconds = min(args.seconds, MAX_SECONDS)

    var_dir = Path(tempfile.mkdtemp(prefix="referloop-bench-forms-"))
    env = {
        "DATABASE_URL": f"sqlite:///{var_dir / 'bench.sqlite3'}",
        "REFERLOOP_VAR_DIR": str(var_dir),
        "REFERLOOP_DEBUG": "1",  # `serve`'s default
        "REFERLOOP_SECRET_KEY": secrets.token_urlsafe(50),
        "REFERLOOP_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "DJANGO_SETTINGS_MODULE": "referloop.settings",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from referloop.accounts.models import Account
    from referloop.campaigns.models import Campaign, Lead, Referrer

    print(f"referloop from {Path(sys.modules['referloop'].__file__ or '').parent}", file=sys.stderr)
    call_command("migrate", interactive=False, verbosity=0)
    account = Account.objects.create(name="Bench Heating")
    campaign = Campaign.objects.create(account=account, name="Bench referrals", slug="bench")
    referrer = Referrer.objects.create(campaign=campaign, first_name="Maria", email="maria@bench.example")
    connections.close_all()

    server, base = start_serve(var_dir, env, "/c/bench/join/")
    try:
        print(f"{args.threads} threads x {seconds:.0f} s from 127.0.0.1 against {base}", file=sys.stderr)
        for name, path, count in (
            ("leads", f"/r/{referrer.code}/", lambda: Lead.objects.filter(campaign=campaign).count()),
            ("referrers", "/c/bench/join/", lambda: Referrer.objects.filter(campaign=campaign).count() - 1),
        ):
            shots, wall = attack(base, path, args.threads, seconds, args.max_posts)
            created = count()
            connections.close_all()
            answers = ", ".join(f"{status}: {n}" for status, n in sorted(shots.statuses.items()))
            detail = f"{created} created by {shots.posts} posts in {wall:.1f} s; {answers}"
            print(f"{path:<16} {created / wall:8.2f} {name}/s  ({detail})")
    finally:
        stop(server)
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
