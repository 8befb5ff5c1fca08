"""Is First Time Client *From ServiceTitan*: the Manual Select choice, how the builder reads the lookup's answer or
the fallback, what a try costs in the tenant's budget, and that the body still validates against ServiceTitan's
CreateBookingRequest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referloop.providers.mapping import FieldMapping
from referloop.providers.servicetitan import default_mapping, validate_mapping
from referloop.providers.servicetitan.connector import ServiceTitanConnector
from referloop.providers.servicetitan.first_time import (
    FIRST_TIME_SOURCE,
    KNOWN_CUSTOMER,
    LOOKUP_CHOICES,
    Found,
    Plan,
    lookup_fallback,
    phone_digits,
    with_answer,
)
from referloop.providers.servicetitan.payload import build_booking
from tests.providers.test_payload_contract import validator
from tests.st_openapi import needs_st_openapi

RECORD = {
    "campaign.name": "Spring",
    "lead.full_name": "Kim Lee",
    "lead.email": "kim@example.com",
    "lead.phone": "217-555-0142",
    "lead.referral_code": "AB12CD34",
    "referrer.full_name": "Rita Referrer",
}


def mapping_asking(choice: str) -> dict[str, FieldMapping]:
    return {**default_mapping(), "isFirstTimeClient": FieldMapping("manual", choice)}


@pytest.mark.parametrize(
    "phone, digits",
    [
        ("(217) 555-0142", "2175550142"),
        ("+1 217 555 0142", "2175550142"),
        ("1-217-555-0142", "2175550142"),
        ("217.555.0142 ext", "2175550142"),
        ("555-0142", "5550142"),
        ("12345", None),
        ("", None),
    ],
)
def test_phones_are_keyed_by_their_digits_without_a_us_country_code(phone: str, digits: str | None) -> None:
    assert phone_digits(phone) == digits


def test_both_lookup_choices_are_valid_for_is_first_time_client_only() -> None:
    for choice in LOOKUP_CHOICES:
        assert validate_mapping(mapping_asking(choice)) == {}
    problems = validate_mapping({**default_mapping(), "priority": FieldMapping("manual", LOOKUP_CHOICES[0])})
    assert "is not a choice for Priority" in problems["priority"]


def test_the_fallback_is_read_from_the_choice() -> None:
    assert lookup_fallback(mapping_asking("From ServiceTitan, else Yes")) == "Yes"
    assert lookup_fallback(mapping_asking("From ServiceTitan, else No")) == "No"
    assert lookup_fallback(default_mapping()) is None  # a fixed Yes asks nobody


def test_the_builder_sends_the_lookups_answer_else_the_fallback() -> None:
    mapping = mapping_asking("From ServiceTitan, else No")
    assert build_booking(mapping, RECORD).body["isFirstTimeClient"] is False  # no answer: the fallback
    nobody = with_answer(RECORD, Found(None, asked=True, phone="2175550142"))
    assert build_booking(mapping, nobody).body["isFirstTimeClient"] is True
    customer = with_answer(RECORD, Found(77, "phone", phone="2175550142", asked=True))
    assert build_booking(mapping, customer).body["isFirstTimeClient"] is False
    failed = with_answer(RECORD, Found(None, phone="2175550142", asked=True, failed="timeout"))
    assert FIRST_TIME_SOURCE not in failed


def test_a_try_that_must_look_the_lead_up_takes_one_more_slot_of_the_tenants_budget() -> None:
    connector = ServiceTitanConnector()
    asking = {**RECORD, KNOWN_CUSTOMER: Plan("Yes", ask_phone="2175550142")}
    known = {**RECORD, KNOWN_CUSTOMER: Plan("Yes", customer_id=77, matched_by="phone")}
    assert connector.calls_per_try(False, asking) == 2
    assert connector.calls_per_try(True, asking) == 3  # settle, look up, create
    assert connector.calls_per_try(False, known) == 1
    assert connector.calls_per_try(False, RECORD) == 1
    assert connector.calls_per_try(False) == 1


@needs_st_openapi
@given(
    choice=st.sampled_from(LOOKUP_CHOICES),
    customer_id=st.one_of(st.none(), st.integers(1, 2**63 - 1)),
    failed=st.sampled_from(["", "it did not answer within 5 seconds"]),
)
def test_bodies_with_the_lookup_validate_against_create_booking_request(
    choice: str, customer_id: int | None, failed: str
) -> None:
    record = with_answer(RECORD, Found(customer_id, phone="2175550142", asked=True, failed=failed))
    validator().validate(build_booking(mapping_asking(choice), record).body)
