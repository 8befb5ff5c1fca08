"""Brakes on the account forms: login lockout (django-axes) and a cap on the emails one address can be sent.

Login: five failed passwords for one email from one client IP lock that pair out for 15 minutes (settings.py,
AXES_*). The pair, not the email alone, so a stranger hammering someone's address can't lock its owner out of
their own office. The lockout runs from the lockout itself: failures during it do not extend it
(AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so "try again in 15 minutes" is true.

An attacker rotating addresses would get five fresh tries per address, so the email also has a cap across every
client: LOGIN_ACCOUNT_FAILURE_LIMIT (12) failures still counted (axes keeps a client's failures until 15 minutes
after its last one) lock the email out everywhere, for 15 minutes: at most about 50 guesses an hour on one
account, however many networks. A stranger can pause someone's logins that way; the owner then resets the
password by email (the reset form isn't locked), which ends the lockout (`ResetPasswordAndLockoutView`). Axes
locks unknown emails alike, and the message says nothing about whether the account exists.

Emails (password reset, sign-up): a few per address per hour and more per client IP, counted by django-ratelimit
on Django's cache, the same counters the public forms use. Over the limit the form answers exactly as usual and
sends nothing: an attacker learns neither that the address exists nor that the limit was hit.
"""

from __future__ import annotations

import logging
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit, get_lockout_parameters
from axes.utils import reset as reset_axes
from django.conf import settings
from django.contrib.auth.views import PasswordResetConfirmView, PasswordResetView
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django_ratelimit.core import is_ratelimited

from referloop.accounts.forms import EmailAuthenticationForm, ResetEmailForm
from referloop.accounts.mail import UNAVAILABLE, mail_server_reachable
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


class LoginAttemptsHandler(AxesDatabaseHandler):
    """Axes' database handler, with a limit of its own for each of AXES_LOCKOUT_PARAMETERS' combinations.

    Axes compares one number, the most failures among the combinations, with one limit (AXES_FAILURE_LIMIT): with
    [["username", "ip_address"], ["username"]] the email's count across every client is always the largest, so
    one limit would lock the owner out after five failures from anywhere. LOGIN_FAILURE_LIMITS holds a limit per
    combination, in the same order; each count is scaled to AXES_FAILURE_LIMIT (count * limit // own limit), which
    reaches it exactly when the count reaches its own limit, so axes' comparisons and lockout flow stay its own.
    """

    def failure_counts(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> list[int]:
        """Failures still counted, per lockout parameter combination (AXES_LOCKOUT_PARAMETERS' order)."""
        return [
            int(attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0)
            for attempts in self.get_user_attempts(request, credentials)
        ]

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        limit = get_failure_limit(request, credentials)
        counts = self.failure_counts(request, credentials)
        own_limits = settings.LOGIN_FAILURE_LIMITS
        return max((count * limit // own for count, own in zip(counts, own_limits, strict=True)), default=0)


def _locked_everywhere(request: HttpRequest, credentials: dict[str, Any] | None) -> bool:
    """Whether the email's cap across every client is what locked this login (not this client's own limit)."""
    parameters = get_lockout_parameters(request, credentials)
    counts = LoginAttemptsHandler().failure_counts(request, credentials)
    return any(
        list(parameter) == ["username"] and count >= own
        for parameter, count, own in zip(parameters, counts, settings.LOGIN_FAILURE_LIMITS, strict=True)
    )


def locked_out(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """The login page again, with the reason and when to come back (429). The same words for every email,
    with an account or without: axes counts failures for any address."""
    minutes = round(get_cool_off(request).total_seconds() / 60) if get_cool_off(request) else 0
    if _locked_everywhere(request, credentials):
        message = (
            "Too many failed attempts to log in to this account, from several networks, so logging in to it is "
            f"paused for {minutes} minutes. If it's your account, reset your password by email: that ends the "
            "pause at once."
        )
    else:
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
    """Django's reset view; past the email limit it shows the same "check your email" page and sends nothing.

    A mail server that is down is said to everyone alike (503, the form again), before anything depends on the
    address: only an address with an account is sent an email, so answering after a failed send would tell a
    stranger which addresses have accounts. A send that fails once the server was reached (rarer) is logged
    without the link (ResetEmailForm) and answered as usual for the same reason.
    """

    template_name = "accounts/password_reset.html"
    form_class = ResetEmailForm

    def form_valid(self, form: Any) -> HttpResponse:
        if not mail_server_reachable("password-reset"):  # before the allowance is counted, as for sign-up
            form.add_error(None, UNAVAILABLE)
            return self.render_to_response(self.get_context_data(form=form), status=503)
        if email_allowed(self.request, "password-reset", form.cleaned_data["email"]):
            return super().form_valid(form)
        return HttpResponseRedirect(self.get_success_url())


class ResetPasswordAndLockoutView(PasswordResetConfirmView):
    """Django's "choose a new password" from the emailed link; it also ends the email's login lockout, which the
    link's owner has earned by proving the mailbox (a stranger's failures must not keep them out)."""

    template_name = "accounts/password_reset_confirm.html"

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        reset_axes(username=login_email(self.request, {"username": form.user.email}))
        return response
