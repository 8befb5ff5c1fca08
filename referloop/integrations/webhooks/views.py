"""The Webhooks screens: the account's endpoints, one endpoint with its delivery log, and a delivery's attempts.

Endpoints belong to the account, so the URLs do too (`account/webhooks/…`). The screens are reached from
Campaign Settings → Integrations and API → API; `?campaign=<id>` (one of the account's campaigns, else ignored)
only says where the breadcrumb leads back to.

Every read and change goes through `service`, which only ever touches the current account's rows: another
account's id is a 404, like an id that does not exist. Owners and admins change things, members look. A secret
is in exactly one response, the one to the POST that made it (create, rotate), which is never cached; the page
then moves its address to the endpoint's own page, so reloading shows the masked secret only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.formats import date_format
from django.views.decorators.http import require_POST

from referloop.accounts.decorators import account_required, manager_required
from referloop.accounts.http import AccountRequest
from referloop.accounts.models import Account
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.models import Campaign
from referloop.integrations.models import Attempt, Delivery, DeliveryState
from referloop.integrations.webhooks import service
from referloop.integrations.webhooks.forms import EndpointForm
from referloop.integrations.webhooks.models import SECRET_PREFIX, WebhookEndpoint
from referloop.security.ids import id_from

PAGE_SIZE = 25
RESENDABLE = (DeliveryState.FAILED, DeliveryState.SKIPPED, DeliveryState.DELIVERED)
VERIFY_DOCS = "https://www.standardwebhooks.com/"


# -- what the screens show ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointState:
    key: str  # enabled | failing | disabled: the badge's class
    label: str
    detail: str = ""


def state_of(endpoint: WebhookEndpoint) -> EndpointState:
    """Enabled, Disabled (with the reason) or Failing since …: what the list and the endpoint page say."""
    if not endpoint.enabled:
        return EndpointState("disabled", "Disabled", endpoint.disabled_reason or "It was turned off.")
    if endpoint.failing_since is not None:
        since = endpoint.failing_since
        days = settings.WEBHOOKS_DISABLE_AFTER_DAYS
        return EndpointState(
            "failing",
            f"Failing since {_when(since)}",
            f"Every try since then has failed. After {days:g} day{'' if days == 1 else 's'} of failures the "
            "endpoint is disabled and the account's owners and admins are emailed.",
        )
    return EndpointState("enabled", "Enabled")


def masked_secret(endpoint: WebhookEndpoint) -> str:
    """The secret as screens show it after the one-time reveal; "" when this deployment can't read it."""
    try:
        masked = endpoint.masked_secret
    except ValueError:
        return ""
    return SECRET_PREFIX + masked if masked else ""


def _when(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "M j, Y H:i")


@dataclass(frozen=True)
class PanelRow:
    endpoint: WebhookEndpoint
    state: EndpointState
    last_delivery_id: int | None
    last_delivery_state: str
    last_delivery_at: datetime | None

    @property
    def last_delivery_label(self) -> str:
        return DeliveryState(self.last_delivery_state).label if self.last_delivery_state else ""


def panel_rows(account: Account) -> list[PanelRow]:
    """The account's endpoints for the Webhooks panel, each with its state and its latest delivery (one query)."""
    latest = Delivery.objects.filter(endpoint=OuterRef("pk")).order_by("-created_at", "-pk")
    endpoints = service.endpoints(account).annotate(
        last_id=Subquery(latest.values("pk")[:1]),
        last_state=Subquery(latest.values("state")[:1]),
        last_at=Subquery(latest.values("created_at")[:1]),
    )
    return [
        PanelRow(endpoint, state_of(endpoint), endpoint.last_id, endpoint.last_state or "", endpoint.last_at)
        for endpoint in endpoints
    ]


def panel_context(account: Account, can_manage: bool, via: Campaign | None) -> dict[str, Any]:
    return {
        "rows": panel_rows(account),
        "account": account,
        "can_manage": can_manage,
        "via": via,
        "via_qs": _via_qs(via),
        "at_limit": service.endpoints(account).count() >= service.MAX_ENDPOINTS_PER_ACCOUNT,
        "max_endpoints": service.MAX_ENDPOINTS_PER_ACCOUNT,
    }


@dataclass(frozen=True)
class LogRow:
    delivery: Delivery
    last_attempt: Attempt | None


