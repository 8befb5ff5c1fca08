"""Contract: the mapping validator and the "Map your fields" form take any input and answer only with field errors,
a mapping they accept builds, for any lead, a body valid against ServiceTitan's CreateBookingRequest, and a saved
mapping shows as a table that saves the same mapping again.

tests/providers/test_payload_contract.py varies the default mapping within the catalog; here the mappings are
anything a stored integration or a posted form can hold: unknown keys and data types, any text as a source,
pick-list ids of any size, custom fields of any name and label.
"""

from __future__ import annotations

from typing import Any

from django.http import QueryDict
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from referloop.integrations.models import LeadAction
from referloop.integrations.servicetitan.mapping_form import LEAD_ACTION, ROW_KEY, Row, read_submission, rows_for
from referloop.providers.mapping import DATA_TYPE_LABELS, SOURCE_FIELDS, CustomSource, FieldMapping
from referloop.providers.servicetitan import default_mapping, missing_required_fields, validate_mapping
from referloop.providers.servicetitan.fields import FIELDS_BY_KEY, TARGET_FIELDS
from referloop.providers.servicetitan.first_time import FIRST_TIME_SOURCE, LOOKUP_CHOICES
from referloop.providers.servicetitan.mapping import REQUIRED_ADDRESS_KEYS
from referloop.providers.servicetitan.payload import PayloadError, build_booking
from tests.providers.test_payload_contract import good_record, lead_values, validator
from tests.st_openapi import needs_st_openapi

