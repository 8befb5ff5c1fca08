"""The field catalog against ServiceTitan's published CreateBookingRequest schema."""

from __future__ import annotations

from typing import Any

import pytest

from referloop.providers.servicetitan.fields import (
    ADDRESS_FIELDS,
    CONTACT_FIELDS,
    FIELDS_BY_KEY,
    TARGET_FIELDS,
)
from tests.servicetitan_contract import load_spec
from tests.st_openapi import needs_st_openapi


@pytest.fixture
def schemas() -> dict[str, Any]:
    return load_spec("crm-v2")["components"]["schemas"]


def _request(schemas: dict[str, Any]) -> dict[str, Any]:
    return schemas["Crm.V2.CreateBookingRequest"]


def _enum(schemas: dict[str, Any], property_schema: dict) -> list[str]:
    ref = property_schema["oneOf"][0]["$ref"].removeprefix("#/components/schemas/")
    return schemas[ref]["enum"]


@needs_st_openapi
def test_catalog_covers_every_top_level_property_of_create_booking_request(schemas):
    top_level = {f.key for f in TARGET_FIELDS if not f.contact_type and not f.address_part}
    assert top_level | {"contacts", "address"} == set(_request(schemas)["properties"])


@needs_st_openapi
def test_catalog_covers_every_address_part(schemas):
    address = schemas["Crm.V2.AddressModel"]
    assert {f.address_part for f in ADDRESS_FIELDS} == set(address["properties"])


@needs_st_openapi
def test_catalog_covers_every_contact_type(schemas):
    assert {f.contact_type for f in CONTACT_FIELDS} == set(schemas["Crm.V2.ContactType"]["enum"])


@needs_st_openapi
def test_every_field_servicetitan_requires_is_required_by_referloop(schemas):
    required = {f.key for f in TARGET_FIELDS if f.required}
    assert set(_request(schemas)["required"]) <= required
    assert required - set(_request(schemas)["required"]) == {"contacts.Email"}


@needs_st_openapi
def test_priority_choices_are_the_spec_enum_in_its_spelling(schemas):
    priority = _request(schemas)["properties"]["priority"]
    assert list(FIELDS_BY_KEY["priority"].allowed_values) == _enum(schemas, priority)


@needs_st_openapi
def test_customer_type_choices_are_the_response_enum(schemas):
    # The request types customerType as free text; the response's enum is what ServiceTitan understands.
    assert list(FIELDS_BY_KEY["customerType"].allowed_values) == schemas["Crm.V2.CustomerType"]["enum"]


@needs_st_openapi
def test_field_types_match_the_spec_types(schemas):
    expected = {"string": "text", "boolean": "boolean", "integer": "integer", "array": "string-list"}
    for field in TARGET_FIELDS:
        if field.contact_type or field.address_part or field.type == "enum":
            continue
        prop = _request(schemas)["properties"][field.key]
        kind = "datetime" if prop.get("format") == "date-time" else expected[prop["type"]]
        assert field.type == kind, field.key


def test_labels_are_the_ones_the_screens_show():
    assert [f.label for f in TARGET_FIELDS] == [
        "Source",
        "Name",
        "Email",
        "Phone",
        "Mobile Phone",
        "Fax",
        "Summary",
        "Is First Time Client",
        "External Id",
        "Street",
        "Unit",
        "City",
        "State",
        "Zip",
        "Country",
        "Customer Type",
        "Start",
        "Campaign Id",
        "Business Unit Id",
        "Job Type Id",
        "Priority",
        "Send Confirmation Email",
        "Uploaded Images",
    ]


def test_booleans_offer_yes_and_no():
    assert FIELDS_BY_KEY["isFirstTimeClient"].allowed_values == ("Yes", "No")
    assert FIELDS_BY_KEY["isSendConfirmationEmail"].allowed_values == ("Yes", "No")
