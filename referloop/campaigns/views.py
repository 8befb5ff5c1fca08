"""The signed-in screens: campaigns, their settings tabs, referrers, leads and CSV imports."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from referloop.accounts import audit
from referloop.accounts.decorators import account_required, manager_required
from referloop.accounts.http import AccountRequest
from referloop.campaigns import figures, funnel, outcomes, verification
from referloop.campaigns.abuse.suspicious import filter_note, flag_suspicious, only_suspicious
from referloop.campaigns.csv_import import import_chunk, start_import
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.forms import (
    CampaignForm,
    CsvImportForm,
    CustomFieldForm,
    GeneralSettingsForm,
    ReferralPageForm,
    lock_owner_fields,
)
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.lead_form import LeadDataForm
from referloop.campaigns.models import (
    Campaign,
    CampaignStatus,
    CustomField,
    ImportJob,
    ImportKind,
    Lead,
    LeadSource,
    LeadStage,
    LeadStatus,
    Referrer,
)
from referloop.campaigns.paging import CappedPaginator
from referloop.campaigns.referrers import ReferrerForm, add_referrer
from referloop.integrations.field_usage import mapping_rows_using
from referloop.integrations.models import Delivery, Follow
from referloop.integrations.servicetitan.lead_address import require_whole_address
from referloop.integrations.timeline import lead_timeline
from referloop.notifications import views as notifications_views
from referloop.rewards import views as rewards_views
from referloop.security.ids import id_from

PAGE_SIZE = 50


def account_campaign(request: AccountRequest, campaign_id: int) -> Campaign:
    """The campaign, only if it belongs to the current account (404 otherwise)."""
    return get_object_or_404(Campaign, pk=campaign_id, account=request.account)


def add_form_errors(form: LeadDataForm | ReferrerForm, rejected: InputRejected) -> None:
    for field, problems in rejected.errors.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)


@account_required
def dashboard(request: AccountRequest) -> HttpResponse:
    return redirect("campaign_list")


@account_required
def campaign_list(request: AccountRequest) -> HttpResponse:
    show = request.GET.get("show", "active")
    campaigns = Campaign.objects.filter(account=request.account).annotate(
        referrer_count=Count("referrers", distinct=True), lead_count=Count("leads", distinct=True)
    )
    campaigns = campaigns.filter(status=CampaignStatus.ARCHIVED if show == "archived" else CampaignStatus.ACTIVE)
    return render(request, "campaigns/list.html", {"campaigns": campaigns.order_by("-created_at"), "show": show})


@account_required
def campaign_create(request: AccountRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        campaign = form.save(commit=False)
        campaign.account = request.account
        campaign.save()
        messages.success(request, f"Campaign “{campaign.name}” created. Add referrers or share the join link.")
        return redirect("campaign_detail", campaign.pk)
    return render(request, "campaigns/create.html", {"form": form})


@account_required
def campaign_detail(request: AccountRequest, campaign_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    days = funnel.period_from(request.GET.get("days"))
    # Live for a small campaign, else counted at most once a minute (figures.py); ?refresh=1 counts them now.
    totals = figures.overview_figures(campaign, days, refresh=request.GET.get("refresh") == "1")
    return render(
        request,
        "campaigns/detail.html",
        {
            "campaign": campaign,
            "stats": totals.stats,
            "referrer_count": totals.referrers,
            "counted_at": totals.counted_at,
            "recent_leads": campaign.leads.select_related("referrer").order_by("-created_at")[:10],
            "funnel": totals.funnel,
            "funnel_periods": funnel.PERIODS,
        },
    )


@manager_required  # archiving ends the campaign's public links: an owner's or admin's call
@require_POST
def campaign_archive(request: AccountRequest, campaign_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    archive = request.POST.get("action") != "restore"
    campaign.status = CampaignStatus.ARCHIVED if archive else CampaignStatus.ACTIVE
    with transaction.atomic():
        campaign.save(update_fields=["status", "updated_at"])
        audit.record(
            request.account, request.user, "Campaign", "Archived" if archive else "Restored", campaign=campaign
        )
    if archive:
        messages.success(request, f"“{campaign.name}” archived. Its links now say it has ended.")
    else:
        messages.success(request, f"“{campaign.name}” is active again.")
    return redirect("campaign_detail", campaign.pk)


SETTINGS_TABS = {"general": GeneralSettingsForm, "referral-page": ReferralPageForm}


@account_required
def campaign_settings(request: AccountRequest, campaign_id: int, tab: str = "general") -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    if tab == "rewards":  # the reward rules and code pools: the rewards app's own form (rewards/views.py)
        return rewards_views.settings_tab(request, campaign)
    if tab == "emails":  # the notifications' wordings, preview and footer (notifications/views.py)
        return notifications_views.settings_tab(request, campaign)
    context: dict[str, object] = {"campaign": campaign, "tab": tab}
    form_class = SETTINGS_TABS.get(tab)
    if form_class is not None:
        form = form_class(request.POST or None, instance=campaign)
        if not request.membership.can_manage:
            lock_owner_fields(form)
        if request.method == "POST" and form.is_valid():
            area = "Settings: " + tab.replace("-", " ")
            audit.save_form(form, form.save, request.account, request.user, area, campaign=campaign)
            messages.success(request, "Changes saved.")
            return redirect("campaign_settings", campaign.pk, tab)
        context["form"] = form
    if tab == "referral-page":
        context["custom_fields"] = campaign.custom_fields.all()
        context["custom_field_form"] = CustomFieldForm(campaign=campaign)
    elif tab not in SETTINGS_TABS and tab != "integrations":
        return redirect("campaign_settings", campaign.pk, "general")
    return render(request, "campaigns/settings.html", context)


@account_required
@require_POST
def custom_field_add(request: AccountRequest, campaign_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    form = CustomFieldForm(request.POST, campaign=campaign)
    if form.is_valid():
        field = form.save(commit=False)
        field.campaign = campaign
        field.position = campaign.custom_fields.count()
        with transaction.atomic():
            field.save()
            audit.record(
                request.account, request.user, "Settings: referral page", f"Added the field “{field.label}”",
                campaign=campaign,
            )  # fmt: skip
        messages.success(request, f"Field “{field.label}” added to the lead form.")
        return redirect("campaign_settings", campaign.pk, "referral-page")
    return render(
        request,
        "campaigns/settings.html",
        {
            "campaign": campaign,
            "tab": "referral-page",
            "form": ReferralPageForm(instance=campaign),
            "custom_fields": campaign.custom_fields.all(),
            "custom_field_form": form,
        },
        status=400,
    )


@manager_required
@require_POST
def custom_field_delete(request: AccountRequest, campaign_id: int, field_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    field = get_object_or_404(CustomField, pk=field_id, campaign=campaign)
    used_by = mapping_rows_using(field)
    if used_by:
        messages.error(
            request,
            f"“{field.label}” can't be removed: the field mapping uses it ({'; '.join(used_by)}). "
            "Map those rows to something else on the CRM tab first.",
        )
        return redirect("campaign_settings", campaign.pk, "referral-page")
    with transaction.atomic():
        field.delete()
        audit.record(
            request.account, request.user, "Settings: referral page", f"Removed the field “{field.label}”",
            campaign=campaign,
        )  # fmt: skip
    messages.success(request, f"Field “{field.label}” removed. Answers already given are kept on the leads.")
    return redirect("campaign_settings", campaign.pk, "referral-page")


@account_required
def referrer_list(request: AccountRequest, campaign_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    query = request.GET.get("q", "").strip()
    referrers = campaign.referrers.annotate(lead_count=Count("leads")).order_by("-created_at")
    if query:
        referrers = referrers.filter(
            Q(email__icontains=query)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
            | Q(code__iexact=query)
        )
    page = Paginator(referrers, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "campaigns/referrers.html", {"campaign": campaign, "page": page, "q": query})


@account_required
def referrer_add(request: AccountRequest, campaign_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    form = ReferrerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            referrer, created = add_referrer(campaign, request.POST, source="manual")
        except InputRejected as rejected:
            add_form_errors(form, rejected)
        else:
            if created:
                messages.success(request, f"{referrer.full_name} added. Their link: {referrer.referral_url}")
            else:
                messages.info(request, f"{referrer.email} is already a referrer in this campaign.")
            return redirect("referrer_detail", campaign.pk, referrer.pk)
    return render(request, "campaigns/referrer_add.html", {"campaign": campaign, "form": form})


@account_required
def referrer_detail(request: AccountRequest, campaign_id: int, referrer_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    referrer = get_object_or_404(Referrer, pk=referrer_id, campaign=campaign)
    return render(
        request,
        "campaigns/referrer_detail.html",
        {"campaign": campaign, "referrer": referrer, "leads": referrer.leads.order_by("-created_at")},
    )


# The lead list's stage filter: LeadStage values, with "not_booked" standing for the empty one.
STAGE_FILTERS = {value or "not_booked": value for value in LeadStage.values}


@account_required
def lead_list(request: AccountRequest, campaign_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    status = request.GET.get("status", "")
    query = request.GET.get("q", "").strip()
    leads = campaign.leads.select_related("referrer").order_by("-created_at")
    if status in LeadStatus.values:
        leads = leads.filter(status=status)
    stage = request.GET.get("stage", "")
    if stage in STAGE_FILTERS:
        leads = leads.filter(stage=STAGE_FILTERS[stage])
    wanted = request.GET.get("verification", "")
    if wanted in list(verification.State):
        leads = leads.filter(verification.state_filter(verification.State(wanted)))
    if query:
        leads = leads.filter(Q(email__icontains=query) | Q(first_name__icontains=query) | Q(last_name__icontains=query))
    suspicious = request.GET.get("suspicious") == "1"
    if suspicious:
        leads = only_suspicious(leads, campaign)
    existing = request.GET.get("existing") == "1"  # already ServiceTitan customers (known_customers.py)
    if existing:
        leads = leads.filter(servicetitan_customer_id__isnull=False)
    page = CappedPaginator(leads, PAGE_SIZE).get_page(request.GET.get("page"))
    flag_suspicious(page.object_list, campaign)
    return render(
        request,
        "campaigns/leads.html",
        {
            "campaign": campaign,
            "page": page,
            "status": status,
            "q": query,
            "statuses": LeadStatus.choices,
            "stage": stage,
            "stages": [(key, LeadStage(value).label) for key, value in STAGE_FILTERS.items()],
            "verification": wanted,
            "verifications": [(state.value, state.label) for state in verification.State],
            "suspicious": suspicious,
            "suspicious_note": filter_note() if suspicious else "",
            "existing": existing,
        },
    )


@account_required
def lead_add(request: AccountRequest, campaign_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    referrers = campaign.referrers.order_by("first_name", "last_name")
    form = LeadDataForm(request.POST or None, campaign=campaign)
    referrer_id = request.POST.get("referrer", "")
    if request.method == "POST" and form.is_valid() and require_whole_address(form):
        referrer_pk = id_from(request.POST, "referrer")
        referrer = referrers.filter(pk=referrer_pk).first() if referrer_pk is not None else None
        if referrer is None:
            form.add_error(None, "Choose the referrer who sent this lead.")
        else:
            try:
                result = submit_lead(campaign, referrer, request.POST, source=LeadSource.MANUAL)
            except InputRejected as rejected:
                add_form_errors(form, rejected)
            else:
                if result.created:
                    messages.success(request, f"Lead {result.lead.email} added, credited to {referrer.full_name}.")
                else:
                    messages.info(
                        request,
                        f"{result.lead.email} is already a lead in this campaign, credited to "
                        f"{result.lead.referrer.full_name}. Nothing was changed.",
                    )
                return redirect("lead_detail", campaign.pk, result.lead.pk)
    return render(
        request,
        "campaigns/lead_add.html",
        {"campaign": campaign, "form": form, "referrers": referrers, "referrer_id": referrer_id},
    )


@account_required
def lead_detail(request: AccountRequest, campaign_id: int, lead_id: int) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    lead = get_object_or_404(Lead.objects.select_related("referrer"), pk=lead_id, campaign=campaign)
    flag_suspicious([lead], campaign)
    labels = {field.key: field.label for field in campaign.custom_fields.all()}
    custom = [(labels.get(key, key), value) for key, value in lead.custom_data.items()]
    return render(
        request,
        "campaigns/lead_detail.html",
        {
            "campaign": campaign,
            "lead": lead,
            "custom": custom,
            "timeline": lead_timeline(lead),
            "follow": Follow.objects.filter(lead=lead).first(),
            "booking_delivery": Delivery.objects.filter(lead=lead, remote_id__isnull=False).first(),
            "outcome_form": OutcomeForm(),
            "verification_state": verification.state(lead),
            "verification_reason": verification.reason(lead),
            "verification_deadline": verification.deadline(lead),
        },
    )


class OutcomeForm(forms.Form):
    reason = forms.CharField(
        max_length=outcomes.REASON_LIMIT, label="Reason", help_text="Kept on the lead's timeline with your name."
    )


@manager_required  # a qualified referral earns its referrer a reward: an owner's or admin's call
@require_POST
def lead_outcome(request: AccountRequest, campaign_id: int, lead_id: int) -> HttpResponse:
    """Qualify or unqualify by hand, with a reason."""
    campaign = account_campaign(request, campaign_id)
    lead = get_object_or_404(Lead, pk=lead_id, campaign=campaign)
    change = {"qualify": outcomes.qualify_by_hand, "unqualify": outcomes.unqualify_by_hand}.get(
        request.POST.get("action", "")
    )
    if change is None:
        messages.error(request, "Choose Qualify or Not qualified.")
        return redirect("lead_detail", campaign.pk, lead.pk)
    try:
        change(lead, request.user, request.POST.get("reason", ""))
    except InputRejected as rejected:
        for problems in rejected.errors.values():
            for problem in problems:
                messages.error(request, problem)
    else:
        messages.success(request, f"{lead.full_name} is now {lead.get_status_display()}.")
    return redirect("lead_detail", campaign.pk, lead.pk)


@account_required
@require_POST
def lead_verification(request: AccountRequest, campaign_id: int, lead_id: int) -> HttpResponse:
    """A lead waiting for email confirmation: send the link again, or confirm by hand (the friend called in)."""
    campaign = account_campaign(request, campaign_id)
    lead = get_object_or_404(
        Lead.objects.select_related("referrer", "campaign__account"), pk=lead_id, campaign=campaign
    )
    action = request.POST.get("action")
    current = verification.state(lead)
    if action == "resend" and current is verification.State.UNVERIFIED:
        if verification.send_link(lead):
            messages.success(request, f"The confirmation link was emailed to {lead.email} again.")
        else:
            messages.error(
                request, "The email could not be sent just now (the mail server refused it). Try again later."
            )
    elif action == "confirm" and current in (verification.State.UNVERIFIED, verification.State.EXPIRED):
        if verification.verify(lead, by=request.user) is verification.Outcome.VERIFIED:
            messages.success(request, f"{lead.email} confirmed by hand: the lead goes to your integrations now.")
        else:
            messages.info(request, "The friend confirmed it already.")
    else:
        messages.info(request, "Nothing to do: this lead is not waiting for email confirmation.")
    return redirect("lead_detail", campaign.pk, lead.pk)


@account_required
def csv_import(request: AccountRequest, campaign_id: int, kind: str) -> HttpResponse:
    campaign = account_campaign(request, campaign_id)
    if kind not in ImportKind.values:
        return redirect("campaign_detail", campaign.pk)
    form = CsvImportForm(request.POST or None, request.FILES or None, initial={"kind": kind})
    if request.method == "POST" and form.is_valid():
        try:
            job = start_import(campaign, kind, form.cleaned_data["file"], request.user)
        except InputRejected as rejected:
            for problem in rejected.errors.get("file", []):
                form.add_error("file", problem)
        else:
            return redirect("csv_import_progress", campaign.pk, job.pk)
    recent = campaign.imports.filter(kind=kind).order_by("-created_at")[:5]
    return render(
        request,
        "campaigns/csv_import.html",
        {"campaign": campaign, "form": form, "kind": kind, "recent": recent},
        status=400 if form.errors else 200,
    )


@account_required
def csv_import_progress(request: AccountRequest, campaign_id: int, job_id: int) -> HttpResponse:
    """The progress page. Each POST (an htmx poll, or the button without JavaScript) imports the next chunk."""
    campaign = account_campaign(request, campaign_id)
    job = get_object_or_404(ImportJob, pk=job_id, campaign=campaign)
    if request.method == "POST" and not job.is_done:
        job = import_chunk(job.pk)
    if request.headers.get("HX-Request"):
        return render(request, "campaigns/_import_progress.html", {"campaign": campaign, "job": job})
    if request.method == "POST":
        return redirect("csv_import_progress", campaign.pk, job.pk)
    return render(request, "campaigns/import_job.html", {"campaign": campaign, "job": job})
