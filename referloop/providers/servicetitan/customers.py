"""crm-v2 customer operations, described once (as `calls` describes bookings): the export feeds the referrer sync
reads, one customer's read and custom-field write, and the contact lookups.

Looking a lead up among the customers: crm-v2 filters customers by `phone` (Customers_GetList, "by phone number of
contacts") but has no filter by email anywhere (the contacts lists take only customer ids and dates). So a phone
lookup is one call (`find_customers_by_phone`); an email can only be matched against contacts already read,
e.g. from the contacts export (`export_customer_contacts`) that the referrer sync keeps current.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from .auth import Credentials
from .calls import MAX_IDS, PAGE_SIZE, ApiCall, Page, _context, _crm, _items, _object, _page
from .customer_models import Customer, CustomerContact, CustomFieldType, ExportPage
from .models import Json

R = TypeVar("R")


def _export_page(read: Callable[[Json], R]) -> Callable[[object], ExportPage[R]]:
    def parse(data: object) -> ExportPage[R]:
        envelope = _object(data)
        token = envelope.get("continueFrom")
        if not isinstance(token, str):
            raise ValueError("the export answer has no continueFrom token")
        return ExportPage([read(item) for item in _items(data)], token, envelope.get("hasMore") is True)

    return parse


def _export_params(from_token: str | None, include_recent_changes: bool) -> dict[str, str | int]:
    params: dict[str, str | int] = {"includeRecentChanges": "true" if include_recent_changes else "false"}
    if from_token:
        params["from"] = from_token
    return params


def export_customers(
    credentials: Credentials, from_token: str | None = None, *, include_recent_changes: bool = True
) -> ApiCall[ExportPage[Customer]]:
    """ExportCustomers_GetCustomers: the next page after `from_token` (None: from the beginning; a date such as
    "2024-01-01" also works). Active and inactive customers alike, oldest change first. With
    `include_recent_changes` (the default: a sync wants changes now, not 15 minutes late) a record may repeat."""
    return ApiCall(
        "GET",
        f"{_crm(credentials)}/export/customers",
        _context(credentials, "export customers"),
        _export_page(Customer.from_api),
        params=_export_params(from_token, include_recent_changes),
    )


def export_customer_contacts(
    credentials: Credentials, from_token: str | None = None, *, include_recent_changes: bool = True
) -> ApiCall[ExportPage[CustomerContact]]:
    """ExportContacts_CustomersContacts: contacts (with customerId and active) in modification order."""
    return ApiCall(
        "GET",
        f"{_crm(credentials)}/export/customers/contacts",
        _context(credentials, "export customer contacts"),
        _export_page(CustomerContact.from_api),
        params=_export_params(from_token, include_recent_changes),
    )


def get_customer(credentials: Credentials, customer_id: int) -> ApiCall[Customer]:
    return ApiCall(
        "GET",
        f"{_crm(credentials)}/customers/{customer_id}",
        _context(credentials, f"read customer {customer_id}", subject=f"customer {customer_id}"),
        lambda data: Customer.from_api(_object(data)),
    )


def update_customer_custom_fields(
    credentials: Credentials, customer_id: int, values: Mapping[int, str]
) -> ApiCall[Customer]:
    """Customers_Update with only `customFields` [{typeId, value}]: the customer's other fields are untouched.
    Sending the same values twice leaves the same record, so a lost answer is safe to retry (idempotent)."""
    return ApiCall(
        "PATCH",
        f"{_crm(credentials)}/customers/{customer_id}",
        _context(credentials, f"update the custom fields of customer {customer_id}", subject=f"customer {customer_id}"),
        lambda data: Customer.from_api(_object(data)),
        json={"customFields": [{"typeId": type_id, "value": value} for type_id, value in values.items()]},
    )


def find_customers_by_phone(credentials: Credentials, phone: str) -> ApiCall[list[Customer]]:
    """Customers_GetList?phone=: the active customers with a contact of this phone number, in one call."""
    return ApiCall(
        "GET",
        f"{_crm(credentials)}/customers",
        _context(credentials, "look up customers by phone"),
        lambda data: [Customer.from_api(item) for item in _items(data)],
        params={"phone": phone, "pageSize": PAGE_SIZE},
    )


def count_customers(credentials: Credentials) -> ApiCall[int | None]:
    """Customers_GetList?includeTotal=true: how many customers the tenant has, active or not, in one call of one
    record (the export feed does not say how many records are left; the referrer sync shows rows to go)."""

    def parse(data: object) -> int | None:
        total = _object(data).get("totalCount")
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    return ApiCall(
        "GET",
        f"{_crm(credentials)}/customers",
        _context(credentials, "count customers"),
        parse,
        params={"page": 1, "pageSize": 1, "includeTotal": "true", "active": "Any"},
    )


def list_customer_contacts(credentials: Credentials, customer_id: int) -> ApiCall[list[CustomerContact]]:
    """Customers_GetContactList: one customer's contacts (the answer has no customerId; it is filled in)."""

    def parse(data: object) -> list[CustomerContact]:
        return [CustomerContact.from_api({**item, "customerId": customer_id}) for item in _items(data)]

    return ApiCall(
        "GET",
        f"{_crm(credentials)}/customers/{customer_id}/contacts",
        _context(credentials, f"list the contacts of customer {customer_id}", subject=f"customer {customer_id}"),
        parse,
        params={"pageSize": PAGE_SIZE},
    )


def list_contacts_of_customers(
    credentials: Credentials, customer_ids: Sequence[int], page: int = 1
) -> ApiCall[Page[CustomerContact]]:
    """Customers_GetModifiedContactsList?customerIds=: the contacts (with customerId) of up to MAX_IDS customers."""
    if not 1 <= len(customer_ids) <= MAX_IDS:
        raise ValueError(f"between 1 and {MAX_IDS} customer ids per call, not {len(customer_ids)}")
    return ApiCall(
        "GET",
        f"{_crm(credentials)}/customers/contacts",
        _context(credentials, "list customer contacts"),
        lambda data: _page(data, CustomerContact.from_api),
        params={"customerIds": ",".join(str(i) for i in customer_ids), "page": page, "pageSize": PAGE_SIZE},
    )


def list_custom_field_types(credentials: Credentials, page: int = 1) -> ApiCall[Page[CustomFieldType]]:
    return ApiCall(
        "GET",
        f"{_crm(credentials)}/customers/custom-fields",
        _context(credentials, "list the customer custom fields"),
        lambda data: _page(data, CustomFieldType.from_api),
        params={"page": page, "pageSize": PAGE_SIZE},
    )
