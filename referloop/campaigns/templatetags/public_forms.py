"""`{% public_form_guard campaign "lead" %}`: the hidden fields of `abuse.formguard` in a public form."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

from referloop.campaigns.abuse.formguard import HONEYPOT_FIELD, TOKEN_FIELD, FormKind, issue_token
from referloop.campaigns.models import Campaign

register = template.Library()


@register.simple_tag
def public_form_guard(campaign: Campaign, kind: str) -> str:
    """A fresh signed timestamp, and a field people never see (off-screen, out of the tab order, no autofill)."""
    return format_html(
        '<input type="hidden" name="{}" value="{}">'
        '<div class="hp-field" aria-hidden="true"><label for="id_{}">Leave this field empty</label>'
        '<input type="text" name="{}" id="id_{}" value="" tabindex="-1" autocomplete="off"></div>',
        TOKEN_FIELD,
        issue_token(campaign, FormKind(kind)),
        HONEYPOT_FIELD,
        HONEYPOT_FIELD,
        HONEYPOT_FIELD,
    )
