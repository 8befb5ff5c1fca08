"""A lead as the connector sees it: a flat record keyed by source field key (no Django in the connector)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from django.conf import settings
from django.db import connection
from django.db.models import Field, Model
from django.urls import reverse

from referloop.campaigns.models import Campaign, Lead, Referrer
from referloop.integrations.engine.rows import select_rows
from referloop.providers.mapping import CustomSource, LeadRecord


def lead_record(lead: Lead) -> LeadRecord:
    """The record of one lead instance: the same builder the worker uses on rows, so the two cannot drift."""
    owners: dict[type[Model], Model] = {Lead: lead, Referrer: lead.referrer, Campaign: lead.campaign}
    row = [getattr(owners[model], name) for model, name in RECORD_COLUMNS]
    return record_of_row(row, lambda _code: lead.referrer.referral_url)


# The columns of a lead's row for `record_of_row`, in order: the lead's, its referrer's and its campaign's.
RECORD_COLUMNS: tuple[tuple[type[Model], str], ...] = (
    *((Lead, name) for name in ("id", "first_name", "last_name", "email", "phone", "street", "city", "state")),
    *((Lead, name) for name in ("zip_code", "notes", "code", "created_at", "custom_data")),
    *((Referrer, name) for name in ("first_name", "last_name", "email", "code")),
    (Campaign, "name"),
)


def record_of_row(row: Sequence[Any], link: Callable[[str], str]) -> dict[str, object]:
    """A record from a `RECORD_COLUMNS` row; `link` turns a referrer's code into their referral link."""
    (_pk, first, last, email, phone, street, city, state, zip_code, notes, code, created_at, custom_data) = row[:13]
    (ref_first, ref_last, ref_email, ref_code, campaign_name) = row[13:]
    record: dict[str, object] = {
        "lead.first_name": first,
        "lead.last_name": last,
        "lead.full_name": f"{first} {last}".strip(),
        "lead.email": email,
        "lead.phone": phone,
        "lead.street": street,
        "lead.city": city,
        "lead.state": state,
        "lead.zip": zip_code,
        "lead.notes": notes,
        "lead.referral_code": code,
        "lead.created_at": created_at,
        "referrer.first_name": ref_first,
        "referrer.full_name": f"{ref_first} {ref_last}".strip(),
        "referrer.email": ref_email,
        "referrer.referral_code": ref_code,
        "referrer.referral_link": link(ref_code),
        "campaign.name": campaign_name,
    }
    for key, value in (custom_data or {}).items():
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
    return [CustomSource(name=field.key, label=field.label) for field in campaign.custom_fields.all()]


def load_records(lead_ids: Iterable[int]) -> dict[int, dict[str, object]]:
    """`lead_record` for many leads in one query: the same records, built from rows instead of instances.

    Building Lead, Referrer and Campaign instances (and compiling the query, and reversing a URL per lead)
    cost more than the query itself.
    """
    ids = sorted(set(lead_ids))
    if not ids:
        return {}
    link = referral_links()
    return {row[0]: record_of_row(row, link) for row in select_rows(_records_sql(len(ids)), ids, _record_fields())}


@functools.cache  # the model fields are fixed once Django is set up
def _record_fields() -> list[Field[Any, Any]]:
    fields = [model._meta.get_field(name) for model, name in RECORD_COLUMNS]
    assert all(isinstance(field, Field) for field in fields)
    return cast("list[Field[Any, Any]]", fields)


def _records_sql(count: int) -> str:
    quote = connection.ops.quote_name
    aliases = {Lead: "l", Referrer: "r", Campaign: "c"}
    names = ", ".join(
        f"{aliases[model]}.{quote(str(field.column))}"
        for (model, _), field in zip(RECORD_COLUMNS, _record_fields(), strict=True)
    )
    lead, referrer, campaign = (quote(model._meta.db_table) for model in (Lead, Referrer, Campaign))
    marks = ", ".join(["%s"] * count)
    return (
        f"SELECT {names} FROM {lead} l "  # noqa: S608 - our own names; the ids are parameters
        f"INNER JOIN {referrer} r ON r.id = l.referrer_id INNER JOIN {campaign} c ON c.id = l.campaign_id "
        f"WHERE l.id IN ({marks})"
    )
