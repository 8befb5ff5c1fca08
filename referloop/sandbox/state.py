"""The records the sandbox holds in memory: bookings (with contacts), jobs and invoices.

Records use Python names and types; `wire.py` turns them into ServiceTitan's JSON. Every kind of id comes
from its own numeric range, so a client that sends a booking id where a job id belongs gets a 404 instead
of a lucky match. A lock guards changes because tests touch the state from their own thread while the
server's event loop serves requests.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

BOOKING_IDS_FROM = 10_000_001
CONTACT_IDS_FROM = 20_000_001
JOB_IDS_FROM = 30_000_001
INVOICE_IDS_FROM = 40_000_001
CUSTOMER_IDS_FROM = 50_000_001
LOCATION_IDS_FROM = 60_000_001
APPOINTMENT_IDS_FROM = 70_000_001


def utc_now() -> datetime:
    return datetime.now(UTC)


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


@dataclass
class Contact:
    id: int
    type: str
    value: str
    memo: str | None
    modified_on: datetime


@dataclass
class Booking:
    tenant_id: int
    booking_provider_id: int
    source: str
    name: str
    summary: str | None
    external_id: str
    is_first_time_client: bool | None
    start: datetime
    created_on: datetime
    modified_on: datetime
    address: dict[str, str | None] | None = None
    customer_type: str | None = None
    campaign_id: int | None = None
    business_unit_id: int | None = None
    job_type_id: int | None = None
    priority: str | None = None
    uploaded_images: list[str] | None = None
    is_send_confirmation_email: bool | None = None
    status: str = "New"
    job_id: int | None = None
    dismissing_reason_id: int | None = None
    contacts: list[Contact] = field(default_factory=list)
    id: int = 0  # assigned by SandboxState.add_booking


@dataclass
class Job:
    id: int
    tenant_id: int
    booking_id: int
    invoice_id: int
    customer_id: int
    location_id: int
    appointment_id: int
    campaign_id: int
    business_unit_id: int
    job_type_id: int
    priority: str
    summary: str | None
    total: Decimal
    created_on: datetime
    modified_on: datetime
    job_status: str = "Scheduled"
    completed_on: datetime | None = None


@dataclass
class Invoice:
    id: int
    tenant_id: int
    job_id: int
    customer_id: int
    customer_name: str
    total: Decimal
    balance: Decimal
    created_on: datetime
    modified_on: datetime
    paid_on: datetime | None = None


def counts_by_external_id(bookings: list[Booking]) -> dict[str, int]:
    """How many bookings carry each externalId: more than one means a lead was sent twice."""
    return dict(Counter(b.external_id for b in bookings))


class SandboxState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.bookings: dict[int, Booking] = {}
        self.jobs: dict[int, Job] = {}
        self.invoices: dict[int, Invoice] = {}
        # Counters survive reset() so ids a client cached before a reset never come back as other records.
        self._booking_ids = itertools.count(BOOKING_IDS_FROM)
        self._contact_ids = itertools.count(CONTACT_IDS_FROM)
        self._job_ids = itertools.count(JOB_IDS_FROM)
        self._invoice_ids = itertools.count(INVOICE_IDS_FROM)
        self._customer_ids = itertools.count(CUSTOMER_IDS_FROM)
        self._location_ids = itertools.count(LOCATION_IDS_FROM)
        self._appointment_ids = itertools.count(APPOINTMENT_IDS_FROM)

    def reset(self) -> None:
        with self.lock:
            self.bookings.clear()
            self.jobs.clear()
            self.invoices.clear()

    # Bookings and contacts

    def add_booking(self, booking: Booking, contacts: list[tuple[str, str, str | None]]) -> Booking:
        """Store a new booking with its (type, value, memo) contacts; gives both their ids."""
        with self.lock:
            booking.id = next(self._booking_ids)
            booking.contacts = [
                Contact(next(self._contact_ids), type_, value, memo, booking.created_on)
                for type_, value, memo in contacts
            ]
            self.bookings[booking.id] = booking
            return booking

    def booking(self, tenant_id: int, booking_id: int, provider_id: int | None = None) -> Booking:
        """The tenant's booking; with a provider id, only one created through that provider."""
        booking = self.bookings.get(booking_id)
        if (
            booking is None
            or booking.tenant_id != tenant_id
            or (provider_id is not None and booking.booking_provider_id != provider_id)
        ):
            raise NotFound(f"Booking {booking_id} was not found.")
        return booking

    def list_bookings(self, tenant_id: int | None = None, provider_id: int | None = None) -> list[Booking]:
        with self.lock:
            return [
                b
                for b in self.bookings.values()
                if (tenant_id is None or b.tenant_id == tenant_id)
                and (provider_id is None or b.booking_provider_id == provider_id)
            ]

    def update_booking(self, booking: Booking, changes: dict[str, Any]) -> Booking:
        """Apply attribute changes (Python names) and bump modified_on."""
        with self.lock:
            for name, value in changes.items():
                setattr(booking, name, value)
            booking.modified_on = utc_now()
            return booking

    def add_contact(self, booking: Booking, type_: str, value: str, memo: str | None) -> Contact:
        with self.lock:
            now = utc_now()
            contact = Contact(next(self._contact_ids), type_, value, memo, now)
            booking.contacts.append(contact)
            booking.modified_on = now
            return contact

    # The CSR's side, driven by the control endpoints: booking → job → completed → invoice paid

    def convert_to_job(self, booking_id: int, total: Decimal) -> tuple[Booking, Job, Invoice]:
        """Book the booking into a Scheduled job with an unpaid invoice, as a CSR would."""
        with self.lock:
            booking = self.bookings.get(booking_id)
            if booking is None:
                raise NotFound(f"Booking {booking_id} was not found.")
            if booking.job_id is not None:
                raise Conflict(f"Booking {booking_id} is already booked into job {booking.job_id}.")
            now = utc_now()
            customer_id = next(self._customer_ids)
            job = Job(
                id=next(self._job_ids),
                tenant_id=booking.tenant_id,
                booking_id=booking.id,
                invoice_id=next(self._invoice_ids),
                customer_id=customer_id,
                location_id=next(self._location_ids),
                appointment_id=next(self._appointment_ids),
                # A CSR must pick these when booking, so a job always has them even if the booking did not.
                campaign_id=booking.campaign_id or 1,
                business_unit_id=booking.business_unit_id or 1,
                job_type_id=booking.job_type_id or 1,
                priority=booking.priority or "Normal",
                summary=booking.summary,
                total=total,
                created_on=now,
                modified_on=now,
            )
            invoice = Invoice(
                id=job.invoice_id,
                tenant_id=job.tenant_id,
                job_id=job.id,
                customer_id=customer_id,
                customer_name=booking.name,
                total=total,
                balance=total,
                created_on=now,
                modified_on=now,
            )
            self.jobs[job.id] = job
            self.invoices[invoice.id] = invoice
            booking.job_id = job.id
            booking.status = "Converted"
            booking.modified_on = now
            return booking, job, invoice

    def job(self, tenant_id: int | None, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None or (tenant_id is not None and job.tenant_id != tenant_id):
            raise NotFound(f"Job {job_id} was not found.")
        return job

    def list_jobs(self, tenant_id: int) -> list[Job]:
        with self.lock:
            return [j for j in self.jobs.values() if j.tenant_id == tenant_id]

    def complete_job(self, job_id: int) -> Job:
        with self.lock:
            job = self.job(None, job_id)
            now = utc_now()
            job.job_status = "Completed"
            job.completed_on = now
            job.modified_on = now
            return job

    def list_invoices(self, tenant_id: int) -> list[Invoice]:
        with self.lock:
            return [i for i in self.invoices.values() if i.tenant_id == tenant_id]

    def pay_invoice(self, invoice_id: int) -> Invoice:
        with self.lock:
            invoice = self.invoices.get(invoice_id)
            if invoice is None:
                raise NotFound(f"Invoice {invoice_id} was not found.")
            now = utc_now()
            invoice.balance = Decimal("0.00")
            invoice.paid_on = now
            invoice.modified_on = now
            return invoice
