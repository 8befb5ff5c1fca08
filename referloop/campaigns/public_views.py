"""Public pages: a referrer joins a campaign; a friend opens a referral link and becomes a lead."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from referloop.accounts.mail import UNAVAILABLE
from referloop.accounts.throttling import email_allowed
from referloop.campaigns import custom_fields, verification
from referloop.campaigns.abuse import limits
from referloop.campaigns.abuse.client import client_info
from referloop.campaigns.abuse.formguard import FormKind, admit_form
from referloop.campaigns.codes import normalize_code
from referloop.campaigns.errors import InputRejected, SelfReferral
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.lead_form import LeadDataForm
from referloop.campaigns.models import Campaign, Lead
from referloop.campaigns.referrer_links import email_referral_link
from referloop.campaigns.referrers import ReferrerForm, add_referrer, referrer_for_code
from referloop.integrations.servicetitan.lead_address import require_whole_address


@require_http_methods(["GET", "POST"])
def referrer_join(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("account"), slug=slug)
    if not campaign.is_active:
        return render(request, "public/campaign_ended.html", {"campaign": campaign}, status=410)
    form = ReferrerForm(request.POST if request.method == "POST" else None)  # an empty POST is still a POST
    if request.method == "POST" and admit_form(request, form, campaign, FormKind.JOIN) and form.is_valid():
        if (limited := limits.consume(request, campaign, FormKind.JOIN)) is not None:
            return limits.too_many_requests(request, campaign, limited)
        try:
            referrer, created = add_referrer(campaign, request.POST, source="signup", client=client_info(request))
        except InputRejected as rejected:
            for field, problems in rejected.errors.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        else:
            # The same page for a new and a known email: the link goes to the inbox only (referrer_links.py).
            # A mail server that is down says so (a new and a known email alike); the same form sends it again.
            if email_allowed(request, "referral-link", referrer.email) and not email_referral_link(referrer, created):
                form.add_error(None, UNAVAILABLE)
                return render(request, "public/join.html", {"campaign": campaign, "form": form}, status=503)
            return render(request, "public/joined.html", {"campaign": campaign})
    return render(request, "public/join.html", {"campaign": campaign, "form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@custom_fields.read_once()
def referral_page(request: HttpRequest, code: str) -> HttpResponse:
    normalized = normalize_code(code)
    if normalized != code:
        return redirect("referral_page", normalized)
    referrer = referrer_for_code(normalized)
    if referrer is None:
        return render(request, "public/unknown_code.html", {"code": code}, status=404)
    campaign = referrer.campaign
    if not campaign.is_active:
        return render(request, "public/campaign_ended.html", {"campaign": campaign}, status=410)
    form = LeadDataForm(request.POST if request.method == "POST" else None, campaign=campaign)
    if (
        request.method == "POST"
        and admit_form(request, form, campaign, FormKind.LEAD)
        and form.is_valid()
        and require_whole_address(form)
    ):
        if (limited := limits.consume(request, campaign, FormKind.LEAD)) is not None:
            return limits.too_many_requests(request, campaign, limited)
        try:
            result = submit_lead(campaign, referrer, request.POST, client=client_info(request), validated=form)
        except SelfReferral:
            pass  # nothing is written, and the answer is a lead's: the page must not confirm the owner's email
        except InputRejected as rejected:
            for field, problems in rejected.errors.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        else:
            if result.duplicate:
                resend_verification_link(request, result.lead)
        if not form.errors:
            # A known email gets a new lead's page, greeted with the name just typed: nothing about the stored lead.
            return render(
                request,
                "public/thanks.html",
                {
                    "campaign": campaign,
                    "referrer": referrer,
                    "first_name": form.cleaned_data["first_name"],
                    "check_inbox": campaign.verify_friend_email,
                },
            )
    return render(
        request,
        "public/referral.html",
        {"campaign": campaign, "referrer": referrer, "form": form},
        status=400 if form.errors else 200,
    )


def resend_verification_link(request: HttpRequest, lead: Lead) -> None:
    """A friend who sends the form again while their lead waits for confirmation gets the link again (they may
    have lost the first email); the page is the same whatever happened, and one inbox gets a few emails an hour."""
    if verification.state(lead) is verification.State.UNVERIFIED and email_allowed(
        request, "lead-verification", lead.email
    ):
        verification.send_link(lead)


@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the friend's email: GET shows a button (mail scanners fetch links), POST confirms."""
    lead = verification.lead_for_token(token)
    if lead is None:
        return render(request, "public/verify_email.html", {"outcome": "invalid"}, status=404)
    context: dict[str, object] = {"campaign": lead.campaign, "lead": lead}
    if request.method == "POST":
        verified = verification.verify(lead)
        status = 410 if verified is verification.Outcome.EXPIRED else 200
        return render(request, "public/verify_email.html", {**context, "outcome": verified.value}, status=status)
    current = verification.state(lead)
    if current is verification.State.EXPIRED:
        return render(request, "public/verify_email.html", {**context, "outcome": "expired"}, status=410)
    outcome = "already" if current is verification.State.VERIFIED else "ask"
    return render(request, "public/verify_email.html", {**context, "outcome": outcome})
