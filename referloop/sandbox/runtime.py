"""Everything one running sandbox holds, in one object the app and the test handle share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from referloop.sandbox.chaos import Chaos
from referloop.sandbox.config import SandboxConfig
from referloop.sandbox.demo_data import seed_tenant
from referloop.sandbox.ratelimit import SlidingWindowLimiter
from referloop.sandbox.state import SandboxState
from referloop.sandbox.stats import Stats
from referloop.sandbox.tokens import TokenStore


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.state = SandboxState()
        self.tokens = TokenStore()
        self.limiter = SlidingWindowLimiter()
        self.chaos = Chaos(config)
        self.stats = Stats()
        self.seed_tenants()

    def set_knobs(self, changes: Mapping[str, Any]) -> None:
        """Change knobs at run time; raises ValueError and changes nothing if any is wrong."""
        self.config.update(changes)
        if "seed" in changes:
            self.chaos.reseed(self.config.seed)

    def reset(self) -> None:
        """Forget bookings, jobs, invoices, counts and rate windows; keep config and issued tokens. Customers and
        pick lists go back to the seeded demo data (with new customer ids: ids are never reused)."""
        self.state.reset()
        self.stats.reset()
        self.limiter.reset()
        self.seed_tenants()

    def seed_tenants(self) -> None:
        """The seeded customers and pick lists of every configured tenant (see demo_data)."""
        for tenant in self.config.tenants:
            seed_tenant(self.state, tenant.tenant_id)


def sandbox_of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox
