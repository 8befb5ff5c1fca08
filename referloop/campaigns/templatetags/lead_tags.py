"""`{{ lead|verification_state }}`, `{{ lead|verification_reason }}`: where the lead's email confirmation stands
(campaigns/verification.py)."""

from __future__ import annotations

from django import template

from referloop.campaigns import verification
from referloop.campaigns.models import Lead

register = template.Library()


@register.filter
def verification_state(lead: Lead) -> verification.State:
    return verification.state(lead)


@register.filter
def verification_reason(lead: Lead) -> str:
    return verification.reason(lead)
