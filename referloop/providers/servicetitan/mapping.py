"""ServiceTitan field mappings: the default one, and the checks the mapping screens show per row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..mapping import (
    DATA_TYPE_LABELS,
    CustomSource,
    FieldMapping,
    placeholders,
    source_catalog,
    unknown_placeholders,
)
from .fields import ADDRESS_FIELDS, FIELDS_BY_KEY, TARGET_FIELDS, TargetField
from .first_time import manual_choices
from .values import InvalidValue, convert

FieldMappings = Mapping[str, FieldMapping]

# ServiceTitan's AddressModel requires these parts whenever an address is sent (`unit` is optional).
REQUIRED_ADDRESS_KEYS = tuple(f.key for f in ADDRESS_FIELDS if f.address_part != "unit")


# The default Summary: the referrer, then the friend's Notes ("AC blowing warm air") when they wrote any.
DEFAULT_SUMMARY = "Referral from {Referrer Full Name}: {Lead Notes}"


def default_mapping() -> dict[str, FieldMapping]:
    """What a new integration starts with: every required field, and every field the lead form collects, so the
    CSR can call back and drive out (phone, address with Country USA, the Notes in the Summary). Each optional
    row can be removed on the Leads tab. Existing integrations keep the mapping their owners saved."""
    return {
        "source": FieldMapping("dynamic", "campaign.name"),
        "name": FieldMapping("dynamic", "lead.full_name"),
        "contacts.Email": FieldMapping("dynamic", "lead.email"),
        "contacts.Phone": FieldMapping("dynamic", "lead.phone"),
        "summary": FieldMapping("fixed", DEFAULT_SUMMARY),
        "isFirstTimeClient": FieldMapping("manual", "Yes"),
        "externalId": FieldMapping("dynamic", "lead.referral_code"),
        "address.street": FieldMapping("dynamic", "lead.street"),
        "address.city": FieldMapping("dynamic", "lead.city"),
        "address.state": FieldMapping("dynamic", "lead.state"),
        "address.zip": FieldMapping("dynamic", "lead.zip"),
        "address.country": FieldMapping("fixed", "USA"),
    }


def is_mapped(mapping: FieldMappings, key: str) -> bool:
    entry = mapping.get(key)
    return entry is not None and entry.source.strip() != ""


def missing_required_fields(mapping: FieldMappings) -> list[TargetField]:
    """The "Setup Required" check: required fields with no mapping, or with an empty source or value."""
    return [field for field in TARGET_FIELDS if field.required and not is_mapped(mapping, field.key)]


def validate_mapping(mapping: FieldMappings, custom_fields: Iterable[CustomSource] = ()) -> dict[str, str]:
    """Mistakes in the mapping itself, as {target key: sentence}, for the screens to show per row.

    Unmapped required fields are not repeated here: `missing_required_fields` reports those.
    """
    catalog = source_catalog(custom_fields)
    source_keys = {field.key for field in catalog}
    problems: dict[str, str] = {}
    for key, entry in mapping.items():
        field = FIELDS_BY_KEY.get(key)
        if field is None:
            problems[key] = f"{key!r} is not a ServiceTitan booking field."
        elif entry.source.strip():
            problem = _row_problem(field, entry, source_keys, unknown_placeholders(entry.source, catalog))
            if problem:
                problems[key] = problem
    problems.update(_address_problems(mapping, problems))
    return problems


def _row_problem(field: TargetField, entry: FieldMapping, source_keys: set[str], unknown: list[str]) -> str | None:
    value = entry.source.strip()
    if entry.data_type == "dynamic":
        if value not in source_keys:
            return f"{field.label} is mapped to {value!r}, which is not a referloop field (was it removed?)."
        return None
    if entry.data_type == "manual":
        if field.pick_list:  # an id from the tenant's list; whether it is still active is checked against the list
            try:
                convert(field, value)
            except InvalidValue as exc:
                return f"The {field.label} {value!r} {exc.reason}: choose one from the list."
            return None
        choices = manual_choices(field.key, field.allowed_values)
        if not choices:
            return f"{field.label} has no list to choose from: use a Dynamic Value or a Fixed Value."
        if value not in choices:  # (From ServiceTitan is offered by the list; the sentence names the plain values)
            return f"{value!r} is not a choice for {field.label}: choose {' or '.join(field.allowed_values)}."
        return None
    if entry.data_type == "fixed":
        if unknown:
            names = ", ".join(f"{{{label}}}" for label in unknown)
            return f"The Fixed Value for {field.label} names fields referloop does not have: {names}."
        if field.type == "integer" and placeholders(value):
            return f"The Fixed Value for {field.label} must be a number; use a Dynamic Value to copy a field."
        if not placeholders(value):
            try:
                convert(field, value)
            except InvalidValue as exc:
                return f"The Fixed Value {value!r} for {field.label} {exc.reason}."
        return None
    known = ", ".join(DATA_TYPE_LABELS.values())
    return f"{field.label} has an unknown data type {entry.data_type!r}: use {known}."


def _address_problems(mapping: FieldMappings, problems: Mapping[str, str]) -> dict[str, str]:
    """ServiceTitan takes an address only whole: if any part is mapped, every required part must be."""
    if not any(is_mapped(mapping, field.key) for field in ADDRESS_FIELDS):
        return {}
    labels = ", ".join(FIELDS_BY_KEY[key].label for key in REQUIRED_ADDRESS_KEYS)
    return {
        key: (
            f"{FIELDS_BY_KEY[key].label} must be mapped too, because ServiceTitan needs {labels} together "
            "(a Fixed Value works, for example USA for Country)."
        )
        for key in REQUIRED_ADDRESS_KEYS
        if not is_mapped(mapping, key) and key not in problems
    }
