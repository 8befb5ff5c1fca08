"""Mapping-level checks: what the mapping screens show per row, and the "Setup Required" check."""

from __future__ import annotations

from referloop.providers.mapping import (
    SOURCE_FIELDS,
    CustomSource,
    FieldMapping,
    render_fixed,
    source_catalog,
    unknown_placeholders,
)
from referloop.providers.servicetitan import default_mapping, missing_required_fields, validate_mapping


def test_the_default_mapping_is_complete_and_valid():
    assert missing_required_fields(default_mapping()) == []
    assert validate_mapping(default_mapping()) == {}


def test_default_mapping_maps_every_field_the_lead_form_collects():
    assert default_mapping() == {
        "source": FieldMapping("dynamic", "campaign.name"),
        "name": FieldMapping("dynamic", "lead.full_name"),
        "contacts.Email": FieldMapping("dynamic", "lead.email"),
        "contacts.Phone": FieldMapping("dynamic", "lead.phone"),
        "summary": FieldMapping("fixed", "Referral from {Referrer Full Name}: {Lead Notes}"),
        "isFirstTimeClient": FieldMapping("manual", "Yes"),
        "externalId": FieldMapping("dynamic", "lead.referral_code"),
        "address.street": FieldMapping("dynamic", "lead.street"),
        "address.city": FieldMapping("dynamic", "lead.city"),
        "address.state": FieldMapping("dynamic", "lead.state"),
        "address.zip": FieldMapping("dynamic", "lead.zip"),
        "address.country": FieldMapping("fixed", "USA"),
    }


def test_setup_required_names_unmapped_and_blank_required_fields():
    mapping = {**default_mapping(), "summary": FieldMapping("fixed", "   ")}
    del mapping["externalId"]
    assert [field.label for field in missing_required_fields(mapping)] == ["Summary", "External Id"]


def test_an_empty_mapping_needs_every_required_field():
    assert [f.label for f in missing_required_fields({})] == [
        "Source",
        "Name",
        "Email",
        "Summary",
        "Is First Time Client",
        "External Id",
    ]


def test_each_kind_of_mapping_mistake_is_reported_on_its_row():
    mapping = {
        **default_mapping(),
        "source": FieldMapping("dynamic", "lead.favourite_colour"),
        "isFirstTimeClient": FieldMapping("manual", "Maybe"),
        "summary": FieldMapping("fixed", "Referral from {Referer Name}"),
        "campaignId": FieldMapping("fixed", "spring"),
        "jobTypeId": FieldMapping("fixed", "{Lead Zip}"),
        "name": FieldMapping("manual", "Tom"),
        "priority": FieldMapping("fixed", "asap"),
        "notAField": FieldMapping("fixed", "x"),
    }
    assert validate_mapping(mapping) == {
        "source": "Source is mapped to 'lead.favourite_colour', which is not a referloop field (was it removed?).",
        "isFirstTimeClient": "'Maybe' is not a choice for Is First Time Client: choose Yes or No.",
        "summary": "The Fixed Value for Summary names fields referloop does not have: {Referer Name}.",
        "campaignId": "The Fixed Value 'spring' for Campaign Id is not a whole number.",
        "jobTypeId": "The Fixed Value for Job Type Id must be a number; use a Dynamic Value to copy a field.",
        "name": "Name has no list to choose from: use a Dynamic Value or a Fixed Value.",
        "priority": "The Fixed Value 'asap' for Priority is not one of Low, Normal, High, Urgent.",
        "notAField": "'notAField' is not a ServiceTitan booking field.",
    }


def test_custom_fields_are_valid_sources_only_when_passed_in():
    mapping = {**default_mapping(), "summary": FieldMapping("dynamic", "custom.system_type")}
    assert "summary" in validate_mapping(mapping)
    assert validate_mapping(mapping, [CustomSource("system_type", "System type")]) == {}


def test_mapping_one_address_part_asks_for_the_other_required_parts():
    required = {key: entry for key, entry in default_mapping().items() if not key.startswith("address.")}
    mapping = {**required, "address.zip": FieldMapping("dynamic", "lead.zip")}
    problems = validate_mapping(mapping)
    assert sorted(problems) == ["address.city", "address.country", "address.state", "address.street"]
    assert problems["address.country"] == (
        "Country must be mapped too, because ServiceTitan needs Street, City, State, Zip, Country together "
        "(a Fixed Value works, for example USA for Country)."
    )


def test_placeholders_match_labels_regardless_of_case_and_spacing():
    record = {"referrer.full_name": "Maria Lopez", "campaign.name": "Spring"}
    assert render_fixed("{referrer  full name} / {CAMPAIGN NAME}", record, SOURCE_FIELDS) == "Maria Lopez / Spring"
    assert unknown_placeholders("{Referrer Full Name} {Nope}", SOURCE_FIELDS) == ["Nope"]


def test_source_catalog_lists_custom_fields_after_the_built_in_ones():
    catalog = source_catalog([CustomSource("system_type", "System type")])
    assert catalog[-1].key == "custom.system_type"
    assert (catalog[-1].label, catalog[-1].group) == ("System type", "Custom fields")
    assert [f.key for f in catalog[:3]] == ["lead.first_name", "lead.last_name", "lead.full_name"]
    assert len({f.label for f in catalog}) == len(catalog)
