"""The tenant's customers (crm-v2): customers with their contacts, tags and custom fields, and the custom field
types a tenant defines. Held by `SandboxState` (as `state.crm`), under the state's lock and clock.

Every change to a customer (or to one of its contacts) stamps the customer's `modified_on`, so the export feed
(`export.py`) hands a changed customer out again after everything it had already handed out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from referloop.sandbox.schemas import CONTACT_TYPES

PHONE_TYPES = ("Phone", "MobilePhone")
FIELD_DATA_TYPES = ("Text", "Numeric", "Dropdown")


class UnknownCustomField(ValueError):
    """A customFields entry names a typeId the tenant does not define (or a value its type refuses)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


@dataclass
class CustomerContact:
    id: int
    customer_id: int
    type: str  # a ContactType: Phone, Email, Fax, MobilePhone
    value: str
    memo: str | None
    created_on: datetime
    modified_on: datetime
    active: bool = True


@dataclass
class Customer:
    id: int
    tenant_id: int
    name: str
    created_on: datetime
    modified_on: datetime
    address: dict[str, str | None]
    type: str = "Residential"
    active: bool = True
    tag_type_ids: list[int] = field(default_factory=list)
    custom_fields: dict[int, str] = field(default_factory=dict)  # typeId → value
    do_not_mail: bool = False
    do_not_service: bool = False
    national_account: bool = False
    tax_exempt: bool = False
    contacts: list[CustomerContact] = field(default_factory=list)

    def emails(self) -> list[str]:
        return [c.value for c in self.contacts if c.active and c.type == "Email"]

    def phones(self) -> list[str]:
        return [c.value for c in self.contacts if c.active and c.type in PHONE_TYPES]


@dataclass
class CustomFieldType:
    id: int
    tenant_id: int
    name: str
    data_type: str  # Text, Numeric or Dropdown
    created_on: datetime
    modified_on: datetime
    options: list[str] | None = None


@dataclass(frozen=True)
class NewContact:
    """A contact to add with a customer: (type, value, memo)."""

    type: str
    value: str
    memo: str | None = None

    def checked(self) -> NewContact:
        kind = next((t for t in CONTACT_TYPES if t.lower() == str(self.type).lower()), None)
        if kind is None:
            raise ValueError(f"{self.type!r} is not a contact type (one of {', '.join(CONTACT_TYPES)})")
        if not isinstance(self.value, str) or not self.value.strip():
            raise ValueError("a contact needs a value (an email address or a phone number)")
        return NewContact(kind, self.value, self.memo)


def phone_digits(value: str) -> str:
    """A phone number as its digits, without a leading US country code: how the `phone` filter compares."""
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


