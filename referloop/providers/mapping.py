"""The provider-independent half of a field mapping: referloop's source fields and the mapping values.

Every provider maps the same lead data, so the source catalog, `FieldMapping` and the Fixed Value
placeholder syntax live here; a provider package adds its own target catalog and payload builder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

DataType = Literal["dynamic", "fixed", "manual"]
DATA_TYPE_LABELS: dict[DataType, str] = {
    "dynamic": "Dynamic Value",
    "fixed": "Fixed Value",
    "manual": "Manual Select",
}

# What the Django side fills, keyed by source key (`custom.<name>` for custom fields).
LeadRecord = Mapping[str, object]


@dataclass(frozen=True)
class SourceField:
    key: str
    label: str
    group: str


@dataclass(frozen=True)
class CustomSource:
    """A campaign's custom lead-form field as a mapping source (the model is campaigns.models.CustomField)."""

    name: str
    label: str

    def as_source(self) -> SourceField:
        return SourceField(f"custom.{self.name}", self.label, "Custom fields")


@dataclass(frozen=True)
class FieldMapping:
    """How one target field gets its value.

    dynamic: `source` is a source key; fixed: `source` is text with `{Source Label}` placeholders;
    manual: `source` is one of the target field's allowed values.
    """

    data_type: DataType
    source: str


SOURCE_FIELDS: tuple[SourceField, ...] = (
    SourceField("lead.first_name", "Lead First Name", "Lead"),
    SourceField("lead.last_name", "Lead Last Name", "Lead"),
    SourceField("lead.full_name", "Lead Full Name", "Lead"),
    SourceField("lead.email", "Lead Email", "Lead"),
    SourceField("lead.phone", "Lead Phone", "Lead"),
    SourceField("lead.street", "Lead Street", "Lead"),
    SourceField("lead.city", "Lead City", "Lead"),
    SourceField("lead.state", "Lead State", "Lead"),
    SourceField("lead.zip", "Lead Zip", "Lead"),
    SourceField("lead.notes", "Lead Notes", "Lead"),
    SourceField("lead.referral_code", "Lead Referral Code", "Lead"),
    SourceField("lead.created_at", "Lead Created At", "Lead"),
    SourceField("referrer.first_name", "Referrer First Name", "Referrer"),
    SourceField("referrer.full_name", "Referrer Full Name", "Referrer"),
    SourceField("referrer.email", "Referrer Email", "Referrer"),
    SourceField("referrer.referral_code", "Referrer Referral Code", "Referrer"),
    SourceField("referrer.referral_link", "Referrer Referral Link", "Referrer"),
    SourceField("campaign.name", "Campaign Name", "Campaign"),
)

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def source_catalog(custom_fields: Iterable[CustomSource] = ()) -> tuple[SourceField, ...]:
    """The built-in source fields followed by the campaign's custom fields."""
    return SOURCE_FIELDS + tuple(field.as_source() for field in custom_fields)


def _label_key(label: str) -> str:
    # Placeholders are typed by people: match labels regardless of case and spacing.
    return " ".join(label.split()).casefold()


def placeholders(template: str) -> list[str]:
    """The labels named as `{Label}` in a Fixed Value, in order."""
    return [match.strip() for match in _PLACEHOLDER.findall(template)]


def unknown_placeholders(template: str, catalog: Iterable[SourceField]) -> list[str]:
    known = {_label_key(field.label) for field in catalog}
    return [label for label in placeholders(template) if _label_key(label) not in known]


def render_fixed(template: str, record: LeadRecord, catalog: Iterable[SourceField]) -> str:
    """Fill `{Label}` placeholders from the record; a missing value becomes empty text.

    Unknown placeholders are left as typed: `unknown_placeholders` is how callers report them.
    The result is stripped, so "Referral from {Referrer Full Name}" never ends in a blank.
    """
    return compile_fixed(template, catalog)(record)


def compile_fixed(template: str, catalog: Iterable[SourceField]) -> Callable[[LeadRecord], str]:
    """`render_fixed` for one template and catalog, parsed once: the payload builder renders it per lead."""
    keys = {_label_key(field.label): field.key for field in catalog}
    parts: list[tuple[str, str | None]] = []  # (text as typed, None) or ("", the source key to fill in)
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        key = keys.get(_label_key(match.group(1)))
        parts.append((template[position : match.start()], None))
        parts.append((match.group(0), None) if key is None else ("", key))
        position = match.end()
    parts.append((template[position:], None))

    def render(record: LeadRecord) -> str:
        return "".join(text if key is None else as_text(record.get(key)) for text, key in parts).strip()

    return render


def as_text(value: object) -> str:
    """A lead value as the text a person would expect to see (stripped; None is empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return iso_utc(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def iso_utc(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a `Z`, to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
