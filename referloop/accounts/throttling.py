"""Brakes on the account forms: login lockout (django-axes) and a cap on the emails one address can be sent.

Login: five failed passwords for one email from one client IP lock that pair out for 15 minutes (settings.py,
AXES_*). The pair, not the email alone, so a stranger hammering someone's address can't lock its owner out of
their own office. The lockout runs from the lockout itself: failures during it do not extend it
(AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so "try again in 15 minutes" is true.

Emails (password reset, sign-up): a few per address per hour and more per client IP, counted by django-ratelimit
on Django's cache, the same counters the public forms use. Over the limit the form answers exactly as usual and
sends nothing: an attacker learns neither that the address exists nor that the limit was hit.
"""

from __future__ import annotations

import logging
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.contrib.auth.views import PasswordResetView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django_ratelimit.core import is_ratelimited

from referloop.accounts.forms import EmailAuthenticationForm
from referloop.campaigns.abuse.client import client_ip
from referloop.campaigns.abuse.limits import ip_key

logger = logging.getLogger(__name__)

EMAILS_PER_ADDRESS = "3/h"
EMAILS_PER_IP = "20/h"

class AxesHttpBackend(AxesStandaloneBackend):
    """Axes' lockout check, for logins that come over HTTP.

    Axes refuses `authenticate()` without a request; in-process callers (the test client's `login()`, the shell)
    have no client to throttle. Every HTTP login path (the login page, the admin) passes the request.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def login_email(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The email a login attempt was for, lowercased: "Pat@x" and "pat@x" count as one account."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email") or request.POST.get("username") or ""
    # An email is at most 254 characters; axes stores this in a 255-character column (PostgreSQL refuses more).
    return str(value).strip().lower()[:254]


def login_client(request: HttpRequest) -> str:
    """The client a login failure counts against: its address, or its /64 for IPv6 (one host owns a whole /64,
    so counting single addresses would give it billions of fresh tries), as the public forms' limits count."""
    client = client_ip(request)
    return ip_key(client) if client else ""


def locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """The login page again, with the reason and when to come back (429)."""
    minutes = round(get_cool_off(request).total_seconds() / 60) if get_cool_off(request) else 0
    message = (
        "Too many failed attempts to log in to this account from your network, so logging in is paused for "
        f"{minutes} minutes. If you've forgotten your password, reset it instead."
    )
    form = EmailAuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    return render(
        request,
        "accounts/login.html",
        {"form": form, "lockout_message": message, "next": request.POST.get("next", "")},
        status=429,
    )


def email_allowed(request: HttpRequest, purpose: str, address: str) -> bool:
    """Count one email about `address`; False when the address or the client IP has had its share this hour."""
    address = address.strip().lower()
    over_address = is_ratelimited(
        request,
        group=f"email:{purpose}:address",
        key=lambda _group, _request: address,
        rate=EMAILS_PER_ADDRESS,
        increment=True,
    )
    client = client_ip(request)
    over_ip = is_ratelimited(
        request,
        group=f"email:{purpose}:ip",
        key=lambda _group, _request: ip_key(client) if client else "unknown",  # the trusted client, not the proxy
        rate=EMAILS_PER_IP,
        increment=True,
    )
    if over_address or over_ip:
        logger.warning("Not sending a %s email: %s limit reached", purpose, "address" if over_address else "IP")
        return False
    return True


class ThrottledPasswordResetView(PasswordResetView):
    """Django's reset view; past the email limit it shows the same "check your email" page and sends nothing."""

    template_name = "accounts/password_reset.html"

    def form_valid(self, form: Any) -> HttpResponse:
        if email_allowed(self.request, "password-reset", form.cleaned_data["email"]):
            return super().form_valid(form)
        return HttpResponseRedirect(self.get_success_url())
