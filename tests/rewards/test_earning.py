"""Rewards earned from a lead's outcomes: each reward type, who gets it, the hold period, unqualification during
the hold, milestones, and never two rewards of one kind for one lead."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from referloop.campaigns import outcomes
from referloop.campaigns.admission import welcomes
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import LeadEvent, LeadSource
from referloop.integrations.models import Follow, Integration
from referloop.rewards.models import Reward, RewardEvent, RewardState, RewardStatus, state_at
from tests.conftest import Tenant
from tests.rewards.conftest import days_ago, friend, hold, only_reward, qualify, rewards_of, rule

pytestmark = pytest.mark.django_db


# -- what a rule gives -------------------------------------------------------------------------------------------


def test_a_fixed_amount_reward_is_due_for_the_referrer_when_the_friend_qualifies(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="fixed", amount=Decimal("50.00"), currency="CAD")

    qualify(tenant.lead)

    reward = only_reward(tenant.lead)
    assert (reward.recipient, reward.trigger, reward.kind) == ("referrer", "qualified", "fixed")
    assert (reward.amount, reward.currency) == (Decimal("50.00"), "CAD")
    assert reward.referrer == tenant.referrer
    assert reward.state is RewardState.DUE
    assert reward.summary == "CAD 50.00"


def test_nothing_is_earned_while_the_campaign_has_no_rules(tenant: Tenant) -> None:
    qualify(tenant.lead)

    assert rewards_of(tenant.lead) == []


def test_a_rule_turned_off_gives_nothing(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="")

    qualify(tenant.lead)

    assert rewards_of(tenant.lead) == []


def test_a_percentage_reward_is_worked_out_from_the_qualifying_invoice_total(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="percent", percent=Decimal("12.5"), amount=None)

    qualify(tenant.lead, invoice_total="481.30")

    reward = only_reward(tenant.lead)
    assert reward.invoice_total == Decimal("481.30")
    assert reward.amount == Decimal("60.16")  # 60.1625, rounded half up to the cent
    assert reward.problem == ""
    assert reward.summary == "12.5% of USD 481.30 = USD 60.16"


def test_a_percentage_reward_reads_the_followed_invoice_when_the_lead_was_qualified_by_hand(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="percent", percent=Decimal("10"), amount=None)
    integration = Integration.objects.create(campaign=tenant.campaign, tenant_id=1, client_id="c")
    Follow.objects.create(
        integration=integration,
        lead=tenant.lead,
        booking_id=7,
        invoice_total=Decimal("900.00"),
        follow_until=timezone.now(),
    )

    outcomes.qualify_by_hand(tenant.lead, tenant.user, "The customer paid at the door")

    assert only_reward(tenant.lead).amount == Decimal("90.00")


def test_a_percentage_of_an_unknown_invoice_total_is_earned_without_an_amount_and_says_why(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="percent", percent=Decimal("10"), amount=None)

    outcomes.qualify_by_hand(tenant.lead, tenant.user, "Booked by phone")

    reward = only_reward(tenant.lead)
    assert reward.amount is None
    assert reward.state is RewardState.DUE
    assert "No invoice total is known" in reward.problem
    assert "enter the amount when you issue it" in reward.problem


def test_a_code_reward_is_earned_without_a_code_until_it_is_issued(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="code", amount=None, text="$25 Amazon gift card")

    qualify(tenant.lead)

    reward = only_reward(tenant.lead)
    assert reward.kind == "code"
    assert reward.summary == "$25 Amazon gift card"
    assert reward.code == ""
    assert reward.amount is None


def test_a_custom_text_reward_keeps_its_text(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="custom", amount=None, text="A free filter change")

    qualify(tenant.lead)

    assert only_reward(tenant.lead).summary == "A free filter change"


def test_the_friend_and_the_referrer_both_earn_when_both_have_a_rule(tenant: Tenant) -> None:
    rule(tenant.campaign, "referrer", amount=Decimal("50"))
    rule(tenant.campaign, "friend", kind="custom", amount=None, text="$25 off the next visit")

    qualify(tenant.lead)

    by_recipient = {reward.recipient: reward for reward in rewards_of(tenant.lead)}
    assert set(by_recipient) == {"referrer", "friend"}
    assert by_recipient["friend"].recipient_person == tenant.lead
    assert by_recipient["friend"].referrer == tenant.referrer  # filterable by the referrer who sent the friend
    assert by_recipient["referrer"].recipient_person == tenant.referrer


def test_only_the_friend_earns_when_only_the_friend_has_a_rule(tenant: Tenant) -> None:
    rule(tenant.campaign, "friend", amount=Decimal("20"))

    qualify(tenant.lead)

    assert [reward.recipient for reward in rewards_of(tenant.lead)] == ["friend"]


def test_changing_a_rule_later_leaves_rewards_already_earned_as_they_were(tenant: Tenant) -> None:
    earned = rule(tenant.campaign, amount=Decimal("50"))
    qualify(tenant.lead)
    earned.amount = Decimal("75")
    earned.save()

    assert only_reward(tenant.lead).amount == Decimal("50.00")


def test_a_thank_you_is_due_to_the_referrer_as_soon_as_a_friend_joins(tenant: Tenant) -> None:
    rule(tenant.campaign, "referrer", "joined", kind="custom", amount=None, text="A thank-you card")
    hold(tenant.campaign, 30)  # the hold is for money on a qualified referral, not a thank-you

    lead = friend(tenant, "Ana")

    reward = only_reward(lead)
    assert (reward.trigger, reward.summary, reward.state) == ("joined", "A thank-you card", RewardState.DUE)
    assert LeadEvent.objects.filter(lead=lead, kind="reward").exists()


def test_a_friend_who_must_confirm_their_email_earns_the_thank_you_only_once_confirmed(tenant: Tenant) -> None:
    rule(tenant.campaign, "referrer", "joined", kind="custom", amount=None, text="A thank-you card")
    tenant.campaign.verify_friend_email = True
    tenant.campaign.save()

    lead = friend(tenant, "Ana")  # a public-form lead: waits Unverified, not admitted

    assert rewards_of(lead) == []


# -- the hold period ---------------------------------------------------------------------------------------------


def test_a_reward_is_pending_during_the_hold_period_and_due_after_it(tenant: Tenant) -> None:
    rule(tenant.campaign)
    hold(tenant.campaign, 14)
    recent = friend(tenant, "Ana")
    older = friend(tenant, "Ben")

    qualify(recent, at=days_ago(3))
    qualify(older, at=days_ago(15))

    pending, due = only_reward(recent), only_reward(older)
    assert pending.state is RewardState.PENDING
    assert pending.due_at == pending.created_at + timedelta(days=14)
    assert due.state is RewardState.DUE
    assert Reward.objects.filter(status=RewardStatus.OPEN, due_at__gt=timezone.now()).get() == pending


def test_the_state_in_sql_and_the_state_of_one_row_agree(tenant: Tenant) -> None:
    from referloop.rewards.listing import state_counts

    rule(tenant.campaign)
    hold(tenant.campaign, 10)
    for name, days in (("Ana", 1), ("Ben", 11), ("Cy", 30)):
        qualify(friend(tenant, name), at=days_ago(days))
    now = timezone.now()

    in_python: dict[str, int] = {}
    for reward in Reward.objects.all():
        state = state_at(reward.status, reward.due_at, now)
        in_python[state] = in_python.get(state, 0) + 1

    counted = state_counts(Reward.objects.all(), now)
    assert in_python == {key: value for key, value in counted.items() if value}
    assert counted["pending"] == 1 and counted["due"] == 2


def test_a_referral_unqualified_during_the_hold_cancels_its_reward_with_the_reason(tenant: Tenant) -> None:
    rule(tenant.campaign)
    hold(tenant.campaign, 30)
    qualify(tenant.lead)

    outcomes.unqualify_by_hand(tenant.lead, tenant.user, "Refunded: the customer canceled the install")

    reward = only_reward(tenant.lead)
    assert reward.state is RewardState.CANCELED
    assert reward.cancel_reason == (
        "The referral was unqualified during the hold: Refunded: the customer canceled the install"
    )
    assert reward.canceled_by == tenant.user
    assert reward.canceled_at is not None
    event = RewardEvent.objects.filter(reward=reward, kind="canceled").get()
    assert event.user == tenant.user and "during the hold" in event.detail


def test_a_due_reward_not_issued_yet_is_canceled_too_when_the_referral_is_unqualified(tenant: Tenant) -> None:
    rule(tenant.campaign)
    hold(tenant.campaign, 7)
    qualify(tenant.lead, at=days_ago(10))

    outcomes.unqualify_by_hand(tenant.lead, tenant.user, "Duplicate customer")

    reward = only_reward(tenant.lead)
    assert reward.state is RewardState.CANCELED
    assert reward.cancel_reason == "The referral was unqualified before the reward was issued: Duplicate customer"


def test_an_issued_reward_stays_issued_when_the_referral_is_unqualified(tenant: Tenant) -> None:
    from referloop.rewards import actions

    rule(tenant.campaign)
    qualify(tenant.lead)
    actions.issue(only_reward(tenant.lead), tenant.user, "Paid by check")

    outcomes.unqualify_by_hand(tenant.lead, tenant.user, "Changed our mind")

    assert only_reward(tenant.lead).state is RewardState.ISSUED


def test_the_thank_you_for_joining_stays_when_the_referral_is_unqualified(tenant: Tenant) -> None:
    rule(tenant.campaign, "referrer", "joined", kind="custom", amount=None, text="Thanks!")
    rule(tenant.campaign)
    lead = friend(tenant, "Ana")
    qualify(lead)

    outcomes.unqualify_by_hand(lead, tenant.user, "Not a real customer")

    states = {reward.trigger: reward.state for reward in rewards_of(lead)}
    assert states == {"joined": RewardState.DUE, "qualified": RewardState.CANCELED}


# -- never twice -------------------------------------------------------------------------------------------------


def test_qualifying_again_by_hand_never_gives_a_second_reward(tenant: Tenant) -> None:
    from referloop.rewards import actions

    rule(tenant.campaign)
    qualify(tenant.lead)
    actions.issue(only_reward(tenant.lead), tenant.user)
    outcomes.unqualify_by_hand(tenant.lead, tenant.user, "Mistake")

    outcomes.qualify_by_hand(tenant.lead, tenant.user, "It was right after all")

    assert only_reward(tenant.lead).state is RewardState.ISSUED


def test_qualifying_again_reopens_the_reward_the_unqualification_canceled(tenant: Tenant) -> None:
    rule(tenant.campaign)
    hold(tenant.campaign, 14)
    qualify(tenant.lead, at=days_ago(20))
    outcomes.unqualify_by_hand(tenant.lead, tenant.user, "Refund requested")

    outcomes.qualify_by_hand(tenant.lead, tenant.user, "Refund withdrawn")

    reward = only_reward(tenant.lead)
    assert reward.state is RewardState.PENDING  # a new hold from the new qualification
    assert reward.cancel_reason == "" and reward.canceled_at is None
    assert list(reward.events.order_by("pk").values_list("kind", flat=True)) == ["earned", "canceled", "reopened"]


def test_a_reward_canceled_by_a_person_stays_canceled_when_the_referral_qualifies_again(tenant: Tenant) -> None:
    from referloop.rewards import actions

    rule(tenant.campaign)
    qualify(tenant.lead)
    actions.cancel(only_reward(tenant.lead), tenant.user, "Fraud: the same address as the referrer")
    outcomes.unqualify_by_hand(tenant.lead, tenant.user, "Fraud")

    outcomes.qualify_by_hand(tenant.lead, tenant.user, "Clicked by mistake")

    reward = only_reward(tenant.lead)
    assert reward.state is RewardState.CANCELED
    assert reward.cancel_reason == "Fraud: the same address as the referrer"


def test_the_database_refuses_a_second_reward_of_the_same_kind_for_a_lead(tenant: Tenant) -> None:
    rule(tenant.campaign)
    qualify(tenant.lead)
    first = only_reward(tenant.lead)

    twin = Reward(
        campaign=first.campaign,
        rule=first.rule,
        lead=first.lead,
        referrer=first.referrer,
        recipient=first.recipient,
        trigger=first.trigger,
        kind="fixed",
        amount=Decimal("1.00"),
        due_at=first.due_at,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


# -- milestones --------------------------------------------------------------------------------------------------


def test_a_milestone_bonus_is_earned_on_every_nth_qualified_referral(tenant: Tenant) -> None:
    rule(tenant.campaign)
    rule(tenant.campaign, "referrer", "milestone", kind="fixed", amount=Decimal("100"), every=2)
    friends = [tenant.lead] + [friend(tenant, name) for name in ("Ana", "Ben", "Cy")]

    for lead in friends:
        qualify(lead)

    bonuses = Reward.objects.filter(trigger="milestone").order_by("milestone")
    assert [(bonus.milestone, bonus.lead_id, bonus.amount) for bonus in bonuses] == [
        (2, friends[1].pk, Decimal("100.00")),
        (4, friends[3].pk, Decimal("100.00")),
    ]
    assert bonuses[0].occasion == "Milestone: 2nd qualified referral"
    assert Reward.objects.filter(trigger="qualified").count() == 4


def test_milestones_count_each_referrer_on_their_own(tenant: Tenant) -> None:
    from referloop.campaigns.models import Referrer

    rule(tenant.campaign, "referrer", "milestone", kind="custom", amount=None, text="A free tune-up", every=2)
    other = Referrer.objects.create(campaign=tenant.campaign, first_name="Lee", email="lee@comfortpro.example")
    qualify(tenant.lead)
    qualify(friend(tenant, "Ana", referrer=other))

    assert not Reward.objects.filter(trigger="milestone").exists()

    qualify(friend(tenant, "Ben", referrer=other))

    bonus = Reward.objects.get(trigger="milestone")
    assert (bonus.referrer, bonus.milestone, bonus.summary) == (other, 2, "A free tune-up")


def test_a_milestone_is_not_earned_twice_when_a_referral_is_unqualified_and_qualified_again(tenant: Tenant) -> None:
    rule(tenant.campaign, "referrer", "milestone", kind="fixed", amount=Decimal("100"), every=2)
    first, second = tenant.lead, friend(tenant, "Ana")
    qualify(first)
    qualify(second)
    outcomes.unqualify_by_hand(second, tenant.user, "Refund")

    outcomes.qualify_by_hand(second, tenant.user, "Paid again")

    bonus = Reward.objects.get(trigger="milestone")
    assert bonus.milestone == 2
    assert bonus.state is RewardState.DUE  # canceled with the referral, reopened when it qualified again


def test_a_milestone_bonus_in_its_hold_is_canceled_with_the_referral_that_reached_it(tenant: Tenant) -> None:
    rule(tenant.campaign, "referrer", "milestone", kind="fixed", amount=Decimal("100"), every=2)
    hold(tenant.campaign, 30)
    qualify(tenant.lead)
    second = friend(tenant, "Ana")
    qualify(second)

    outcomes.unqualify_by_hand(second, tenant.user, "Chargeback")

    bonus = Reward.objects.get(trigger="milestone")
    assert bonus.state is RewardState.CANCELED
    assert bonus.cancel_reason.startswith("The referral was unqualified during the hold: Chargeback")


def test_a_lead_imported_from_a_csv_file_earns_no_thank_you_for_joining(tenant: Tenant) -> None:
    rule(tenant.campaign, "referrer", "joined", kind="custom", amount=None, text="A thank-you card")
    data = {"first_name": "Old", "last_name": "Friend", "email": "old@friends.example"}

    lead = submit_lead(tenant.campaign, tenant.referrer, data, source=LeadSource.CSV).lead

    assert rewards_of(lead) == []
    assert not welcomes(lead)
    assert welcomes(friend(tenant, "Ana"))


def test_a_milestone_bonus_is_canceled_when_an_earlier_referral_is_unqualified(tenant: Tenant) -> None:
    rule(tenant.campaign, "referrer", "milestone", kind="fixed", amount=Decimal("100"), every=2)
    hold(tenant.campaign, 30)
    first, second = tenant.lead, friend(tenant, "Ana")
    qualify(first)
    qualify(second)  # the 2nd qualified referral: the bonus is on this one

    outcomes.unqualify_by_hand(first, tenant.user, "Refund")

    bonus = Reward.objects.get(trigger="milestone")
    assert bonus.lead_id == second.pk
    assert bonus.state is RewardState.CANCELED and bonus.reopenable
    assert "fewer than the milestone's 2: Refund" in bonus.cancel_reason

    outcomes.qualify_by_hand(first, tenant.user, "Paid after all")

    bonus = Reward.objects.get(trigger="milestone")
    assert bonus.state is RewardState.PENDING and bonus.lead_id == first.pk