def endpoint_log(
    account: Account, endpoint: WebhookEndpoint, state: str, page_number: str | None
) -> tuple[Page[Delivery], list[LogRow]]:
    """One page of the endpoint's deliveries, newest first, with their events and attempts."""
    page = Paginator(service.endpoint_log(account, endpoint.pk, state=state), PAGE_SIZE).get_page(page_number)
    rows = service.with_attempts(list(page.object_list))
    return page, [LogRow(row, _last(list(row.attempts.all()))) for row in rows]


def _last(attempts: list[Attempt]) -> Attempt | None:
    return attempts[-1] if attempts else None


def state_counts(endpoint: WebhookEndpoint) -> dict[str, int]:
    rows = Delivery.objects.filter(endpoint=endpoint).order_by().values_list("state").annotate(n=Count("pk"))
    return dict(rows.values_list("state", "n"))


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class SentRequest:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: str


def requests_of(attempt: Attempt) -> list[SentRequest]:
    """What the attempt sent, as the connector recorded it (the signed headers and the JSON body)."""
    summary = attempt.request_summary if isinstance(attempt.request_summary, dict) else {}
    sent = []
    for item in summary.get("requests") or []:
        if not isinstance(item, dict):
            continue
        headers = item.get("headers") if isinstance(item.get("headers"), dict) else {}
        sent.append(
            SentRequest(
                method=str(item.get("method") or "POST"),
                url=str(item.get("url") or summary.get("url") or ""),
                headers=[(str(key), str(value)) for key, value in (headers or {}).items()],
                body=_pretty(item.get("body")),
            )
        )
    return sent


# -- scoping ------------------------------------------------------------------------------------------------------


def _via(request: AccountRequest) -> Campaign | None:
    """The campaign whose settings the person came from, if it is one of the account's."""
    campaign_id = id_from(request.GET, "campaign")  # "²" or 10**30: ignored, not a 500
    if campaign_id is None:
        return None
    return Campaign.objects.filter(pk=campaign_id, account=request.account).first()


def _via_qs(via: Campaign | None) -> str:
    return f"?campaign={via.pk}" if via is not None else ""


def _endpoint(request: AccountRequest, endpoint_id: int) -> WebhookEndpoint:
    try:
        return service.endpoint_of(request.account, endpoint_id)
    except WebhookEndpoint.DoesNotExist:
        raise Http404("No such webhook endpoint.") from None


def _delivery(request: AccountRequest, endpoint: WebhookEndpoint, delivery_id: int) -> Delivery:
    try:
        delivery = service.delivery_of(request.account, delivery_id)
    except Delivery.DoesNotExist:
        raise Http404("No such delivery.") from None
    if delivery.endpoint_id != endpoint.pk:
        raise Http404("No such delivery.")
    return delivery


def _to(name: str, via: Campaign | None, *args: object, query: str = "") -> HttpResponseRedirect:
    url = reverse(name, args=args) + _via_qs(via)
    if query:
        url += ("&" if via is not None else "?") + query
    return HttpResponseRedirect(url)


def _base(request: AccountRequest, via: Campaign | None) -> dict[str, Any]:
    return {
        "via": via,
        "campaign": via,
        "via_qs": _via_qs(via),
        "can_manage": request.membership.can_manage,
        "account": request.account,
    }


# -- pages --------------------------------------------------------------------------------------------------------


@account_required
def webhook_list(request: AccountRequest) -> HttpResponse:
    """The account's endpoints on a page of their own (the alert email and the breadcrumb lead here)."""
    via = _via(request)
    context = {**_base(request, via), **panel_context(request.account, request.membership.can_manage, via)}
    return render(request, "integrations/webhooks/list.html", context)


@manager_required
def webhook_add(request: AccountRequest) -> HttpResponse:
    via = _via(request)
    form = EndpointForm(request.POST or None)
    if request.method == "POST":
        created = _create(request, form)
        if created is not None:
            return _endpoint_page(
                request, created.endpoint, via, revealed={"secret": created.secret, "kind": "created"}
            )
    return render(
        request,
        "integrations/webhooks/form.html",
        {**_base(request, via), "form": form, "endpoint": None},
        status=400 if form.is_bound else 200,
    )


