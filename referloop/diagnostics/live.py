"""The checks that ask ServiceTitan: credentials (and whether they belong to the other environment), the App Key,
and the Booking Provider Value.

Three calls at most: a token, a token from the other environment when the first is refused, and one cheap
authenticated read (the booking provider tag). Short timeouts, a private token cache (a probe never replaces
the token the worker uses), and no exception escapes: each failure is a result with the cause and the fix.
"""

from __future__ import annotations

import logging

import httpx

from referloop.diagnostics import fixes
from referloop.diagnostics.result import CheckResult, Status
from referloop.integrations.models import ConnectionState, Environment, Integration
from referloop.integrations.servicetitan.credentials import (
    EnvironmentNotAllowed,
    credentials_for,
    environment_for,
    other_environment_accepting,
)
from referloop.providers.servicetitan import (
    AmbiguousError,
    BookingProviderTag,
    Credentials,
    CredentialsRejected,
    ServiceTitanClient,
    ServiceTitanError,
    TokenCache,
    TransientError,
)

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = httpx.Timeout(connect=3.0, read=6.0, write=4.0, pool=3.0)
API_ACCESS = "Settings → Integrations → API Application Access"

CREDENTIALS = ("credentials", "Credentials")
APP_KEY = ("app_key", "App Key")
BOOKING_PROVIDER = ("booking_provider", "Booking Provider Value")


def _client(credentials: Credentials) -> ServiceTitanClient:
    return ServiceTitanClient(credentials, timeout=PROBE_TIMEOUT, token_cache=TokenCache())


def not_run() -> list[CheckResult]:
    sentence = "Not checked yet: this check asks ServiceTitan. Click Run checks."
    return [_skipped(spec, sentence) for spec in (CREDENTIALS, APP_KEY, BOOKING_PROVIDER)]


def live_checks(integration: Integration) -> list[CheckResult]:
    try:
        return _live_checks(integration)
    except Exception as exc:  # never take the page or the command down
        logger.exception("live diagnostic checks failed for integration %s", integration.pk)
        sentence = f"The ServiceTitan checks could not run: {type(exc).__name__}: {exc}"
        fix = "Run the checks again; if this stays, send a support bundle to referloop support."
        return [
            CheckResult(key, title, Status.PROBLEM if key == CREDENTIALS[0] else Status.SKIPPED, sentence, fix=fix)
            for key, title in (CREDENTIALS, APP_KEY, BOOKING_PROVIDER)
        ]


def _skipped(spec: tuple[str, str], why: str) -> CheckResult:
    return CheckResult(spec[0], spec[1], Status.SKIPPED, why)


def _live_checks(integration: Integration) -> list[CheckResult]:
    connection_tab = fixes.tab_link(integration, fixes.CONNECTION)
    after_credentials = "Skipped: it needs working credentials first (see Credentials)."
    missing = _missing_connection_details(integration)
    if missing:
        return [
            CheckResult(
                *CREDENTIALS,
                Status.PROBLEM,
                f"ServiceTitan is not connected yet: the {missing} {'is' if ' and ' not in missing else 'are'} "
                "missing, so leads are held.",
                fix="On the Connection tab, finish Connect and Finalize (Tenant ID, Client ID and Client Secret).",
            ).link_to(connection_tab),
            _skipped(APP_KEY, after_credentials),
            _skipped(BOOKING_PROVIDER, after_credentials),
        ]
    try:
        credentials = credentials_for(integration)
    except EnvironmentNotAllowed as exc:
        return [
            CheckResult(
                *CREDENTIALS,
                Status.PROBLEM,
                str(exc),
                fix="On the Connection tab, choose Production or Integration in step one.",
            ).link_to(connection_tab),
            _skipped(APP_KEY, after_credentials),
            _skipped(BOOKING_PROVIDER, after_credentials),
        ]
    except ValueError:
        return [
            CheckResult(
                *CREDENTIALS,
                Status.PROBLEM,
                "The stored Client Secret (or own App Key) can't be decrypted with this server's key: "
                "REFERLOOP_SECRET_KEY or REFERLOOP_FIELD_ENCRYPTION_KEY changed since it was saved.",
                fix="On the Connection tab, paste the Client Secret (and own App Key, if any) again and save.",
            ).link_to(connection_tab),
            _skipped(APP_KEY, after_credentials),
            _skipped(BOOKING_PROVIDER, after_credentials),
        ]
    with _client(credentials) as client:
        credentials_result = _check_token(integration, credentials, client)
        if credentials_result.status == Status.PROBLEM:
            return [
                credentials_result,
                _skipped(APP_KEY, after_credentials),
                _skipped(BOOKING_PROVIDER, after_credentials),
            ]
        app_key_result, provider_result = _check_app_and_provider(integration, client)
    return [credentials_result, app_key_result, provider_result]


