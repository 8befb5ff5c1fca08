"""A campaign's custom fields as every new lead reads them: one plain query per lead, the model instances built
once per distinct set of rows. A change in the database is seen by the next lead, so there is nothing to
invalidate (the ORM's query cost about ten times the read: bench/intake.py)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from referloop.campaigns.models import CustomField
from referloop.runtime import plain_sql

_NAMES = ("id", "campaign_id", "key", "label", "field_type", "required", "choices", "position")

FieldRows = tuple[tuple[Any, ...], ...]


# Inside `read_once()`: the rows read so far, by campaign.
_read: ContextVar[dict[int, FieldRows] | None] = ContextVar("custom_field_rows", default=None)


@contextmanager
def read_once() -> Iterator[None]:
    """Within one lead's intake (or one request of the referral page) each campaign's custom fields are read once:
    the form, the address check and the delivery plan all ask, and on PostgreSQL every statement is a round trip
    (~8% of a lead's CPU). Nested, the outer one's reads are kept."""
    if _read.get() is not None:
        yield
        return
    token = _read.set({})
    try:
        yield
    finally:
        _read.reset(token)


def rows_of(campaign_id: int) -> FieldRows:
    """The campaign's custom-field rows in the model's order (position, then id): hashable, comparable."""
    memo = _read.get()
    if memo is not None and campaign_id in memo:
        return memo[campaign_id]
    rows = tuple(plain_sql.fetch(_select(), [campaign_id]))
    if memo is not None:
        memo[campaign_id] = rows
    return rows


@functools.cache  # the models are fixed once Django is set up
def _select() -> str:
    columns = ", ".join(plain_sql.column(CustomField, name) for name in _NAMES)
    return (
        f"SELECT {columns} FROM {plain_sql.table(CustomField)} "  # noqa: S608 - our names; values are parameters
        f"WHERE {plain_sql.column(CustomField, 'campaign_id')} = %s "
        f"ORDER BY {plain_sql.column(CustomField, 'position')}, {plain_sql.column(CustomField, 'id')}"
    )


def of_campaign(campaign_id: int) -> tuple[CustomField, ...]:
    """The campaign's custom fields, fresh from the database. Shared instances: read them, never change them."""
    return _built(rows_of(campaign_id))


@functools.lru_cache(maxsize=1024)
def _built(rows: FieldRows) -> tuple[CustomField, ...]:
    built = []
    for row in rows:
        values = dict(zip(_NAMES, row, strict=True))
        values["required"] = bool(values["required"])  # SQLite's 0/1
        built.append(CustomField(**values))
    return tuple(built)
