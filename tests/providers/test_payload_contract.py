"""Contract: every body the builder produces validates against ServiceTitan's CreateBookingRequest.

The schema is read from ServiceTitan's published CRM v2 document (not a copy in the repository) and
checked strictly (no unknown properties, int64 bounds). The shared helper's FormatChecker cannot check
`date-time` here (rfc3339-validator is not installed), so these tests add their own RFC 3339 check.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator, FormatChecker

from referloop.providers.mapping import SOURCE_FIELDS, CustomSource, FieldMapping
from referloop.providers.servicetitan import PayloadError, build_booking_body, default_mapping
from referloop.providers.servicetitan.fields import TARGET_FIELDS
from referloop.providers.servicetitan.payload import build_booking
from tests.servicetitan_contract import official_schema
from tests.st_openapi import needs_st_openapi

RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
CHECKER = FormatChecker()
CHECKER.checks("date-time")(lambda value: not isinstance(value, str) or bool(RFC3339.fullmatch(value)))
pytestmark = needs_st_openapi


@cache
def validator() -> Draft7Validator:
    return Draft7Validator(official_schema("crm-v2", "Crm.V2.CreateBookingRequest"), format_checker=CHECKER)


CUSTOM = (CustomSource("system_type", "System type"), CustomSource("preferred", "Preferred time"))
SOURCE_KEYS = [f.key for f in SOURCE_FIELDS] + [f"custom.{c.name}" for c in CUSTOM]
LABELS = [f.label for f in SOURCE_FIELDS] + [c.label for c in CUSTOM]

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
moments = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.one_of(
        st.none(), st.just(UTC), st.builds(timezone, st.timedeltas(timedelta(hours=-12), timedelta(hours=14)))
    ),
)
lead_values = st.one_of(
    st.none(),
    text,
    st.sampled_from(
        [
            "Yes",
            "no",
            "TRUE",
            "0",
            "12",
            "-3",
            "9223372036854775808",
            "Urgent",
            "commercial",
            "2025-05-01",
            "2025-05-01T09:00:00-05:00",
            "tom@example.com",
            "+1 555 010 2030",
        ]
    ),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.booleans(),
    moments,
    st.dates(),
    st.lists(text, max_size=3),
)
fixed_values = st.lists(
    st.one_of(text, st.sampled_from(LABELS).map(lambda label: "{" + label + "}"), st.just("{No Such Field}")),
    max_size=3,
).map("".join)


@st.composite
def field_mappings(draw: st.DrawFn) -> dict[str, FieldMapping]:
    """The default mapping with random rows changed, so both outcomes are common."""
    mapping: dict[str, FieldMapping] = default_mapping()
    for field in TARGET_FIELDS:
        kind = draw(st.sampled_from(["keep"] * 24 + ["none", "dynamic", "fixed", "manual"]))
        if kind == "none":
            mapping.pop(field.key, None)
        if kind == "dynamic":
            mapping[field.key] = FieldMapping("dynamic", draw(st.sampled_from([*SOURCE_KEYS, "lead.unknown"])))
        elif kind == "fixed":
            mapping[field.key] = FieldMapping("fixed", draw(fixed_values))
        elif kind == "manual":
            mapping[field.key] = FieldMapping("manual", draw(st.sampled_from([*field.allowed_values, "Maybe"])))
    return mapping


# The sources of the default mapping are usually usable, so the changed rows decide the outcome.
usable = {
    "lead.email": st.sampled_from(["tom@example.com", " a@b.co "]),
    "lead.full_name": st.one_of(st.just("Tom Nguyen"), text),
    "lead.referral_code": st.from_regex(r"[A-Z0-9]{8}", fullmatch=True),
    "campaign.name": st.one_of(st.just("Spring"), text),
}
records = st.fixed_dictionaries(usable, optional={key: lead_values for key in SOURCE_KEYS if key not in usable})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mapping=field_mappings(), record=records)
def test_any_mapping_and_record_give_a_valid_body_or_a_payload_error(mapping, record):
    try:
        body = build_booking_body(mapping, record, CUSTOM)
    except PayloadError as exc:
        assert exc.problems, "a PayloadError must name at least one field"
        assert all(problem.label and problem.reason for problem in exc.problems)
        event("PayloadError")
        return
    event("valid body")
    validator().validate(body)


# Lead data as the lead form produces it: always valid, so the builder must always succeed.
good_record = st.fixed_dictionaries(
    {
        "lead.full_name": st.text(alphabet=string.ascii_letters + " ", min_size=1).filter(str.strip),
        "lead.email": st.emails(),
        "lead.phone": st.from_regex(r"\+1 \d{3} \d{3} \d{4}", fullmatch=True),
        "lead.street": st.just("12 Elm St"),
        "lead.city": st.sampled_from(["Austin", "Tulsa"]),
        "lead.state": st.sampled_from(["TX", "OK"]),
        "lead.zip": st.from_regex(r"\d{5}", fullmatch=True),
        "lead.referral_code": st.from_regex(r"[A-Z0-9]{8}", fullmatch=True),
        "lead.created_at": st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1)),
        "referrer.full_name": text,
        "campaign.name": st.text(min_size=1).filter(str.strip),
        "custom.preferred": st.one_of(st.dates(min_value=date(2000, 1, 1)), st.none()),
    }
)
FULL_MAPPING = {
    **default_mapping(),
    "contacts.Phone": FieldMapping("dynamic", "lead.phone"),
    "address.street": FieldMapping("dynamic", "lead.street"),
    "address.city": FieldMapping("dynamic", "lead.city"),
    "address.state": FieldMapping("dynamic", "lead.state"),
    "address.zip": FieldMapping("dynamic", "lead.zip"),
    "address.country": FieldMapping("fixed", "USA"),
    "start": FieldMapping("dynamic", "custom.preferred"),
    "priority": FieldMapping("manual", "High"),
    "customerType": FieldMapping("manual", "Residential"),
    "campaignId": FieldMapping("fixed", "4021"),
    "isSendConfirmationEmail": FieldMapping("manual", "No"),
    "summary": FieldMapping("fixed", "Referral from {Referrer Full Name} ({System type}) on {Lead Created At}"),
}


@settings(max_examples=150, deadline=None)
@given(record=good_record)
def test_valid_lead_data_always_gives_a_valid_body(record):
    body = build_booking_body(FULL_MAPPING, record, CUSTOM)
    validator().validate(body)
    assert body["address"]["country"] == "USA"
    assert body["contacts"][0] == {"type": "Email", "value": record["lead.email"]}


def test_the_validator_really_rejects_what_servicetitan_rejects():
    # Guards the contract tests themselves: a broken validator would pass everything.
    good = build_booking_body(
        default_mapping(),
        {
            "campaign.name": "Spring",
            "lead.full_name": "Tom",
            "lead.email": "tom@example.com",
            "lead.referral_code": "X1",
        },
    )
    validator().validate(good)
    for bad in (
        {**good, "unknown": 1},
        {k: v for k, v in good.items() if k != "externalId"},
        {**good, "campaignId": 2**63},
        {**good, "priority": "urgent"},
        {**good, "start": "tomorrow"},
        {**good, "address": {"street": "1 Elm", "city": "Austin", "state": "TX", "zip": "1"}},
        {**good, "contacts": [{"type": "Pager", "value": "1"}]},
    ):
        assert not validator().is_valid(bad), bad
    assert validator().is_valid({**good, "customerType": None, "start": "2025-05-01T12:00:00Z"})


# A lead's address as the API or a CSV may bring it: any parts, some blank.
address_parts = st.fixed_dictionaries(
    {},
    optional={
        key: st.sampled_from(["", "  ", value])
        for key, value in {
            "lead.street": "12 Elm St",
            "lead.city": "Austin",
            "lead.state": "TX",
            "lead.zip": "78701",
        }.items()
    },
)


@settings(max_examples=100, deadline=None)
@given(record=good_record, address=address_parts, notes=text)
def test_the_default_mapping_gives_a_valid_body_for_any_part_of_an_address(record, address, notes):
    kept = {
        key: value for key, value in record.items() if key not in ("lead.street", "lead.city", "lead.state", "lead.zip")
    }
    record = {**kept, **address, "lead.notes": notes}
    built = build_booking(default_mapping(), record)
    validator().validate(built.body)
    given_parts = [key for key in address if address[key].strip()]
    if len(given_parts) == 4:
        assert built.body["address"]["country"] == "USA" and built.warnings == ()
    elif given_parts:
        assert "address" not in built.body
        [warning] = built.warnings
        assert warning.startswith("The address was left out of the booking")
    else:
        assert "address" not in built.body and built.warnings == ()
