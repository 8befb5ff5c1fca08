"""`{% referrer_emails referrer %}`: the referrer page's list of emails, without the campaigns view knowing it."""

from __future__ import annotations

from typing import Any

from django import template

from referloop.campaigns.models import Referrer
from referloop.notifications.history import rows_for, unsubscribe_of

register = template.Library()


@register.inclusion_tag("notifications/_referrer_emails.html", takes_context=True)
def referrer_emails(context: template.Context, referrer: Referrer) -> dict[str, Any]:
    return {
        "referrer": referrer,
        "email_rows": rows_for(referrer),
        "unsubscribed": unsubscribe_of(referrer),
        "current_membership": context.get("current_membership"),
        "csrf_token": context.get("csrf_token"),
    }
