"""Ids read from a query string or a form: one parser, so "²", "-1" and 10**30 never reach the database.

`str.isdigit()` then `int()` was the old pattern: "²".isdigit() is True and int("²") raises ValueError, and a
30-digit id overflows SQLite's driver (OverflowError) and PostgreSQL's bigint (DataError). A form field with
bounds refuses all of them the way Django refuses any bad form value.
"""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.core.exceptions import ValidationError

MAX_ID = 2**63 - 1  # the largest id a database row can have (a signed 64-bit integer)


class IdField(forms.IntegerField):
    """A database id: a whole number from 1 to MAX_ID."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)  # type: ignore[arg-type]


def id_from(data: Mapping[str, str], name: str) -> int | None:
    """The id in `data[name]`, or None when it is missing or is not a valid id."""
    raw = data.get(name)
    if not raw or len(raw) > 20:  # len(str(MAX_ID)) is 19; don't hand int() a 10,000-digit string
        return None
    try:
        return IdField(required=False).clean(raw)
    except ValidationError:
        return None
