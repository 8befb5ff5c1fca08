"""What the client returns: small frozen records read from ServiceTitan's JSON.

Readers are lenient on purpose: real responses have nulls the spec does not allow (address parts,
customerType), and a record we cannot fully read is still worth having. Only the `id` is required;
anything missing, null or of an unexpected type becomes None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

Json = Mapping[str, object]


def _str(data: Json, key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _int(data: Json, key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(data: Json, key: str) -> bool | None:
    value = data.get(key)
    return value if isinstance(value, bool) else None


def _datetime(data: Json, key: str) -> datetime | None:
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # ServiceTitan's times are UTC; some come without an offset.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _decimal(data: Json, key: str) -> Decimal | None:
    value = data.get(key)
    # Accounting sends amounts as strings ("0.00"), JPM as numbers.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _id(data: Json) -> int:
    value = _int(data, "id")
    if value is None:
        raise ValueError("the record has no numeric id")
    return value


def _object(data: Json, key: str) -> Json | None:
    value = data.get(key)
    return value if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class Address:
    street: str | None
    unit: str | None
    city: str | None
    state: str | None
    zip: str | None
    country: str | None

    @classmethod
    def from_api(cls, data: Json) -> Address:
        return cls(*(_str(data, part) for part in ("street", "unit", "city", "state", "zip", "country")))


@dataclass(frozen=True)
class Booking:
    id: int
    external_id: str | None
    booking_provider_id: int | None
    status: str | None
    source: str | None
    name: str | None
    summary: str | None
    address: Address | None
    customer_type: str | None
    start: datetime | None
    campaign_id: int | None
    business_unit_id: int | None
    job_type_id: int | None
    priority: str | None
    is_first_time_client: bool | None
    is_send_confirmation_email: bool | None
    job_id: int | None
    dismissing_reason_id: int | None
    created_on: datetime | None
    modified_on: datetime | None

    @classmethod
    def from_api(cls, data: Json) -> Booking:
        address = _object(data, "address")
        return cls(
            id=_id(data),
            external_id=_str(data, "externalId"),
            booking_provider_id=_int(data, "bookingProviderId"),
            status=_str(data, "status"),
            source=_str(data, "source"),
            name=_str(data, "name"),
            summary=_str(data, "summary"),
            address=Address.from_api(address) if address is not None else None,
            customer_type=_str(data, "customerType"),
            start=_datetime(data, "start"),
            campaign_id=_int(data, "campaignId"),
            business_unit_id=_int(data, "businessUnitId"),
            job_type_id=_int(data, "jobTypeId"),
            priority=_str(data, "priority"),
            is_first_time_client=_bool(data, "isFirstTimeClient"),
            is_send_confirmation_email=_bool(data, "isSendConfirmationEmail"),
            job_id=_int(data, "jobId"),
            dismissing_reason_id=_int(data, "dismissingReasonId"),
            created_on=_datetime(data, "createdOn"),
            modified_on=_datetime(data, "modifiedOn"),
        )


@dataclass(frozen=True)
class BookingProviderTag:
    id: int
    tag_name: str | None
    description: str | None
    type: str | None
    active: bool | None
    created_on: datetime | None
    modified_on: datetime | None

    @classmethod
    def from_api(cls, data: Json) -> BookingProviderTag:
        return cls(
            id=_id(data),
            tag_name=_str(data, "tagName"),
            description=_str(data, "description"),
            type=_str(data, "type"),
            active=_bool(data, "active"),
            created_on=_datetime(data, "createdOn"),
            modified_on=_datetime(data, "modifiedOn"),
        )


@dataclass(frozen=True)
class Job:
    id: int
    job_number: str | None
    job_status: str | None
    booking_id: int | None
    customer_id: int | None
    location_id: int | None
    campaign_id: int | None
    business_unit_id: int | None
    job_type_id: int | None
    invoice_id: int | None
    total: Decimal | None
    completed_on: datetime | None
    created_on: datetime | None
    modified_on: datetime | None

    @property
    def is_completed(self) -> bool:
        return self.job_status == "Completed"

    @classmethod
    def from_api(cls, data: Json) -> Job:
        return cls(
            id=_id(data),
            job_number=_str(data, "jobNumber"),
            job_status=_str(data, "jobStatus"),
            booking_id=_int(data, "bookingId"),
            customer_id=_int(data, "customerId"),
            location_id=_int(data, "locationId"),
            campaign_id=_int(data, "campaignId"),
            business_unit_id=_int(data, "businessUnitId"),
            job_type_id=_int(data, "jobTypeId"),
            invoice_id=_int(data, "invoiceId"),
            total=_decimal(data, "total"),
            completed_on=_datetime(data, "completedOn"),
            created_on=_datetime(data, "createdOn"),
            modified_on=_datetime(data, "modifiedOn"),
        )


@dataclass(frozen=True)
class Invoice:
    id: int
    job_id: int | None
    reference_number: str | None
    total: Decimal | None
    balance: Decimal | None
    paid_on: datetime | None
    active: bool | None
    created_on: datetime | None
    modified_on: datetime | None

    @property
    def is_paid(self) -> bool:
        """Paid when ServiceTitan recorded a payment date or nothing is left to pay."""
        return self.paid_on is not None or (self.balance is not None and self.balance == 0)

    @classmethod
    def from_api(cls, data: Json) -> Invoice:
        job = _object(data, "job")
        return cls(
            id=_id(data),
            job_id=_int(job, "id") if job is not None else None,
            reference_number=_str(data, "referenceNumber"),
            total=_decimal(data, "total"),
            balance=_decimal(data, "balance"),
            paid_on=_datetime(data, "paidOn"),
            active=_bool(data, "active"),
            created_on=_datetime(data, "createdOn"),
            modified_on=_datetime(data, "modifiedOn"),
        )
