"""The payload builder: a field mapping plus one lead record → a CreateBookingRequest body.

Either the body is valid against ServiceTitan's schema, or PayloadError lists every field that is
wrong, so a person can fix them all at once instead of one resend at a time. A lead's partial address is
the one exception: it is left out with a warning, because a booking without it is still one a CSR can call.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..mapping import (
    CustomSource,
    FieldMapping,
    LeadRecord,
    SourceField,
    as_text,
    compile_fixed,
    placeholders,
    source_catalog,
)
from .fields import ADDRESS_FIELDS, CONTACT_FIELDS, FIELDS_BY_KEY, TARGET_FIELDS, TargetField
from .first_time import FIRST_TIME_SOURCE, fallback_of
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


@dataclass(frozen=True)
class BuiltBooking:
    body: dict[str, object]
    warnings: tuple[str, ...] = ()  # what was left out of the body, and why, for the attempt to show


def build_booking_body(
    mapping: FieldMappings, record: LeadRecord, custom_fields: Iterable[CustomSource] = ()
) -> dict[str, object]:
    return build_booking(mapping, record, custom_fields).body


def build_booking(
    mapping: FieldMappings, record: LeadRecord, custom_fields: Iterable[CustomSource] = ()
) -> BuiltBooking:
    plan = _plan_for(mapping, tuple(custom_fields))
    problems = dict(plan.problems)
    values: dict[str, object] = {}
    for field, resolve in plan.steps:
        raw = resolve(record)
        if is_empty(raw):
            if field.required:
                problems[field.key] = FieldProblem(field.key, field.label, "", plan.why_empty[field.key])
            continue
        try:
            values[field.key] = convert(field, raw)
        except InvalidValue as exc:
            problems[field.key] = FieldProblem(field.key, field.label, as_text(raw), exc.reason)
    if problems:
        raise PayloadError(sorted(problems.values(), key=lambda problem: _ORDER.get(problem.key, len(_ORDER))))

    warnings: list[str] = []
    missing = _missing_address_parts(plan, values)
    if missing or not any(key in values for key in plan.variable_address_keys):
        # Constant parts (Country "USA") complete an address but never start one. A partial one is left out
        # rather than refusing the booking: the CSR can still call, and ServiceTitan takes an address only whole.
        if missing:
            warnings.append(_partial_address_warning(plan, values, missing))
        for field in ADDRESS_FIELDS:
            values.pop(field.key, None)
    return BuiltBooking(_assemble(values), tuple(warnings))


def missing_address_parts(
    mapping: FieldMappings, record: LeadRecord, custom_fields: Iterable[CustomSource] = ()
) -> list[TargetField]:
    """The required address parts this lead lacks while it gives others: what would keep its address out of the
    booking. Empty when the lead gives a whole address, or none. The public form asks for them up front."""
    plan = _plan_for(mapping, tuple(custom_fields))
    values = {
        field.key: raw for field, resolve in plan.steps if field.address_part and not is_empty(raw := resolve(record))
    }
    return _missing_address_parts(plan, values)


def _missing_address_parts(plan: _Plan, values: Mapping[str, object]) -> list[TargetField]:
    if not any(key in values for key in plan.variable_address_keys):
        return []
    # A part the mapping itself gets wrong is the setup's problem (the lead is held), not this lead's.
    return [FIELDS_BY_KEY[key] for key in REQUIRED_ADDRESS_KEYS if key not in values and key not in plan.problems]


def _partial_address_warning(plan: _Plan, values: Mapping[str, object], missing: Sequence[TargetField]) -> str:
    given = [field.label for field in ADDRESS_FIELDS if field.key in values and field.key in plan.variable_address_keys]
    return (
        f"The address was left out of the booking: the lead gave {join_words(given)} but no "
        f"{join_words([field.label for field in missing], 'or')}, and ServiceTitan takes an address only whole."
    )


def join_words(words: Sequence[str], last: str = "and") -> str:
    """["City", "State", "Zip"] → "City, State and Zip"."""
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


_ORDER = {field.key: index for index, field in enumerate(TARGET_FIELDS)}

Resolver = Callable[[LeadRecord], object]


@dataclass(frozen=True)
class _Plan:
    """What a mapping means for every lead, worked out once per mapping and set of custom fields: the
    mapping's own problems, how each remaining field gets its value, and why a required one may come out empty.
    """

    problems: Mapping[str, FieldProblem]
    steps: tuple[tuple[TargetField, Resolver], ...]
    why_empty: Mapping[str, str]
    variable_address_keys: frozenset[str]  # address parts that come from the lead (not constants)


def _plan_for(mapping: FieldMappings, custom: tuple[CustomSource, ...]) -> _Plan:
    try:
        return _cached_plan(tuple(mapping.items()), custom)
    except TypeError:  # an unhashable mapping value: nothing to cache it by
        return _plan(mapping, custom)


@functools.lru_cache(maxsize=512)
def _cached_plan(entries: tuple[tuple[str, FieldMapping], ...], custom: tuple[CustomSource, ...]) -> _Plan:
    # The entries keep the mapping's order: problems with keys outside the catalog are reported in it.
    return _plan(dict(entries), custom)


def _plan(mapping: FieldMappings, custom: tuple[CustomSource, ...]) -> _Plan:
    catalog = source_catalog(custom)
    problems: dict[str, FieldProblem] = {}
    for key, message in validate_mapping(mapping, custom).items():
        field = FIELDS_BY_KEY.get(key)
        entry = mapping.get(key)
        label = field.label if field else key.strip() or "A field with no name"  # a stored key outside the catalog
        problems[key] = FieldProblem(key, label, entry.source.strip() if entry else "", message)
    fields = [field for field in TARGET_FIELDS if field.key not in problems]
    return _Plan(
        problems=problems,
        steps=tuple((field, _resolver(mapping.get(field.key), catalog)) for field in fields),
        why_empty={field.key: _why_empty(mapping, field, catalog) for field in fields if field.required},
        variable_address_keys=frozenset(
            field.key for field in ADDRESS_FIELDS if field.key in mapping and not _is_constant(mapping[field.key])
        ),
    )


def _resolver(entry: FieldMapping | None, catalog: Sequence[SourceField]) -> Resolver:
    if entry is None:
        return _nothing
    if entry.data_type == "dynamic":
        return operator.methodcaller("get", entry.source.strip())
    if entry.data_type == "fixed":
        return _fixed_resolver(entry.source, catalog)
    source = entry.source
    fallback = fallback_of(source)
    if fallback is not None:  # Is First Time Client From ServiceTitan: what the lookup found, else the fallback
        return lambda record: record.get(FIRST_TIME_SOURCE) or fallback
    return lambda _record: source


# A Fixed Value ending in a placeholder that comes out empty drops the separator before it:
# "Referral from {Referrer Full Name}: {Lead Notes}" is "Referral from Maria Lopez" for a lead without notes.
_LAST_PLACEHOLDER = re.compile(r"\{[^{}]+\}\s*$")
_SEPARATORS = " \t\n:;,-|/\u2013\u2014"


def _fixed_resolver(template: str, catalog: Sequence[SourceField]) -> Resolver:
    whole = compile_fixed(template, catalog)
    last = _LAST_PLACEHOLDER.search(template)
    if last is None or not template[: last.start()].strip():
        return whole
    before = compile_fixed(template[: last.start()], catalog)
    tail = compile_fixed(last.group(0), catalog)

    def render(record: LeadRecord) -> str:
        if tail(record):
            return whole(record)
        return before(record).rstrip(_SEPARATORS)

    return render


def _nothing(_record: LeadRecord) -> None:
    return None


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
