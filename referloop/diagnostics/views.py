"""The Diagnose tab (run the checks, send a test booking, download a support bundle) and Find a lead.

Every view is scoped to the current account (another account's campaign or integration is a 404). Running the
checks, sending a test booking and downloading a bundle are POSTs (CSRF-protected); the last two need an owner
or admin, because one writes to ServiceTitan and the other exports configuration.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from referloop.accounts.decorators import account_required, manager_required
from referloop.accounts.http import AccountRequest
from referloop.diagnostics.bundle import build_bundle
from referloop.diagnostics.checks import run_checks
from referloop.diagnostics.lead_search import MIN_QUERY_LENGTH, find_leads
from referloop.diagnostics.report import summary_line
from referloop.diagnostics.result import CheckResult
from referloop.diagnostics.trial_booking import TestBookingResult, send_test_booking
from referloop.integrations import audit
from referloop.integrations.models import Integration
from referloop.integrations.servicetitan.status import status_of
from referloop.integrations.views.common import TABS, scoped_integration


class BundleForm(forms.Form):
    email = forms.EmailField(
        label="Lead's email (optional)",
        required=False,
        help_text="Adds that lead's whole timeline: its deliveries and every attempt.",
    )
    include_personal_data = forms.BooleanField(
        label="Include personal data",
        required=False,
        help_text="Names, emails, phones and addresses are replaced by [redacted] unless you tick this. Secrets are "
        "never included.",
    )


def is_htmx(request: AccountRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def page(
    request: AccountRequest,
    integration: Integration,
    *,
    results: list[CheckResult] | None = None,
    ran: bool = False,
    test_result: TestBookingResult | None = None,
    bundle_form: BundleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "diagnostics/diagnose.html",
        panel_context(request, integration, results, ran, test_result, bundle_form),
        status=status,
    )


def panel_context(
    request: AccountRequest,
    integration: Integration,
    results: list[CheckResult] | None = None,
    ran: bool = False,
    test_result: TestBookingResult | None = None,
    bundle_form: BundleForm | None = None,
) -> dict[str, Any]:
    """What `diagnostics/_panel.html` needs; the CRM tab can embed the panel with this context."""
    if results is None:
        results = run_checks(integration, network=False)
    campaign = integration.campaign
    return {
        "campaign": campaign,
        "integration": integration,
        # The integration pages' frame (integrations/base.html): tabs, status badge, provider.
        "provider": integration.provider,
        "provider_label": integration.get_provider_display(),
        "status": status_of(integration),
        "tab": "diagnose",
        "tabs": TABS,
        "results": results,
        "summary": summary_line(results),
        "ran": ran,
        "checked_at": timezone.now(),
        "test_result": test_result,
        "test_body_json": json.dumps(test_result.body, indent=2, ensure_ascii=False) if test_result else "",
        "newest_lead": campaign.leads.order_by("-created_at", "-pk").first(),
        "bundle_form": bundle_form or BundleForm(),
        "can_manage": request.membership.can_manage,
    }


@account_required
@require_GET
def diagnose(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    """The page shows the database checks at once; the ServiceTitan checks run when asked (Run checks)."""
    return page(request, scoped_integration(request, campaign_id, provider))


@account_required
@require_POST
def run(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    results = run_checks(integration)
    if is_htmx(request):
        return render(
            request,
            "diagnostics/_results.html",
            {"results": results, "summary": summary_line(results), "ran": True, "checked_at": timezone.now()},
        )
    return page(request, integration, results=results, ran=True)


@manager_required
@require_POST
def test_booking(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    result = send_test_booking(integration, use_newest_lead=request.POST.get("lead") == "newest", user=request.user)
    if is_htmx(request):
        return render(
            request,
            "diagnostics/_test_booking.html",
            {"test_result": result, "test_body_json": json.dumps(result.body, indent=2, ensure_ascii=False)},
        )
    return page(request, integration, test_result=result)


@manager_required
@require_POST
def support_bundle(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    form = BundleForm(request.POST)
    if not form.is_valid():
        return page(request, integration, bundle_form=form, status=400)
    include_personal = form.cleaned_data["include_personal_data"]
    bundle = build_bundle(integration, email=form.cleaned_data["email"] or "", include_personal_data=include_personal)
    audit.record(
        integration,
        request.user,
        "Downloaded a support bundle " + ("with personal data." if include_personal else "(personal data redacted)."),
    )
    response = HttpResponse(bundle.content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{bundle.filename}"'
    response["Cache-Control"] = "no-store"
    return response


@account_required
@require_GET
def lead_search(request: AccountRequest) -> HttpResponse:
    query = request.GET.get("email", "").strip()
    leads = find_leads(request.account, query)
    return render(
        request,
        "diagnostics/lead_search.html",
        {"query": query, "leads": leads, "too_short": 0 < len(query) < MIN_QUERY_LENGTH, "min": MIN_QUERY_LENGTH},
    )
