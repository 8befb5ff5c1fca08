"""The Rewards tab (list, totals, issue/cancel one or many, CSV export), a reward's page, and Campaign Settings →
Rewards (the rules and the code pools). Everyone in the account sees; owners and admins act."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from referloop.accounts import audit
from referloop.accounts.decorators import account_required, manager_required
from referloop.accounts.http import AccountRequest
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.models import Campaign
from referloop.rewards import actions, codes, export, listing
from referloop.rewards.forms import SLOTS, CancelForm, CodeUploadForm, IssueForm, RewardRulesForm
from referloop.rewards.models import Reward, RewardKind, RewardRule, RewardState
from referloop.security.ids import id_from

PAGE_SIZE = 50


def account_campaign(request: AccountRequest, campaign_id: int) -> Campaign:
    return get_object_or_404(Campaign, pk=campaign_id, account=request.account)


def filters_of(request: AccountRequest, campaign: Campaign) -> dict[str, str]:
    """The tab's filters as given (state, referrer): invalid values are dropped, not errors."""
    found: dict[str, str] = {}
    state = request.GET.get("state", "")
    if state in RewardState.values:
        found["state"] = state
    referrer_id = id_from(request.GET, "referrer")
    if referrer_id is not None and campaign.referrers.filter(pk=referrer_id).exists():
        found["referrer"] = str(referrer_id)
    return found


def filtered(campaign: Campaign, filters: dict[str, str]) -> tuple[QuerySet[Reward], QuerySet[Reward]]:
    """Every reward the filters' referrer allows (for the state counts), and those also in the chosen state."""
    every = listing.rewards(campaign)
    if "referrer" in filters:
        every = every.filter(referrer_id=int(filters["referrer"]))
    return every, listing.in_state(every, filters.get("state", ""))


