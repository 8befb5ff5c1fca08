"""A percentage reward earned before its job's invoice total is known (qualified by hand, a rule that needs no
invoice) is worked out when the follower reads the total, and follows a changed total until it is issued."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from referloop.campaigns import outcomes
from referloop.integrations.models import Follow, QualificationRule
from referloop.rewards import actions
from referloop.rewards.models import RewardEvent
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant
from tests.integrations.servicetitan.following import follow_cycle
from tests.integrations.servicetitan.test_follower import booked_lead, booking_of
from tests.rewards.conftest import only_reward, rule

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_follower(settings: Any) -> None:
    settings.FOLLOW_INTERVAL_SECONDS = 1.0


def test_a_percentage_reward_earned_without_a_total_takes_its_amount_from_the_invoice_once_it_is_known(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    rule(tenant.campaign, kind="percent", percent=Decimal("10"), amount=None)
    lead = booked_lead(tenant, QualificationRule.NONE)
    outcomes.qualify_by_hand(lead, tenant.user, "The customer called to say the crew was booked")
    assert only_reward(lead).amount is None

    _, job, _ = sandbox.book_job(booking_of(lead), total="480.00")
    follow_cycle()

    reward = only_reward(lead)
    assert (reward.amount, reward.invoice_total, reward.problem) == (Decimal("48.00"), Decimal("480.00"), "")
    event = RewardEvent.objects.filter(reward=reward, kind="amount").get()
    assert (event.title, event.detail) == ("Amount worked out", "10% of the invoice total 480.00: 48.00 USD")

    sandbox.set_job_total(job.id, "530.00")
    follow_cycle()
    assert only_reward(lead).amount == Decimal("53.00")


def test_an_issued_percentage_reward_keeps_what_was_given_when_the_invoice_changes(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    rule(tenant.campaign, kind="percent", percent=Decimal("10"), amount=None)
    lead = booked_lead(tenant, QualificationRule.NONE)
    outcomes.qualify_by_hand(lead, tenant.user, "Booked by phone")
    actions.issue(only_reward(lead), tenant.user, "Paid by check", Decimal("40.00"))

    sandbox.book_job(booking_of(lead), total="480.00")
    follow_cycle()

    assert Follow.objects.get(lead=lead).invoice_total == Decimal("480.00")  # the follower did read the total
    reward = only_reward(lead)
    assert (reward.status, reward.amount, reward.invoice_total) == ("issued", Decimal("40.00"), None)
    assert not RewardEvent.objects.filter(reward=reward, kind="amount").exists()


def test_a_credit_invoice_total_leaves_the_percentage_reward_without_an_amount(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="percent", percent=Decimal("10"), amount=None)
    outcomes.qualify_by_hand(tenant.lead, tenant.user, "Booked by phone")

    outcomes.invoice_total_changed(tenant.lead.pk, Decimal("-120.00"), timezone.now())

    assert only_reward(tenant.lead).amount is None
