"""Typed results of the customer and pick-list calls: small frozen records read leniently from ServiceTitan's JSON
(as `models` reads bookings: only the `id` is required; anything missing or odd becomes None or empty)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from .models import Address, Json, _bool, _datetime, _id, _int, _object, _str

T = TypeVar("T")
PHONE_TYPES = ("Phone", "MobilePhone")


def _int_list(data: Json, key: str) -> tuple[int, ...]:
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, int) and not isinstance(v, bool))


def _objects(data: Json, key: str) -> list[Json]:
    value = data.get(key)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


@dataclass(frozen=True)
class CustomFieldValue:
    type_id: int
    name: str | None
    value: str | None


@dataclass(frozen=True)
class Customer:
    id: int
    name: str | None
    active: bool | None  # False: deactivated, usually merged into another customer
    type: str | None
    address: Address | None
    tag_type_ids: tuple[int, ...]
    custom_fields: tuple[CustomFieldValue, ...]
    created_on: datetime | None
    modified_on: datetime | None

    def custom_field(self, type_id: int) -> str | None:
        return next((f.value for f in self.custom_fields if f.type_id == type_id), None)

    @classmethod
    def from_api(cls, data: Json) -> Customer:
        address = _object(data, "address")
        return cls(
            id=_id(data),
            name=_str(data, "name"),
            active=_bool(data, "active"),
            type=_str(data, "type"),
            address=Address.from_api(address) if address is not None else None,
            tag_type_ids=_int_list(data, "tagTypeIds"),
            custom_fields=tuple(
                CustomFieldValue(type_id, _str(f, "name"), _str(f, "value"))
                for f in _objects(data, "customFields")
                if (type_id := _int(f, "typeId")) is not None
            ),
            created_on=_datetime(data, "createdOn"),
            modified_on=_datetime(data, "modifiedOn"),
        )


@dataclass(frozen=True)
class CustomerContact:
    id: int
    customer_id: int | None  # None from /customers/{id}/contacts, which answers without it
    type: str | None  # Phone, Email, Fax, MobilePhone
    value: str | None
    active: bool | None  # only the export says; None elsewhere
    modified_on: datetime | None

    @property
    def is_email(self) -> bool:
        return self.type == "Email"

    @property
    def is_phone(self) -> bool:
        return self.type in PHONE_TYPES

    @classmethod
    def from_api(cls, data: Json) -> CustomerContact:
        return cls(
            id=_id(data),
            customer_id=_int(data, "customerId"),
            type=_str(data, "type"),
            value=_str(data, "value"),
            active=_bool(data, "active"),
            modified_on=_datetime(data, "modifiedOn"),
        )


@dataclass(frozen=True)
class CustomFieldType:
    id: int
    name: str | None
    data_type: str | None  # Text, Numeric, Dropdown, ...
    options: tuple[str, ...]

    @classmethod
    def from_api(cls, data: Json) -> CustomFieldType:
        options = data.get("dataTypeOptions")
        return cls(
            id=_id(data),
            name=_str(data, "name"),
            data_type=_str(data, "dataType"),
            options=tuple(o for o in options if isinstance(o, str)) if isinstance(options, list) else (),
        )


@dataclass(frozen=True)
class PickListItem:
    """A job type, business unit or marketing campaign: what a Manual Select offers."""

    id: int
    name: str | None
    active: bool | None

    @classmethod
    def from_api(cls, data: Json) -> PickListItem:
        return cls(id=_id(data), name=_str(data, "name"), active=_bool(data, "active"))


@dataclass(frozen=True)
class ExportPage(Generic[T]):
    """One page of an export feed. Store `continue_from` once the page's records are saved: sending it back as
    `from` continues after them. `has_more` False means caught up (ServiceTitan: wait 5-10 minutes)."""

    items: list[T]
    continue_from: str
    has_more: bool
