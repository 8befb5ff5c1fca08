"""With the database unreachable (a restart, a failover) the web app answers a plain error, never a traceback:
/readyz says 503 so load balancers stop sending traffic, and every other page and the API answer Django's plain
500 page (DEBUG off, as in production). bench/chaos.py checks the same against a real PostgreSQL restart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client

from tests.conftest import Tenant

# What a plain error page never shows: a traceback, Django's debug page, the driver's words.
LEAKS = ("Traceback", "DEBUG = True", "OperationalError", "connection refused", "psycopg", "sqlite")


@pytest.fixture
def database_down(settings: Any) -> Iterator[None]:
    settings.DEBUG = False

    def unreachable(self: BaseDatabaseWrapper) -> None:
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: connection refused')

    # Every query, transaction and session lookup goes through ensure_connection. Undone when this fixture ends,
    # before the test database's own teardown needs the connection again.
    with mock.patch.object(BaseDatabaseWrapper, "ensure_connection", unreachable):
        yield


def plain(body: bytes) -> bool:
    text = body.decode(errors="replace")
    return not any(leak.lower() in text.lower() for leak in LEAKS)


@pytest.mark.django_db
def test_readyz_answers_503_naming_the_database_when_it_is_unreachable(database_down: None) -> None:
    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable"


@pytest.mark.django_db
def test_healthz_still_answers_200_so_the_orchestrator_keeps_the_process(database_down: None) -> None:
    assert Client().get("/healthz").status_code == 200


def test_the_public_referral_page_answers_a_plain_500_page(tenant: Tenant, database_down: None) -> None:
    response = Client(raise_request_exception=False).get(f"/c/{tenant.campaign.slug}/join/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert plain(response.content)


def test_creating_a_lead_through_the_api_answers_a_plain_500(tenant: Tenant, database_down: None) -> None:
    client = Client(raise_request_exception=False)

    response = client.post(
        "/api/v1/leads",
        {"campaign_id": tenant.campaign.pk, "referrer_id": tenant.referrer.pk, "first_name": "A", "email": "a@x.io"},
        content_type="application/json",
        **tenant.api(),
    )

    assert response.status_code == 500
    assert plain(response.content)


def test_a_signed_in_page_answers_a_plain_500_page(tenant: Tenant, database_down: None) -> None:
    tenant.client.raise_request_exception = False

    response = tenant.client.get(tenant.campaign.get_absolute_url())

    assert response.status_code == 500
    assert plain(response.content)