FUZZ = settings(
    # derandomize: the same examples on every run, as CI needs; no example database in the repository.
    max_examples=100,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TARGET_KEYS = [field.key for field in TARGET_FIELDS]
# Any character a stored mapping can carry, NUL included (lone surrogates never get this far: not from a form post,
# nor out of a JSON column).
any_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
padded = st.sampled_from(["", " ", "\t", "\n "])

custom_sources = st.lists(
    st.builds(
        CustomSource,
        name=st.sampled_from(["system_type", "preferred", "age"]) | any_text,
        label=st.sampled_from(["System type", "Preferred time", "Lead Email", "{x}", ""]) | any_text,
    ),
    max_size=3,
    unique_by=lambda custom: custom.name,
).map(tuple)


def source_keys(custom: tuple[CustomSource, ...]) -> list[str]:
    return [field.key for field in SOURCE_FIELDS] + [f"custom.{c.name}" for c in custom]


def labels(custom: tuple[CustomSource, ...]) -> list[str]:
    return [field.label for field in SOURCE_FIELDS] + [c.label for c in custom]


@st.composite
def sources(draw: st.DrawFn, custom: tuple[CustomSource, ...]) -> str:
    """What a row's picker may hold: a source key, a Fixed Value with placeholders, a choice, an id, or anything."""
    choices = [
        *source_keys(custom),
        *{value for field in TARGET_FIELDS for value in field.allowed_values},
        *LOOKUP_CHOICES,
        "Maybe",
        "lead.unknown",
    ]
    placeholder = st.sampled_from([*labels(custom), "No Such Field", "lead email"]).map(lambda label: "{" + label + "}")
    value = draw(
        st.one_of(
            st.sampled_from(choices),
            st.lists(st.one_of(any_text, placeholder), max_size=3).map("".join),
            st.integers(min_value=-(2**64), max_value=2**65).map(str),
            st.sampled_from(["USA", "2025-05-01", "2025-05-01T09:00:00-05:00", "a.jpg, b.png", "tom@example.com"]),
            any_text,
        )
    )
    return draw(padded) + value + draw(padded)


known_types = st.sampled_from(list(DATA_TYPE_LABELS))
data_types = st.one_of(
    known_types, known_types, known_types, st.sampled_from(["", "Dynamic Value", "DYNAMIC"]), any_text
)


@st.composite
def mappings(draw: st.DrawFn, custom: tuple[CustomSource, ...]) -> dict[str, FieldMapping]:
    """Rows of anything, half the time over the default mapping (so that accepted mappings are common too)."""
    mapping = draw(st.sampled_from([{}, default_mapping()]))
    keys = draw(st.lists(st.sampled_from(TARGET_KEYS) | any_text, max_size=8, unique=True))
    mapping.update({key: FieldMapping(draw(data_types), draw(sources(custom))) for key in keys})  # type: ignore[arg-type]
    return mapping


@st.composite
def leads(draw: st.DrawFn, custom: tuple[CustomSource, ...]) -> dict[str, object]:
    """Any lead: any of its sources present, each with any value (and the First Time lookup's answer, sometimes)."""
    optional: dict[str, Any] = {key: lead_values for key in source_keys(custom)}
    optional[FIRST_TIME_SOURCE] = st.sampled_from(["Yes", "No", ""]) | lead_values
    return draw(st.fixed_dictionaries({}, optional=optional))


def assert_field_errors(problems: dict[str, str], allowed_keys: set[str]) -> None:
    assert set(problems) <= allowed_keys, problems
    assert all(isinstance(problem, str) and problem.strip() for problem in problems.values()), problems


def assert_valid_body_or_lead_problems(mapping: dict[str, FieldMapping], lead: dict[str, object], custom: Any) -> None:
    """The mapping is accepted: this lead books with a valid body, or PayloadError names fields the mapping maps."""
    try:
        built = build_booking(mapping, lead, custom)
    except PayloadError as exc:
        assert exc.problems and all(problem.label and problem.reason for problem in exc.problems)
        assert {problem.key for problem in exc.problems} <= set(mapping), exc.problems
        event("the lead's data is refused")
        return
    event("valid body")
    validator().validate(built.body)
    assert all(isinstance(warning, str) and warning for warning in built.warnings)


@FUZZ
@given(data=st.data(), custom=custom_sources)
def test_the_validator_answers_any_mapping_with_field_errors_only(data: st.DataObject, custom: Any) -> None:
    mapping = data.draw(mappings(custom))

    problems = validate_mapping(mapping, custom)

    assert_field_errors(problems, set(mapping) | set(REQUIRED_ADDRESS_KEYS))
    assert {key for key in mapping if key not in FIELDS_BY_KEY} <= set(problems)
    event("accepted" if not problems else "refused")


@needs_st_openapi
@FUZZ
@given(data=st.data(), custom=custom_sources)
def test_any_mapping_and_lead_give_a_valid_body_or_a_payload_error(data: st.DataObject, custom: Any) -> None:
    mapping = data.draw(mappings(custom))
    lead = data.draw(good_record | leads(custom))
    try:
        built = build_booking(mapping, lead, custom)
    except PayloadError as exc:
        assert exc.problems and all(problem.label and problem.reason for problem in exc.problems)
        event("PayloadError")
        return
    event("valid body")
    validator().validate(built.body)


@needs_st_openapi
@FUZZ
@given(data=st.data(), custom=custom_sources)
def test_a_mapping_the_validator_accepts_books_any_lead_with_a_valid_body(data: st.DataObject, custom: Any) -> None:
    # Drop the rows the validator refuses: what is left is often complete, and then must book any lead.
    mapping = data.draw(mappings(custom))
    accepted = {key: entry for key, entry in mapping.items() if key not in validate_mapping(mapping, custom)}
    if validate_mapping(accepted, custom) or missing_required_fields(accepted):
        event("not accepted: skipped")
        return
    for lead in [data.draw(good_record), *data.draw(st.lists(leads(custom), max_size=2))]:
        assert_valid_body_or_lead_problems(accepted, lead, custom)


@st.composite
def posted_forms(draw: st.DrawFn, custom: tuple[CustomSource, ...]) -> QueryDict:
    """A posted "Map your fields" table: rows of target keys (some repeated or unknown), each with a data type and
    three pickers, any of which may be missing, and a lead action."""
    form = QueryDict(mutable=True)
    rows = draw(st.lists(st.sampled_from(TARGET_KEYS) | any_text, max_size=len(TARGET_KEYS)))
    form.setlist(ROW_KEY, rows)
    defaults = default_mapping()
    for key in sorted({*rows, *(field.key for field in TARGET_FIELDS if field.required)}):
        kind = draw(st.sampled_from(["default"] * 6 + ["any", "none"]))
        if kind == "default" and key in defaults:  # as the form is first shown: often saved unchanged
            form[f"{key}__type"] = defaults[key].data_type
            form[f"{key}__{defaults[key].data_type}"] = defaults[key].source
        elif kind != "none":  # "none": a row without its own values
            form[f"{key}__type"] = draw(data_types)
            for picker in ("dynamic", "fixed", "manual"):
                form[f"{key}__{picker}"] = draw(sources(custom))
    known_action = st.sampled_from(LeadAction.values)
    form[LEAD_ACTION] = draw(st.one_of(known_action, known_action, known_action, any_text))
    return form


@needs_st_openapi
@FUZZ
@given(data=st.data(), custom=custom_sources)
def test_any_posted_mapping_form_gives_field_errors_or_a_mapping_that_books_valid_bodies(
    data: st.DataObject, custom: Any
) -> None:
    submission = read_submission(data.draw(posted_forms(custom)), custom)

    assert_field_errors(submission.errors, {*TARGET_KEYS, LEAD_ACTION})
    assert all(row.error == submission.errors.get(row.field.key, "") for row in submission.rows)
    if submission.errors or missing_required_fields(submission.mapping):
        event("the form is shown again with its errors")
        return
    event("saved")
    assert validate_mapping(submission.mapping, custom) == {}
    for lead in [data.draw(good_record), *data.draw(st.lists(leads(custom), max_size=2))]:
        assert_valid_body_or_lead_problems(submission.mapping, lead, custom)


def posted_back(rows: list[Row], lead_action: str) -> QueryDict:
    """The table as the Leads tab shows it, submitted unchanged."""
    form = QueryDict(mutable=True)
    form.setlist(ROW_KEY, [row.field.key for row in rows])
    for row in rows:
        form[f"{row.field.key}__type"] = row.data_type
        for picker in ("dynamic", "fixed", "manual"):
            form[f"{row.field.key}__{picker}"] = getattr(row, picker)
    form[LEAD_ACTION] = lead_action
    return form


@FUZZ
@given(data=st.data(), custom=custom_sources)
def test_a_saved_mapping_is_shown_as_a_table_that_saves_the_same_mapping_again(
    data: st.DataObject, custom: Any
) -> None:
    saved = read_submission(data.draw(posted_forms(custom)), custom)
    if saved.errors:
        event("not saved")
        return
    event("saved")

    again = read_submission(posted_back(rows_for(saved.mapping), saved.lead_action), custom)

    assert again.errors == {}
    assert again.mapping == saved.mapping
