"""Activity tab: every delivery with its state and attempts; resend one, or all failed / all held after a fix."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from referloop.accounts.decorators import account_required, manager_required
from referloop.accounts.http import AccountRequest
from referloop.campaigns.paging import CAP, CappedPaginator, capped_count, count_text
from referloop.integrations import audit
from referloop.integrations.models import Attempt, Delivery, DeliveryState
from referloop.integrations.servicetitan import outbox
from referloop.integrations.servicetitan.readiness import readiness
from referloop.integrations.views.common import render_tab, require_manager, scoped_integration

PAGE_SIZE = 50
RESENDABLE = (DeliveryState.FAILED, DeliveryState.SKIPPED)


# The related rows `Delivery.subject` reads: one query for a page however many rows.
SUBJECT_RELATED = ("lead", "customer_write", "customer_match__referrer")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@account_required
def activity(request: AccountRequest, campaign_id: int, provider: str) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    state = request.GET.get("state", "")
    query = request.GET.get("q", "").strip()
    # Each state's count stops at CAP (one short index range each): a GROUP BY read all 200,000 rows per view.
    counts = {value: capped_count(integration.deliveries.filter(state=value)) for value in DeliveryState.values}
    deliveries = integration.deliveries.select_related(*SUBJECT_RELATED).order_by("-created_at", "-pk")
    if state in DeliveryState.values:
        deliveries = deliveries.filter(state=state)
        known: int | None = counts[state]
    else:
        state = ""
        known = sum(counts.values())
    if query:
        deliveries = deliveries.filter(lead__email__icontains=query)
        known = None
    # The per-state counts above are the page count too: no second COUNT over the integration's deliveries.
    page = CappedPaginator(deliveries, PAGE_SIZE, known_count=known).get_page(request.GET.get("page"))
    for delivery, warnings in zip(page, last_warnings([d.pk for d in page]), strict=True):
        delivery.warnings = warnings  # shown under the row's state
    total = sum(min(n, CAP) for n in counts.values())
    filters = [("", "All", f"{total:,}+" if any(n > CAP for n in counts.values()) else f"{total:,}")] + [
        (value, label, count_text(counts[value])) for value, label in DeliveryState.choices
    ]
    return render_tab(
        request,
        "integrations/activity.html",
        integration.campaign,
        provider,
        integration,
        "activity",
        {
            "page": page,
            "state": state,
            "q": query,
            "filters": filters,
            "failed_count": counts[DeliveryState.FAILED],
            "held_count": counts[DeliveryState.HELD],
            "failed_text": count_text(counts[DeliveryState.FAILED]),
            "held_text": count_text(counts[DeliveryState.HELD]),
            "hold_reason": readiness(integration).hold_reason,
        },
    )


def last_warnings(delivery_ids: list[int]) -> list[list[str]]:
    """The warnings of each delivery's latest attempt (what it left out of the booking), in one query."""
    latest: dict[int, list[str]] = {}
    rows = Attempt.objects.filter(delivery_id__in=delivery_ids).order_by("delivery_id", "number")
    for delivery_id, warnings in rows.values_list("delivery_id", "warnings"):
        latest[delivery_id] = list(warnings or [])
    return [latest.get(pk, []) for pk in delivery_ids]


@account_required
def delivery_detail(request: AccountRequest, campaign_id: int, provider: str, delivery_id: int) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    delivery = get_object_or_404(
        Delivery.objects.select_related(*SUBJECT_RELATED), pk=delivery_id, integration=integration
    )
    attempts = [
        (attempt, json.dumps(attempt.request_summary, indent=2, ensure_ascii=False, default=str))
        for attempt in delivery.attempts.all()
    ]
    return render_tab(
        request,
        "integrations/delivery.html",
        integration.campaign,
        provider,
        integration,
        "activity",
        {
            "delivery": delivery,
            "attempts": attempts,
            "can_resend": delivery.state in RESENDABLE,
            "hold_reason": readiness(integration).hold_reason,
        },
    )


@manager_required
@require_POST
def delivery_resend(request: AccountRequest, campaign_id: int, provider: str, delivery_id: int) -> HttpResponse:
    integration = scoped_integration(request, campaign_id, provider)
    delivery = get_object_or_404(Delivery.objects.select_related("lead"), pk=delivery_id, integration=integration)
    back = redirect("integration_delivery", integration.campaign_id, provider, delivery.pk)
    if delivery.state not in RESENDABLE:
        messages.error(
            request,
            f"This delivery is {delivery.get_state_display().lower()}: only failed or skipped "
            "deliveries can be resent.",
        )
        return back
    reason = readiness(integration).hold_reason
    if reason:
        messages.error(request, f"Not resent, because it would only be held: {reason}")
        return back
    subject = Delivery.objects.select_related(*SUBJECT_RELATED).get(pk=delivery.pk).subject
    if outbox.resend(Delivery.objects.filter(pk=delivery.pk)):
        audit.record(integration, request.user, f"Resent the delivery of {subject}.")
        messages.success(request, f"Resending {subject} now. The result appears below in a few seconds.")
    else:
        messages.info(request, "Not resent: a newer write for this customer is on its way with the latest values.")
    return back


BULK_ACTIONS = {"resend-failed": "Resend all failed", "send-held": "Send held leads now"}


@account_required
def bulk_action(request: AccountRequest, campaign_id: int, provider: str, action: str) -> HttpResponse:
    """GET: how many deliveries it concerns, and a confirm button; POST: do it."""
    integration = scoped_integration(request, campaign_id, provider)
    if action not in BULK_ACTIONS:
        raise Http404("No such action.")
    state = DeliveryState.FAILED if action == "resend-failed" else DeliveryState.HELD
    count = integration.deliveries.filter(state=state).count()
    reason = readiness(integration).hold_reason
    back = redirect("integration_activity", integration.campaign_id, provider)
    if request.method == "POST":
        require_manager(request)
        if reason:
            messages.error(request, f"Nothing was sent, because the leads would only be held: {reason}")
            return back
        if action == "resend-failed":
            done = outbox.resend(integration.deliveries.filter(state=DeliveryState.FAILED))
            summary = f"Resent {done} failed {'delivery' if done == 1 else 'deliveries'}."
        else:
            done = outbox.release_held(integration)
            summary = f"Sent {_plural(done, 'held lead')} now."
        if done:
            audit.record(integration, request.user, summary)
            messages.success(request, f"{summary} Results appear here in a few seconds.")
        else:
            messages.info(request, "There was nothing to send.")
        return back
    return render_tab(
        request,
        "integrations/bulk_confirm.html",
        integration.campaign,
        provider,
        integration,
        "activity",
        {"action": action, "title": BULK_ACTIONS[action], "count": count, "hold_reason": reason, "state": state},
    )
