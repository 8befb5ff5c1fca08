"""Fixtures for the CRM tab screens: a real sandbox over HTTP, and helpers that connect through the screens."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from referloop.integrations.models import Integration
from referloop.sandbox.config import (
    DEMO_BOOKING_PROVIDER_ID,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
)
from tests.conftest import Tenant

ST = "servicetitan"


def url(name: str, tenant: Tenant, *args: Any) -> str:
    return reverse(name, args=[tenant.campaign.pk, ST, *args])


def credentials(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "booking_provider_id": DEMO_BOOKING_PROVIDER_ID,
        "app_key": "",
    }
    data.update(overrides)
    return data


def start(client: Client, tenant: Tenant, environment: str = "sandbox", tenant_id: int = DEMO_TENANT_ID) -> Integration:
    response = client.post(url("integration_connect", tenant), {"environment": environment, "tenant_id": tenant_id})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Integration.objects.get(campaign=tenant.campaign)


def connect(tenant: Tenant, **overrides: Any) -> Integration:
    """Step one and Finalize through the screens, against the sandbox fixture's demo tenant."""
    start(tenant.client, tenant)
    response = tenant.client.post(url("integration_finalize", tenant), credentials(**overrides))
    assert response.status_code == 302, response.content.decode()[:3000]
    return Integration.objects.get(campaign=tenant.campaign)


def mapping_post(integration: Integration, lead_action: str | None = None, **changes: tuple[str, str] | None) -> dict:
    """The Leads tab's POST for the integration's stored mapping, with `changes` ({key: (type, value)} or None)."""
    data: dict[str, Any] = {"lead_action": lead_action or integration.lead_action, "field": []}
    rows = {key: (entry.data_type, entry.source) for key, entry in integration.mapping().items()}
    for key, change in changes.items():
        key = key.replace("__", ".")
        if change is None:
            rows.pop(key, None)
        else:
            rows[key] = change
    for key, (data_type, value) in rows.items():
        data["field"].append(key)
        data[f"{key}__type"] = data_type
        data[f"{key}__{data_type}"] = value
    return data
