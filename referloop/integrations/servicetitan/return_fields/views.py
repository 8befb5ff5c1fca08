"""The Referrers tab's Map Return Fields form: owners and admins save it (audited); members only see it."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from referloop.accounts.decorators import account_required
from referloop.accounts.http import AccountRequest
from referloop.integrations import audit
from referloop.integrations.servicetitan.return_fields.field_types import field_types
from referloop.integrations.servicetitan.return_fields.forms import ReturnFieldsForm
from referloop.integrations.servicetitan.return_fields.hooks import mapping_saved
from referloop.integrations.servicetitan.return_fields.models import ReturnFields
from referloop.integrations.views.common import require_manager, scoped_integration


@account_required
@require_POST
def save_return_fields(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    require_manager(request)
    returns = ReturnFields.objects.filter(integration=integration).first() or ReturnFields(integration=integration)
    form = ReturnFieldsForm(request.POST, types=field_types(integration), instance=returns)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("integration_referrers", integration.campaign.pk, provider)
    with transaction.atomic():
        changes = form.apply(returns)
        returns.updated_at = timezone.now()
        returns.save()
        queued = mapping_saved(integration.pk) if changes and returns.mapped else 0
        if changes:
            audit.record(integration, request.user, "Map Return Fields: " + "; ".join(changes))
    note = f" {queued} linked customer(s) will be written." if queued else ""
    messages.success(request, "Return fields saved." + note)
    return redirect("integration_referrers", integration.campaign.pk, provider)
