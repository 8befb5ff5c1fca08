"""Connect, Finalize, Disconnect and Reconnect: the live check of credentials and the state changes around it.

The check talks to ServiceTitan before anything is marked Connected, so a wrong secret, credentials from the
other environment or a wrong Booking Provider Value are reported while the person is still on the form, each
with the cause and the fix, instead of surfacing later as leads that silently never arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from django.db import transaction
from django.utils import timezone

from referloop.accounts.models import User
from referloop.integrations import audit
from referloop.integrations.models import ConnectionState, Integration
from referloop.integrations.servicetitan import outbox
from referloop.integrations.servicetitan.credentials import (
    EnvironmentNotAllowed,
    credentials_for,
    other_environment_accepting,
)
from referloop.integrations.servicetitan.readiness import readiness
from referloop.providers.servicetitan import (
    TOKEN_CACHE,
    AmbiguousError,
    Credentials,
    CredentialsRejected,
    ServiceTitanClient,
    ServiceTitanError,
    TokenKey,
    TransientError,
    default_mapping,
    token_key,
)

# A person is waiting on the form: give up sooner than the worker would.
CHECK_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
API_ACCESS = "Settings → Integrations → API Application Access"
NON_FIELD = "__all__"


@dataclass
class CheckResult:
    """Errors by form field name (NON_FIELD for the form as a whole); empty means the check passed."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    booking_provider_name: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, name: str, sentence: str) -> None:
        self.errors.setdefault(name, []).append(sentence)

    def summary(self) -> str:
        return " ".join(sentence for sentences in self.errors.values() for sentence in sentences)


def live_check(integration: Integration, client_secret: str | None = None) -> CheckResult:
    """Fetch a token, then look the Booking Provider Value up, with the integration's (unsaved) values.

    `client_secret` checks a newly typed secret; None reuses the stored one.
    """
    result = CheckResult()
    try:
        credentials = credentials_for(integration, client_secret)
    except EnvironmentNotAllowed as exc:
        result.add("environment", f"{exc} Choose Production or Integration in step one.")
        return result
    env = integration.get_environment_display()
    with ServiceTitanClient(credentials, timeout=CHECK_TIMEOUT) as client:
        try:
            client.fetch_token()
        except CredentialsRejected:
            _explain_rejected_credentials(integration, credentials, result)
            return result
        except ServiceTitanError as exc:
            result.add(NON_FIELD, _unreachable(exc))
            return result
        provider_id = integration.booking_provider_id
        if provider_id is None:
            result.add("booking_provider_id", "Enter the Booking Provider Value.")
            return result
        try:
            tag = client.get_booking_provider_tag(provider_id)
        except CredentialsRejected as exc:
            _explain_rejected_app(integration, exc, result)
        except (TransientError, AmbiguousError) as exc:
            result.add(NON_FIELD, _unreachable(exc))
        except ServiceTitanError as exc:
            if exc.status == 404:
                result.add(
                    "booking_provider_id",
                    f"Booking Provider Value {provider_id} was not found for tenant {integration.tenant_id} in "
                    f"{env}. Fix: in ServiceTitan open {API_ACCESS}, open the referloop app and copy its "
                    "Allowed “booking_provider” value exactly (it is a number).",
                )
            else:
                result.add(NON_FIELD, exc.message)
        else:
            result.booking_provider_name = tag.tag_name or ""
    return result


def _explain_rejected_credentials(integration: Integration, credentials: Credentials, result: CheckResult) -> None:
    env = integration.get_environment_display()
    other = other_environment_accepting(integration, credentials, CHECK_TIMEOUT)
    if other is not None:
        result.add(
            "environment",
            f"These credentials belong to the {other.label} environment, but this integration is set to {env}. "
            f"Fix: choose {other.label} in step one, or generate a Client ID and Secret for tenant "
            f"{integration.tenant_id} in {env}.",
        )
        return
    result.add(
        "client_secret",
        f"ServiceTitan rejected the Client ID and Client Secret for tenant {integration.tenant_id} in {env}. "
        "Cause: the secret was mistyped or regenerated since, or the pair belongs to another tenant. "
        f"Fix: in ServiceTitan open {API_ACCESS}, open the referloop app, copy the Client ID again and "
        "generate a new Client Secret, then paste both here.",
    )


def _explain_rejected_app(integration: Integration, exc: ServiceTitanError, result: CheckResult) -> None:
    if integration.own_app_key:
        result.add(
            "app_key",
            "ServiceTitan accepted the Client ID and Secret but refused the App Key. Fix: paste the App Key of "
            "your own app from the ServiceTitan Developer Portal, or remove it to use referloop's app.",
        )
    else:
        result.add(
            NON_FIELD,
            f"ServiceTitan accepted the Client ID and Secret but refused referloop's app for tenant "
            f"{integration.tenant_id}. Fix: in ServiceTitan open {API_ACCESS} and connect the referloop app "
            f"(Connect New App), then try again. ServiceTitan said: {exc.servicetitan_text or exc.message}",
        )


def _unreachable(exc: ServiceTitanError) -> str:
    return f"{exc.message} Nothing was changed; try the check again in a minute."


def cached_token_key(integration: Integration) -> TokenKey | None:
    """The token-cache key of the integration's stored credentials, or None when it has none."""
    if integration.tenant_id is None or not integration.client_secret_encrypted:
        return None
    try:
        return token_key(credentials_for(integration))
    except (EnvironmentNotAllowed, ValueError):
        return None


def forget_token(integration: Integration) -> None:
    """Drop the process's cached token for the integration's stored credentials (if it has any)."""
    key = cached_token_key(integration)
    if key is not None:
        TOKEN_CACHE.invalidate(key)


@transaction.atomic
def mark_connected(integration: Integration, user: User | None, summary: str) -> int:
    """Save a checked integration as Connected; defaults on first connect; held leads go out. Returns the count."""
    was = integration.state
    integration.state = ConnectionState.CONNECTED
    integration.connected_at = timezone.now()
    if was == ConnectionState.CREDENTIALS_REJECTED:
        integration.needs_attention = False
        integration.attention_reason = ""
    first_connect = not integration.field_mapping
    if first_connect:
        integration.set_mapping(default_mapping())
    integration.save()
    audit.record(integration, user, summary)
    if first_connect:
        audit.record(integration, user, "Pre-filled the field mapping with the defaults.")
    return outbox.release_held(integration)


@transaction.atomic
def disconnect(integration: Integration, user: User | None) -> int:
    """Stop sending, keep configuration and history; new and due leads are held. Returns how many were held."""
    forget_token(integration)
    integration.state = ConnectionState.DISCONNECTED
    integration.save(update_fields=["state", "updated_at"])
    audit.record(integration, user, "Disconnected ServiceTitan; new leads are held until it is reconnected.")
    return outbox.hold_pending(integration, readiness(integration).hold_reason)
