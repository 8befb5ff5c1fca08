"""Puts the user's current account on every request (`request.account`, `request.membership`)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from referloop.accounts.models import Membership

SESSION_KEY = "current_account_id"


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership chosen in the session, else the user's oldest one."""
    if not request.user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user_id=request.user.pk).select_related("account")
    chosen = request.session.get(SESSION_KEY)
    if chosen is not None:
        membership = memberships.filter(account_id=chosen).first()
        if membership is not None:
            return membership
    return memberships.order_by("created_at", "pk").first()


class CurrentAccountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = current_membership(request)
        request.membership = membership  # type: ignore[attr-defined]
        request.account = membership.account if membership else None  # type: ignore[attr-defined]
        return self.get_response(request)
