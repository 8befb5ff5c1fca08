"""The engine's tests: a real sandbox over HTTP, connected integrations, leads, and a worker run in-process.

Every test here that runs a worker uses `transactional_db`: the worker reads and writes from its own database
thread (or process), which must see committed rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from referloop.sandbox.config import BookingProvider, SandboxConfig, TenantConfig
from referloop.sandbox.testing import SandboxHandle, running_sandbox
from tests.integrations.engine.helpers import OTHER_CLIENT_ID, OTHER_CLIENT_SECRET, OTHER_PROVIDER_ID, OTHER_TENANT_ID


def engine_sandbox_config() -> SandboxConfig:
    """The demo tenant plus a second ServiceTitan tenant, for fairness between tenants."""
    config = SandboxConfig.demo(seed=11)
    config.put_tenant(
        TenantConfig(
            tenant_id=OTHER_TENANT_ID,
            client_id=OTHER_CLIENT_ID,
            client_secret=OTHER_CLIENT_SECRET,
            booking_providers=[BookingProvider(id=OTHER_PROVIDER_ID, name="referloop")],
        )
    )
    return config


@pytest.fixture(scope="session")
def _engine_sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(engine_sandbox_config()) as handle:
        yield handle


@pytest.fixture
def sandbox(_engine_sandbox: SandboxHandle, settings: Any) -> SandboxHandle:
    """The shared sandbox, reset to its starting knobs, tenants, bookings and counts; integrations point at it."""
    fresh = engine_sandbox_config()
    _engine_sandbox.set(**fresh.knobs())
    _engine_sandbox.config.tenants = fresh.tenants
    _engine_sandbox.reset()
    settings.SERVICETITAN_SANDBOX_URL = _engine_sandbox.base_url
    settings.SERVICETITAN_ALLOW_SANDBOX = True
    return _engine_sandbox
