"""The Leads tab's "Map your fields" table: rows to show for a mapping, and a posted table read back.

Each row posts one data type and three pickers (`<key>__dynamic`, `<key>__fixed`, `<key>__manual`); only the
picker of the chosen data type counts, so switching the type back and forth loses nothing the person typed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.http import QueryDict

from referloop.integrations.models import LeadAction
from referloop.providers.mapping import (
    DATA_TYPE_LABELS,
    SOURCE_FIELDS,
    CustomSource,
    DataType,
    FieldMapping,
    SourceField,
)
from referloop.providers.servicetitan import TARGET_FIELDS, TargetField, source_catalog, validate_mapping
from referloop.providers.servicetitan.fields import FIELDS_BY_KEY
from referloop.providers.servicetitan.first_time import manual_choices

ROW_KEY = "field"
LEAD_ACTION = "lead_action"


@dataclass
class Row:
    field: TargetField
    data_type: str
    dynamic: str = ""
    fixed: str = ""
    manual: str = ""
    error: str = ""
    # Rows with a ServiceTitan pick list (Job Type, ...): its choices as (id, name), and why it is missing if so.
    choices: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    pick_note: str = ""
    pick_problem: str = ""  # the stored id is not active in ServiceTitan (a warning: leads are still sent)

    @property
    def slug(self) -> str:
        """The key as an HTML id part (`contacts.Email` → `contacts-Email`)."""
        return self.field.key.replace(".", "-")

    @property
    def value(self) -> str:
        return {"dynamic": self.dynamic, "fixed": self.fixed, "manual": self.manual}.get(self.data_type, "")

    @property
    def is_missing(self) -> bool:
        return self.field.required and not self.value.strip()

    @property
    def data_types(self) -> list[tuple[str, str]]:
        """Manual Select only where ServiceTitan has a list of allowed values."""
        has_list = bool(self.field.allowed_values or self.field.pick_list)
        return [(key, label) for key, label in DATA_TYPE_LABELS.items() if key != "manual" or has_list]

    @property
    def manual_choices(self) -> tuple[str, ...]:
        """Manual Select's list: the allowed values, and for Is First Time Client the lookup From ServiceTitan."""
        return manual_choices(self.field.key, self.field.allowed_values)

    def as_mapping(self) -> FieldMapping:
        data_type: DataType = self.data_type  # type: ignore[assignment]  # checked by validate_mapping
        return FieldMapping(data_type, self.value.strip() if self.data_type != "fixed" else self.value)


def default_data_type(target: TargetField) -> str:
    if target.allowed_values or target.pick_list:
        return "manual"
    if target.type in ("integer", "string-list"):
        return "fixed"
    return "dynamic"


def row_for(target: TargetField, entry: FieldMapping | None = None) -> Row:
    row = Row(target, entry.data_type if entry else default_data_type(target))
    if entry is not None and entry.data_type in ("dynamic", "fixed", "manual"):
        setattr(row, entry.data_type, entry.source)
    return row


def rows_for(mapping: Mapping[str, FieldMapping]) -> list[Row]:
    """Every required field, then the optional fields that are mapped, in the catalog's order."""
    return [row_for(f, mapping.get(f.key)) for f in TARGET_FIELDS if f.required or f.key in mapping]


def addable_fields(rows: Iterable[Row]) -> list[TargetField]:
    shown = {row.field.key for row in rows}
    return [f for f in TARGET_FIELDS if f.key not in shown]


def source_groups(custom_fields: Iterable[CustomSource]) -> list[tuple[str, list[SourceField]]]:
    """The grouped picker of referloop fields: Lead, Referrer, Campaign, Custom fields."""
    groups: dict[str, list[SourceField]] = {}
    for source in source_catalog(custom_fields):
        groups.setdefault(source.group, []).append(source)
    return list(groups.items())


@dataclass
class Submission:
    lead_action: str
    rows: list[Row]
    errors: dict[str, str] = field(default_factory=dict)  # target key, or LEAD_ACTION

    @property
    def mapping(self) -> dict[str, FieldMapping]:
        """What gets stored: every optional row with a value, and every required row (empty or not)."""
        return {row.field.key: row.as_mapping() for row in self.rows if row.value.strip() or row.field.required}


def read_submission(data: QueryDict, custom_fields: Iterable[CustomSource]) -> Submission:
    posted = list(dict.fromkeys(key for key in data.getlist(ROW_KEY) if key in FIELDS_BY_KEY))
    keys = [f.key for f in TARGET_FIELDS if f.required or f.key in posted]
    rows = []
    for key in keys:
        target = FIELDS_BY_KEY[key]
        rows.append(
            Row(
                target,
                data.get(f"{key}__type", default_data_type(target)),
                dynamic=data.get(f"{key}__dynamic", ""),
                fixed=data.get(f"{key}__fixed", ""),
                manual=data.get(f"{key}__manual", ""),
            )
        )
    return check(Submission(data.get(LEAD_ACTION, ""), rows), custom_fields)


def check(submission: Submission, custom_fields: Iterable[CustomSource]) -> Submission:
    """Fill in `errors` and each row's `error`: an unknown lead action, and every mistake in the mapping."""
    submission.errors = {}
    if submission.lead_action not in LeadAction.values:
        submission.errors[LEAD_ACTION] = (
            "Choose what happens when a lead joins the campaign: "
            + " or ".join(f"“{label}”" for label in LeadAction.labels)
            + "."
        )
    submission.errors.update(validate_mapping(submission.mapping, custom_fields))
    known = " or ".join(DATA_TYPE_LABELS.values())
    for row in submission.rows:
        if row.data_type not in DATA_TYPE_LABELS:
            submission.errors[row.field.key] = f"{row.field.label} has an unknown data type: choose {known}."
    for row in submission.rows:
        row.error = submission.errors.get(row.field.key, "")
    return submission


def describe_changes(before: Mapping[str, FieldMapping], after: Mapping[str, FieldMapping]) -> list[str]:
    """Audit sentences: which fields were mapped, unmapped or changed, by label."""
    changes = []
    for target in TARGET_FIELDS:
        old, new = before.get(target.key), after.get(target.key)
        old_value = old.source.strip() if old else ""
        new_value = new.source.strip() if new else ""
        if old_value == new_value and (not new_value or (old and new and old.data_type == new.data_type)):
            continue
        if not new_value:
            changes.append(f"unmapped {target.label}")
        elif not old_value:
            changes.append(f"mapped {target.label} ({_shown(new)})")
        else:
            changes.append(f"changed {target.label} to {_shown(new)}")
    return changes


def _shown(entry: FieldMapping | None) -> str:
    if entry is None:
        return ""
    label = DATA_TYPE_LABELS.get(entry.data_type, entry.data_type)
    value = entry.source.strip()
    if entry.data_type == "dynamic":
        value = next((s.label for s in SOURCE_FIELDS if s.key == value), value)
    return f"{label}: {value}"
