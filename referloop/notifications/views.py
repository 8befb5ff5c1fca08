"""Campaign Settings → Emails (wordings, preview, the footer's postal address), sending a failed email again,
and the public unsubscribe page."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from referloop.accounts import audit
from referloop.accounts.decorators import manager_required
from referloop.accounts.http import AccountRequest
from referloop.campaigns.models import Campaign
from referloop.integrations.records import custom_fields_of
from referloop.notifications import outbox, unsubscribe
from referloop.notifications.catalog import SPECS, catalog
from referloop.notifications.forms import PostalAddressForm, WordingForm
from referloop.notifications.models import Email, EmailTemplate, UnsubscribeMethod
from referloop.notifications.wording import Wording, preview, wordings_for

PREVIEW = "preview"


def settings_tab(request: AccountRequest, campaign: Campaign) -> HttpResponse:
    """Reached through `campaigns.views.campaign_settings`, which checks the account. GET: each notification's
    wording with its preview. POST (owners and admins): save one, or preview it unsaved (`action=preview`);
    `notification` says which."""
    custom = custom_fields_of(campaign)
    can_manage = request.membership.can_manage
    posted = request.POST.get("notification", "") if request.method == "POST" else ""
    if request.method == "POST" and posted not in SPECS:
        return redirect("campaign_settings", campaign.pk, "emails")
    sections = []
    status = 200
    for wording in wordings_for(campaign):
        initial = {"enabled": wording.enabled, "subject": wording.subject, "body": wording.body}
        mine = wording.notification == posted
        form = WordingForm(
            request.POST if mine else None, initial=initial, notification=wording.notification, custom=custom
        )
        shown, opened = wording, False
        if mine:
            if request.POST.get("action") != PREVIEW and not can_manage:
                raise PermissionDenied("Only owners and admins can change the emails.")
            if not form.is_valid():
                status = 400
            else:
                data = form.cleaned_data
                shown = Wording(wording.notification, data["enabled"], data["subject"], data["body"], True)
                if request.POST.get("action") != PREVIEW:
                    label = SPECS[shown.notification].notification.label
                    audit.save_form(
                        form, partial(_save, campaign, shown), request.account, request.user, "Emails",
                        campaign=campaign, prefix=f"“{label}” email: ",
                    )  # fmt: skip
                    messages.success(request, f"“{SPECS[shown.notification].notification.label}” email saved.")
                    return redirect("campaign_settings", campaign.pk, "emails")
                opened = True
        if not can_manage:
            for field in form.fields.values():
                field.disabled = True
        sections.append(
            {
                "spec": SPECS[wording.notification],
                "wording": wording,
                "form": form,
                "fields": catalog(wording.notification, custom),
                "preview": preview(campaign, shown) if not form.errors else None,
                "preview_open": opened,
            }
        )
    context = {
        "campaign": campaign,
        "tab": "emails",
        "email_sections": sections,
        "address_form": PostalAddressForm(instance=request.account),
        "address_missing": not request.account.postal_address.strip(),
    }
    return render(request, "campaigns/settings.html", context, status=status)


def _save(campaign: Campaign, wording: Wording) -> None:
    EmailTemplate.objects.update_or_create(
        campaign=campaign,
        notification=wording.notification,
        defaults={"enabled": wording.enabled, "subject": wording.subject, "body": wording.body},
    )


@manager_required
@require_POST
def postal_address(request: AccountRequest, campaign_id: int) -> HttpResponse:
    """The account's postal address, for every email's footer; saving it sends the referrer emails held for it."""
    campaign = get_object_or_404(Campaign, pk=campaign_id, account=request.account)
    form = PostalAddressForm(request.POST, instance=request.account)
    if form.is_valid():
        audit.save_form(form, form.save, request.account, request.user, "Emails")
        released = outbox.release_addressed(request.account.pk)
        sent = f" {released} waiting referrer email{'' if released == 1 else 's'} will go out now." if released else ""
        messages.success(request, f"Postal address saved.{sent}")
    else:
        messages.error(request, "; ".join(str(error) for errors in form.errors.values() for error in errors))
    return redirect("campaign_settings", campaign.pk, "emails")


@manager_required
@require_POST
def resend(request: AccountRequest, campaign_id: int, email_id: int) -> HttpResponse:
    """Send a failed email again: a person checked it did not arrive (see the connector on why it isn't automatic)."""
    email = get_object_or_404(
        Email.objects.select_related("delivery"), pk=email_id, campaign_id=campaign_id, account=request.account
    )
    if outbox.resend(email):
        messages.success(request, f"Sending the email to {email.to_email} again now.")
    else:
        messages.error(request, "Only a failed email can be sent again.")
    return redirect("referrer_detail", campaign_id, email.referrer_id)


@csrf_exempt  # a mail app's one-click POST (RFC 8058) carries no CSRF token; the signed link is the authority
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    """The link in a referrer email, no login needed. GET asks (mail scanners open links); POST unsubscribes."""
    referrer = unsubscribe.referrer_for_token(token)
    if referrer is None:
        return render(request, "notifications/unsubscribe.html", {"outcome": "invalid"}, status=404)
    account = referrer.campaign.account
    context: dict[str, object] = {"account": account, "referrer": referrer}
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        unsubscribe.unsubscribe(referrer, UnsubscribeMethod.ONE_CLICK if one_click else UnsubscribeMethod.LINK)
        return render(request, "notifications/unsubscribe.html", {**context, "outcome": "done"})
    already = unsubscribe.unsubscribed_at(account.pk, referrer.email) is not None
    return render(request, "notifications/unsubscribe.html", {**context, "outcome": "already" if already else "ask"})
