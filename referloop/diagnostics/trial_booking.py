"""Send test booking: one booking through the real mapping and the real client, from a sample lead.

It proves the whole path (credentials, App Key, Booking Provider Value, mapping, ServiceTitan's validation) in a
few seconds, without waiting for a referral. Summary starts with `[TEST]` and External Id with `test-`, so the
CSR can tell it apart and referloop can never mistake it for a lead's booking; no Lead or Delivery row is made.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from referloop.accounts.models import User
from referloop.campaigns.models import Lead
from referloop.integrations import audit
from referloop.integrations.models import Integration
from referloop.integrations.records import custom_fields_of, lead_record
from referloop.integrations.servicetitan.credentials import EnvironmentNotAllowed, credentials_for
from referloop.integrations.servicetitan.preview import sample_lead
from referloop.integrations.servicetitan.readiness import CONNECTION_TAB, readiness
from referloop.providers.servicetitan import (
    FieldProblem,
    PayloadError,
    ServiceTitanClient,
    ServiceTitanError,
    build_booking_body,
)

SUMMARY_PREFIX = "[TEST] "
EXTERNAL_ID_PREFIX = "test-"
# A person is waiting for the answer.
TEST_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)


@dataclass
class TestBookingResult:
    __test__ = False  # not a pytest test class, despite the name

    ok: bool
    sentence: str
    booking_id: int | None = None
    external_id: str = ""
    used_sample: bool = True
    lead_label: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)
    servicetitan_text: str = ""
    status: int | None = None


def source_lead(integration: Integration, use_newest_lead: bool) -> tuple[Lead, bool]:
    """The newest real lead when asked (and there is one), else a made-up sample with the campaign's fields."""
    campaign = integration.campaign
    if use_newest_lead:
        newest = campaign.leads.select_related("referrer", "campaign").order_by("-created_at", "-pk").first()
        if newest is not None:
            return newest, False
    return sample_lead(campaign), True


def send_test_booking(
    integration: Integration, *, use_newest_lead: bool = False, user: User | None = None
) -> TestBookingResult:
    lead, is_sample = source_lead(integration, use_newest_lead)
    label = "a made-up sample lead" if is_sample else f"the newest lead ({lead.email})"
    external_id = f"{EXTERNAL_ID_PREFIX}{uuid.uuid4().hex[:16]}"
    result = TestBookingResult(ok=False, sentence="", external_id=external_id, used_sample=is_sample, lead_label=label)
    # The connection's side of the one readiness rule; the mapping's side is judged on the body itself below,
    # where a PayloadError names every field.
    blocking = [problem for problem in readiness(integration).problems if problem.tab == CONNECTION_TAB]
    if blocking:
        result.sentence = f"Nothing was sent: {blocking[0].sentence}"
        return result
    provider_id = integration.booking_provider_id
    assert provider_id is not None  # readiness names a missing Booking Provider Value as a connection problem
    try:
        body = build_booking_body(integration.mapping(), lead_record(lead), custom_fields_of(integration.campaign))
    except PayloadError as exc:
        result.problems = exc.problems
        result.sentence = f"Nothing was sent: the mapping can't build a booking from {label}. {exc.message}"
        return result
    body["summary"] = SUMMARY_PREFIX + str(body.get("summary", ""))
    body["externalId"] = external_id
    result.body = body
    try:
        credentials = credentials_for(integration)
        with ServiceTitanClient(credentials, timeout=TEST_TIMEOUT) as client:
            booking = client.create_booking(provider_id, body)
    except EnvironmentNotAllowed as exc:
        result.sentence = f"Nothing was sent: {exc}"
        return result
    except ValueError:
        result.sentence = "Nothing was sent: the stored Client Secret can't be decrypted; paste it again."
        return result
    except ServiceTitanError as exc:
        result.sentence = exc.message
        result.servicetitan_text = exc.servicetitan_text or ""
        result.status = exc.status
        audit.record(integration, user, f"Sent a test booking; ServiceTitan refused it: {exc.message}")
        return result
    result.ok = True
    result.booking_id = booking.id
    result.sentence = (
        f"ServiceTitan created test booking {booking.id} (External Id {external_id}) from {label}. "
        "It shows in ServiceTitan under Calls → Bookings with a Summary starting [TEST]; dismiss it there."
    )
    audit.record(integration, user, f"Sent a test booking; ServiceTitan created booking {booking.id}.")
    return result
