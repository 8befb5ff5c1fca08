"""ServiceTitan's JSON for customers, their contacts, custom field types and the pick lists (job types, business
units, campaigns, tag types). Every shape satisfies the official response schema (the contract tests check it)."""

from __future__ import annotations

from typing import Any

from referloop.sandbox.catalog import CatalogItem
from referloop.sandbox.customers import PHONE_TYPES, Customer, CustomerContact, CustomFieldType
from referloop.sandbox.wire import format_dt


def customer_to_api(customer: Customer, field_names: dict[int, str]) -> dict[str, Any]:
    """CustomerResponse; `field_names` (typeId → name) fills each custom field's `name`."""
    return {
        "id": customer.id,
        "active": customer.active,
        "name": customer.name,
        "type": customer.type,
        "address": {**customer.address, "latitude": None, "longitude": None},
        "customFields": [
            {"typeId": type_id, "name": field_names.get(type_id), "value": value}
            for type_id, value in sorted(customer.custom_fields.items())
        ],
        "balance": 0.0,
        "taxExempt": customer.tax_exempt,
        "tagTypeIds": list(customer.tag_type_ids),
        "doNotMail": customer.do_not_mail,
        "doNotService": customer.do_not_service,
        "nationalAccount": customer.national_account,
        "createdOn": format_dt(customer.created_on),
        "createdById": 1,
        "modifiedOn": format_dt(customer.modified_on),
        "mergedToId": None,
        "paymentTermId": None,
        "creditLimit": None,
        "creditLimitBalance": None,
        "externalData": [],
    }


def contact_to_api(
    contact: CustomerContact, *, with_customer: bool = False, with_active: bool = False
) -> dict[str, Any]:
    """CustomerContactWithModifiedOnResponse; `with_customer` adds customerId (the tenant-wide list), `with_active`
    adds active (the export)."""
    answer: dict[str, Any] = {
        "id": contact.id,
        "type": contact.type,
        "value": contact.value,
        "memo": contact.memo,
        "modifiedOn": format_dt(contact.modified_on),
        # The schema requires phoneSettings on every contact; an email's carries no number.
        "phoneSettings": {
            "phoneNumber": contact.value if contact.type in PHONE_TYPES else "",
            "doNotText": False,
        },
        "createdOn": format_dt(contact.created_on),
        "preferences": None,
    }
    if with_customer:
        answer["customerId"] = contact.customer_id
    if with_active:
        answer["active"] = contact.active
    return answer


def field_type_to_api(field_type: CustomFieldType) -> dict[str, Any]:
    return {
        "id": field_type.id,
        "name": field_type.name,
        "dataType": field_type.data_type,
        "dataTypeOptions": field_type.options,
        "createdOn": format_dt(field_type.created_on),
        "modifiedOn": format_dt(field_type.modified_on),
    }


def job_type_to_api(item: CatalogItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "businessUnitIds": [],
        "skills": [],
        "tagTypeIds": [],
        "priority": "Normal",
        "duration": 3600,
        "soldThreshold": None,
        "class": "",
        "summary": "",
        "noCharge": False,
        "enforceRecurringServiceEventSelection": None,
        "invoiceSignaturesRequired": False,
        "modifiedOn": format_dt(item.modified_on),
        "createdOn": format_dt(item.created_on),
        "externalData": [],
        "active": item.active,
        "isSmartDispatched": False,
    }


def business_unit_to_api(item: CatalogItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "active": item.active,
        "name": item.name,
        "officialName": item.name,
        "email": None,
        "currency": "USD",
        "phoneNumber": None,
        "tagTypeIds": [],
        "createdOn": format_dt(item.created_on),
        "modifiedOn": format_dt(item.modified_on),
        "externalData": None,
    }


def campaign_to_api(item: CatalogItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "modifiedOn": format_dt(item.modified_on),
        "createdOn": format_dt(item.created_on),
        "active": item.active,
        "isDefaultCampaign": None,
        "category": None,
        "source": None,
        "otherSource": None,
        "businessUnit": None,
        "medium": None,
        "otherMedium": None,
        "campaignPhoneNumbers": [],
    }


# A tag type's colour and code are the office's choice; the sandbox gives every one the same plain values.
def tag_type_to_api(item: CatalogItem) -> dict[str, Any]:
    """TenantSettings.V2.TagTypeResponse."""
    return {
        "id": item.id,
        "name": item.name,
        "color": "#1f6feb",
        "code": f"T{item.id}",
        "importance": None,
        "isConversionOpportunity": False,
        "allowToUseOnTimesheetActivity": False,
        "isVisibleOnDispatchBoard": True,
        "active": item.active,
        "createdOn": format_dt(item.created_on),
        "modifiedOn": format_dt(item.modified_on),
    }
