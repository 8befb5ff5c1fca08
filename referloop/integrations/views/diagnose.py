"""Diagnose tab: a placeholder until the checks of issue 6 arrive; it already says why leads are held."""

from __future__ import annotations

from django.http import HttpResponse

from referloop.accounts.decorators import account_required
from referloop.accounts.http import AccountRequest
from referloop.integrations import outbox
from referloop.integrations.views.common import render_tab, scoped_integration


@account_required
def diagnose(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    return render_tab(
        request,
        "integrations/diagnose.html",
        integration.campaign,
        provider,
        integration,
        "diagnose",
        {"hold_reason": outbox.hold_reason(integration)},
    )
