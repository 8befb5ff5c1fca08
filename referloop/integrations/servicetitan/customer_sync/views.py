"""The Referrers tab: ServiceTitan customers as referrers (settings, Start, Stop, progress while it runs), and the
known-customer contacts copy when the Leads tab asks ServiceTitan about existing customers.

Owners and admins change it; members see it. The progress panel refreshes itself with htmx while a sync runs.
"Customers with a tag" offers the tenant's tag types; its refresh icon posts the form back to read them again,
keeping what was filled in (nothing is saved or started by it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from referloop.accounts.decorators import account_required
from referloop.accounts.http import AccountRequest
from referloop.integrations.models import Integration
from referloop.integrations.servicetitan.customer_sync.control import AlreadyRunning, SyncForm, start, stop, sync_of
from referloop.integrations.servicetitan.customer_sync.copy_health import copy_health
from referloop.integrations.servicetitan.customer_sync.index import fresh_within
from referloop.integrations.servicetitan.customer_sync.keeping import wants_copy
from referloop.integrations.servicetitan.customer_sync.models import SyncState
from referloop.integrations.servicetitan.customer_sync.progress import progress_of
from referloop.integrations.servicetitan.customer_sync.store import poll_interval
from referloop.integrations.servicetitan.pick_lists import TAGS, PickLists, cached_pick_lists, pick_lists
from referloop.integrations.servicetitan.return_fields.panel import return_fields_context
from referloop.integrations.views.common import render_tab, require_manager, scoped_integration

TEMPLATE = "integrations/servicetitan/referrers.html"


@account_required
def referrers_tab(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    sync = sync_of(integration)
    status = 200
    tag_note = ""
    if request.method == "POST" and "refresh_tags" in request.POST:
        require_manager(request)
        tags, tag_note = _refreshed_tags(integration)
        form = SyncForm(instance=sync, initial=_as_filled_in(request), tags=tags)
    elif request.method == "POST":
        require_manager(request)
        form = SyncForm(request.POST, instance=sync, tags=pick_lists(integration, group=TAGS))
        if form.is_valid():
            try:
                start(integration, form, request.user, timezone.now())
            except AlreadyRunning as running:
                messages.error(request, str(running))
            else:
                messages.success(request, "Sync started. The worker reads your ServiceTitan customers now.")
            return redirect("integration_referrers", integration.campaign.pk, provider)
        status = 400
    else:
        form = SyncForm(instance=sync, tags=pick_lists(integration, group=TAGS))
    if not tag_note and form.tags.problem:
        tag_note = f"{form.tags.problem} Type the tag id (a number) meanwhile."
    context: dict[str, object] = {
        "form": form,
        "tag_note": tag_note,
        "progress": progress_of(sync) if sync is not None else None,
        **_contacts_copy_context(integration),
    }
    context.update(return_fields_context(integration))  # Map Return Fields and "When referrer joins campaign"
    return render_tab(request, TEMPLATE, integration.campaign, provider, integration, "referrers", context, status)


def _refreshed_tags(integration: Integration) -> tuple[PickLists, str]:
    """The tag types read again; a failed refresh keeps offering the list read earlier, and says so."""
    before = cached_pick_lists(integration, TAGS)
    tags = pick_lists(integration, refresh=True, group=TAGS)
    if tags.problem and before is not None and before.loaded:
        when = timezone.localtime(before.fetched_at).strftime("%H:%M") if before.fetched_at else "earlier"
        return before, f"Could not refresh: {tags.problem} Showing the list read at {when}."
    return tags, ""


def _as_filled_in(request: AccountRequest) -> dict[str, object]:
    """The settings as the person left them (the refresh icon posts the whole form), shown again unsaved."""
    filled: dict[str, object] = {name: request.POST.get(name) for name in (*SyncForm.Meta.fields, "tag_pick")}
    filled["include_inactive"] = "include_inactive" in request.POST
    return {name: value for name, value in filled.items() if value is not None}


def _contacts_copy_context(integration: Integration) -> dict[str, object]:
    """The known-customer copy's panel: shown while a mapping asks ServiceTitan about existing customers."""
    if not wants_copy(integration):
        return {"show_contacts_copy": False}
    now = timezone.now()
    health = copy_health(integration, now)
    polled = health.copy.polled_at if health else None
    return {
        "show_contacts_copy": True,
        "contacts_copy": health,
        "copy_read_ago": _ago(polled, now) if polled else "",
        "copy_failed_ago": _ago(health.failure.at, now) if health and health.failure else "",
        "copy_every": _minutes(poll_interval()),
        "copy_fresh_for": _minutes(fresh_within()),
    }


def _ago(moment: datetime, now: datetime) -> str:
    return "just now" if now - moment < timedelta(minutes=1) else f"{timesince(moment, now)} ago"


def _minutes(delta: timedelta) -> str:
    minutes = max(round(delta.total_seconds() / 60), 1)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


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
