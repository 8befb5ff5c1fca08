"""Scoping and the context every integration page shares."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from referloop.accounts.http import AccountRequest
from referloop.campaigns.models import Campaign
from referloop.campaigns.views import account_campaign
from referloop.integrations.models import Integration, Provider
from referloop.integrations.servicetitan.status import status_of

TABS = [
    ("connection", "Connection"),
    ("leads", "Leads"),
    ("referrers", "Referrers"),
    ("activity", "Activity"),
    ("diagnose", "Diagnose"),
]


def scoped_campaign(request: AccountRequest, campaign_id: int, provider: str) -> Campaign:
    """The account's campaign (404 otherwise), for a provider referloop knows (404 otherwise)."""
    if provider not in Provider.values:
        raise Http404("No such integration.")
    return account_campaign(request, campaign_id)


def find_integration(campaign: Campaign, provider: str) -> Integration | None:
    return Integration.objects.select_related("campaign").filter(campaign=campaign, provider=provider).first()


def scoped_integration(request: AccountRequest, campaign_id: int, provider: str) -> Integration:
    """The integration of the account's campaign, or 404 (another account's, or not set up yet)."""
    campaign = scoped_campaign(request, campaign_id, provider)
    return get_object_or_404(Integration.objects.select_related("campaign"), campaign=campaign, provider=provider)


def require_manager(request: AccountRequest) -> None:
    if not request.membership.can_manage:
        raise PermissionDenied("Only owners and admins can change integrations.")


def render_tab(
    request: AccountRequest,
    template: str,
    campaign: Campaign,
    provider: str,
    integration: Integration | None,
    tab: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    base = {
        "campaign": campaign,
        "provider": provider,
        "provider_label": Provider(provider).label,
        "integration": integration,
        "status": status_of(integration),
        "tab": tab,
        "tabs": TABS,
        "can_manage": request.membership.can_manage,
    }
    return render(request, template, {**base, **(context or {})}, status=status)
