"""referloop's local ServiceTitan API double ("the sandbox"): a small Starlette app, no Django.

    from referloop.sandbox import create_app, SandboxConfig
    from referloop.sandbox.testing import running_sandbox

See docs/sandbox.md for the routes, knobs and control endpoints.
"""

from referloop.sandbox.app import create_app
from referloop.sandbox.config import (
    DEMO_APP_KEY,
    DEMO_BOOKING_PROVIDER_ID,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
    BookingProvider,
    SandboxConfig,
    TenantConfig,
)

__all__ = [
    "DEMO_APP_KEY",
    "DEMO_BOOKING_PROVIDER_ID",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_TENANT_ID",
    "BookingProvider",
    "SandboxConfig",
    "TenantConfig",
    "create_app",
]