def _missing_connection_details(integration: Integration) -> str:
    missing = []
    if integration.tenant_id is None:
        missing.append("Tenant ID")
    if not integration.client_id:
        missing.append("Client ID")
    if not integration.client_secret_encrypted:
        missing.append("Client Secret")
    if len(missing) > 1:
        return ", ".join(missing[:-1]) + " and " + missing[-1]
    return "".join(missing)


def _check_token(integration: Integration, credentials: Credentials, client: ServiceTitanClient) -> CheckResult:
    env = integration.get_environment_display()
    tenant = integration.tenant_id
    connection_tab = fixes.tab_link(integration, fixes.CONNECTION)
    try:
        client.fetch_token()
    except CredentialsRejected as exc:
        other = other_environment_accepting(integration, credentials, PROBE_TIMEOUT)
        if other is not None:
            return CheckResult(
                *CREDENTIALS,
                Status.PROBLEM,
                f"These credentials belong to the {other.label} environment, this integration is set to {env}.",
                fix=(
                    f"On the Connection tab, choose {other.label} in step one; or, to stay on {env}, generate a "
                    f"Client ID and Secret for tenant {tenant} in {env} ({API_ACCESS}) and paste both."
                ),
                data={"environment": integration.environment, "accepted_by": other.value},
            ).link_to(connection_tab)
        return CheckResult(
            *CREDENTIALS,
            Status.PROBLEM,
            f"ServiceTitan rejected the Client ID and Client Secret for tenant {tenant} in {env}.",
            fix=(
                f"In ServiceTitan open {API_ACCESS}, open the referloop app, copy the Client ID again and generate a "
                "new Client Secret; then paste both on the Connection tab (Reconnect). The secret may have been "
                "mistyped or regenerated since, or belong to another tenant."
            ),
            data={"servicetitan_text": exc.servicetitan_text or ""},
        ).link_to(connection_tab)
    except ServiceTitanError as exc:
        return _unreachable(CREDENTIALS, exc, integration)
    if integration.state == ConnectionState.DISCONNECTED:
        return CheckResult(
            *CREDENTIALS,
            Status.WARNING,
            f"The credentials work (ServiceTitan issued a token for tenant {tenant} in {env}), but the integration "
            "is disconnected, so new leads are held.",
            fix="On the Connection tab, click Reconnect to send held leads.",
        ).link_to(connection_tab)
    if integration.state in (ConnectionState.CREDENTIALS_REJECTED, ConnectionState.NOT_CONNECTED):
        return CheckResult(
            *CREDENTIALS,
            Status.WARNING,
            f"The credentials work now (ServiceTitan issued a token for tenant {tenant} in {env}), but the "
            f"integration is still marked “{integration.get_state_display()}”, so leads are held.",
            fix="On the Connection tab, click Reconnect (or Finalize) to mark it Connected and send held leads.",
        ).link_to(connection_tab)
    return CheckResult(
        *CREDENTIALS,
        Status.OK,
        f"ServiceTitan issued a token for tenant {tenant} in {env} with this Client ID and Client Secret.",
    )