class CustomerBook:
    """Customers and custom field types of every tenant. Shares the state's lock, clock and id counters."""

    def __init__(
        self,
        lock: threading.RLock,
        stamp: Callable[[], datetime],
        customer_ids: Iterator[int],
        contact_ids: Iterator[int],
        field_type_ids: Iterator[int],
    ) -> None:
        self.lock = lock
        self._stamp = stamp
        self._customer_ids = customer_ids
        self._contact_ids = contact_ids
        self._field_type_ids = field_type_ids
        self.customers: dict[int, Customer] = {}
        self.field_types: dict[int, CustomFieldType] = {}

    def reset(self) -> None:
        with self.lock:
            self.customers.clear()
            self.field_types.clear()

    # Customers

    def add_customer(
        self,
        tenant_id: int,
        name: str,
        *,
        contacts: Iterable[NewContact] = (),
        tag_type_ids: Sequence[int] = (),
        address: dict[str, str | None] | None = None,
        active: bool = True,
        custom_fields: dict[int, str] | None = None,
        at: datetime | None = None,
    ) -> Customer:
        """A new customer with its contacts, stamped now (or `at`, for seeded history)."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a customer needs a name")
        checked = [c.checked() for c in contacts]
        tags = [_positive_int(t, "tag type id") for t in tag_type_ids]
        with self.lock:
            fields = self._checked_fields(tenant_id, list((custom_fields or {}).items()))
            when = at or self._stamp()
            customer = Customer(
                id=next(self._customer_ids),
                tenant_id=tenant_id,
                name=name,
                created_on=when,
                modified_on=when,
                address=address or _DEFAULT_ADDRESS,
                active=active,
                tag_type_ids=tags,
                custom_fields=dict(fields),
            )
            customer.contacts = [
                CustomerContact(next(self._contact_ids), customer.id, c.type, c.value, c.memo, when, when)
                for c in checked
            ]
            self.customers[customer.id] = customer
            return customer

    def customer(self, tenant_id: int | None, customer_id: int) -> Customer:
        from referloop.sandbox.state import NotFound

        customer = self.customers.get(customer_id)
        if customer is None or (tenant_id is not None and customer.tenant_id != tenant_id):
            raise NotFound(f"Customer {customer_id} was not found.")
        return customer

    def list_customers(self, tenant_id: int | None = None) -> list[Customer]:
        """In id order."""
        with self.lock:
            return sorted(
                (c for c in self.customers.values() if tenant_id is None or c.tenant_id == tenant_id),
                key=lambda c: c.id,
            )

    def change_customer(
        self,
        customer_id: int,
        *,
        name: str | None = None,
        active: bool | None = None,
        tag_type_ids: Sequence[int] | None = None,
        custom_fields: Sequence[tuple[int, str]] | None = None,
        add_contacts: Iterable[NewContact] = (),
        flags: dict[str, bool] | None = None,
        address: dict[str, str | None] | None = None,
        type_: str | None = None,
    ) -> Customer:
        """Change a customer as the office (or a PATCH) would, and stamp it: the export hands it out again.

        Custom fields are merged by typeId (fields not named keep their values); UnknownCustomField for a
        typeId the tenant does not define. A call with nothing to change still stamps the customer."""
        checked = [c.checked() for c in add_contacts]
        with self.lock:
            customer = self.customer(None, customer_id)
            fields = self._checked_fields(customer.tenant_id, list(custom_fields or []))
            now = self._stamp()
            if name is not None:
                customer.name = name
            if active is not None:
                customer.active = active
            if tag_type_ids is not None:
                customer.tag_type_ids = [_positive_int(t, "tag type id") for t in tag_type_ids]
            if address is not None:
                customer.address = address
            if type_ is not None:
                customer.type = type_
            for attribute, value in (flags or {}).items():
                setattr(customer, attribute, value)
            customer.custom_fields.update(fields)
            for contact in checked:
                customer.contacts.append(
                    CustomerContact(next(self._contact_ids), customer.id, contact.type, contact.value, None, now, now)
                )
            customer.modified_on = now
            return customer

    def _checked_fields(self, tenant_id: int, fields: list[tuple[int, str]]) -> list[tuple[int, str]]:
        types = {t.id: t for t in self.field_types.values() if t.tenant_id == tenant_id}
        for index, (type_id, value) in enumerate(fields):
            field_type = types.get(type_id)
            if field_type is None:
                raise UnknownCustomField(index, f"Custom field type {type_id} was not found.")
            if field_type.data_type == "Numeric" and value.strip() and not _is_number(value):
                raise UnknownCustomField(index, f"{field_type.name} takes a number, not {value!r}.")
            if field_type.options and value and value not in field_type.options:
                raise UnknownCustomField(
                    index, f"{value!r} is not an option of {field_type.name} ({', '.join(field_type.options)})."
                )
        return fields

    # Contacts

    def contacts(self, tenant_id: int) -> list[CustomerContact]:
        """Every contact of the tenant's customers, in id order."""
        with self.lock:
            return sorted(
                (
                    c
                    for customer in self.customers.values()
                    if customer.tenant_id == tenant_id
                    for c in customer.contacts
                ),
                key=lambda c: c.id,
            )

    # Custom field types

    def add_field_type(
        self,
        tenant_id: int,
        name: str,
        data_type: str = "Text",
        *,
        options: list[str] | None = None,
        at: datetime | None = None,
    ) -> CustomFieldType:
        if data_type not in FIELD_DATA_TYPES:
            raise ValueError(f"{data_type!r} is not a custom field data type (one of {', '.join(FIELD_DATA_TYPES)})")
        with self.lock:
            when = at or self._stamp()
            field_type = CustomFieldType(next(self._field_type_ids), tenant_id, name, data_type, when, when, options)
            self.field_types[field_type.id] = field_type
            return field_type

    def list_field_types(self, tenant_id: int) -> list[CustomFieldType]:
        with self.lock:
            return sorted((t for t in self.field_types.values() if t.tenant_id == tenant_id), key=lambda t: t.id)


_DEFAULT_ADDRESS: dict[str, str | None] = {
    "street": "100 Main St",
    "unit": None,
    "city": "Springfield",
    "state": "IL",
    "zip": "62701",
    "country": "USA",
}


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"a {name} must be a positive integer, not {value!r}")
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
