"""A lead as the connector sees it: a flat record keyed by source field key (no Django in the connector)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.urls import reverse

from referloop.campaigns import custom_fields
from referloop.campaigns.models import Campaign, Lead
from referloop.integrations.engine import queries
from referloop.integrations.engine.queries import LeadRow
from referloop.providers.mapping import CustomSource, LeadRecord


def lead_record(lead: Lead) -> LeadRecord:
    """The record of one lead instance: the same builder the worker uses on rows, so the two cannot drift."""
    row = LeadRow._make(_value_at(lead, lookup) for lookup in LeadRow._fields)
    return record_of_row(row, lambda _code: lead.referrer.referral_url)


def _value_at(lead: Lead, lookup: str) -> Any:
    """What a `LeadRow` lookup (`email`, `referrer__code`) reads, from the instance and its related ones."""
    value: Any = lead
    for name in lookup.split("__"):
        value = getattr(value, name)
    return value


def record_of_row(row: LeadRow, link: Callable[[str], str]) -> dict[str, object]:
    """A record from a lead's row; `link` turns a referrer's code into their referral link."""
    record: dict[str, object] = {
        "lead.first_name": row.first_name,
        "lead.last_name": row.last_name,
        "lead.full_name": f"{row.first_name} {row.last_name}".strip(),
        "lead.email": row.email,
        "lead.phone": row.phone,
        "lead.street": row.street,
        "lead.city": row.city,
        "lead.state": row.state,
        "lead.zip": row.zip_code,
        "lead.notes": row.notes,
        "lead.referral_code": row.code,
        "lead.created_at": row.created_at,
        "referrer.first_name": row.referrer__first_name,
        "referrer.full_name": f"{row.referrer__first_name} {row.referrer__last_name}".strip(),
        "referrer.email": row.referrer__email,
        "referrer.referral_code": row.referrer__code,
        "referrer.referral_link": link(row.referrer__code),
        "campaign.name": row.campaign__name,
    }
    for key, value in (row.custom_data or {}).items():
        record[f"custom.{key}"] = value
    return record


# Codes are made of letters and digits, which `reverse` leaves as they are; anything else goes through it.
_PLAIN_CODE = re.compile(r"[A-Za-z0-9]+")
_MARK = "CODE"


def referral_links() -> Callable[[str], str]:
    """`Referrer.referral_url` by code, reversing the URL once instead of once per referrer."""
    head, _, tail = (settings.PUBLIC_BASE_URL + reverse("referral_page", args=[_MARK])).rpartition(_MARK)

    def link(code: str) -> str:
        if _PLAIN_CODE.fullmatch(code):
            return f"{head}{code}{tail}"
        return settings.PUBLIC_BASE_URL + reverse("referral_page", args=[code])

    return link


def custom_fields_of(campaign: Campaign) -> list[CustomSource]:
    return [CustomSource(name=field.key, label=field.label) for field in custom_fields.of_campaign(campaign.pk)]


def load_records(lead_ids: Iterable[int]) -> dict[int, dict[str, object]]:
    """`lead_record` for many leads in one query (`queries.lead_rows`): the same records, built from rows.

    Building Lead, Referrer and Campaign instances (and reversing a URL per lead) cost more than the query.
    """
    ids = sorted(set(lead_ids))
    if not ids:
        return {}
    link = referral_links()
    return {row.id: record_of_row(row, link) for row in queries.lead_rows(ids)}
