"""`{% load diagnostics %}`: the problem banner for the campaign page (`{% problem_banner campaign %}`) and the
CRM tile (`{% integration_banner integration %}`); both render `diagnostics/_banner.html`, or nothing."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from referloop.campaigns.models import Campaign
from referloop.diagnostics import banner as banners
from referloop.diagnostics.result import Status
from referloop.integrations.models import Integration

register = template.Library()

_TICKS = re.compile(r"`([^`]+)`")
BANNER_CLASSES = {Status.OK: "ok", Status.WARNING: "warn", Status.PROBLEM: "bad", Status.SKIPPED: "info"}
ICONS = {Status.OK: "✓", Status.WARNING: "!", Status.PROBLEM: "✕", Status.SKIPPED: "–"}  # noqa: RUF001


@register.inclusion_tag("diagnostics/_banner.html")
def problem_banner(campaign: Campaign) -> dict[str, Any]:
    return {"banner": banners.problem_banner(campaign)}


@register.inclusion_tag("diagnostics/_banner.html")
def integration_banner(integration: Integration | None) -> dict[str, Any]:
    return {"banner": banners.integration_banner(integration) if integration is not None else None}


@register.filter
def status_icon(status: str) -> str:
    return ICONS.get(Status(status), "")


@register.filter
def status_class(status: str) -> str:
    """The banner colour of a status (the stylesheet's `.banner.ok`, `.warn`, `.bad`, `.info`)."""
    return BANNER_CLASSES.get(Status(status), "info")


@register.filter
def ticks(text: str) -> SafeString:
    """Escape, then show `command` spans as <code>, as the sentences write commands."""
    escaped = str(conditional_escape(text))
    return mark_safe(_TICKS.sub(r"<code>\1</code>", escaped))  # noqa: S308 (escaped above)
