"""The payload builder: mapping + lead record → CreateBookingRequest body, or one PayloadError."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from referloop.providers.mapping import CustomSource, FieldMapping
from referloop.providers.servicetitan import PayloadError, build_booking_body, default_mapping, payload
from referloop.providers.servicetitan.fields import FIELDS_BY_KEY
from referloop.providers.servicetitan.payload import build_booking, missing_address_parts

LEAD = {
    "lead.first_name": "Tom",
    "lead.last_name": "Nguyen",
    "lead.full_name": "Tom Nguyen",
    "lead.email": "tom@example.com",
    "lead.phone": "(555) 010-2030",
    "lead.referral_code": "LEAD-7Q2X",
    "lead.created_at": datetime(2025, 5, 1, 14, 30, tzinfo=UTC),
    "referrer.full_name": "Maria Lopez",
    "campaign.name": "Spring referrals",
}


# The required rows of the default mapping: each test adds the optional rows it is about.
REQUIRED = {key: entry for key, entry in default_mapping().items() if FIELDS_BY_KEY[key].required}


def build(extra: dict[str, FieldMapping] | None = None, record: dict | None = None, **kwargs):
    return build_booking_body({**REQUIRED, **(extra or {})}, {**LEAD, **(record or {})}, **kwargs)


def problems_of(excinfo: pytest.ExceptionInfo[PayloadError]) -> list[tuple[str, str, str]]:
    return [(p.label, p.value, p.reason) for p in excinfo.value.problems]


def test_the_required_rows_alone_build_the_minimal_booking():
    assert build() == {
        "source": "Spring referrals",
        "name": "Tom Nguyen",
        "summary": "Referral from Maria Lopez",
        "isFirstTimeClient": True,
        "externalId": "LEAD-7Q2X",
        "contacts": [{"type": "Email", "value": "tom@example.com"}],
    }


def test_email_and_phones_become_contacts_in_catalog_order():
    body = build(
        {
            "contacts.MobilePhone": FieldMapping("fixed", "555 111 2222"),
            "contacts.Phone": FieldMapping("dynamic", "lead.phone"),
        }
    )
    assert body["contacts"] == [
        {"type": "Email", "value": "tom@example.com"},
        {"type": "Phone", "value": "(555) 010-2030"},
        {"type": "MobilePhone", "value": "555 111 2222"},
    ]


def test_whitespace_is_stripped_from_every_value():
    body = build(record={"lead.full_name": "  Tom Nguyen \n", "lead.email": " tom@example.com "})
    assert body["name"] == "Tom Nguyen"
    assert body["contacts"] == [{"type": "Email", "value": "tom@example.com"}]


ADDRESS = {
    "address.street": FieldMapping("dynamic", "lead.street"),
    "address.city": FieldMapping("dynamic", "lead.city"),
    "address.state": FieldMapping("dynamic", "lead.state"),
    "address.zip": FieldMapping("dynamic", "lead.zip"),
    "address.country": FieldMapping("fixed", "USA"),
}
ADDRESS_RECORD = {"lead.street": "12 Elm St", "lead.city": "Austin", "lead.state": "TX", "lead.zip": "78701"}


def test_address_parts_become_one_address():
    body = build(ADDRESS, ADDRESS_RECORD)
    assert body["address"] == {"street": "12 Elm St", "city": "Austin", "state": "TX", "zip": "78701", "country": "USA"}


def test_no_address_is_sent_when_the_lead_gave_none():
    assert "address" not in build(ADDRESS, {})


def test_constant_address_parts_alone_do_not_make_an_address():
    mapping = {**ADDRESS, "address.state": FieldMapping("fixed", "TX")}
    assert "address" not in build(mapping, {})
    body = build(mapping, {**ADDRESS_RECORD, "lead.state": None})
    assert body["address"]["state"] == "TX"


def test_a_unit_alone_is_left_out_with_a_warning_naming_the_rest_of_the_address():
    mapping = {**REQUIRED, **ADDRESS, "address.unit": FieldMapping("dynamic", "custom.unit")}
    built = build_booking(mapping, {**LEAD, "custom.unit": "Apt 4"}, [CustomSource("unit", "Unit")])
    assert "address" not in built.body
    assert built.warnings == (
        "The address was left out of the booking: the lead gave Unit but no Street, City, State or Zip, "
        "and ServiceTitan takes an address only whole.",
    )


def test_a_partial_address_is_left_out_of_the_booking_with_a_warning_naming_the_missing_parts():
    built = build_booking({**REQUIRED, **ADDRESS}, {**LEAD, "lead.street": "12 Elm St", "lead.zip": "78701"})
    assert built.body == build()
    assert built.warnings == (
        "The address was left out of the booking: the lead gave Street and Zip but no City or State, "
        "and ServiceTitan takes an address only whole.",
    )


def test_a_whole_address_or_none_gives_no_warning():
    assert build_booking({**REQUIRED, **ADDRESS}, {**LEAD, **ADDRESS_RECORD}).warnings == ()
    assert build_booking({**REQUIRED, **ADDRESS}, LEAD).warnings == ()


def test_the_missing_address_parts_are_what_the_forms_ask_for():
    mapping = {**REQUIRED, **ADDRESS}
    missing = missing_address_parts(mapping, {"lead.street": "12 Elm St"})
    assert [field.label for field in missing] == ["City", "State", "Zip"]
    assert missing_address_parts(mapping, ADDRESS_RECORD) == []
    assert missing_address_parts(mapping, {}) == []
    # A row the mapping itself gets wrong holds the lead at setup: the friend is not asked for it.
    without_city = {key: entry for key, entry in mapping.items() if key != "address.city"}
    assert [field.label for field in missing_address_parts(without_city, {"lead.zip": "1"})] == ["Street", "State"]


def test_the_default_mapping_sends_the_phone_the_address_with_country_usa_and_the_notes_in_the_summary():
    record = {**LEAD, **ADDRESS_RECORD, "lead.notes": "AC blowing warm air"}
    body = build_booking_body(default_mapping(), record)
    assert body["summary"] == "Referral from Maria Lopez: AC blowing warm air"
    assert body["contacts"] == [
        {"type": "Email", "value": "tom@example.com"},
        {"type": "Phone", "value": "(555) 010-2030"},
    ]
    assert body["address"] == {"street": "12 Elm St", "city": "Austin", "state": "TX", "zip": "78701", "country": "USA"}


def test_without_notes_the_default_summary_has_no_dangling_separator():
    assert build_booking_body(default_mapping(), LEAD)["summary"] == "Referral from Maria Lopez"
    summary = FieldMapping("fixed", "Referral from {Referrer Full Name} - {Lead Notes}")
    assert build({"summary": summary}, {"lead.notes": "  "})["summary"] == "Referral from Maria Lopez"
    assert build({"summary": summary}, {"lead.notes": "Leak"})["summary"] == "Referral from Maria Lopez - Leak"


def test_country_is_not_invented_when_it_is_not_mapped():
    mapping = {k: v for k, v in ADDRESS.items() if k != "address.country"}
    with pytest.raises(PayloadError) as excinfo:
        build(mapping, ADDRESS_RECORD)
    [(label, value, reason)] = problems_of(excinfo)
    assert (label, value) == ("Country", "")
    assert "must be mapped too" in reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Yes", True), ("no", False), ("TRUE", True), ("false", False), ("1", True), ("0", False), (True, True)],
)
def test_booleans_accept_yes_no_true_false_and_digits(text, expected):
    body = build(
        {"isSendConfirmationEmail": FieldMapping("dynamic", "custom.confirm")},
        {"custom.confirm": text},
        custom_fields=[CustomSource("confirm", "Confirm by email")],
    )
    assert body["isSendConfirmationEmail"] is expected


def test_ids_become_integers():
    body = build(
        {"campaignId": FieldMapping("fixed", " 1234 "), "jobTypeId": FieldMapping("dynamic", "custom.jt")},
        {"custom.jt": 77},
        custom_fields=[CustomSource("jt", "Job type")],
    )
    assert (body["campaignId"], body["jobTypeId"]) == (1234, 77)


def test_enums_take_their_canonical_spelling():
    body = build(
        {"priority": FieldMapping("dynamic", "custom.p"), "customerType": FieldMapping("manual", "Commercial")},
        {"custom.p": "uRGENT"},
        custom_fields=[CustomSource("p", "Priority")],
    )
    assert (body["priority"], body["customerType"]) == ("Urgent", "Commercial")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2025, 5, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5))), "2025-05-01T14:00:00Z"),
        ("2025-05-01T09:00:00-05:00", "2025-05-01T14:00:00Z"),
        ("2025-05-01T14:00:00.123456Z", "2025-05-01T14:00:00Z"),
        (date(2025, 5, 1), "2025-05-01T12:00:00Z"),
        ("2025-05-01", "2025-05-01T12:00:00Z"),
    ],
)
def test_start_is_sent_in_utc_with_z(value, expected):
    body = build(
        {"start": FieldMapping("dynamic", "custom.when")},
        {"custom.when": value},
        custom_fields=[CustomSource("when", "Preferred time")],
    )
    assert body["start"] == expected


def test_uploaded_images_split_on_commas_and_new_lines():
    body = build(
        {"uploadedImages": FieldMapping("dynamic", "custom.photos")},
        {"custom.photos": "https://a.example/1.jpg, https://a.example/2.jpg\n\n"},
        custom_fields=[CustomSource("photos", "Photos")],
    )
    assert body["uploadedImages"] == ["https://a.example/1.jpg", "https://a.example/2.jpg"]


def test_an_empty_optional_value_is_left_out():
    body = build({"contacts.Phone": FieldMapping("dynamic", "lead.phone")}, {"lead.phone": "   "})
    assert body["contacts"] == [{"type": "Email", "value": "tom@example.com"}]


def test_a_fixed_value_with_a_missing_placeholder_value_is_trimmed():
    assert build(record={"referrer.full_name": None})["summary"] == "Referral from"


def test_every_bad_field_is_reported_in_one_error():
    mapping = {
        "campaignId": FieldMapping("dynamic", "custom.campaign"),
        "priority": FieldMapping("dynamic", "custom.priority"),
        "start": FieldMapping("dynamic", "custom.when"),
        "isSendConfirmationEmail": FieldMapping("dynamic", "custom.confirm"),
        "contacts.Phone": FieldMapping("dynamic", "lead.phone"),
    }
    record = {
        "lead.email": "tom at example",
        "lead.full_name": "",
        "lead.phone": "call me",
        "custom.campaign": "12.5",
        "custom.priority": "Soon",
        "custom.when": "2025-05-01T09:00:00",
        "custom.confirm": "maybe",
    }
    custom = [CustomSource(n, n.title()) for n in ("campaign", "priority", "when", "confirm")]
    with pytest.raises(PayloadError) as excinfo:
        build(mapping, record, custom_fields=custom)
    assert problems_of(excinfo) == [
        ("Name", "", "is required but this lead has no Lead Full Name"),
        ("Email", "tom at example", "is not an email address"),
        ("Phone", "call me", "is not a phone number"),
        ("Start", "2025-05-01T09:00:00", "has no time zone (add Z or an offset such as -05:00)"),
        ("Campaign Id", "12.5", "is not a whole number"),
        ("Priority", "Soon", "is not one of Low, Normal, High, Urgent"),
        ("Send Confirmation Email", "maybe", "is not Yes or No"),
    ]
    assert excinfo.value.message.startswith("The booking cannot be sent because of these fields: Name (empty) is")
    assert 'Campaign Id "12.5" is not a whole number;' in excinfo.value.message


@pytest.mark.parametrize("value", ["0", "-4", str(2**63), True])
def test_ids_outside_the_int64_id_range_are_refused(value):
    with pytest.raises(PayloadError) as excinfo:
        build(
            {"businessUnitId": FieldMapping("dynamic", "custom.bu")},
            {"custom.bu": value},
            custom_fields=[CustomSource("bu", "Business unit")],
        )
    [(label, _value, reason)] = problems_of(excinfo)
    assert label == "Business Unit Id"
    assert reason in {"is not a whole number", "is not a valid ServiceTitan id (a positive number below 2^63)"}


def test_a_required_field_left_unmapped_is_reported():
    mapping = {k: v for k, v in default_mapping().items() if k != "externalId"}
    with pytest.raises(PayloadError) as excinfo:
        build_booking_body(mapping, LEAD)
    assert problems_of(excinfo) == [("External Id", "", "is required but not mapped")]


def test_mapping_mistakes_are_reported_with_the_lead_problems():
    with pytest.raises(PayloadError) as excinfo:
        build({"source": FieldMapping("dynamic", "lead.favourite_colour"), "bogus": FieldMapping("fixed", "x")})
    assert [(label, value) for label, value, _ in problems_of(excinfo)] == [
        ("Source", "lead.favourite_colour"),
        ("bogus", "x"),
    ]


def test_custom_fields_fill_fixed_placeholders_by_their_label():
    body = build(
        {"summary": FieldMapping("fixed", "Referral from {Referrer Full Name}: {System type}")},
        {"custom.system_type": "Heat pump"},
        custom_fields=[CustomSource("system_type", "System type")],
    )
    assert body["summary"] == "Referral from Maria Lopez: Heat pump"


def test_what_a_mapping_means_is_worked_out_once_but_a_changed_mapping_or_custom_fields_are_seen():
    mapping = {**default_mapping(), "summary": FieldMapping("fixed", "Referral: {System type}")}
    custom = [CustomSource("system_type", "System type")]
    record = {**LEAD, "custom.system_type": "Furnace"}
    before = payload._cached_plan.cache_info()

    bodies = [build_booking_body(mapping, {**record, "lead.referral_code": f"L{n}"}, custom) for n in range(5)]

    assert [body["externalId"] for body in bodies] == [f"L{n}" for n in range(5)]
    assert payload._cached_plan.cache_info().misses - before.misses == 1
    with pytest.raises(PayloadError, match="names fields referloop does not have"):
        build_booking_body(mapping, record, [CustomSource("system_type", "Other label")])
    mapping["summary"] = FieldMapping("fixed", "Heating: {System type}")  # the same dict, edited
    assert build_booking_body(mapping, record, custom)["summary"] == "Heating: Furnace"
