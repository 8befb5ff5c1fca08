"""The payload builder: a field mapping plus one lead record → a CreateBookingRequest body.

Either the body is valid against ServiceTitan's schema, or PayloadError lists every field that is
wrong, so a person can fix them all at once instead of one resend at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..mapping import (
    CustomField,
    FieldMapping,
    LeadRecord,
    SourceField,
    as_text,
    placeholders,
    render_fixed,
    source_catalog,
)
from .fields import ADDRESS_FIELDS, CONTACT_FIELDS, FIELDS_BY_KEY, TARGET_FIELDS, TargetField
from .mapping import REQUIRED_ADDRESS_KEYS, FieldMappings, validate_mapping
from .values import InvalidValue, convert, is_empty


@dataclass(frozen=True)
class FieldProblem:
    key: str
    label: str
    value: str  # as the user would recognise it; "" when there was none
    reason: str

    def describe(self) -> str:
        shown = f'"{self.value}"' if self.value else "(empty)"
        return f"{self.label} {shown} {self.reason}"


class PayloadError(ValueError):
    """The lead cannot become a booking until the mapping or the lead's data is fixed."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = list(problems)
        self.message = (
            "The booking cannot be sent because of these fields: "
            + "; ".join(problem.describe() for problem in self.problems)
            + "."
        )
        super().__init__(self.message)


def build_booking_body(
    mapping: FieldMappings, record: LeadRecord, custom_fields: Iterable[CustomField] = ()
) -> dict[str, object]:
    custom = tuple(custom_fields)
    catalog = source_catalog(custom)
    problems: dict[str, FieldProblem] = {}
    for key, message in validate_mapping(mapping, custom).items():
        field = FIELDS_BY_KEY.get(key)
        entry = mapping.get(key)
        problems[key] = FieldProblem(key, field.label if field else key, entry.source.strip() if entry else "", message)

    values: dict[str, object] = {}
    for field in TARGET_FIELDS:
        if field.key in problems:
            continue
        raw = _resolve(mapping.get(field.key), record, catalog)
        if is_empty(raw):
            if field.required:
                problems[field.key] = FieldProblem(field.key, field.label, "", _why_empty(mapping, field, catalog))
            continue
        try:
            values[field.key] = convert(field, raw)
        except InvalidValue as exc:
            problems[field.key] = FieldProblem(field.key, field.label, as_text(raw), exc.reason)

    # Constant parts (Country "USA") are defaults: they complete an address but never start one.
    if any(f.key in values and not _is_constant(mapping[f.key]) for f in ADDRESS_FIELDS):
        for key in REQUIRED_ADDRESS_KEYS:
            if key not in values and key not in problems:
                problems[key] = FieldProblem(
                    key, FIELDS_BY_KEY[key].label, "", "is needed because the lead has other address parts"
                )
    else:
        for field in ADDRESS_FIELDS:
            values.pop(field.key, None)

    if problems:
        raise PayloadError(sorted(problems.values(), key=lambda problem: _ORDER.get(problem.key, len(_ORDER))))
    return _assemble(values)


_ORDER = {field.key: index for index, field in enumerate(TARGET_FIELDS)}


def _resolve(entry: FieldMapping | None, record: LeadRecord, catalog: Sequence[SourceField]) -> object:
    if entry is None:
        return None
    if entry.data_type == "dynamic":
        return record.get(entry.source.strip())
    if entry.data_type == "fixed":
        return render_fixed(entry.source, record, catalog)
    return entry.source


def _is_constant(entry: FieldMapping) -> bool:
    return entry.data_type == "manual" or (entry.data_type == "fixed" and not placeholders(entry.source))


def _why_empty(mapping: FieldMappings, field: TargetField, catalog: Sequence[SourceField]) -> str:
    entry = mapping.get(field.key)
    if entry is None or not entry.source.strip():
        return "is required but not mapped"
    if entry.data_type == "dynamic":
        label = next((f.label for f in catalog if f.key == entry.source.strip()), entry.source)
        return f"is required but this lead has no {label}"
    return "is required but its Fixed Value came out empty for this lead"


def _assemble(values: dict[str, object]) -> dict[str, object]:
    body: dict[str, object] = {
        f.key: values[f.key] for f in TARGET_FIELDS if f.key in values and not f.contact_type and not f.address_part
    }
    contacts = [{"type": f.contact_type, "value": values[f.key]} for f in CONTACT_FIELDS if f.key in values]
    if contacts:
        body["contacts"] = contacts
    address = {f.address_part: values[f.key] for f in ADDRESS_FIELDS if f.key in values and f.address_part}
    if address:
        body["address"] = address
    return body
