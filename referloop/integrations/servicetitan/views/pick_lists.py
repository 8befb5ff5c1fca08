"""The refresh icon beside a Job Type, Business Unit or Campaign select: read ServiceTitan's lists again."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from referloop.accounts.decorators import account_required
from referloop.accounts.http import AccountRequest
from referloop.integrations.records import custom_fields_of
from referloop.integrations.servicetitan.mapping_form import Row, default_data_type, source_groups
from referloop.integrations.servicetitan.pick_lists import cached_pick_lists, pick_lists, show_lists
from referloop.integrations.views.common import scoped_integration
from referloop.providers.servicetitan.fields import FIELDS_BY_KEY


@account_required
@require_POST
def refresh(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    """htmx: the row again, with fresh choices and what the person had typed in it; else back to the tab."""
    integration = scoped_integration(request, campaign_id, provider)
    before = cached_pick_lists(integration)
    lists = pick_lists(integration, refresh=True)
    if lists.problem and before is not None and before.loaded:
        # Keep offering the list read earlier (it is still in the cache) and say the refresh failed.
        when = timezone.localtime(before.fetched_at).strftime("%H:%M") if before.fetched_at else "earlier"
        note = f"Could not refresh: {lists.problem} Showing the list read at {when}."
        lists = before
    else:
        note = ""
    if request.headers.get("HX-Request") != "true":
        if note or lists.problem:
            messages.warning(request, note or lists.problem)
        else:
            messages.success(request, "ServiceTitan's job types, business units and campaigns were read again.")
        return redirect("integration_leads", campaign_id, provider)
    target = FIELDS_BY_KEY.get(request.POST.get("key", ""))
    if target is None or not target.pick_list:
        raise Http404("No such ServiceTitan list.")
    key = target.key
    row = Row(
        target,
        request.POST.get(f"{key}__type", default_data_type(target)),
        dynamic=request.POST.get(f"{key}__dynamic", ""),
        fixed=request.POST.get(f"{key}__fixed", ""),
        manual=request.POST.get(f"{key}__manual", ""),
    )
    show_lists([row], lists)
    if note:
        row.pick_note = note
    context = {
        "row": row,
        "groups": source_groups(custom_fields_of(integration.campaign)),
        "can_manage": request.membership.can_manage,
        "campaign": integration.campaign,
        "provider": provider,
    }
    return render(request, "integrations/servicetitan/_mapping_row.html", context)
