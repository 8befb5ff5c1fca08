"""Response models read what ServiceTitan really sends, including the nulls its spec does not allow."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referloop.providers.servicetitan import Address, Booking, BookingProviderTag, Invoice, Job
from tests.servicetitan_contract import official_bodies
from tests.st_openapi import needs_st_openapi

BOOKING = {
    "id": 10000001,
    "source": "Spring referrals",
    "createdOn": "2025-05-01T14:00:00.1234567Z",
    "name": "Tom Nguyen",
    "address": {"street": None, "unit": None, "city": "Austin", "state": None, "zip": None, "country": None},
    "customerType": None,
    "start": "2025-05-02T09:00:00",
    "status": "New",
    "externalId": "LEAD-1",
    "bookingProviderId": 42,
    "modifiedOn": "2025-05-01T14:00:00Z",
    "jobId": None,
    "isFirstTimeClient": True,
}


def test_a_booking_with_null_address_parts_and_customer_type_is_read():
    booking = Booking.from_api(BOOKING)
    assert booking.address == Address(None, None, "Austin", None, None, None)
    assert booking.customer_type is None
    assert (booking.id, booking.external_id, booking.booking_provider_id) == (10000001, "LEAD-1", 42)
    assert booking.created_on == datetime(2025, 5, 1, 14, 0, 0, 123456, tzinfo=UTC)
    assert booking.start == datetime(2025, 5, 2, 9, 0, tzinfo=UTC)  # no offset means UTC
    assert booking.is_first_time_client is True


def test_a_booking_with_missing_or_odd_fields_is_still_read():
    booking = Booking.from_api({"id": 5, "address": None, "start": "not a date", "campaignId": "12", "jobId": True})
    assert (booking.address, booking.start, booking.campaign_id, booking.job_id) == (None, None, None, None)


def test_a_record_without_an_id_is_refused():
    with pytest.raises(ValueError, match="no numeric id"):
        Booking.from_api({"id": "10000001"})


def test_invoice_amounts_sent_as_strings_become_decimals():
    invoice = Invoice.from_api({"id": 9, "total": "249.00", "balance": "0.00", "paidOn": None, "job": {"id": 3}})
    assert (invoice.total, invoice.balance, invoice.job_id) == (Decimal("249.00"), Decimal("0.00"), 3)
    assert invoice.is_paid
    assert not Invoice.from_api({"id": 9, "balance": "10.00", "paidOn": None}).is_paid
    assert Invoice.from_api({"id": 9, "balance": "12.50", "paidOn": "2025-05-03T10:00:00Z"}).is_paid


def test_a_job_reports_completion_and_its_booking():
    job = Job.from_api(
        {"id": 3, "jobStatus": "Completed", "completedOn": "2025-05-03T10:00:00Z", "bookingId": 1, "total": 249.5}
    )
    assert (job.is_completed, job.booking_id, job.total) == (True, 1, Decimal("249.5"))
    assert not Job.from_api({"id": 3, "jobStatus": "Scheduled"}).is_completed


def test_a_booking_provider_tag_is_read():
    tag = BookingProviderTag.from_api(
        {
            "id": 42,
            "tagName": "referloop",
            "description": "",
            "type": "V2Api",
            "active": True,
            "createdOn": "2025-01-01T00:00:00Z",
        }
    )
    assert (tag.id, tag.tag_name, tag.type, tag.active) == (42, "referloop", "V2Api", True)


@needs_st_openapi
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=official_bodies("crm-v2", "Crm.V2.BookingResponse"), null_parts=st.booleans())
def test_any_booking_the_spec_allows_is_read_even_with_real_world_nulls(data, null_parts):
    if null_parts:  # what real tenants send although the spec forbids it
        data = {**data, "customerType": None, "address": dict.fromkeys(("street", "city", "state", "zip", "country"))}
    booking = Booking.from_api(data)
    assert (booking.id, booking.external_id, booking.status) == (data["id"], data["externalId"], data["status"])


@needs_st_openapi
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    job=official_bodies("jpm-v2", "Jpm.V2.JobResponse"),
    tag=official_bodies("crm-v2", "Crm.V2.GetBookingProviderTagResponse"),
)
def test_any_job_and_tag_the_spec_allows_is_read(job, tag):
    assert Job.from_api(job).booking_id == job.get("bookingId")
    assert BookingProviderTag.from_api(tag).tag_name == tag["tagName"]
