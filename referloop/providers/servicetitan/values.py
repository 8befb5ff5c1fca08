"""Turning one lead value into what a target field accepts, or saying in a few words why it can't be."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from ..mapping import as_text, iso_utc
from ..phones import is_phone_number
from .fields import TargetField

INT64_MAX = 2**63 - 1
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LIST_SEPARATOR = re.compile(r"[,\n]")
_TRUE = {"yes", "true", "1"}
_FALSE = {"no", "false", "0"}
# A date without a time goes out at noon UTC: the same calendar day in every US time zone.
DATE_ONLY_TIME = time(12, 0, tzinfo=UTC)


class InvalidValue(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_empty(value: object) -> bool:
    """Missing, blank text and empty lists all count as "no value"."""
    if isinstance(value, list | tuple):
        return not any(as_text(item) for item in value)
    return as_text(value) == ""


def convert(field: TargetField, value: object) -> object:
    """The JSON value for `field`; `value` must not be empty (see `is_empty`)."""
    if field.type == "boolean":
        return _boolean(value)
    if field.type == "integer":
        return _identifier(value)
    if field.type == "enum":
        return _choice(field, value)
    if field.type == "datetime":
        return _datetime(value)
    if field.type == "string-list":
        return _string_list(value)
    return _text(field, value)


def _text(field: TargetField, value: object) -> str:
    text = as_text(value)
    if field.contact_type == "Email" and not _EMAIL.fullmatch(text):
        raise InvalidValue("is not an email address")
    if field.contact_type in ("Phone", "MobilePhone", "Fax") and not is_phone_number(text):
        raise InvalidValue("is not a phone number")
    return text


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = as_text(value).casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValue("is not Yes or No")


def _identifier(value: object) -> int:
    if isinstance(value, bool):
        raise InvalidValue("is not a whole number")
    if isinstance(value, int):
        number = value
    else:
        text = as_text(value)
        if not _WHOLE_NUMBER.fullmatch(text):
            raise InvalidValue("is not a whole number")
        number = int(text)
    if not 1 <= number <= INT64_MAX:
        raise InvalidValue("is not a valid ServiceTitan id (a positive number below 2^63)")
    return number


def _choice(field: TargetField, value: object) -> str:
    text = as_text(value).casefold()
    for allowed in field.allowed_values:
        if allowed.casefold() == text:
            return allowed
    raise InvalidValue(f"is not one of {', '.join(field.allowed_values)}")


def _datetime(value: object) -> str:
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, DATE_ONLY_TIME)
    else:
        text = as_text(value)
        try:
            moment = (
                datetime.combine(date.fromisoformat(text), DATE_ONLY_TIME)
                if len(text) == 10
                else datetime.fromisoformat(text)
            )
        except ValueError as exc:
            raise InvalidValue("is not a date or date-time (use ISO 8601, e.g. 2025-05-01T14:00:00Z)") from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidValue("has no time zone (add Z or an offset such as -05:00)")
    try:
        return iso_utc(moment)
    except OverflowError as exc:
        raise InvalidValue("is out of range") from exc


def _string_list(value: object) -> list[str]:
    items = value if isinstance(value, list | tuple) else _LIST_SEPARATOR.split(as_text(value))
    return [text for text in (as_text(item) for item in items) if text]
