"""Request bodies the sandbox accepts, as JSON Schema (draft-07), written from ServiceTitan's OpenAPI docs.

Derived by hand from `crm-v2.json` (components `Crm.V2.CreateBookingRequest`, `Crm.V2.AddressModel`,
`Crm.V2.BookingContactModel`, `Crm.V2.ContactCreateRequest`, `Crm.V2.UpdateBookingRequest`,
`Crm.V2.AddressPatchModel`, `Crm.V2.Customers.UpdateCustomerRequest`) so the sandbox needs nothing
outside the repository at run time. The contract tests in tests/sandbox/ check them against the official
documents.

OpenAPI's `nullable: true` is written as a `"null"` member of `type` (and of `enum`), and nested schemas
are inlined, so every rule is a plain keyword and every error points at one property.
"""

from __future__ import annotations

from typing import Any

INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
NULLABLE_INT64 = {**INT64, "type": ["integer", "null"]}
STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
BOOLEAN = {"type": "boolean"}
DATE_TIME = {"type": "string", "format": "date-time"}

PRIORITIES = ["Low", "Normal", "High", "Urgent"]
CONTACT_TYPES = ["Phone", "Email", "Fax", "MobilePhone"]
CUSTOMER_TYPES = ["Residential", "Commercial"]

_ADDRESS_FIELDS = ("street", "unit", "city", "state", "zip", "country")

ADDRESS_MODEL: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {name: NULLABLE_STRING if name == "unit" else STRING for name in _ADDRESS_FIELDS},
    "required": ["street", "city", "state", "zip", "country"],
    "additionalProperties": False,
}

BOOKING_CONTACT_MODEL: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": CONTACT_TYPES},
        "value": STRING,
        "memo": NULLABLE_STRING,
    },
    "required": ["type", "value"],
    "additionalProperties": False,
}

CREATE_BOOKING_REQUEST: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "CreateBookingRequest",
    "type": "object",
    "properties": {
        "source": STRING,
        "name": STRING,
        "address": ADDRESS_MODEL,
        "contacts": {"type": ["array", "null"], "items": BOOKING_CONTACT_MODEL},
        "customerType": NULLABLE_STRING,  # free text in the request; the response narrows it to an enum
        "start": {**DATE_TIME, "type": ["string", "null"]},
        "summary": STRING,
        "campaignId": NULLABLE_INT64,
        "businessUnitId": NULLABLE_INT64,
        "jobTypeId": NULLABLE_INT64,
        "priority": {"type": ["string", "null"], "enum": [*PRIORITIES, None]},
        "isFirstTimeClient": BOOLEAN,
        "uploadedImages": {"type": ["array", "null"], "items": STRING},
        "isSendConfirmationEmail": {"type": ["boolean", "null"]},
        "externalId": STRING,
    },
    "required": ["source", "name", "summary", "isFirstTimeClient", "externalId"],
    "additionalProperties": False,
}

CONTACT_CREATE_REQUEST: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "ContactCreateRequest",
    "type": "object",
    "properties": {"type": STRING, "value": STRING, "memo": NULLABLE_STRING},
    "required": ["type", "value"],
    "additionalProperties": False,
}

# PATCH: nothing is nullable, and an address, when sent, must carry all six fields (even `unit`).
UPDATE_BOOKING_REQUEST: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "UpdateBookingRequest",
    "type": "object",
    "properties": {
        "source": STRING,
        "name": STRING,
        "address": {
            "type": "object",
            "properties": {name: STRING for name in _ADDRESS_FIELDS},
            "required": list(_ADDRESS_FIELDS),
            "additionalProperties": False,
        },
        "customerType": {"type": "string", "enum": CUSTOMER_TYPES},
        "start": DATE_TIME,
        "summary": STRING,
        "campaignId": INT64,
        "businessUnitId": INT64,
        "jobTypeId": INT64,
        "priority": {"type": "string", "enum": PRIORITIES},
        "isFirstTimeClient": BOOLEAN,
        "uploadedImages": {"type": "array", "items": STRING},
        "externalId": STRING,
    },
    "additionalProperties": False,
}

NUMBER = {"type": "number"}

# Crm.V2.Customers.UpdateCustomerRequest (PATCH /customers/{id}), with UpdateCustomerAddress (all eight parts
# required), CustomFieldUpdateModel and ExternalDataUpdateRequest.
UPDATE_CUSTOMER_REQUEST: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "UpdateCustomerRequest",
    "type": "object",
    "properties": {
        "name": STRING,
        "type": {"type": "string", "enum": CUSTOMER_TYPES},
        "address": {
            "type": "object",
            "properties": {
                **{name: STRING for name in _ADDRESS_FIELDS},
                "latitude": NUMBER,
                "longitude": NUMBER,
            },
            "required": [*_ADDRESS_FIELDS, "latitude", "longitude"],
            "additionalProperties": False,
        },
        "customFields": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"typeId": INT64, "value": STRING},
                "required": ["typeId", "value"],
                "additionalProperties": False,
            },
        },
        "externalData": {
            "type": "object",
            "properties": {
                "patchMode": {"type": ["string", "null"], "enum": ["Replace", "Merge", None]},
                "applicationGuid": STRING,
                "externalData": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"key": STRING, "value": NULLABLE_STRING},
                        "required": ["key"],
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["applicationGuid", "externalData"],
            "additionalProperties": False,
        },
        "doNotMail": BOOLEAN,
        "doNotService": BOOLEAN,
        "nationalAccount": BOOLEAN,
        "active": BOOLEAN,
        "tagTypeIds": {"type": "array", "items": INT64},
        "taxExempt": BOOLEAN,
        "paymentTermId": INT64,
        "creditLimit": NUMBER,
        "creditLimitBalance": NUMBER,
    },
    "additionalProperties": False,
}

REQUEST_SCHEMAS: dict[str, dict[str, Any]] = {
    "CreateBookingRequest": CREATE_BOOKING_REQUEST,
    "ContactCreateRequest": CONTACT_CREATE_REQUEST,
    "UpdateBookingRequest": UPDATE_BOOKING_REQUEST,
    "UpdateCustomerRequest": UPDATE_CUSTOMER_REQUEST,
}
