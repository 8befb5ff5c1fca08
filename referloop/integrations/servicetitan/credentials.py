"""From an Integration row to the connector's Credentials: the one place that picks ServiceTitan's hosts."""

from __future__ import annotations

import dataclasses

import httpx
from django.conf import settings

from referloop.integrations.models import Environment as EnvironmentChoice
from referloop.integrations.models import Integration
from referloop.providers.servicetitan import (
    INTEGRATION,
    PRODUCTION,
    Credentials,
    Environment,
    ServiceTitanClient,
    ServiceTitanError,
    TokenCache,
    sandbox_environment,
)


class EnvironmentNotAllowed(ValueError):
    pass


def environment_for(name: str) -> Environment:
    """ServiceTitan's own hosts by name; the local sandbox only when the deployment allows it."""
    allow_sandbox = settings.SERVICETITAN_ALLOW_SANDBOX
    override = settings.SERVICETITAN_ENVIRONMENT_OVERRIDES.get(name) if allow_sandbox else None
    if name == EnvironmentChoice.PRODUCTION:
        return _renamed(sandbox_environment(override), PRODUCTION.name) if override else PRODUCTION
    if name == EnvironmentChoice.INTEGRATION:
        return _renamed(sandbox_environment(override), INTEGRATION.name) if override else INTEGRATION
    if name == EnvironmentChoice.SANDBOX and allow_sandbox:
        return sandbox_environment(settings.SERVICETITAN_SANDBOX_URL)
    raise EnvironmentNotAllowed(f"The {name!r} environment is not available on this deployment.")


def _renamed(environment: Environment, name: str) -> Environment:
    return Environment(name=name, api_base_url=environment.api_base_url, token_url=environment.token_url)


def environment_choices() -> list[tuple[str, str]]:
    choices = [(EnvironmentChoice.PRODUCTION.value, "Production"), (EnvironmentChoice.INTEGRATION.value, "Integration")]
    if settings.SERVICETITAN_ALLOW_SANDBOX:
        choices.append((EnvironmentChoice.SANDBOX.value, "Sandbox (referloop's local ServiceTitan)"))
    return choices


def credentials_for(integration: Integration, client_secret: str | None = None) -> Credentials:
    """The integration's credentials; `client_secret` lets a form check a new secret before it is stored."""
    if integration.tenant_id is None:
        raise ValueError("the integration has no tenant id")
    return Credentials(
        environment=environment_for(integration.environment),
        tenant_id=integration.tenant_id,
        client_id=integration.client_id,
        client_secret=integration.client_secret if client_secret is None else client_secret,
        app_key=integration.app_key,
    )


OTHER_ENVIRONMENT = {
    EnvironmentChoice.PRODUCTION: EnvironmentChoice.INTEGRATION,
    EnvironmentChoice.INTEGRATION: EnvironmentChoice.PRODUCTION,
}


def other_environment_accepting(
    integration: Integration, credentials: Credentials, timeout: httpx.Timeout
) -> EnvironmentChoice | None:
    """The other ServiceTitan environment, if it accepts these rejected credentials: Production credentials
    typed into an Integration connection (or the reverse) are a common mix-up."""
    other = OTHER_ENVIRONMENT.get(EnvironmentChoice(integration.environment))
    if other is None:
        return None
    try:
        probe = dataclasses.replace(credentials, environment=environment_for(other))
    except EnvironmentNotAllowed:
        return None
    # A private cache: a token for the wrong environment must not serve anything later.
    with ServiceTitanClient(probe, timeout=timeout, token_cache=TokenCache()) as client:
        try:
            client.fetch_token()
        except ServiceTitanError:
            return None
    return other
