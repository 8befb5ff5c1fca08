"""Each account's emails have their own rate key: a burst of them can't hold up a ServiceTitan booking."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.utils import timezone

from referloop.integrations.engine.claim import claim_due
from referloop.integrations.engine.ratelimit import RateLimit
from referloop.integrations.models import Delivery, DeliveryState
from referloop.notifications.models import Email, Notification
from referloop.notifications.outbox import new_message_id, rate_key
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead, connect
from tests.notifications.helpers import turn_on

pytestmark = pytest.mark.django_db


def test_a_burst_of_emails_waits_its_turn_beside_a_booking_that_came_after_it(
    tenant: Tenant, other_tenant: Tenant, settings: Any
) -> None:
    settings.SERVICETITAN_ALLOW_SANDBOX = True
    connect(tenant.campaign)
    turn_on(tenant.campaign, Notification.FRIEND_CONFIRMATION)
    now = timezone.now()
    burst = Email.objects.bulk_create(
        Email(
            account=tenant.account,
            campaign=tenant.campaign,
            referrer=tenant.referrer,
            notification=Notification.FRIEND_CONFIRMATION,
            to_email=f"friend{i}@example.com",
            message_id=new_message_id(),
            key=f"burst:{i}",
            created_at=now,
        )
        for i in range(200)
    )
    Delivery.objects.bulk_create(
        Delivery(
            connector="email",
            email=email,
            state=DeliveryState.PENDING,
            rate_key=rate_key(tenant.account.pk),
            next_attempt_at=now,
            created_at=now,
        )
        for email in burst
    )
    add_lead(tenant.campaign, tenant.referrer)  # its booking, and one more email, queued after the burst

    claimed = claim_due("worker", 20, rate=RateLimit(per_second=60), lease_seconds=30)

    by_key = Counter(claim.rate_key for claim in claimed.claims)
    assert by_key[rate_key(tenant.account.pk)] == 19 and sum(by_key.values()) == 20
    [booking] = [claim for claim in claimed.claims if claim.connector == "servicetitan"]
    assert booking.rate_key != rate_key(tenant.account.pk)
    assert rate_key(tenant.account.pk) != rate_key(other_tenant.account.pk)
