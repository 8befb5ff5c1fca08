"""/healthz (the process answers) and /readyz (database, migrations, a live worker) for load balancers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client
from django.utils import timezone

from referloop.integrations.models import WorkerHeartbeat
from referloop.runtime import health


@pytest.fixture(autouse=True)
def fresh_migration_check() -> Iterator[None]:
    health._migrated = False
    yield
    health._migrated = False


def beat(seconds_ago: float, stopped: bool = False) -> None:
    seen = timezone.now() - timedelta(seconds=seconds_ago)
    WorkerHeartbeat.objects.create(
        worker_id=f"w{seconds_ago}", hostname="box", pid=1, seen_at=seen, stopped_at=seen if stopped else None
    )


@pytest.mark.django_db
def test_healthz_answers_without_asking_the_database_whatever_the_host_header(
    django_assert_num_queries: Any,
) -> None:
    with django_assert_num_queries(0):
        response = Client().get("/healthz", HTTP_HOST="10.1.2.3:8000")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_is_ready_with_the_database_migrated_and_a_worker_beating() -> None:
    beat(seconds_ago=5)

    response = Client().get("/readyz", HTTP_HOST="10.1.2.3")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "worker": "ok"}}


@pytest.mark.django_db
def test_readyz_reports_no_heartbeat_younger_than_30_seconds_but_stays_ready_to_take_leads() -> None:
    beat(seconds_ago=45)
    beat(seconds_ago=1, stopped=True)  # a worker that stopped cleanly is not working

    response = Client().get("/readyz")

    assert response.status_code == 200  # the web process still takes every lead and holds it for the workers
    assert response.json()["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "worker": "no heartbeat in the last 30 s",
    }


@pytest.mark.django_db
def test_readyz_names_migrations_not_applied() -> None:
    beat(seconds_ago=1)
    MigrationRecorder.Migration.objects.filter(app="accounts", name="0003_account_change").delete()

    response = Client().get("/readyz/")

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "1 not applied"
