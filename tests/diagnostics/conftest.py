"""A real sandbox for the session, and a campaign whose ServiceTitan integration is connected to it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from referloop.integrations.models import Integration, WorkerHeartbeat
from referloop.runtime.demo import connect_demo_integration
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant


@pytest.fixture
def integration(tenant: Tenant, sandbox: SandboxHandle) -> Integration:
    """Connected to the sandbox's demo tenant with the default mapping and Create New Booking."""
    return connect_demo_integration(tenant.campaign)


@pytest.fixture
def running_worker(db: None) -> WorkerHeartbeat:
    """A worker that sent its heartbeat a second ago."""
    return WorkerHeartbeat.objects.create(
        worker_id="worker-test-1", hostname="app-1", pid=4242, seen_at=timezone.now() - timedelta(seconds=1)
    )