def _create(request: AccountRequest, form: EndpointForm) -> service.CreatedEndpoint | None:
    """The endpoint, or None with every problem on the form (the URL's too, when the events were the problem)."""
    if not form.is_valid():
        url = form.cleaned_data.get("url")
        if url is not None and "url" not in form.errors:
            try:
                service.clean_url(url)
            except InputRejected as rejected:
                form.add_rejected(rejected)
        return None
    try:
        return service.create_endpoint(
            request.account,
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
            ordered=form.cleaned_data["ordered"],
        )
    except InputRejected as rejected:
        form.add_rejected(rejected)
        return None


@account_required
def webhook_endpoint(request: AccountRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    via = _via(request)
    if request.GET.get("partial") == "log" and request.headers.get("HX-Request"):
        return render(request, "integrations/webhooks/_log.html", _log_context(request, endpoint, via))
    return _endpoint_page(request, endpoint, via)


def _log_context(request: AccountRequest, endpoint: WebhookEndpoint, via: Campaign | None) -> dict[str, Any]:
    state = request.GET.get("state", "")
    if state not in DeliveryState.values:
        state = ""
    counts = state_counts(endpoint)
    page, rows = endpoint_log(request.account, endpoint, state, request.GET.get("page"))
    log_url = reverse("webhook_endpoint", args=[endpoint.pk])
    via_params = [f"campaign={via.pk}"] if via is not None else []
    filters = [
        (value, label, counts.get(value, 0) if value else sum(counts.values()), _query(log_url, via_params, value))
        for value, label in [("", "All"), *DeliveryState.choices]
    ]
    log_query = "&".join(via_params + ([f"state={state}"] if state else []))
    return {
        **_base(request, via),
        "endpoint": endpoint,
        "page": page,
        "rows": rows,
        "state": state,
        "filters": filters,
        "log_url": log_url,
        "page_prefix": f"{log_url}?{log_query}{'&' if log_query else ''}page=",
        "poll_url": f"{log_url}?partial=log{'&' if log_query else ''}{log_query}&page={page.number}",
        "polling": any(row.delivery.state == DeliveryState.PENDING for row in rows),
        "resendable": RESENDABLE,
    }


def _query(path: str, via_params: list[str], state: str) -> str:
    params = via_params + ([f"state={state}"] if state else [])
    return path + ("?" + "&".join(params) if params else "")


def _endpoint_page(
    request: AccountRequest,
    endpoint: WebhookEndpoint,
    via: Campaign | None,
    revealed: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    held = Delivery.objects.filter(endpoint=endpoint, state=DeliveryState.HELD).count()
    context = {
        **_log_context(request, endpoint, via),
        "endpoint_state": state_of(endpoint),
        "masked_secret": masked_secret(endpoint),
        "previous_valid_until": endpoint.previous_secret_expires_at if endpoint.previous_secret_valid() else None,
        "held_count": held,
        "revealed": revealed,
        "verify_docs": VERIFY_DOCS,
        "endpoint_url": reverse("webhook_endpoint", args=[endpoint.pk]) + _via_qs(via),
    }
    response = render(request, "integrations/webhooks/endpoint.html", context, status=status)
    if revealed:
        add_never_cache_headers(response)  # the one response that holds the secret: never stored anywhere
    return response


@manager_required
def webhook_edit(request: AccountRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    via = _via(request)
    form = EndpointForm(request.POST or None, endpoint=endpoint)
    if request.method == "POST":
        if form.is_valid():
            url = form.cleaned_data["url"]
            try:
                service.update_endpoint(
                    request.account,
                    endpoint.pk,
                    # An unchanged URL is not checked again here (the worker checks it at every send anyway), so
                    # editing the description never fails on a DNS hiccup.
                    url=url if url.strip() != endpoint.url else None,
                    events=form.cleaned_data["events"],
                    description=form.cleaned_data["description"],
                    ordered=form.cleaned_data["ordered"],
                )
            except InputRejected as rejected:
                form.add_rejected(rejected)
            else:
                messages.success(request, "Endpoint saved.")
                return _to("webhook_endpoint", via, endpoint.pk)
        elif "url" not in form.errors and form.cleaned_data.get("url", "").strip() != endpoint.url:
            try:
                service.clean_url(form.cleaned_data["url"])
            except InputRejected as rejected:
                form.add_rejected(rejected)
    return render(
        request,
        "integrations/webhooks/form.html",
        {**_base(request, via), "form": form, "endpoint": endpoint},
        status=400 if form.is_bound else 200,
    )


@manager_required
@require_POST
def webhook_delete(request: AccountRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    via = _via(request)
    try:
        service.delete_endpoint(request.account, endpoint.pk)
    except service.EndpointBusy as busy:
        messages.error(request, str(busy))
        return _to("webhook_endpoint", via, endpoint.pk)
    except WebhookEndpoint.DoesNotExist:
        raise Http404("No such webhook endpoint.") from None
    messages.success(request, f"Endpoint {endpoint.url} deleted, with its delivery log. It receives no more events.")
    return _back_to_list(via)


def _back_to_list(via: Campaign | None) -> HttpResponseRedirect:
    if via is not None:
        return HttpResponseRedirect(reverse("campaign_settings", args=[via.pk, "integrations"]) + "#webhooks")
    return HttpResponseRedirect(reverse("webhook_list"))


@manager_required
@require_POST
def webhook_rotate(request: AccountRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    try:
        rotated = service.rotate_secret(request.account, endpoint.pk)
    except InputRejected as exc:
        for problem in exc.errors.get("secret", []):
            messages.error(request, problem)
        return HttpResponseRedirect(reverse("webhook_endpoint", args=[endpoint.pk]) + _via_qs(_via(request)))
    endpoint.refresh_from_db()
    return _endpoint_page(
        request,
        endpoint,
        _via(request),
        revealed={"secret": rotated.secret, "kind": "rotated", "previous_valid_until": rotated.previous_valid_until},
    )


@manager_required
@require_POST
def webhook_disable(request: AccountRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    service.disable_endpoint(request.account, endpoint.pk)
    messages.success(
        request,
        "Endpoint disabled. New events are kept (held), not sent and not lost: enable it to send them, or to "
        "drop them.",
    )
    return _to("webhook_endpoint", _via(request), endpoint.pk)


@manager_required
@require_POST
def webhook_enable(request: AccountRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    send_held = request.POST.get("held", "send") != "skip"
    released = service.enable_endpoint(request.account, endpoint.pk, send_held=send_held)
    if not send_held:
        note = " The events held while it was disabled were marked skipped; you can still resend any of them."
    elif released:
        one = released == 1
        note = f" {released} held event{'' if one else 's'} {'is' if one else 'are'} being sent now."
    else:
        note = ""
    messages.success(request, "Endpoint enabled." + note)
    return _to("webhook_endpoint", _via(request), endpoint.pk)


@manager_required
@require_POST
def webhook_test(request: AccountRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    delivery = service.send_test_event(request.account, endpoint.pk)
    assert delivery.event is not None
    messages.success(
        request,
        f"Test event {delivery.event.event_id} queued. It appears in the log below as soon as it is sent, within "
        "seconds.",
    )
    return _to("webhook_endpoint", _via(request), endpoint.pk)


@account_required
def webhook_delivery(request: AccountRequest, endpoint_id: int, delivery_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    delivery = _delivery(request, endpoint, delivery_id)
    via = _via(request)
    attempts = [(attempt, requests_of(attempt)) for attempt in delivery.attempts.order_by("number", "pk")]
    event = delivery.event
    return render(
        request,
        "integrations/webhooks/delivery.html",
        {
            **_base(request, via),
            "endpoint": endpoint,
            "delivery": delivery,
            "event": event,
            "event_body": _pretty(event.body()) if event is not None else "",
            "attempts": attempts,
            "can_resend": delivery.state in RESENDABLE and delivery.lease_expires_at is None,
            "endpoint_url": reverse("webhook_endpoint", args=[endpoint.pk]) + _via_qs(via),
        },
    )


@manager_required
@require_POST
def webhook_resend(request: AccountRequest, endpoint_id: int, delivery_id: int) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    delivery = _delivery(request, endpoint, delivery_id)
    via = _via(request)
    if service.resend_delivery(request.account, delivery.pk):
        event_id = delivery.event.event_id if delivery.event is not None else ""
        messages.success(
            request,
            f"Resending {event_id} now, with the same webhook-id: a receiver that already processed it may ignore it. "
            "The result appears here within seconds.",
        )
    else:
        messages.error(
            request,
            f"This delivery is {delivery.get_state_display().lower()} and can't be resent now: only delivered, "
            "failed or skipped deliveries that are not being sent can.",
        )
    if request.POST.get("back") == "log":
        return _to("webhook_endpoint", via, endpoint.pk)
    return _to("webhook_delivery", via, endpoint.pk, delivery.pk)
