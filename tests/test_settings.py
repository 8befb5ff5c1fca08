"""Settings that only show when referloop starts as a process: run it as one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

WRITER = """
import django, sys
django.setup()
from django.db import transaction
from referloop.accounts.models import Account
for i in range(150):
    with transaction.atomic():
        # Read, then write: a deferred transaction would fail here with "database is locked" under contention.
        Account.objects.count()
        account = Account.objects.create(name=f"{sys.argv[1]}-{i}")
        account.name += "!"
        account.save()
print("ok")
"""


def run_python(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    ours = {"DATABASE_URL", "REFERLOOP_DEBUG", "REFERLOOP_SECRET_KEY", "REFERLOOP_EMAIL_BACKEND"}
    env = {k: v for k, v in os.environ.items() if k not in ours and k != "REFERLOOP_ALLOW_TEST_EMAIL_BACKEND"}
    env.update({"DJANGO_SETTINGS_MODULE": "referloop.settings", "REFERLOOP_VAR_DIR": str(tmp_path)}, **extra)
    return env


def test_referloop_refuses_to_start_with_debug_off_and_the_development_secret_key(tmp_path: Path) -> None:
    result = run_python("import django; django.setup()", clean_env(tmp_path, REFERLOOP_DEBUG="0"))
    assert result.returncode != 0
    assert "REFERLOOP_SECRET_KEY must be set" in result.stderr


SMTP = "django.core.mail.backends.smtp.EmailBackend"


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    production = {"REFERLOOP_DEBUG": "0", "REFERLOOP_SECRET_KEY": "x" * 60, "REFERLOOP_EMAIL_BACKEND": SMTP}
    return clean_env(tmp_path, **{**production, **extra})


def test_referloop_starts_with_debug_off_and_its_own_secret_key(tmp_path: Path) -> None:
    result = run_python("import django; django.setup(); print('started')", production_env(tmp_path))
    assert result.stdout.strip() == "started", result.stderr


@pytest.mark.parametrize("backend", ["console", "locmem", "dummy"])
def test_referloop_refuses_to_start_in_production_with_an_email_backend_that_sends_nothing(
    tmp_path: Path, backend: str
) -> None:
    env = production_env(tmp_path, REFERLOOP_EMAIL_BACKEND=f"django.core.mail.backends.{backend}.EmailBackend")
    result = run_python("import django; django.setup()", env)
    assert result.returncode != 0
    assert "which sends no email, and REFERLOOP_DEBUG is off" in result.stderr


def test_referloop_refuses_the_default_console_email_in_production(tmp_path: Path) -> None:
    env = clean_env(tmp_path, REFERLOOP_DEBUG="0", REFERLOOP_SECRET_KEY="x" * 60)
    result = run_python("import django; django.setup()", env)
    assert "REFERLOOP_EMAIL_BACKEND is django.core.mail.backends.console.EmailBackend" in result.stderr


def test_a_console_email_backend_in_production_must_be_allowed_explicitly(tmp_path: Path) -> None:
    env = clean_env(
        tmp_path, REFERLOOP_DEBUG="0", REFERLOOP_SECRET_KEY="x" * 60, REFERLOOP_ALLOW_TEST_EMAIL_BACKEND="1"
    )
    result = run_python("import django; django.setup(); print('started')", env)
    assert result.stdout.strip() == "started", result.stderr


def test_production_sends_hsts_and_development_does_not(tmp_path: Path) -> None:
    code = "import django; django.setup()\nfrom django.conf import settings\nprint(settings.SECURE_HSTS_SECONDS)"
    assert int(run_python(code, production_env(tmp_path)).stdout) >= 31536000
    assert int(run_python(code, clean_env(tmp_path)).stdout) == 0


@pytest.mark.parametrize("switch", ["REFERLOOP_WEBHOOKS_ALLOW_HTTP", "REFERLOOP_WEBHOOKS_ALLOW_LOOPBACK"])
def test_referloop_refuses_to_start_in_production_with_a_webhook_address_switch_on(tmp_path: Path, switch: str) -> None:
    env = production_env(tmp_path, **{switch: "1"})
    result = run_python("import django; django.setup()", env)
    assert result.returncode != 0
    assert "are for development: unset them when REFERLOOP_DEBUG is off" in result.stderr


def test_sqlite_default_is_wal_and_two_processes_write_at_once_without_locking_errors(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    migrate = subprocess.run(
        [sys.executable, "-m", "referloop", "migrate", "--verbosity", "0"], env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr
    mode = run_python(
        "import django; django.setup()\nfrom django.db import connection\n"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])",
        env,
    )
    assert mode.stdout.strip() == "wal", mode.stderr

    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, name], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for name in ("web", "worker")
    ]
    outputs = [writer.communicate(timeout=120) for writer in writers]
    for writer, (stdout, stderr) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, stderr.decode()
        assert stdout.decode().strip() == "ok"
    count = run_python(
        "import django; django.setup()\nfrom referloop.accounts.models import Account\nprint(Account.objects.count())",
        env,
    )
    assert count.stdout.strip() == "300"
    assert (tmp_path / "referloop.sqlite3").exists()


ASGI_REQUESTS = """
import asyncio
import psycopg
from django.db import connection

from referloop.asgi import application as app


async def readyz() -> int:
    scope = {"type": "http", "method": "GET", "path": "/readyz", "raw_path": b"/readyz", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1")], "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000),
             "scheme": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "root_path": ""}
    sent = []
    asked = []

    async def receive():
        if asked:  # after the body Django listens for a disconnect: none comes
            await asyncio.Event().wait()
        asked.append(1)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"]


async def main() -> None:
    for _ in range(4):  # 4 waves of 40 requests at once: each runs its sync code in a thread of its own
        statuses = await asyncio.gather(*(readyz() for _ in range(40)))
        assert set(statuses) <= {200, 503}, statuses
    name = connection.settings_dict["NAME"]
    with psycopg.connect(dbname="postgres", host="127.0.0.1", user="postgres", autocommit=True) as admin:
        (open_now,) = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]).fetchone()
    print(open_now)


asyncio.run(main())
"""


def test_requests_in_threads_of_their_own_leave_no_postgresql_connection_open(tmp_path: Path) -> None:
    # Under ASGI each request's sync code runs in a thread of its own; a connection kept per thread (CONN_MAX_AGE)
    # outlived it, and a few hundred requests used up max_connections ("too many clients": 500s).
    psycopg = pytest.importorskip("psycopg")
    name = f"referloop_asgi_{os.getpid()}"
    try:
        admin = psycopg.connect(dbname="postgres", host="127.0.0.1", user="postgres", autocommit=True)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL is not running at 127.0.0.1:5432")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        env = clean_env(tmp_path, DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}")
        migrate = subprocess.run(
            [sys.executable, "-m", "referloop", "migrate", "--verbosity", "0"], env=env, capture_output=True, text=True
        )
        assert migrate.returncode == 0, migrate.stderr
        result = run_python(ASGI_REQUESTS, env)
        assert result.returncode == 0, result.stderr
        assert int(result.stdout.strip()) <= 1  # at most the last request's, closing as it is counted
    finally:
        with psycopg.connect(dbname="postgres", host="127.0.0.1", user="postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