@account_required
def rewards_tab(request: AccountRequest, campaign_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    filters = filters_of(request, campaign)
    every, shown = filtered(campaign, filters)
    page = Paginator(shown.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    listing.mark_problems(page.object_list, campaign)
    pools = codes.pools(campaign)
    counts = listing.state_counts(every)
    referrer = campaign.referrers.filter(pk=int(filters["referrer"])).first() if "referrer" in filters else None
    return render(
        request,
        "rewards/tab.html",
        {
            "campaign": campaign,
            "page": page,
            "filters": filters,
            "state": filters.get("state", ""),
            "referrer": referrer,
            "states": [(value, label, counts[value]) for value, label in RewardState.choices],
            "counts": counts,
            "totals": listing.totals(campaign),
            "pool_warnings": [pool.warning for pool in pools if pool.warning],
            "query": urlencode(filters),
            "has_rules": RewardRule.objects.filter(campaign=campaign).exclude(kind=RewardKind.NONE).exists(),
        },
    )


@manager_required
@require_POST
def rewards_bulk(request: AccountRequest, campaign_id: int) -> HttpResponse:
    """Issue or cancel the checked rewards of the tab, with one note or reason."""
    campaign = account_campaign(request, campaign_id)
    chosen = request.POST.getlist("reward")
    ids = [found for raw in chosen if (found := id_from({"id": raw}, "id")) is not None]
    action = request.POST.get("action", "")
    back = back_to_tab(campaign, request.POST.get("back", ""))
    try:
        if action == "issue":
            result = actions.issue_many(campaign, ids, request.user, request.POST.get("note", ""))
            verb = "Issued"
        elif action == "cancel":
            result = actions.cancel_many(campaign, ids, request.user, request.POST.get("reason", ""))
            verb = "Canceled"
        else:
            messages.error(request, "Choose Issue or Cancel.")
            return redirect(back)
    except InputRejected as rejected:
        for problems in rejected.errors.values():
            for problem in problems:
                messages.error(request, problem)
        return redirect(back)
    if result.done:
        messages.success(request, f"{verb} {len(result.done)} reward{'s' if len(result.done) != 1 else ''}.")
    for reward, problem in result.refused:
        messages.error(request, f"Not {verb.lower()}: {actions.describe(reward)}. {problem}")
    return redirect(back)


def back_to_tab(campaign: Campaign, query: str) -> str:
    """The tab with the filters it was showing (only the known ones are kept: this is not an open redirect)."""
    url = reverse("rewards_tab", args=[campaign.pk])
    kept = {}
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "state" and value in RewardState.values:
            kept["state"] = value
        elif key in ("referrer", "page") and value.isascii() and value.isdigit() and len(value) < 19:
            kept[key] = value
    return f"{url}?{urlencode(kept)}" if kept else url


@account_required
def reward_detail(request: AccountRequest, campaign_id: int, reward_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    reward = get_object_or_404(listing.rewards(campaign), pk=reward_id)
    return render_reward(request, campaign, reward)


def render_reward(
    request: AccountRequest,
    campaign: Campaign,
    reward: Reward,
    issue_form: IssueForm | None = None,
    cancel_form: CancelForm | None = None,
    status: int = 200,
) -> HttpResponse:
    listing.mark_problems([reward], campaign)
    return render(
        request,
        "rewards/detail.html",
        {
            "campaign": campaign,
            "reward": reward,
            "events": reward.events.select_related("user").order_by("at", "pk"),
            "issue_form": issue_form or IssueForm(),
            "cancel_form": cancel_form or CancelForm(),
            "needs_amount": reward.is_money and reward.amount is None,
        },
        status=status,
    )


@manager_required
@require_POST
def reward_issue(request: AccountRequest, campaign_id: int, reward_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    reward = get_object_or_404(listing.rewards(campaign), pk=reward_id)
    form = IssueForm(request.POST)
    if form.is_valid():
        try:
            issued = actions.issue(reward, request.user, form.cleaned_data["note"], form.cleaned_data["amount"])
        except InputRejected as rejected:
            add_errors(form, rejected)
        else:
            code = f" Its code: {issued.code}." if issued.code else ""
            messages.success(request, f"Reward issued to {issued.recipient_person.full_name}.{code}")
            return redirect("reward_detail", campaign.pk, reward.pk)
    return render_reward(request, campaign, reward, issue_form=form, status=400)


@manager_required
@require_POST
def reward_cancel(request: AccountRequest, campaign_id: int, reward_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    reward = get_object_or_404(listing.rewards(campaign), pk=reward_id)
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            actions.cancel(reward, request.user, form.cleaned_data["reason"])
        except InputRejected as rejected:
            add_errors(form, rejected)
        else:
            messages.success(request, "Reward canceled.")
            return redirect("reward_detail", campaign.pk, reward.pk)
    return render_reward(request, campaign, reward, cancel_form=form, status=400)


def add_errors(form: IssueForm | CancelForm, rejected: InputRejected) -> None:
    for name, problems in rejected.errors.items():
        for problem in problems:
            form.add_error(name if name in form.fields else None, problem)


@account_required
def rewards_export(request: AccountRequest, campaign_id: int) -> HttpResponse:
    """The rewards the tab shows (same filters), as CSV."""
    campaign = account_campaign(request, campaign_id)
    _every, shown = filtered(campaign, filters_of(request, campaign))
    stamp = timezone.localtime().strftime("%Y-%m-%d")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="rewards-{campaign.slug}-{stamp}.csv"'
    export.write(shown.order_by("created_at", "pk"), response)
    return response


def settings_tab(request: AccountRequest, campaign: Campaign) -> HttpResponse:
    """Campaign Settings → Rewards: the rules (owners and admins change them; members see them) and the pools."""
    can_manage = request.membership.can_manage
    form = RewardRulesForm(request.POST or None, campaign=campaign)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied("Only owners and admins can change the reward rules.")
        if form.is_valid():
            audit.save_form(
                form, lambda: form.save(request.user), request.account, request.user, "Reward rules", campaign=campaign
            )
            messages.success(request, "Reward rules saved. They apply to referrals that qualify from now on.")
            return redirect("campaign_settings", campaign.pk, "rewards")
    if not can_manage:
        form.lock()
    return render_settings(request, campaign, form, status=400 if form.errors else 200)


def render_settings(
    request: AccountRequest,
    campaign: Campaign,
    form: RewardRulesForm,
    upload: tuple[str, CodeUploadForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    pools = [(pool, slot_of(pool.rule)) for pool in codes.pools(campaign)]
    forms = {kind: CodeUploadForm(prefix=kind) for _pool, kind in pools}
    if upload is not None:
        forms[upload[0]] = upload[1]
    return render(
        request,
        "campaigns/settings.html",
        {
            "campaign": campaign,
            "tab": "rewards",
            "rules_form": form,
            "slots": form.slot_fields(),
            "pools": [(pool, forms[kind], kind) for pool, kind in pools],
        },
        status=status,
    )


def slot_of(rule: RewardRule) -> str:
    return next(slot.prefix for slot in SLOTS if (slot.recipient, slot.trigger) == (rule.recipient, rule.trigger))


@manager_required
@require_POST
def code_upload(request: AccountRequest, campaign_id: int, kind: str) -> HttpResponse:
    """Add codes to one code pool of the campaign: `kind` is the rule's slot (referrer, friend, milestone)."""
    campaign = account_campaign(request, campaign_id)
    slot = next((slot for slot in SLOTS if slot.prefix == kind), None)
    if slot is None:
        raise Http404("No such code pool.")
    rule = get_object_or_404(RewardRule, campaign=campaign, recipient=slot.recipient, trigger=slot.trigger)
    if not codes.takes_codes(rule):
        raise Http404("No such code pool.")
    form = CodeUploadForm(request.POST, request.FILES, prefix=kind)
    if form.is_valid():
        try:
            with transaction.atomic():  # the codes and their history row together
                added, known = codes.add(rule, form.cleaned_data["text"], request.user)
                audit.record(
                    request.account, request.user, "Reward rules",
                    f"Added {added} code{'s' if added != 1 else ''} to the pool of {codes.rule_label(rule)}",
                    campaign=campaign,
                )  # fmt: skip
        except InputRejected as rejected:
            for problem in rejected.errors.get("codes", []):
                form.add_error("codes", problem)
        else:
            extra = f" {known} were in the pool already." if known else ""
            messages.success(request, f"{added} code{'s' if added != 1 else ''} added.{extra}")
            return redirect("campaign_settings", campaign.pk, "rewards")
    return render_settings(request, campaign, RewardRulesForm(campaign=campaign), upload=(kind, form), status=400)
