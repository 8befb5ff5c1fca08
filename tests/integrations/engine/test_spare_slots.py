"""A low-priority call (the follower's) takes a slot of the tenant's budget only when deliveries left it spare."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from referloop.integrations.engine.ratelimit import OWNERSHIP_SECONDS, RateLimit, take_spare_slot
from referloop.integrations.models import TenantBucket

pytestmark = pytest.mark.django_db

KEY = "sandbox:1234567:abc"
LIMIT = RateLimit(per_second=50, headroom=1.0)  # one slot every 20 ms
EPOCH = 1_800_000_000.0


def take(owner: str = "worker-a#1", epoch: float = EPOCH) -> float | None:
    with transaction.atomic():
        return take_spare_slot(KEY, owner, epoch, timezone.now(), LIMIT)


def bucket() -> TenantBucket:
    return TenantBucket.objects.get(rate_key=KEY)


def test_an_idle_tenant_gives_the_next_slot_and_moves_the_budget_one_interval_on() -> None:
    assert take() == EPOCH
    assert bucket().next_slot_at == pytest.approx(EPOCH + 0.02)
    assert (bucket().owner, bucket().owned_until) == ("worker-a#1", pytest.approx(EPOCH + OWNERSHIP_SECONDS))


def test_a_tenant_whose_deliveries_hold_the_slots_ahead_gives_nothing() -> None:
    TenantBucket.objects.create(rate_key=KEY, next_slot_at=EPOCH + 0.1)  # five deliveries planned
    assert take() is None
    assert bucket().next_slot_at == EPOCH + 0.1  # untouched: the deliveries keep their slots


def test_the_slot_right_after_the_last_planned_delivery_may_be_taken() -> None:
    TenantBucket.objects.create(rate_key=KEY, next_slot_at=EPOCH + 0.02)
    assert take() == EPOCH + 0.02


def test_a_tenant_another_worker_serves_gives_nothing() -> None:
    TenantBucket.objects.create(rate_key=KEY, owner="worker-b#2", owned_until=EPOCH + 0.5)
    assert take() is None
    assert take(epoch=EPOCH + 0.6) == EPOCH + 0.6  # its ownership ended


def test_a_tenant_paused_after_a_429_gives_nothing() -> None:
    TenantBucket.objects.create(rate_key=KEY, paused_until=timezone.now() + timedelta(seconds=5))
    assert take() is None
