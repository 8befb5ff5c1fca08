"""Connection tab: step one (environment, tenant), Finalize with the live check, Disconnect and Reconnect."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from referloop.accounts.decorators import account_required, manager_required
from referloop.accounts.http import AccountRequest
from referloop.campaigns.models import Campaign
from referloop.integrations import audit
from referloop.integrations.models import ConnectionState, Environment, Integration
from referloop.integrations.servicetitan import outbox
from referloop.integrations.servicetitan.connecting import (
    NON_FIELD,
    cached_token_key,
    disconnect,
    forget_token,
    live_check,
    mark_connected,
)
from referloop.integrations.servicetitan.forms import ENVIRONMENT_HELP, ConnectForm, CredentialsForm
from referloop.integrations.views.common import (
    find_integration,
    render_tab,
    require_manager,
    scoped_campaign,
    scoped_integration,
)

HISTORY_SIZE = 20


@account_required
def integration_home(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    scoped_campaign(request, campaign_id, provider)
    return redirect("integration_connection", campaign_id, provider)


def step_of(integration: Integration | None, wanted: str | None) -> str:
    if integration is None or integration.tenant_id is None or wanted == "connect":
        return "connect"
    if integration.state == ConnectionState.NOT_CONNECTED:
        return "finalize"
    return "connected"


@account_required
def connection(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    campaign = scoped_campaign(request, campaign_id, provider)
    integration = find_integration(campaign, provider)
    step = step_of(integration, request.GET.get("step"))
    connect_form = credentials_form = None
    if step == "connect":
        initial: dict[str, object] = {"environment": Environment.PRODUCTION.value}
        if integration is not None:
            initial = {"environment": integration.environment, "tenant_id": integration.tenant_id}
        connect_form = ConnectForm(initial=initial)
    else:
        assert integration is not None
        credentials_form = CredentialsForm(integration=integration)
    return _render_connection(request, campaign, provider, integration, step, connect_form, credentials_form)


def _render_connection(
    request: AccountRequest,
    campaign: Campaign,
    provider: str,
    integration: Integration | None,
    step: str,
    connect_form: ConnectForm | None = None,
    credentials_form: CredentialsForm | None = None,
    status: int = 200,
    secret_error: bool = False,
    environment_error: bool = False,
) -> HttpResponse:
    history = integration.changes.select_related("user")[:HISTORY_SIZE] if integration else []
    return render_tab(
        request,
        "integrations/servicetitan/connection.html",
        campaign,
        provider,
        integration,
        "connection",
        {
            "step": step,
            "connect_form": connect_form,
            "form": credentials_form,
            "environment_help": ENVIRONMENT_HELP,
            "history": history,
            "secret_error": secret_error,
            "environment_error": environment_error,
            "hold_reason": outbox.hold_reason(integration) if integration else None,
            "held_count": integration.deliveries.filter(state="held").count() if integration else 0,
        },
        status=status,
    )


@manager_required
@require_POST
def connect_step(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    """Step one: environment and tenant. Changing them on a live connection means finalizing again."""
    campaign = scoped_campaign(request, campaign_id, provider)
    integration = find_integration(campaign, provider)
    form = ConnectForm(request.POST)
    if not form.is_valid():
        return _render_connection(request, campaign, provider, integration, "connect", connect_form=form, status=400)
    environment, tenant_id = form.cleaned_data["environment"], form.cleaned_data["tenant_id"]
    label = Environment(environment).label
    with transaction.atomic():
        if integration is None:
            integration, _ = Integration.objects.get_or_create(campaign=campaign, provider=provider)
        if integration.environment != environment or integration.tenant_id != tenant_id:
            was_live = integration.state != ConnectionState.NOT_CONNECTED
            forget_token(integration)
            integration.environment, integration.tenant_id = environment, tenant_id
            if was_live:
                integration.state = ConnectionState.NOT_CONNECTED
            integration.save()
            summary = f"Set the environment to {label} and the tenant ID to {tenant_id}."
            if was_live:
                summary += " The connection must be finalized again; new leads are held until then."
            audit.record(integration, request.user, summary)
            if was_live:
                outbox.hold_pending(integration, outbox.hold_reason(integration) or "ServiceTitan is not connected.")
    return redirect("integration_connection", campaign.pk, provider)


@manager_required
@require_POST
def finalize(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    """Finalize, edit or reconnect: the live check decides; only a passing check makes it Connected."""
    integration = scoped_integration(request, campaign_id, provider)
    campaign = integration.campaign
    if integration.tenant_id is None:
        return redirect("integration_connection", campaign.pk, provider)
    step = step_of(integration, None)
    form = CredentialsForm(request.POST, integration=integration)
    if not form.is_valid():
        return _render_connection(
            request,
            campaign,
            provider,
            integration,
            step,
            credentials_form=form,
            status=400,
            secret_error="client_secret" in form.errors,
        )
    candidate = Integration.objects.select_related("campaign").get(pk=integration.pk)
    secret, changes = form.apply(candidate)
    result = live_check(candidate, secret)
    if result.ok:
        # The check fetched a fresh token for the new values (dropping any cached one); the old values' goes too.
        old_key = cached_token_key(integration)
        if secret is not None:
            candidate.client_secret = secret
        if old_key is not None and old_key != cached_token_key(candidate):
            forget_token(integration)
        where = f"{candidate.get_environment_display()}, tenant {candidate.tenant_id}"
        where += f", booking provider {candidate.booking_provider_id}"
        if integration.state == ConnectionState.NOT_CONNECTED:
            summary = f"Connected ServiceTitan ({where}); the live check passed."
        elif integration.state == ConnectionState.CONNECTED:
            summary = f"Updated the connection ({', '.join(changes) or 'no changes'}); the live check passed."
        else:
            summary = f"Reconnected ServiceTitan ({where}); the live check passed."
            if changes:
                summary += f" Changed: {', '.join(changes)}."
        released = mark_connected(candidate, request.user, summary)
        found = f" Booking provider “{result.booking_provider_name}” found." if result.booking_provider_name else ""
        sent = f" {released} held lead{'s are' if released != 1 else ' is'} being sent now." if released else ""
        messages.success(request, f"ServiceTitan is connected.{found}{sent}")
        return redirect("integration_connection", campaign.pk, provider)

    if integration.state == ConnectionState.NOT_CONNECTED:
        # Nothing is sent before Finalize passes, so keep what was typed: the next try needs no retyping.
        if secret is not None:
            candidate.client_secret = secret
        candidate.save()
        audit.record(candidate, request.user, f"Finalize check failed: {result.summary()}")
        integration = candidate
        form.has_stored_secret = bool(candidate.client_secret_encrypted)
    for name, sentences in result.errors.items():
        for sentence in sentences:
            form.add_error(name if name in form.fields and name != NON_FIELD else None, sentence)
    return _render_connection(
        request,
        campaign,
        provider,
        integration,
        step,
        credentials_form=form,
        status=400,
        secret_error="client_secret" in result.errors,
        environment_error="environment" in result.errors,
    )


@account_required
def disconnect_view(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    """GET asks for confirmation; POST disconnects."""
    integration = scoped_integration(request, campaign_id, provider)
    campaign = integration.campaign
    if integration.state not in (ConnectionState.CONNECTED, ConnectionState.CREDENTIALS_REJECTED):
        return redirect("integration_connection", campaign.pk, provider)
    if request.method == "POST":
        require_manager(request)
        held = disconnect(integration, request.user)
        extra = f" {held} waiting lead{'s were' if held != 1 else ' was'} held too." if held else ""
        messages.success(request, f"ServiceTitan is disconnected. New leads are held until you reconnect.{extra}")
        return redirect("integration_connection", campaign.pk, provider)
    return render_tab(
        request, "integrations/servicetitan/disconnect.html", campaign, provider, integration, "connection"
    )
