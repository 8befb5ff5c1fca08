"""What the sandbox knows before any request: tenants, their credentials, app keys, and the fault knobs.

The knobs are plain fields read on every request, so changing them at run time (PATCH /_sandbox/config or
`SandboxHandle.set`) takes effect on the next call. `update()` checks every change before applying any.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEMO_TENANT_ID = 1234567
DEMO_CLIENT_ID = "cid.referloop-demo"
DEMO_CLIENT_SECRET = "cs.referloop-demo-secret"
DEMO_BOOKING_PROVIDER_ID = 42
DEMO_APP_KEY = "ak1.referloop-sandbox-app-key"

_RATES = ("error_rate", "hang_rate", "drop_after_create_rate", "throttle_rate")
_DURATIONS = ("latency_ms", "jitter_ms", "hang_seconds")
KNOBS = (
    *_RATES,
    *_DURATIONS,
    "rate_limit_per_second",
    "token_lifetime_seconds",
    "seed",
    "app_keys",
    "export_lag_seconds",
    "export_page_size",
)
# ServiceTitan's exports show a change 15 minutes late unless includeRecentChanges=true (crm-v2, API-NOTES §3.6).
EXPORT_LAG_SECONDS = 900.0
# Records per export page: not documented (API-NOTES lists it nowhere); 5000 is what integrators report.
EXPORT_PAGE_SIZE = 5000


@dataclass
class BookingProvider:
    """A Booking Provider Tag: its id is the `{booking_provider}` in booking URLs."""

    id: int
    name: str
    description: str = ""
    created_on: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class TenantConfig:
    tenant_id: int
    client_id: str
    client_secret: str
    booking_providers: list[BookingProvider] = field(default_factory=list)
    # ServiceTitan raises limits per tenant on request; None means the global knob applies.
    rate_limit_per_second: int | None = None

    def provider(self, provider_id: int) -> BookingProvider | None:
        return next((p for p in self.booking_providers if p.id == provider_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "booking_providers": [
                {"id": p.id, "name": p.name, "description": p.description} for p in self.booking_providers
            ],
            "rate_limit_per_second": self.rate_limit_per_second,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TenantConfig:
        """Build from the JSON of POST /_sandbox/tenants; raises ValueError naming the bad field."""
        unknown = set(data) - {
            "tenant_id",
            "client_id",
            "client_secret",
            "booking_providers",
            "rate_limit_per_second",
        }
        if unknown:
            raise ValueError(f"unknown tenant field(s): {', '.join(sorted(unknown))}")
        providers = data.get("booking_providers", [])
        if not isinstance(providers, list):
            raise ValueError("booking_providers must be a list of {id, name, description?}")
        return cls(
            tenant_id=_positive_int(data.get("tenant_id"), "tenant_id"),
            client_id=_text(data.get("client_id"), "client_id"),
            client_secret=_text(data.get("client_secret"), "client_secret"),
            booking_providers=[_provider_from_dict(p) for p in providers],
            rate_limit_per_second=_optional_limit(data.get("rate_limit_per_second"), "rate_limit_per_second"),
        )


@dataclass
class SandboxConfig:
    tenants: list[TenantConfig] = field(default_factory=list)
    app_keys: list[str] = field(default_factory=list)
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0  # share of API calls answered 500/503
    hang_rate: float = 0.0  # share of API calls that wait `hang_seconds` before answering
    hang_seconds: float = 30.0
    drop_after_create_rate: float = 0.0  # share of booking creates stored, then the connection dropped
    # share of API calls answered 429 whatever the window holds: ServiceTitan's gateway throttling in bursts
    throttle_rate: float = 0.0
    rate_limit_per_second: int | None = 60  # per app key per tenant; None disables the limit
    token_lifetime_seconds: float = 900.0
    seed: int | None = None  # seeds the random choices behind the rates and the jitter
    export_lag_seconds: float = EXPORT_LAG_SECONDS  # changes younger than this wait for includeRecentChanges
    export_page_size: int = EXPORT_PAGE_SIZE

    @classmethod
    def demo(cls, **knobs: Any) -> SandboxConfig:
        """The seeded demo tenant; keyword arguments set knobs (checked like `update`)."""
        config = cls(
            tenants=[
                TenantConfig(
                    tenant_id=DEMO_TENANT_ID,
                    client_id=DEMO_CLIENT_ID,
                    client_secret=DEMO_CLIENT_SECRET,
                    booking_providers=[
                        BookingProvider(
                            id=DEMO_BOOKING_PROVIDER_ID, name="referloop", description="referloop referrals"
                        )
                    ],
                )
            ],
            app_keys=[DEMO_APP_KEY],
        )
        config.update(knobs)
        return config

    def tenant(self, tenant_id: int) -> TenantConfig | None:
        return next((t for t in self.tenants if t.tenant_id == tenant_id), None)

    def tenant_for_client(self, client_id: str) -> TenantConfig | None:
        return next((t for t in self.tenants if t.client_id == client_id), None)

    def put_tenant(self, tenant: TenantConfig) -> None:
        """Add the tenant, or replace the one with the same id."""
        self.tenants = [t for t in self.tenants if t.tenant_id != tenant.tenant_id] + [tenant]

    def rate_limit_for(self, tenant: TenantConfig) -> int | None:
        return tenant.rate_limit_per_second or self.rate_limit_per_second

    def knobs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in KNOBS}

    def to_dict(self) -> dict[str, Any]:
        return {**self.knobs(), "tenants": [t.to_dict() for t in self.tenants]}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Set knobs by name; raises ValueError (and changes nothing) if any name or value is wrong."""
        checked = {name: _check_knob(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)


def _check_knob(name: str, value: Any) -> Any:
    if name in _RATES:
        number = _number(value, name)
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
        return number
    if name in _DURATIONS:
        number = _number(value, name)
        if number < 0:
            raise ValueError(f"{name} must not be negative")
        return number
    if name == "export_lag_seconds":
        number = _number(value, name)
        if number < 0:
            raise ValueError(f"{name} must not be negative")
        return number
    if name == "export_page_size":
        return _positive_int(value, name)
    if name == "token_lifetime_seconds":
        number = _number(value, name)
        if number <= 0:
            raise ValueError(f"{name} must be positive")
        return number
    if name == "rate_limit_per_second":
        return _optional_limit(value, name)
    if name == "seed":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError("seed must be an integer or null")
        return value
    if name == "app_keys":
        if not isinstance(value, list) or not all(isinstance(k, str) and k for k in value):
            raise ValueError("app_keys must be a list of non-empty strings")
        return list(value)
    raise ValueError(f"unknown knob {name!r}; known: {', '.join(KNOBS)}")


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer")
    return value


def _optional_limit(value: Any, name: str) -> int | None:
    return None if value is None else _positive_int(value, name)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _provider_from_dict(data: Any) -> BookingProvider:
    if not isinstance(data, Mapping):
        raise ValueError("each booking provider must be an object {id, name, description?}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ValueError("booking provider description must be a string")
    return BookingProvider(
        id=_positive_int(data.get("id"), "booking provider id"),
        name=_text(data.get("name"), "booking provider name"),
        description=description,
    )