def _check_app_and_provider(integration: Integration, client: ServiceTitanClient) -> tuple[CheckResult, CheckResult]:
    """One authenticated read answers both: 401 after a fresh token → App Key; 404 → Booking Provider Value."""
    tenant = integration.tenant_id
    env = integration.get_environment_display()
    provider_id = integration.booking_provider_id
    connection_tab = fixes.tab_link(integration, fixes.CONNECTION)
    app_name = "your own app's App Key" if integration.own_app_key else "referloop's app"
    tag: BookingProviderTag | None = None
    try:
        if provider_id is None:
            client.list_booking_provider_tags()
        else:
            tag = client.get_booking_provider_tag(provider_id)
    except CredentialsRejected as exc:
        return _app_key_rejected(integration, exc), _skipped(
            BOOKING_PROVIDER, "Skipped: it needs the App Key to be accepted first (see App Key)."
        )
    except (TransientError, AmbiguousError) as exc:
        return _unreachable(APP_KEY, exc, integration), _skipped(
            BOOKING_PROVIDER, "Skipped: ServiceTitan did not answer the App Key check."
        )
    except ServiceTitanError as exc:
        app_ok = CheckResult(*APP_KEY, Status.OK, f"ServiceTitan accepted {app_name} for tenant {tenant}.")
        if exc.status == 404 and provider_id is not None:
            return app_ok, CheckResult(
                *BOOKING_PROVIDER,
                Status.PROBLEM,
                f"Booking Provider Value {provider_id} was not found for tenant {tenant} in {env}.",
                fix=(
                    f"In ServiceTitan open {API_ACCESS}, open the referloop app and copy its Allowed "
                    "“booking_provider” value exactly (it is a number); then enter it on the Connection tab."
                ),
                data={"booking_provider_id": provider_id, "servicetitan_text": exc.servicetitan_text or ""},
            ).link_to(connection_tab)
        return app_ok, CheckResult(
            *BOOKING_PROVIDER,
            Status.PROBLEM,
            exc.message,
            fix=f"In ServiceTitan open {API_ACCESS} and check the referloop app's access (Upgrade to New Version if "
            "offered) and its Allowed “booking_provider” value.",
            data={"status": exc.status, "servicetitan_text": exc.servicetitan_text or ""},
        ).link_to(connection_tab)
    app_ok = CheckResult(*APP_KEY, Status.OK, f"ServiceTitan accepted {app_name} for tenant {tenant}.")
    if provider_id is None:
        return app_ok, CheckResult(
            *BOOKING_PROVIDER,
            Status.PROBLEM,
            "No Booking Provider Value is set, so bookings have nowhere to go.",
            fix=(
                f"In ServiceTitan open {API_ACCESS}, open the referloop app and copy its Allowed “booking_provider” "
                "value; enter it on the Connection tab."
            ),
        ).link_to(connection_tab)
    tag_name = tag.tag_name if tag is not None else None
    name = f" (“{tag_name}”)" if tag_name else ""
    return app_ok, CheckResult(
        *BOOKING_PROVIDER,
        Status.OK,
        f"Booking Provider Value {provider_id}{name} exists for tenant {tenant} in {env}.",
        data={"booking_provider_id": provider_id, "name": tag_name or ""},
    )


def _app_key_rejected(integration: Integration, exc: ServiceTitanError) -> CheckResult:
    tenant = integration.tenant_id
    said = f" ServiceTitan said: {exc.servicetitan_text}." if exc.servicetitan_text else ""
    if integration.own_app_key:
        return CheckResult(
            *APP_KEY,
            Status.PROBLEM,
            "ServiceTitan accepted the Client ID and Secret but rejected the App Key of your own app (set under "
            f"Advanced).{said}",
            fix=(
                "On the Connection tab under Advanced, paste the App Key of your own app from the ServiceTitan "
                "Developer Portal (it starts with ak1.), or clear it to use referloop's app."
            ),
            data={"own_app_key": True},
        ).link_to(fixes.tab_link(integration, fixes.CONNECTION))
    return CheckResult(
        *APP_KEY,
        Status.PROBLEM,
        f"ServiceTitan accepted the Client ID and Secret but rejected referloop's app for tenant {tenant}.{said}",
        fix=(
            f"In ServiceTitan open {API_ACCESS} and connect the referloop app (Connect New App). If it is connected, "
            "the server's REFERLOOP_SERVICETITAN_APP_KEY is wrong: ask the referloop operator to fix it."
        ),
        data={"own_app_key": False},
    ).link_to(fixes.tab_link(integration, fixes.CONNECTION))


def _unreachable(spec: tuple[str, str], exc: ServiceTitanError, integration: Integration) -> CheckResult:
    if integration.environment == Environment.SANDBOX:
        fix = (
            f"Start referloop's local ServiceTitan with `referloop sandbox` (this server expects it at "
            f"{_host(integration)}), then run the checks again."
        )
    else:
        fix = (
            "Run the checks again in a minute. If it keeps failing, check that this server can reach "
            f"{_host(integration)} (firewall, proxy, DNS)."
        )
    return CheckResult(
        *spec, Status.PROBLEM, f"Could not check with ServiceTitan: {exc.message}", fix=fix, data={"status": exc.status}
    )


def _host(integration: Integration) -> str:
    try:
        url = httpx.URL(environment_for(integration.environment).token_url)
    except (EnvironmentNotAllowed, httpx.InvalidURL):
        return "ServiceTitan"
    return f"{url.host}:{url.port}" if url.port else url.host
