"""Building blocks for the engine's tests: integrations on the sandbox, leads, and bounded worker runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from django.db import connection
from django.utils import timezone

from referloop.campaigns.codes import random_code
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, Lead, Referrer
from referloop.integrations.engine.ratelimit import RateLimit
from referloop.integrations.engine.retry import RetryPolicy
from referloop.integrations.engine.worker import WorkerOptions, WorkerReport, run_worker
from referloop.integrations.models import ConnectionState, Delivery, DeliveryState, Environment, Integration, LeadAction
from referloop.providers.servicetitan import FieldMapping, TokenCache, default_mapping
from referloop.sandbox.config import DEMO_BOOKING_PROVIDER_ID, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID
from referloop.sandbox.state import counts_by_external_id
from referloop.sandbox.testing import SandboxHandle

OTHER_TENANT_ID = 7654321
OTHER_CLIENT_ID = "cid.other-tenant"
OTHER_CLIENT_SECRET = "cs.other-tenant-secret"
OTHER_PROVIDER_ID = 77

# Generous: a loaded machine must not turn a slow answer into a timeout the test did not ask for.
TEST_TIMEOUT = httpx.Timeout(connect=5.0, read=10.0, write=5.0, pool=5.0)
# For the tests about hangs: a hang costs them a second, not thirty.
SHORT_TIMEOUT = httpx.Timeout(connect=5.0, read=1.0, write=5.0, pool=5.0)
REPO = Path(__file__).resolve().parents[3]


def full_mapping() -> dict[str, FieldMapping]:
    """The defaults plus phone, a whole address and a summary naming a custom field."""
    return {
        **default_mapping(),
        "summary": FieldMapping("fixed", "Referral from {Referrer Full Name}: {System type}"),
        "contacts.Phone": FieldMapping("dynamic", "lead.phone"),
        "address.street": FieldMapping("dynamic", "lead.street"),
        "address.city": FieldMapping("dynamic", "lead.city"),
        "address.state": FieldMapping("dynamic", "lead.state"),
        "address.zip": FieldMapping("dynamic", "lead.zip"),
        "address.country": FieldMapping("fixed", "USA"),
        "priority": FieldMapping("manual", "High"),
    }


def connect(
    campaign: Campaign,
    *,
    tenant_id: int = DEMO_TENANT_ID,
    client_id: str = DEMO_CLIENT_ID,
    secret: str = DEMO_CLIENT_SECRET,
    provider_id: int = DEMO_BOOKING_PROVIDER_ID,
    mapping: dict[str, FieldMapping] | None = None,
    lead_action: str = LeadAction.CREATE_BOOKING,
) -> Integration:
    integration = Integration(
        campaign=campaign,
        environment=Environment.SANDBOX,
        tenant_id=tenant_id,
        client_id=client_id,
        booking_provider_id=provider_id,
        state=ConnectionState.CONNECTED,
        lead_action=lead_action,
    )
    integration.client_secret = secret
    integration.set_mapping(full_mapping() if mapping is None else mapping)
    integration.save()
    return integration


_counter = iter(range(1, 10**9))


def add_lead(campaign: Campaign, referrer: Referrer, **data: str) -> Lead:
    """A lead through the one intake path, so its delivery is written in the same transaction."""
    n = next(_counter)
    fields = {
        "first_name": "Ann",
        "last_name": f"Example{n}",
        "email": f"ann{n}@example.com",
        "phone": "512-555-0100",
        "street": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "zip_code": "78701",
        "custom_system_type": "Furnace",
        **data,
    }
    return submit_lead(campaign, referrer, fields).lead


def add_backlog(integration: Integration, referrer: Referrer, count: int) -> list[int]:
    """Many pending deliveries at once (bulk inserts: the intake path would take seconds for thousands)."""
    now = timezone.now()
    leads = Lead.objects.bulk_create(
        [
            Lead(
                campaign=integration.campaign,
                referrer=referrer,
                first_name="Bulk",
                last_name=str(i),
                email=f"bulk{i}-{integration.pk}@example.com",
                phone="512-555-0101",
                street="2 Oak St",
                city="Austin",
                state="TX",
                zip_code="78702",
                custom_data={"system_type": "Heat pump"},
                code=f"B{integration.pk}X{random_code(4)}{i}",
                created_at=now,
            )
            for i in range(count)
        ]
    )
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                integration=integration,
                lead=lead,
                state=DeliveryState.PENDING,
                rate_key=integration.rate_key,
                next_attempt_at=now,
                created_at=now,
            )
            for lead in leads
        ]
    )
    return [delivery.pk for delivery in deliveries]


def options(**overrides: Any) -> WorkerOptions:
    """Worker options for tests: a private token cache, quick polling and short HTTP timeouts."""
    values: dict[str, Any] = {
        "token_cache": TokenCache(),
        "poll_interval": 0.05,
        "flush_interval": 0.05,
        "timeout": TEST_TIMEOUT,
        "send_deadline": 20.0,
        "lease_seconds": 30.0,
        "shutdown_grace": 2.0,
        "rate": RateLimit(per_second=60),
        **overrides,
    }
    return WorkerOptions(**values)


def drain(limit_seconds: float = 30.0, stop: Callable[[], bool] | None = None, **overrides: Any) -> WorkerReport:
    """Run a worker until nothing is due (or `stop()`), bounded in time so a broken engine fails, not hangs."""
    deadline = time.monotonic() + limit_seconds

    def done(report: WorkerReport) -> bool:
        if time.monotonic() >= deadline:
            return True
        return stop() if stop is not None else report.idle

    return run_worker(options(**overrides), stop_when=done)


def no_retry_wait() -> RetryPolicy:
    return RetryPolicy(delays=(0.0,), then_every=0.0, jitter=0.0)


def make_due_now(*deliveries: Delivery) -> None:
    """Move the clock: rows waiting for a retry become due (instead of sleeping 10 s in a test)."""
    ids = [d.pk for d in deliveries] or list(Delivery.objects.values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=ids, state=DeliveryState.PENDING).update(next_attempt_at=timezone.now())


def booking_counts(sandbox: SandboxHandle) -> dict[str, int]:
    return counts_by_external_id(sandbox.bookings())


# -- subprocess workers ------------------------------------------------------------------------------------------


def database_url() -> str:
    """The test database, as a URL another process can open."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings["USER"] or "postgres"
    host = settings["HOST"] or "127.0.0.1"
    return f"postgres://{user}@{host}:{settings['PORT'] or 5432}/{settings['NAME']}"


