"""Helpers for the rewards tests: rules set straight in the database, friends, and qualifying them the ways the
product does (a rule with the job's facts, or by hand)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.test import Client
from django.utils import timezone

from referloop.accounts.models import Membership, User
from referloop.campaigns import outcomes
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, Lead, Referrer
from referloop.rewards.models import Reward, RewardProgram, RewardRule
from tests.conftest import PASSWORD, Tenant


def rule(campaign: Campaign, recipient: str = "referrer", trigger: str = "qualified", **terms: Any) -> RewardRule:
    """A rule that is on: `kind="fixed", amount=50` unless `terms` say otherwise."""
    values: dict[str, Any] = {"kind": "fixed", "amount": Decimal("50.00"), "currency": "USD"}
    values.update(terms)
    found, _ = RewardRule.objects.update_or_create(
        campaign=campaign, recipient=recipient, trigger=trigger, defaults=values
    )
    return found


def hold(campaign: Campaign, days: int, low_codes_at: int = 10) -> None:
    RewardProgram.objects.update_or_create(
        campaign=campaign, defaults={"hold_days": days, "low_codes_at": low_codes_at}
    )


def friend(tenant: Tenant, name: str, referrer: Referrer | None = None) -> Lead:
    """A new lead (through intake, so it is admitted) of the tenant's referrer, or of `referrer`."""
    data = {"first_name": name, "last_name": "Friend", "email": f"{name.lower()}@friends.example"}
    return submit_lead(tenant.campaign, referrer or tenant.referrer, data).lead


def qualify(lead: Lead, at: datetime | None = None, invoice_total: str | None = None) -> None:
    """The campaign's rule qualifies the lead (as the follower does), with the job's facts."""
    facts: dict[str, object] = {"rule": "Job completed", "job_number": "J-1"}
    if invoice_total is not None:
        facts["invoice_total"] = invoice_total
    assert outcomes.qualify_by_rule(lead.pk, "job", "Job completed", facts, at or timezone.now())


def days_ago(days: int) -> datetime:
    return timezone.now() - timedelta(days=days)


def rewards_of(lead: Lead) -> list[Reward]:
    return list(Reward.objects.filter(lead=lead).order_by("pk"))


def only_reward(lead: Lead) -> Reward:
    found = rewards_of(lead)
    assert len(found) == 1, found
    return found[0]


def client_with_role(tenant: Tenant, role: str) -> tuple[Client, User]:
    user = User.objects.create_user(email=f"{role}@comfortpro.example", password=PASSWORD)
    Membership.objects.create(user=user, account=tenant.account, role=role)
    client = Client()
    client.force_login(user)
    return client, user
