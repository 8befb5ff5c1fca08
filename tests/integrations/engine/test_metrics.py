"""/metrics: Prometheus text read from the database, for staff or a scraper with the configured token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from referloop.accounts.models import User
from referloop.integrations.models import Delivery, DeliveryState, TenantBucket, WorkerHeartbeat
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_backlog, add_lead, connect, drain

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(client: Client, **headers: str) -> dict[str, float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        sample.name + _labels(sample.labels): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}" if labels else ""


def test_metrics_are_not_public_and_not_for_account_owners(tenant: Tenant, settings) -> None:
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert tenant.client.get("/metrics").status_code == 403  # an account owner sees only their account


def test_a_scraper_with_the_configured_token_gets_in_and_a_wrong_token_does_not(tenant: Tenant, settings) -> None:
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert "referloop_deliveries{state=delivered}" in scrape(Client(), HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")


def test_staff_see_deliveries_attempts_latency_queue_and_rate_limit_waits(tenant: Tenant, sandbox) -> None:
    staff = User.objects.create_user(email="ops@referloop.example", password="x" * 12, is_staff=True)
    client = Client()
    client.force_login(staff)
    integration = connect(tenant.campaign)
    add_lead(tenant.campaign, tenant.referrer)
    drain()
    [waiting] = add_backlog(integration, tenant.referrer, 1)
    Delivery.objects.filter(pk=waiting).update(next_attempt_at=timezone.now() - timedelta(seconds=30))
    TenantBucket.objects.filter(rate_key=integration.rate_key).update(waits=4, pauses=1)
    WorkerHeartbeat.objects.create(worker_id="w", hostname="h", pid=1)

    values = scrape(client)

    assert values["referloop_deliveries{state=delivered}"] == 1
    assert values["referloop_deliveries{state=pending}"] == 1
    assert values["referloop_deliveries{state=failed}"] == 0
    assert values["referloop_delivery_attempts_total{outcome=delivered}"] == 1
    assert values["referloop_join_to_booking_seconds_count"] == 1
    assert values["referloop_join_to_booking_seconds_bucket{le=+Inf}"] == 1
    assert values["referloop_join_to_booking_seconds_bucket{le=86400.0}"] == 1
    assert 0 < values["referloop_join_to_booking_seconds_sum"] < 60
    assert values["referloop_delivery_queue_depth"] == 1
    assert 30 <= values["referloop_delivery_oldest_due_age_seconds"] < 120
    assert values["referloop_rate_limit_waits_total"] == 4
    assert values["referloop_rate_limit_pauses_total"] == 1
    assert values["referloop_workers_alive"] == 1
    assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == 1
