"""The benchmark's plumbing: a fresh database, the sandbox and worker subprocesses, and /proc readings.

Nothing here imports Django models: `delivery.py` sets the environment (database, sandbox address) first and
only then starts Django, so this module must be importable before that.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
REFERLOOP = [sys.executable, "-m", "referloop"]
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BENCH_SECRET_KEY = secrets.token_urlsafe(50)  # DEBUG off refuses the development key; the bench data is thrown away


# -- the database ----------------------------------------------------------------------------------------------


@dataclass
class Database:
    kind: str  # "sqlite" or "postgres"
    url: str
    var_dir: Path  # logs, and the SQLite file
    pg_name: str = ""


def create_database(kind: str) -> Database:
    """A temp dir (SQLite file in it), plus for PostgreSQL an empty database named after this process."""
    var_dir = Path(tempfile.mkdtemp(prefix="referloop-bench-"))
    if kind == "sqlite":
        return Database(kind, f"sqlite:///{var_dir / 'bench.sqlite3'}", var_dir)
    name = f"referloop_bench_{os.getpid()}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    return Database(kind, f"{PG_SERVER}/{name}", var_dir, pg_name=name)


def drop_database(db: Database, keep_logs: bool) -> None:
    if db.pg_name:
        _pg_admin(f'DROP DATABASE IF EXISTS "{db.pg_name}" WITH (FORCE)')
    if not keep_logs:
        shutil.rmtree(db.var_dir, ignore_errors=True)


def _pg_admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]  # our own identifiers, no user input


def environment(db: Database, sandbox_url: str) -> dict[str, str]:
    """What this process (before django.setup) and its children need to share one database and sandbox.

    DEBUG is off, as in production: with DEBUG on, Django formats every query to text and keeps the last 9,000
    of them (a worker never resets that log), which costs the worker CPU and ~45 MiB.
    """
    return {
        "DJANGO_SETTINGS_MODULE": "referloop.settings",
        "REFERLOOP_DEBUG": "0",
        "REFERLOOP_SECRET_KEY": BENCH_SECRET_KEY,
        "DATABASE_URL": db.url,
        "REFERLOOP_VAR_DIR": str(db.var_dir),
        "REFERLOOP_SERVICETITAN_SANDBOX_URL": sandbox_url,
        "REFERLOOP_SERVICETITAN_ALLOW_SANDBOX": "1",
        "REFERLOOP_ALLOW_TEST_EMAIL_BACKEND": "1",  # the bench sends no email; production refuses the console
        "REFERLOOP_LOG_LEVEL": "WARNING",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- subprocesses ----------------------------------------------------------------------------------------------


def start_sandbox(port: int, latency_ms: float, rate_limit: int, log: Path) -> subprocess.Popen[bytes]:
    """`referloop sandbox` with the scenario's knobs; returns once it answers."""
    args = ["sandbox", "--port", str(port), "--latency-ms", str(latency_ms), "--rate-limit", str(rate_limit)]
    process = _spawn([*REFERLOOP, *args], os.environ.copy(), log)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{base}/_sandbox/config") or _exited(process), 30, "the sandbox to start")
    if process.poll() is not None:
        raise RuntimeError(f"the sandbox exited at start; see {log}")
    return process


def start_worker(
    env: dict[str, str], flags: list[str], log: Path, profile: Path | None = None, script: Path | None = None
) -> subprocess.Popen[bytes]:
    """`referloop worker`; with `profile`, under cProfile (main thread only: the event loop), written at exit.

    `script` replaces `-m referloop`: a file that patches the engine and then runs `referloop.__main__.main`, to
    measure an engine change before making it.
    """
    entry = [str(script)] if script is not None else ["-m", "referloop"]
    command = [sys.executable, *entry, "worker", *flags]
    if profile is not None:
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), *entry, "worker", *flags]
    return _spawn(command, {**os.environ, **env}, log)


def start_feeder(
    env: dict[str, str],
    rate: float,
    seconds: float,
    start: float,
    index: int,
    stride: int,
    direct: bool,
    log: Path,
    first: int = 0,
) -> subprocess.Popen[bytes]:
    script = str(Path(__file__).with_name("feeder.py"))
    args = ["--rate", str(rate), "--seconds", str(seconds), "--start-at", str(start), "--first", str(first)]
    args += ["--index", str(index), "--stride", str(stride), *(["--direct"] if direct else [])]
    return _spawn([sys.executable, script, *args], {**os.environ, **env}, log)


