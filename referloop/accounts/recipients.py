"""Who hears about an account's integrations: its active owners and admins."""

from __future__ import annotations

from referloop.accounts.models import Role, User


def manager_emails(account_id: int) -> list[str]:
    """The email addresses of the account's active owners and admins, each once, sorted."""
    users = User.objects.filter(
        is_active=True, memberships__account_id=account_id, memberships__role__in=[Role.OWNER, Role.ADMIN]
    )
    return sorted(set(users.values_list("email", flat=True)))
