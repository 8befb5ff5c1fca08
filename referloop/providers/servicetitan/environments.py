"""The ServiceTitan environments a connection can point at.

Client id and secret belong to exactly one environment (and one tenant), so the environment is part of
every credential set and of the token-cache key. Nothing here turns user input into a URL: the Django
side offers PRODUCTION and INTEGRATION by name, and builds `sandbox_environment()` only from its own
setting for the local sandbox (demo, tests, benchmarks), never from a value a customer typed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Environment:
    name: str
    api_base_url: str
    token_url: str


PRODUCTION = Environment(
    name="Production",
    api_base_url="https://api.servicetitan.io",
    token_url="https://auth.servicetitan.io/connect/token",
)

INTEGRATION = Environment(
    name="Integration",
    api_base_url="https://api-integration.servicetitan.io",
    token_url="https://auth-integration.servicetitan.io/connect/token",
)


def sandbox_environment(base_url: str) -> Environment:
    """referloop's local ServiceTitan double, which serves the API and the token endpoint on one host."""
    base = base_url.rstrip("/")
    return Environment(name="Sandbox", api_base_url=base, token_url=f"{base}/connect/token")
