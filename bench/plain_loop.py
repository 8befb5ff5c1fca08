"""The baseline: a plain synchronous loop that sends one booking at a time, as a naive integration would.

Same sandbox, same payload builder and client as the worker; for each delivery: build the body, create the
booking (and wait for the answer), mark the row delivered. The token is fetched before the clock starts, so
the baseline is as fast as a one-at-a-time loop can be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.utils import timezone
from seed import BenchTenant

from referloop.integrations.models import Delivery, DeliveryState
from referloop.integrations.records import custom_fields_of, lead_record
from referloop.integrations.servicetitan.credentials import credentials_for
from referloop.providers.servicetitan import ServiceTitanClient, TokenCache, build_booking_body


@dataclass(frozen=True)
class PlainResult:
    bookings: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.bookings / self.seconds if self.seconds else 0.0


def run_plain_loop(tenant: BenchTenant, count: int) -> PlainResult:
    integration = tenant.integration
    deliveries = list(
        Delivery.objects.filter(integration=integration, state=DeliveryState.PENDING)
        .select_related("lead__referrer", "lead__campaign")
        .order_by("pk")[:count]
    )
    mapping, custom = integration.mapping(), custom_fields_of(integration.campaign)
    provider_id = integration.booking_provider_id
    assert provider_id is not None
    with ServiceTitanClient(credentials_for(integration), token_cache=TokenCache()) as client:
        client.fetch_token()
        started = time.perf_counter()
        for delivery in deliveries:
            body = build_booking_body(mapping, lead_record(delivery.lead), custom)
            booking = client.create_booking(provider_id, body)
            Delivery.objects.filter(pk=delivery.pk).update(
                state=DeliveryState.DELIVERED, remote_id=booking.id, delivered_at=timezone.now()
            )
        seconds = time.perf_counter() - started
    return PlainResult(len(deliveries), seconds)
