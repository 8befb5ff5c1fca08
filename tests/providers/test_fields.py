"""The field catalog against ServiceTitan's published CreateBookingRequest schema."""

from __future__ import annotations

from referloop.providers.servicetitan.fields import (
    ADDRESS_FIELDS,
    CONTACT_FIELDS,
    FIELDS_BY_KEY,
    TARGET_FIELDS,
)
from tests.servicetitan_contract import load_spec

SCHEMAS = load_spec("crm-v2")["components"]["schemas"]
REQUEST = SCHEMAS["Crm.V2.CreateBookingRequest"]
ADDRESS = SCHEMAS["Crm.V2.AddressModel"]


def _enum(property_schema: dict) -> list[str]:
    ref = property_schema["oneOf"][0]["$ref"].removeprefix("#/components/schemas/")
    return SCHEMAS[ref]["enum"]


def test_catalog_covers_every_top_level_property_of_create_booking_request():
    top_level = {f.key for f in TARGET_FIELDS if not f.contact_type and not f.address_part}
    assert top_level | {"contacts", "address"} == set(REQUEST["properties"])


def test_catalog_covers_every_address_part():
    assert {f.address_part for f in ADDRESS_FIELDS} == set(ADDRESS["properties"])


def test_catalog_covers_every_contact_type():
    assert {f.contact_type for f in CONTACT_FIELDS} == set(SCHEMAS["Crm.V2.ContactType"]["enum"])


def test_every_field_servicetitan_requires_is_required_by_referloop():
    required = {f.key for f in TARGET_FIELDS if f.required}
    assert set(REQUEST["required"]) <= required
    assert required - set(REQUEST["required"]) == {"contacts.Email"}


def test_priority_choices_are_the_spec_enum_in_its_spelling():
    assert list(FIELDS_BY_KEY["priority"].allowed_values) == _enum(REQUEST["properties"]["priority"])


def test_customer_type_choices_are_the_response_enum():
    # The request types customerType as free text; the response's enum is what ServiceTitan understands.
    assert list(FIELDS_BY_KEY["customerType"].allowed_values) == SCHEMAS["Crm.V2.CustomerType"]["enum"]


def test_field_types_match_the_spec_types():
    expected = {"string": "text", "boolean": "boolean", "integer": "integer", "array": "string-list"}
    for field in TARGET_FIELDS:
        if field.contact_type or field.address_part or field.type == "enum":
            continue
        prop = REQUEST["properties"][field.key]
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
