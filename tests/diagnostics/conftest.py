"""A real sandbox for the session, and a campaign whose ServiceTitan integration is connected to it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from referloop.integrations.models import ConnectionState, Environment, Integration, LeadAction, WorkerHeartbeat
from referloop.providers.servicetitan import default_mapping
from referloop.sandbox.config import (
    DEMO_BOOKING_PROVIDER_ID,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
)
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant


@pytest.fixture
def integration(tenant: Tenant, sandbox: SandboxHandle) -> Integration:
    """Connected to the sandbox's demo tenant with the default mapping and Create New Booking."""
    integration = Integration(
        campaign=tenant.campaign,
        environment=Environment.SANDBOX,
        tenant_id=DEMO_TENANT_ID,
        client_id=DEMO_CLIENT_ID,
        booking_provider_id=DEMO_BOOKING_PROVIDER_ID,
        state=ConnectionState.CONNECTED,
        lead_action=LeadAction.CREATE_BOOKING,
        connected_at=timezone.now(),
    )
    integration.client_secret = DEMO_CLIENT_SECRET
    integration.set_mapping(default_mapping())
    integration.save()
    return integration


@pytest.fixture
def running_worker(db: None) -> WorkerHeartbeat:
    """A worker that sent its heartbeat a second ago."""
    return WorkerHeartbeat.objects.create(
        worker_id="worker-test-1", hostname="app-1", pid=4242, seen_at=timezone.now() - timedelta(seconds=1)
    )
