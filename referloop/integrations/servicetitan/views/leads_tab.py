"""Leads tab: "When lead joins campaign", Map your fields with Setup Required, and the booking preview."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from referloop.accounts.decorators import account_required
from referloop.accounts.http import AccountRequest
from referloop.integrations.models import Integration, LeadAction
from referloop.integrations.records import custom_fields_of
from referloop.integrations.servicetitan.lead_setup import save_lead_setup
from referloop.integrations.servicetitan.mapping_form import (
    LEAD_ACTION,
    Row,
    Submission,
    addable_fields,
    check,
    read_submission,
    row_for,
    rows_for,
    source_groups,
)
from referloop.integrations.servicetitan.pick_lists import (
    PickLists,
    cached_pick_lists,
    needs_lists,
    pick_lists,
    show_lists,
)
from referloop.integrations.servicetitan.preview import preview_for
from referloop.integrations.servicetitan.qualification_setup import QualificationForm, save_qualification
from referloop.integrations.servicetitan.readiness import readiness
from referloop.integrations.views.common import render_tab, require_manager, scoped_integration
from referloop.providers.mapping import FieldMapping
from referloop.providers.servicetitan.fields import FIELDS_BY_KEY


def _mapping_context(
    integration: Integration, lead_action: str, rows: list[Row], *, live: bool = True
) -> dict[str, Any]:
    """The table as typed (saved or not): Setup Required names what the readiness rule finds missing in it.

    `live` may read ServiceTitan's pick lists (bounded, then cached); the htmx re-check uses the cache only."""
    mapping: dict[str, FieldMapping] = {row.field.key: row.as_mapping() for row in rows if row.value.strip()}
    problems = {row.field.key: row.error for row in rows if row.error}
    if not needs_lists(rows):
        lists = PickLists()
    elif live:
        lists = pick_lists(integration)
    else:
        lists = cached_pick_lists(integration) or PickLists()
    return {
        "pick_problems": show_lists(rows, lists),
        "lead_action": lead_action,
        "lead_actions": LeadAction.choices,
        "rows": rows,
        "addable": addable_fields(rows),
        "groups": source_groups(custom_fields_of(integration.campaign)),
        "missing": readiness(integration, mapping=mapping).unmapped,
        "problem_count": len(problems),
        "preview": preview_for(integration, mapping),
        "hold_reason": readiness(integration).hold_reason,
        "qualification_form": QualificationForm(instance=integration),
    }


def _stored_rows(integration: Integration) -> list[Row]:
    """The saved table, with the problems of a stored mapping shown too (a removed custom field, say)."""
    submission = Submission(integration.lead_action, rows_for(integration.mapping()))
    return check(submission, custom_fields_of(integration.campaign)).rows


@account_required
def leads_tab(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    campaign = integration.campaign
    if request.method != "POST":
        context = _mapping_context(integration, integration.lead_action, _stored_rows(integration))
        return render_tab(
            request, "integrations/servicetitan/leads.html", campaign, provider, integration, "leads", context
        )

    require_manager(request)
    submission = read_submission(request.POST, custom_fields_of(campaign))
    if submission.errors:
        context = _mapping_context(integration, submission.lead_action, submission.rows)
        context["errors"] = submission.errors
        context["lead_action_error"] = submission.errors.get(LEAD_ACTION, "")
        context["dirty"] = True
        return render_tab(
            request,
            "integrations/servicetitan/leads.html",
            campaign,
            provider,
            integration,
            "leads",
            context,
            status=400,
        )
    released = save_lead_setup(integration, request.user, submission)
    ready = readiness(integration)
    if ready.setup_reason:
        messages.warning(request, f"Changes saved. {ready.setup_reason}")
    elif released:
        messages.success(
            request, f"Changes saved. {released} held lead{'s are' if released != 1 else ' is'} being sent now."
        )
    else:
        messages.success(request, "Changes saved.")
    return redirect("integration_leads", campaign.pk, provider)


@account_required
@require_POST
def qualification_rules(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    """Qualification Rules' own Save Changes (a form of its own below Map your fields)."""
    integration = scoped_integration(request, campaign_id, provider)
    require_manager(request)
    form = QualificationForm(request.POST, instance=integration)
    if not form.is_valid():
        context = _mapping_context(integration, integration.lead_action, _stored_rows(integration))
        context["qualification_form"] = form
        return render_tab(
            request,
            "integrations/servicetitan/leads.html",
            integration.campaign,
            provider,
            integration,
            "leads",
            context,
            status=400,
        )
    qualified = save_qualification(form, request.user)
    leads = f"{qualified} lead{'s' if qualified != 1 else ''}"
    note = f" {leads} already met the rule and qualified." if qualified else ""
    messages.success(request, f"Qualification Rules saved.{note}")
    return redirect(reverse("integration_leads", args=[integration.campaign.pk, provider]) + "#qualification-title")


@account_required
@require_POST
def leads_check(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    """htmx: the Setup Required banner, each row's problem and the preview, for the unsaved table."""
    integration = scoped_integration(request, campaign_id, provider)
    submission = read_submission(request.POST, custom_fields_of(integration.campaign))
    context = _mapping_context(integration, submission.lead_action, submission.rows, live=False)
    context.update({"campaign": integration.campaign, "integration": integration, "provider": provider})
    return render(request, "integrations/servicetitan/_mapping_check.html", context)


@account_required
def mapping_row(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    """htmx: one new row for "+ Add more fields"."""
    integration = scoped_integration(request, campaign_id, provider)
    target = FIELDS_BY_KEY.get(request.GET.get("key", ""))
    if target is None:
        raise Http404("No such ServiceTitan field.")
    row = row_for(target)
    if target.pick_list:
        show_lists([row], pick_lists(integration))
    context = {
        "row": row,
        "groups": source_groups(custom_fields_of(integration.campaign)),
        "new_row": True,
        "can_manage": request.membership.can_manage,
        "campaign": integration.campaign,
        "provider": provider,
    }
    return render(request, "integrations/servicetitan/_mapping_row.html", context)
