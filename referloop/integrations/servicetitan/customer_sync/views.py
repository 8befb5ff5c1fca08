"""The Referrers tab: ServiceTitan customers as referrers (settings, Start, Stop, progress while it runs).

Owners and admins change it; members see it. The progress panel refreshes itself with htmx while a sync runs.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from referloop.accounts.decorators import account_required
from referloop.accounts.http import AccountRequest
from referloop.integrations.servicetitan.customer_sync.control import AlreadyRunning, SyncForm, start, stop, sync_of
from referloop.integrations.servicetitan.customer_sync.models import SyncState
from referloop.integrations.servicetitan.customer_sync.progress import progress_of
from referloop.integrations.servicetitan.return_fields.panel import return_fields_context
from referloop.integrations.views.common import render_tab, require_manager, scoped_integration

TEMPLATE = "integrations/servicetitan/referrers.html"


@account_required
def referrers_tab(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    sync = sync_of(integration)
    form = SyncForm(instance=sync)
    status = 200
    if request.method == "POST":
        require_manager(request)
        form = SyncForm(request.POST, instance=sync)
        if form.is_valid():
            try:
                start(integration, form, request.user, timezone.now())
            except AlreadyRunning as running:
                messages.error(request, str(running))
            else:
                messages.success(request, "Sync started. The worker reads your ServiceTitan customers now.")
            return redirect("integration_referrers", integration.campaign.pk, provider)
        status = 400
    context: dict[str, object] = {"form": form, "progress": progress_of(sync) if sync is not None else None}
    context.update(return_fields_context(integration))  # Map Return Fields and "When referrer joins campaign"
    return render_tab(request, TEMPLATE, integration.campaign, provider, integration, "referrers", context, status)


@account_required
@require_POST
def referrers_stop(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    require_manager(request)
    if stop(integration, request.user, timezone.now()):
        messages.success(request, "Sync stopped. Referrers already created stay.")
    else:
        messages.info(request, "The sync was not running.")
    return redirect("integration_referrers", integration.campaign.pk, provider)


@account_required
def referrers_progress(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    """htmx: the progress panel alone (it asks again while the sync runs)."""
    integration = scoped_integration(request, campaign_id, provider)
    sync = sync_of(integration)
    context = {
        "campaign": integration.campaign,
        "provider": provider,
        "progress": progress_of(sync) if sync is not None else None,
        "can_manage": request.membership.can_manage,
    }
    response = render(request, "integrations/servicetitan/_sync_progress.html", context)
    if request.headers.get("HX-Request") and (sync is None or sync.state != SyncState.RUNNING):
        # The panel polled while it ran and the run just ended: reload the page once, so the settings form
        # (disabled while running) comes back. A panel that is not running does not poll, so this happens once.
        response["HX-Refresh"] = "true"
    return response
