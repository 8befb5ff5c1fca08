"""With the database unreachable (a restart, a failover) the web app answers a plain error, never a traceback:
/readyz says 503 so load balancers stop sending traffic, every other page answers a plain 503 page with
Retry-After, and the API its JSON error shape with 503 and Retry-After (DEBUG off, as in production).
bench/chaos.py checks the same against a real PostgreSQL restart."""

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


def test_the_public_referral_page_answers_a_plain_503_page_to_retry(tenant: Tenant, database_down: None) -> None:
    response = Client(raise_request_exception=False).get(f"/c/{tenant.campaign.slug}/join/")

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response["Content-Type"].startswith("text/html")
    assert "try again in a minute" in response.content.decode()
    assert plain(response.content)


def test_creating_a_lead_through_the_api_answers_its_json_error_with_503_to_retry(
    tenant: Tenant, database_down: None
) -> None:
    client = Client(raise_request_exception=False)

    response = client.post(
        "/api/v1/leads",
        {"campaign_id": tenant.campaign.pk, "referrer_id": tenant.referrer.pk, "first_name": "A", "email": "a@x.io"},
        content_type="application/json",
        **tenant.api(),
    )

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response.json()["errors"] == {"service": [response.json()["message"]]}
    assert plain(response.content)


def test_a_signed_in_page_answers_a_plain_503_page(tenant: Tenant, database_down: None) -> None:
    tenant.client.raise_request_exception = False

    response = tenant.client.get(tenant.campaign.get_absolute_url())

    assert response.status_code == 503
    assert plain(response.content)


def test_any_other_error_in_the_api_is_a_json_500_not_an_html_page(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.DEBUG = False

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("referloop.campaigns.api.submit_lead", broken)
    response = Client(raise_request_exception=False).post(
        "/api/v1/leads",
        {"campaign_id": tenant.campaign.pk, "referrer_id": tenant.referrer.pk, "first_name": "A", "email": "a@x.io"},
        content_type="application/json",
        **tenant.api(),
    )

    assert response.status_code == 500
    assert "Retry-After" not in response
    assert response.json()["errors"]["service"]
