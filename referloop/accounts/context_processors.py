from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from referloop.accounts.models import Membership


def current_account(request: HttpRequest) -> dict[str, Any]:
    membership = getattr(request, "membership", None)
    memberships: list[Membership] = []
    if membership is not None:
        memberships = list(
            Membership.objects.filter(user_id=membership.user_id).select_related("account").order_by("account__name")
        )
    return {
        "current_account": getattr(request, "account", None),
        "current_membership": membership,
        "all_memberships": memberships,
    }
