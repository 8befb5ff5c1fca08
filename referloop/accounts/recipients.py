"""Who hears about an account's integrations, its active owners and admins, and emailing them."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from referloop.accounts.models import Role, User

logger = logging.getLogger(__name__)


def manager_emails(account_id: int) -> list[str]:
    """The email addresses of the account's active owners and admins, each once, sorted."""
    users = User.objects.filter(
        is_active=True, memberships__account_id=account_id, memberships__role__in=[Role.OWNER, Role.ADMIN]
    )
    return sorted(set(users.values_list("email", flat=True)))


def email_managers(account_id: int, subject: str, body: str, *, about: str) -> int:
    """Email the account's owners and admins; how many messages went. A failing mail server (or nobody to tell)
    is logged, never raised: the state change the email reports is already saved."""
    recipients = manager_emails(account_id)
    if not recipients:
        logger.warning("%s, but account %s has no owner or admin to email", about, account_id)
        return 0
    try:
        return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        logger.exception("could not email that %s", about)
        return 0
