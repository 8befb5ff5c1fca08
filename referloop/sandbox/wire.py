"""ServiceTitan's JSON for the sandbox's records, both ways. Dates go out as ISO 8601 UTC with a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from referloop.sandbox.config import BookingProvider
from referloop.sandbox.schemas import CONTACT_TYPES, CUSTOMER_TYPES
from referloop.sandbox.state import Booking, Contact, Invoice, Job, utc_now

# UpdateBookingRequest property → Booking attribute, for the fields a PATCH copies as they are.
_COPIED = {
    "source": "source",
    "name": "name",
    "summary": "summary",
    "externalId": "external_id",
    "isFirstTimeClient": "is_first_time_client",
    "campaignId": "campaign_id",
    "businessUnitId": "business_unit_id",
    "jobTypeId": "job_type_id",
    "priority": "priority",
    "uploadedImages": "uploaded_images",
    "address": "address",
}


def format_dt(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_dt(value: str) -> datetime:
    """An ISO 8601 string as an aware UTC datetime; no offset (allowed in query strings) means UTC."""
    parsed = datetime.fromisoformat(value.upper())
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        return (datetime.min if parsed.year == 1 else datetime.max).replace(tzinfo=UTC)


def known_value(value: Any, allowed: list[str]) -> str | None:
    """The allowed value matching `value` regardless of case, as .NET's enum binding matches, else None."""
    if not isinstance(value, str):
        return None
    return next((choice for choice in allowed if choice.lower() == value.lower()), None)


def booking_from_request(
    tenant_id: int, provider_id: int, body: dict[str, Any]
) -> tuple[Booking, list[tuple[str, str, str | None]]]:
    """A new Booking and its (type, value, memo) contacts from a validated CreateBookingRequest."""
    now = utc_now()
    start = body.get("start")
    booking = Booking(
        tenant_id=tenant_id,
        booking_provider_id=provider_id,
        source=body["source"],
        name=body["name"],
        summary=body["summary"],
        external_id=body["externalId"],
        is_first_time_client=body["isFirstTimeClient"],
        # Unconfirmed what ServiceTitan returns without a start; BookingResponse requires one.
        start=parse_dt(start) if start else now,
        created_on=now,
        modified_on=now,
        # The request takes free text; the response only has room for the enum (or null).
        customer_type=known_value(body.get("customerType"), CUSTOMER_TYPES),
        address=body.get("address"),
        campaign_id=body.get("campaignId"),
        business_unit_id=body.get("businessUnitId"),
        job_type_id=body.get("jobTypeId"),
        priority=body.get("priority"),
        uploaded_images=body.get("uploadedImages"),
        is_send_confirmation_email=body.get("isSendConfirmationEmail"),
    )
    contacts = [(c["type"], c["value"], c.get("memo")) for c in body.get("contacts") or []]
    return booking, contacts


def booking_changes(body: dict[str, Any]) -> dict[str, Any]:
    """Booking attribute changes from a validated UpdateBookingRequest."""
    changes = {_COPIED[prop]: value for prop, value in body.items() if prop in _COPIED}
    if "start" in body:
        changes["start"] = parse_dt(body["start"])
    if "customerType" in body:
        changes["customer_type"] = body["customerType"]
    return changes


def contact_type(value: str) -> str | None:
    return known_value(value, CONTACT_TYPES)


def booking_to_api(booking: Booking) -> dict[str, Any]:
    return {
        "id": booking.id,
        "source": booking.source,
        "createdOn": format_dt(booking.created_on),
        "name": booking.name,
        "address": booking.address,
        "customerType": booking.customer_type,
        "start": format_dt(booking.start),
        "campaignId": booking.campaign_id,
        "businessUnitId": booking.business_unit_id,
        "isFirstTimeClient": booking.is_first_time_client,
        "uploadedImages": booking.uploaded_images,
        "isSendConfirmationEmail": booking.is_send_confirmation_email,
        "status": booking.status,
        "dismissingReasonId": booking.dismissing_reason_id,
        "jobId": booking.job_id,
        "externalId": booking.external_id,
        "priority": booking.priority,
        "jobTypeId": booking.job_type_id,
        "bookingProviderId": booking.booking_provider_id,
        "modifiedOn": format_dt(booking.modified_on),
        "summary": booking.summary,
    }


def contact_to_api(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "type": contact.type,
        "value": contact.value,
        # BookingContactResponse types memo as a non-null string.
        "memo": contact.memo or "",
        "modifiedOn": format_dt(contact.modified_on),
    }


def tag_to_api(provider: BookingProvider) -> dict[str, Any]:
    created = format_dt(provider.created_on)
    return {
        "id": provider.id,
        "tagName": provider.name,
        "description": provider.description,
        "type": "V2Api",
        "createdOn": created,
        "modifiedOn": created,
        "active": True,
    }


def job_number(job: Job) -> str:
    """The sandbox numbers a job with its id (ServiceTitan's job numbers are strings, often the id too)."""
    return str(job.id)


def invoice_number(invoice: Invoice) -> str:
    """The invoice's `referenceNumber`: its id."""
    return str(invoice.id)


def invoice_job_number(invoice: Invoice) -> str:
    return str(invoice.job_id)


def job_to_api(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "jobNumber": job_number(job),
        "projectId": None,
        "customerId": job.customer_id,
        "locationId": job.location_id,
        "jobStatus": job.job_status,
        "completedOn": format_dt(job.completed_on) if job.completed_on else None,
        "businessUnitId": job.business_unit_id,
        "jobTypeId": job.job_type_id,
        "priority": job.priority,
        "campaignId": job.campaign_id,
        "appointmentCount": 1,
        "firstAppointmentId": job.appointment_id,
        "lastAppointmentId": job.appointment_id,
        "recallForId": None,
        "warrantyId": None,
        "jobGeneratedLeadSource": None,
        "noCharge": False,
        "notificationsEnabled": True,
        "createdOn": format_dt(job.created_on),
        "createdById": 1,
        "modifiedOn": format_dt(job.modified_on),
        "tagTypeIds": [],
        "leadCallId": None,
        "partnerLeadCallId": None,
        "bookingId": job.booking_id,
        "soldById": None,
        "customerPo": "",
        "invoiceId": job.invoice_id,
        "membershipId": None,
        "total": float(job.total),
        "createdFromEstimateId": None,
        "estimateIds": [],
        "summary": job.summary,
        "customFields": [],
        "externalData": [],
    }


def invoice_to_api(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "referenceNumber": invoice_number(invoice),
        "invoiceDate": format_dt(invoice.created_on),
        "subTotal": _money(invoice.total),
        "salesTax": "0.00",
        "total": _money(invoice.total),
        "balance": _money(invoice.balance),
        "customer": {"id": invoice.customer_id, "name": invoice.customer_name},
        "createdOn": format_dt(invoice.created_on),
        "modifiedOn": format_dt(invoice.modified_on),
        "job": {"id": invoice.job_id, "number": invoice_job_number(invoice), "type": None},
        "sentStatus": "NotSent",
        "reviewStatus": "NeedsReview",
        "active": True,
        "paidOn": format_dt(invoice.paid_on) if invoice.paid_on else None,
        "invoiceConfiguration": "JobInvoice",
    }


def _money(value: Decimal) -> str:
    return f"{value:.2f}"
