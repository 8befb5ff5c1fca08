"""The referrer's page, `/c/<slug>/me/`, and signing in to it by an emailed one-time link (links.py, session.py).

The emailed link's URL holds its token, so that URL looks the link up by the token's hash and, for a link that can
still be used, puts only the link's id and hash in the session (sessions are stored in the database, which must
open nobody's page: links.py) and redirects to `/c/<slug>/me/in/` (as the sign-up link does, accounts/signup.py):
no later request, Referer header, history entry or log line carries the token. A used, expired or unknown link is
answered there and then, with status 200 (Django logs the path of a 4xx answer) and without writing a session row,
so a stranger trying tokens fills no table. The `in/` page shows a Sign in button and the POST signs in, because
mail scanners open every link in an email and must not spend it.
"""

from __future__ import annotations

import logging

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from referloop.accounts.mail import UNAVAILABLE, mail_server_reachable
from referloop.accounts.throttling import email_allowed
from referloop.campaigns.abuse import limits
from referloop.campaigns.abuse.formguard import FormKind, admit_form
from referloop.campaigns.models import Campaign, Referrer
from referloop.portal import links, page, session
from referloop.portal.links import LinkState
from referloop.portal.models import SignInLink

logger = logging.getLogger(__name__)


class SignInRequestForm(forms.Form):
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"})
    )


def _campaign(slug: str) -> Campaign:
    return get_object_or_404(Campaign.objects.select_related("account"), slug=slug)


def _pending_key(slug: str) -> str:
    return f"_portal_link:{slug}"


@never_cache
@require_http_methods(["GET", "POST"])
def referrer_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Signed in: the referrer's page. Otherwise the form that emails a sign-in link."""
    campaign = _campaign(slug)
    if request.method == "GET" and (referrer := session.signed_in_referrer(request, campaign)) is not None:
        return render_page(request, campaign, referrer)
    form = SignInRequestForm(request.POST if request.method == "POST" else None)
    context = {"campaign": campaign, "form": form}
    if request.method == "POST" and admit_form(request, form, campaign, FormKind.PORTAL) and form.is_valid():
        if (limited := limits.consume(request, campaign, FormKind.PORTAL)) is not None:
            response = render(request, "portal/too_many_requests.html", {"campaign": campaign}, status=429)
            response["Retry-After"] = str(limited.retry_after)
            return response
        # An outage is said to every address alike, before anything depends on the address (as password reset).
        if not mail_server_reachable("portal-sign-in"):
            form.add_error(None, UNAVAILABLE)
            return render(request, "portal/sign_in.html", context, status=503)
        email = form.cleaned_data["email"].strip()
        matching = Referrer.objects.select_related("campaign__account").filter(
            campaign=campaign, email__lower=email.lower()
        )
        # Counted for every address, a referrer's or not, and answered the same either way: past the limit, or
        # when the send fails after the server was reached (logged), the page still says "Check your inbox".
        if email_allowed(request, "portal-sign-in", email) and (found := matching.first()) is not None:
            links.send(found)
        return render(
            request,
            "portal/sign_in_sent.html",
            {"campaign": campaign, "email": email, "minutes": links.VALID_MINUTES},
        )
    return render(request, "portal/sign_in.html", context, status=400 if form.errors else 200)


def render_page(request: HttpRequest, campaign: Campaign, referrer: Referrer) -> HttpResponse:
    friends, friends_total = page.friends(referrer)
    context = {
        "campaign": campaign,
        "first_name": referrer.first_name,
        "sharing": page.sharing(referrer),
        "friends": friends,
        "friends_total": friends_total,
        "rewards": page.rewards(referrer),
    }
    return render(request, "portal/page.html", context)


@never_cache
@require_GET
def open_link(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """The emailed link: a usable link's id and hash go into the session, the browser on to a URL without the token.

    Under a slug that is no campaign's it redirects, storing nothing, to `in/`, which answers 404 by a path with no
    token in it."""
    campaign = Campaign.objects.select_related("account").filter(slug=slug).first()
    link = links.find(campaign, token) if campaign is not None else None
    outcome = links.state(link)
    response: HttpResponse
    if campaign is None:
        # Not found, but said by the token-free URL (Django's "Not Found" line names the path); nothing is stored.
        response = redirect("portal_sign_in", slug)
    elif outcome is not LinkState.VALID or link is None:
        # Answered here, with no session written; 200 so that no "Not Found"/"Gone" log line holds the path.
        response = render_link_page(request, campaign, outcome, None, status=200)
    else:
        request.session[_pending_key(slug)] = {"link": link.pk, "hash": link.token_hash}
        response = redirect("portal_sign_in", slug)
    response["Referrer-Policy"] = "no-referrer"  # this URL holds the token: never pass it on
    return response


def _pending_link(request: HttpRequest, campaign: Campaign) -> SignInLink | None:
    """The link opened in this session under this campaign's URL (by id, checked against its hash), or None."""
    pending = request.session.get(_pending_key(campaign.slug))
    if not isinstance(pending, dict) or not isinstance(pending.get("link"), int):
        return None
    hashed = pending.get("hash")
    if not isinstance(hashed, str):
        return None
    return (
        SignInLink.objects.select_related("referrer")
        .filter(pk=pending["link"], token_hash=hashed, referrer__campaign=campaign)
        .first()
    )


def render_link_page(
    request: HttpRequest, campaign: Campaign, outcome: LinkState, link: SignInLink | None, status: int | None = None
) -> HttpResponse:
    if status is None:
        status = {LinkState.VALID: 200, LinkState.INVALID: 404}.get(outcome, 410)
    context = {
        "campaign": campaign,
        "outcome": outcome.value,
        "first_name": link.referrer.first_name if link is not None and outcome is LinkState.VALID else "",
        "minutes": links.VALID_MINUTES,
        "signed_in": session.signed_in_referrer(request, campaign) is not None,
    }
    return render(request, "portal/link.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the Sign in button for the link opened in this session, or why it can't be used. POST: sign in."""
    campaign = _campaign(slug)
    link = _pending_link(request, campaign)
    if request.method == "POST":
        outcome = links.use(link) if link is not None else LinkState.INVALID
        if outcome is LinkState.VALID and link is not None:
            request.session.pop(_pending_key(slug), None)
            session.sign_in(request, link.referrer)
            logger.info("Referrer %s signed in to their page in campaign %s", link.referrer_id, campaign.pk)
            return redirect("portal", slug)
    else:
        outcome = links.state(link)
    return render_link_page(request, campaign, outcome, link)


@require_POST
def sign_out(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = _campaign(slug)
    session.sign_out(request, campaign)
    messages.info(request, "You're signed out.")
    return redirect("portal", slug)