def start_worker(
    sandbox: SandboxHandle | None, *args: str, log: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`python -m referloop worker` on the test database, pointed at the test's sandbox (if any), with `env` added.

    Output goes to `log` (a file: a pipe nobody reads would fill up and stall the worker), else nowhere.
    """
    sandbox_env = (
        {"REFERLOOP_SERVICETITAN_SANDBOX_URL": sandbox.base_url, "REFERLOOP_SERVICETITAN_ALLOW_SANDBOX": "1"}
        if sandbox is not None
        else {}
    )
    env = {**os.environ, "DATABASE_URL": database_url(), "REFERLOOP_LOG_LEVEL": "WARNING", **sandbox_env, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "referloop", "worker", "--poll-interval", "0.05", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab") if log is not None else subprocess.DEVNULL,
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def stop_worker(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM, timeout: float = 15.0) -> int:
    if process.poll() is None:
        process.send_signal(signum)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


# -- a sandbox in its own process ----------------------------------------------------------------------------


class SandboxProcess:
    """`referloop sandbox` as a separate process, as ServiceTitan is to a real worker: its clock and its counting
    of calls per second don't share this process's interpreter lock or garbage collector."""

    def __init__(self, *args: str) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "referloop", "sandbox", "--port", str(port), *args],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, 20, "the sandbox process to start")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the sandbox process exited with {self.process.returncode}")
        try:
            return httpx.get(f"{self.base_url}/_sandbox/config", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(f"{self.base_url}/_sandbox/stats", timeout=10.0).raise_for_status().json()
        return stats

    def booking_counts(self, tenant_id: int = DEMO_TENANT_ID) -> dict[str, int]:
        response = httpx.get(f"{self.base_url}/_sandbox/bookings", params={"tenant": tenant_id}, timeout=10.0)
        counts: dict[str, int] = response.raise_for_status().json()["counts_by_external_id"]
        return counts

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