def fed_count(log: Path) -> int:
    """The `fed N in S` line a feeder process prints last."""
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("fed "):
            return int(line.split()[1])
    raise RuntimeError(f"a feeder failed; see {log}")


def print_profile(profile: Path, lines: int = 30) -> None:
    import pstats

    if not profile.exists():
        progress(f"no profile written at {profile}")
        return
    stats = pstats.Stats(str(profile), stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(lines)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # Output to a file: a pipe nobody reads would fill up and stall the child.
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM (the worker finishes what is in flight), then SIGKILL if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _exited(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is not None


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# -- the sandbox's control API ---------------------------------------------------------------------------------


def add_tenant(base_url: str, tenant: dict[str, Any]) -> None:
    httpx.post(f"{base_url}/_sandbox/tenants", json=tenant, timeout=10.0).raise_for_status()


def sandbox_stats(base_url: str) -> dict[str, Any]:
    response = httpx.get(f"{base_url}/_sandbox/stats", timeout=30.0)
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


def booking_counts(base_url: str, tenant_id: int) -> dict[str, int]:
    """Bookings per externalId for one tenant (per tenant: the whole list of 100,000 would be one huge body)."""
    response = httpx.get(f"{base_url}/_sandbox/bookings", params={"tenant": tenant_id}, timeout=60.0)
    response.raise_for_status()
    counts: dict[str, int] = response.json()["counts_by_external_id"]
    return counts


# -- /proc -----------------------------------------------------------------------------------------------------


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process (all its threads), or of one of its threads, from /proc."""
    path = Path(f"/proc/{pid}/stat") if tid is None else Path(f"/proc/{pid}/task/{tid}/stat")
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        raw = path.read_text()
        fields = raw[raw.rindex(")") + 2 :].split()  # the name in parentheses may contain spaces
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of the whole line
    return 0.0


def rss_mib(pid: int) -> float:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Sample:
    at: float  # time.time()
    worker_cpu: float
    worker_loop_cpu: float  # the main thread: the event loop (HTTP, payloads); the rest is mostly the DB thread
    worker_rss: float
    sandbox_cpu: float
    delivered: int


@dataclass
class Watch:
    """Readings of the worker and the sandbox taken by the benchmark's own loop."""

    worker_pid: int
    sandbox_pid: int
    samples: list[Sample]

    def take(self, delivered: int) -> Sample:
        sample = Sample(
            at=time.time(),
            worker_cpu=cpu_seconds(self.worker_pid),
            worker_loop_cpu=cpu_seconds(self.worker_pid, self.worker_pid),
            worker_rss=rss_mib(self.worker_pid),
            sandbox_cpu=cpu_seconds(self.sandbox_pid),
            delivered=delivered,
        )
        self.samples.append(sample)
        return sample


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- referloop serve over HTTP (the public-form and CSV-import benchmarks) --------------------------------------

HIDDEN_INPUT = re.compile(r"<input\b[^>]*\btype=[\"']?hidden[\"']?[^>]*>", re.IGNORECASE)
ATTR = re.compile(r"\b(name|value)=(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", re.IGNORECASE)


def hidden_fields(page: str) -> dict[str, str]:
    """Every hidden input of the page's form(s), as a browser would post them."""
    fields = {}
    for tag in HIDDEN_INPUT.findall(page):
        attrs = {m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or "" for m in ATTR.finditer(tag)}
        if "name" in attrs:
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def start_serve(
    var_dir: Path, env: dict[str, str], ready_path: str, seconds: float = 60
) -> tuple[subprocess.Popen[bytes], str]:
    """`referloop serve --no-sandbox --no-demo` on a free port, logging to var_dir/serve.log; returns once
    `ready_path` answers 200. Stop it with `stop()`."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "referloop", "serve", "--no-sandbox", "--no-demo", "--port", str(port)],
        cwd=var_dir,  # not the repo: `python -m` puts the cwd first on sys.path, before PYTHONPATH
        env={**os.environ, **env},
        stdout=(var_dir / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"referloop serve exited with {server.returncode}; see {var_dir / 'serve.log'}")
        try:
            if httpx.get(base + ready_path, timeout=2).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop(server)
    raise SystemExit(f"referloop serve did not answer in time; see {var_dir / 'serve.log'}")
