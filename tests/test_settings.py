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
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REFERLOOP_DEBUG", "REFERLOOP_SECRET_KEY"}}
    env.update({"DJANGO_SETTINGS_MODULE": "referloop.settings", "REFERLOOP_VAR_DIR": str(tmp_path)}, **extra)
    return env


def test_referloop_refuses_to_start_with_debug_off_and_the_development_secret_key(tmp_path: Path) -> None:
    result = run_python("import django; django.setup()", clean_env(tmp_path, REFERLOOP_DEBUG="0"))
    assert result.returncode != 0
    assert "REFERLOOP_SECRET_KEY must be set" in result.stderr


def test_referloop_starts_with_debug_off_and_its_own_secret_key(tmp_path: Path) -> None:
    env = clean_env(tmp_path, REFERLOOP_DEBUG="0", REFERLOOP_SECRET_KEY="x" * 60)
    result = run_python("import django; django.setup(); print('started')", env)
    assert result.stdout.strip() == "started", result.stderr


@pytest.mark.parametrize("switch", ["REFERLOOP_WEBHOOKS_ALLOW_HTTP", "REFERLOOP_WEBHOOKS_ALLOW_LOOPBACK"])
def test_referloop_refuses_to_start_in_production_with_a_webhook_address_switch_on(tmp_path: Path, switch: str) -> None:
    env = clean_env(tmp_path, REFERLOOP_DEBUG="0", REFERLOOP_SECRET_KEY="x" * 60, **{switch: "1"})
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
