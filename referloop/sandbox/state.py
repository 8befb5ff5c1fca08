"""The records the sandbox holds in memory: bookings (with contacts), jobs and invoices, and their life.

Records use Python names and types; `wire.py` turns them into ServiceTitan's JSON. Every kind of id comes
from its own numeric range, so a client that sends a booking id where a job id belongs gets a 404 instead
of a lucky match. A lock guards changes because tests touch the state from their own thread while the
server's event loop serves requests (the API handlers read under it too, so no answer shows half a change).

A booking's life, as the CSR side drives it (control endpoints, or these methods from a test):

    booking New ──convert_to_job──▶ Converted (jobId), with a job and its invoice
                └─dismiss_booking──▶ Dismissed (dismissingReasonId), never a job
    job         Scheduled → any JobStatus → any other (set_job_status, complete_job); total (set_job_total)
    invoice     balance = total ──pay_invoice (in parts)──▶ 0.00, paidOn = the last payment's time

Every change bumps `modified_on` of each record it changes (and only those), from a clock that never goes
backwards, so a client polling with `modifiedOnOrAfter` finds every change.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from referloop.sandbox.catalog import Catalog
from referloop.sandbox.customers import CustomerBook

BOOKING_IDS_FROM = 10_000_001
CONTACT_IDS_FROM = 20_000_001
JOB_IDS_FROM = 30_000_001
INVOICE_IDS_FROM = 40_000_001
CUSTOMER_IDS_FROM = 50_000_001
LOCATION_IDS_FROM = 60_000_001
APPOINTMENT_IDS_FROM = 70_000_001
CUSTOMER_CONTACT_IDS_FROM = 80_000_001
CUSTOMER_FIELD_TYPE_IDS_FROM = 90_001

# jpm-v2's Jpm.V2.JobStatus, in the order a job usually goes through them.
JOB_STATUSES = ("Scheduled", "Dispatched", "InProgress", "Hold", "Completed", "Canceled")
DEFAULT_JOB_TOTAL = Decimal("250.00")
DEFAULT_DISMISSING_REASON_ID = 1
_CENT = Decimal("0.01")
_TICK = timedelta(microseconds=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


def money(value: Decimal | str | int | float) -> Decimal:
    """An amount of money to the cent ("480.5" → Decimal("480.50")); ValueError if it is not one or negative."""
    try:
        amount = Decimal(str(value)).quantize(_CENT)
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f'{value!r} is not an amount of money such as "250.00"') from exc
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} is not an amount of money (it must be 0 or more)")
    return amount


def job_status(value: str) -> str:
    """The JobStatus named by `value`, matched regardless of case as .NET binds enums; ValueError otherwise."""
    for status in JOB_STATUSES:
        if isinstance(value, str) and status.lower() == value.lower():
            return status
    raise ValueError(f"{value!r} is not a job status (one of {', '.join(JOB_STATUSES)})")


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
    payments: list[Payment] = field(default_factory=list)

    @property
    def paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), Decimal("0.00"))


@dataclass(frozen=True)
class Payment:
    """One payment applied to an invoice (the sandbox has no payments API; tests read these directly)."""

    amount: Decimal
    paid_on: datetime


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
        self._last_stamp = datetime.min.replace(tzinfo=UTC)
        # Customers (crm-v2) and the pick lists (job types, business units, campaigns) share the lock and clock.
        self.crm = CustomerBook(
            self.lock,
            self._stamp,
            self._customer_ids,
            itertools.count(CUSTOMER_CONTACT_IDS_FROM),
            itertools.count(CUSTOMER_FIELD_TYPE_IDS_FROM),
        )
        self.catalog = Catalog(self.lock, self._stamp)

    def _stamp(self) -> datetime:
        """Now, for a change's `modified_on`: always later than the last one given, even if the wall clock
        stepped back or two changes fall in one microsecond (call with the lock held)."""
        now = utc_now()
        if now <= self._last_stamp:
            now = self._last_stamp + _TICK
        self._last_stamp = now
        return now

    def reset(self) -> None:
        with self.lock:
            self.bookings.clear()
            self.jobs.clear()
            self.invoices.clear()
            self.crm.reset()
            self.catalog.reset()

    # Bookings and contacts

    def add_booking(self, booking: Booking, contacts: list[tuple[str, str, str | None]]) -> Booking:
        """Store a new booking with its (type, value, memo) contacts; gives both their ids."""
        with self.lock:
            booking.id = next(self._booking_ids)
            self._last_stamp = max(self._last_stamp, booking.modified_on)
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
            booking.modified_on = self._stamp()
            return booking

    def add_contact(self, booking: Booking, type_: str, value: str, memo: str | None) -> Contact:
        with self.lock:
            now = self._stamp()
            contact = Contact(next(self._contact_ids), type_, value, memo, now)
            booking.contacts.append(contact)
            booking.modified_on = now
            return contact

    # The CSR's side, driven by the control endpoints: booking → job → completed → invoice paid

    def convert_to_job(self, booking_id: int, total: Decimal | str = DEFAULT_JOB_TOTAL) -> tuple[Booking, Job, Invoice]:
        """Book the booking into a Scheduled job with an unpaid invoice of `total`, as a CSR would.

        Conflict if the booking already has a job or was dismissed."""
        amount = money(total)
        with self.lock:
            booking = self._booking(booking_id)
            if booking.job_id is not None:
                raise Conflict(f"Booking {booking_id} is already booked into job {booking.job_id}.")
            if booking.status == "Dismissed":
                raise Conflict(f"Booking {booking_id} was dismissed.")
            now = self._stamp()
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
                total=amount,
                created_on=now,
                modified_on=now,
            )
            invoice = Invoice(
                id=job.invoice_id,
                tenant_id=job.tenant_id,
                job_id=job.id,
                customer_id=customer_id,
                customer_name=booking.name,
                total=amount,
                balance=amount,
                created_on=now,
                modified_on=now,
            )
            self.jobs[job.id] = job
            self.invoices[invoice.id] = invoice
            booking.job_id = job.id
            booking.status = "Converted"
            booking.modified_on = now
            return booking, job, invoice

    def dismiss_booking(self, booking_id: int, reason_id: int = DEFAULT_DISMISSING_REASON_ID) -> Booking:
        """The CSR dismisses the booking: status Dismissed with the reason, no job.

        Conflict if it was already booked into a job or dismissed."""
        if isinstance(reason_id, bool) or not isinstance(reason_id, int) or reason_id < 1:
            raise ValueError("the dismissing reason id must be a positive integer")
        with self.lock:
            booking = self._booking(booking_id)
            if booking.job_id is not None:
                raise Conflict(f"Booking {booking_id} is already booked into job {booking.job_id}.")
            if booking.status == "Dismissed":
                raise Conflict(f"Booking {booking_id} is already dismissed.")
            booking.status = "Dismissed"
            booking.dismissing_reason_id = reason_id
            booking.modified_on = self._stamp()
            return booking

    def job(self, tenant_id: int | None, job_id: int) -> Job:
        job = self.jobs.get(job_id)
        if job is None or (tenant_id is not None and job.tenant_id != tenant_id):
            raise NotFound(f"Job {job_id} was not found.")
        return job

    def list_jobs(self, tenant_id: int | None = None) -> list[Job]:
        with self.lock:
            return [j for j in self.jobs.values() if tenant_id is None or j.tenant_id == tenant_id]

    def set_job_status(
        self,
        job_id: int,
        status: str,
        *,
        total: Decimal | str | None = None,
        completed_on: datetime | None = None,
    ) -> Job:
        """Move the job to any JobStatus, as the office or a technician would.

        Completed sets `completed_on` (now, or the time given); leaving Completed (a re-opened job, or one
        canceled after completion) clears it, so `completedOn` is set exactly when `jobStatus` is Completed.
        A `total` also sets the job's and its invoice's total (see set_job_total). Bumps `modified_on` of the
        job (and of the invoice when its total changes); a move to the status the job already has, with
        nothing else to change, changes nothing."""
        status = job_status(status)
        if completed_on is not None and status != "Completed":
            raise ValueError("completedOn can only be given when the job is completed")
        if completed_on is not None and completed_on.utcoffset() is None:
            raise ValueError("completedOn needs a time zone (an offset or Z)")
        new_total = None if total is None else money(total)
        with self.lock:
            job = self.job(None, job_id)
            invoice = self.invoices[job.invoice_id]
            moves = job.job_status != status or (completed_on is not None and completed_on != job.completed_on)
            retotals = self._retotals(job, invoice, new_total)
            if not (moves or retotals):
                return job
            # One change, one stamp: every record it touches gets the same modified_on.
            now = self._stamp()
            if new_total is not None and retotals:
                self._set_total(job, invoice, new_total, now)
            if moves:
                job.job_status = status
                job.completed_on = (completed_on or now) if status == "Completed" else None
            job.modified_on = now
            return job

    def complete_job(
        self, job_id: int, *, total: Decimal | str | None = None, completed_on: datetime | None = None
    ) -> Job:
        """jobStatus Completed, `completed_on` now (or the time given), and the invoice total if given."""
        return self.set_job_status(job_id, "Completed", total=total, completed_on=completed_on)

    def set_job_total(self, job_id: int, total: Decimal | str) -> Job:
        """Set the job's total and its invoice's (what the technician sold), keeping what was already paid:
        the balance becomes total - paid. ValueError if the total is below what was paid."""
        new_total = money(total)
        with self.lock:
            job = self.job(None, job_id)
            invoice = self.invoices[job.invoice_id]
            if self._retotals(job, invoice, new_total):
                job.modified_on = now = self._stamp()
                self._set_total(job, invoice, new_total, now)
            return job

    @staticmethod
    def _retotals(job: Job, invoice: Invoice, total: Decimal | None) -> bool:
        """Whether `total` changes the job's or the invoice's total; ValueError if it is below what was paid."""
        if total is None:
            return False
        if total < invoice.paid:
            raise ValueError(f"the total {total} is below the {invoice.paid} already paid on invoice {invoice.id}")
        return job.total != total or invoice.total != total

    @staticmethod
    def _set_total(job: Job, invoice: Invoice, total: Decimal, now: datetime) -> None:
        job.total = total
        invoice.total = total
        invoice.balance = total - invoice.paid
        # Paid means a payment brought the balance to zero; a raised total re-opens the invoice.
        invoice.paid_on = invoice.payments[-1].paid_on if invoice.balance == 0 and invoice.payments else None
        invoice.modified_on = now

    def invoice(self, tenant_id: int | None, invoice_id: int) -> Invoice:
        invoice = self.invoices.get(invoice_id)
        if invoice is None or (tenant_id is not None and invoice.tenant_id != tenant_id):
            raise NotFound(f"Invoice {invoice_id} was not found.")
        return invoice

    def list_invoices(self, tenant_id: int | None = None) -> list[Invoice]:
        with self.lock:
            return [i for i in self.invoices.values() if tenant_id is None or i.tenant_id == tenant_id]

    def pay_invoice(self, invoice_id: int, amount: Decimal | str | None = None) -> Invoice:
        """A payment of `amount` (default: the whole balance): the balance goes down by it, and when it reaches
        0.00 `paid_on` is the time of this last payment. ValueError for an amount of 0 or above the balance,
        Conflict for an invoice already paid in full."""
        with self.lock:
            invoice = self.invoice(None, invoice_id)
            if invoice.balance == 0:
                raise Conflict(f"Invoice {invoice_id} has nothing left to pay (balance 0.00).")
            paying = invoice.balance if amount is None else money(amount)
            if paying == 0:
                raise ValueError("a payment must be more than 0.00")
            if paying > invoice.balance:
                raise ValueError(
                    f"the payment {paying} is more than the balance {invoice.balance} of invoice {invoice_id}"
                )
            now = self._stamp()
            invoice.payments.append(Payment(paying, now))
            invoice.balance -= paying
            if invoice.balance == 0:
                invoice.paid_on = now
            invoice.modified_on = now
            return invoice

    def _booking(self, booking_id: int) -> Booking:
        booking = self.bookings.get(booking_id)
        if booking is None:
            raise NotFound(f"Booking {booking_id} was not found.")
        return booking
