"""Issuing and canceling rewards, one or many, on the Rewards tab and the reward's page; code pools (empty, low,
a code given once only, also to two people issuing at once); the audit trail and the issued hook."""

from __future__ import annotations

import html
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.http import HttpResponse
from django.urls import reverse

from referloop.campaigns import outcomes
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.models import LeadEvent, LeadStatus
from referloop.rewards import actions, codes
from referloop.rewards.models import Reward, RewardCode, RewardEvent, RewardRule, RewardState
from tests.conftest import Tenant, make_tenant
from tests.rewards.conftest import days_ago, friend, hold, only_reward, qualify, rule

pytestmark = pytest.mark.django_db


def due_rewards(tenant: Tenant, count: int, **terms: object) -> list[Reward]:
    """`count` Due referrer rewards: the tenant's lead and new friends, each qualified."""
    rule(tenant.campaign, **terms)
    leads = [tenant.lead] + [friend(tenant, f"Friend{number}") for number in range(1, count)]
    for lead in leads:
        qualify(lead)
    return [only_reward(lead) for lead in leads]


def bulk(tenant: Tenant, action: str, rewards: list[Reward], **fields: str) -> str:
    response = tenant.client.post(
        reverse("rewards_bulk", args=[tenant.campaign.pk]),
        {"action": action, "reward": [str(reward.pk) for reward in rewards], **fields},
        follow=True,
    )
    assert response.status_code == 200
    return page_text(response)


def page_text(response: HttpResponse) -> str:
    """The page as a person reads it (entities such as &#x27; decoded)."""
    return html.unescape(response.content.decode())


# -- one reward --------------------------------------------------------------------------------------------------


def test_issuing_a_reward_on_its_page_records_the_note_who_and_when(tenant: Tenant) -> None:
    (reward,) = due_rewards(tenant, 1)
    url = reverse("reward_issue", args=[tenant.campaign.pk, reward.pk])

    response = tenant.client.post(url, {"note": "Gift card 4417-22"})

    assert response.status_code == 302
    reward.refresh_from_db()
    assert reward.state is RewardState.ISSUED
    assert (reward.issue_note, reward.issued_by) == ("Gift card 4417-22", tenant.user)
    assert reward.issued_at is not None
    event = RewardEvent.objects.get(reward=reward, kind="issued")
    assert event.user == tenant.user and "Gift card 4417-22" in event.detail
    page = tenant.client.get(reverse("reward_detail", args=[tenant.campaign.pk, reward.pk])).content.decode()
    assert "Gift card 4417-22" in page and tenant.user.email in page


def test_an_issued_referrer_reward_marks_the_lead_rewarded_and_shows_on_its_timeline(tenant: Tenant) -> None:
    (reward,) = due_rewards(tenant, 1)

    actions.issue(reward, tenant.user, "Paid")

    tenant.lead.refresh_from_db()
    assert tenant.lead.status == LeadStatus.REWARDED
    assert LeadEvent.objects.filter(lead=tenant.lead, kind="reward", title="Reward issued to the referrer").exists()
    page = tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, tenant.lead.pk])).content.decode()
    assert "Reward issued to the referrer" in page


def test_a_friends_reward_issued_leaves_the_lead_qualified(tenant: Tenant) -> None:
    rule(tenant.campaign, "friend", amount=Decimal("20"))
    qualify(tenant.lead)

    actions.issue(only_reward(tenant.lead), tenant.user)

    tenant.lead.refresh_from_db()
    assert tenant.lead.status == LeadStatus.QUALIFIED


def test_a_canceled_reward_cannot_be_issued_and_says_why(tenant: Tenant) -> None:
    (reward,) = due_rewards(tenant, 1)
    actions.cancel(reward, tenant.user, "Duplicate")

    with pytest.raises(InputRejected) as rejected:
        actions.issue(reward, tenant.user)

    assert "a canceled reward can't be issued" in rejected.value.errors["state"][0]
    assert "(Duplicate)" in rejected.value.errors["state"][0]
    assert Reward.objects.get(pk=reward.pk).state is RewardState.CANCELED


def test_a_reward_in_its_hold_period_cannot_be_issued_yet(tenant: Tenant) -> None:
    rule(tenant.campaign)
    hold(tenant.campaign, 14)
    qualify(tenant.lead)
    reward = only_reward(tenant.lead)

    response = tenant.client.post(reverse("reward_issue", args=[tenant.campaign.pk, reward.pk]), {"note": ""})

    assert response.status_code == 400
    assert "in its hold period until" in page_text(response)
    assert Reward.objects.get(pk=reward.pk).state is RewardState.PENDING


def test_a_reward_is_issued_once_when_issued_twice(tenant: Tenant) -> None:
    (reward,) = due_rewards(tenant, 1)
    actions.issue(reward, tenant.user, "first")

    with pytest.raises(InputRejected) as rejected:
        actions.issue(reward, tenant.user, "second")

    assert "issued already" in rejected.value.errors["state"][0]
    assert Reward.objects.get(pk=reward.pk).issue_note == "first"
    assert RewardEvent.objects.filter(reward=reward, kind="issued").count() == 1


def test_a_reward_without_a_known_amount_is_issued_with_the_amount_typed(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="percent", percent=Decimal("10"), amount=None)
    outcomes.qualify_by_hand(tenant.lead, tenant.user, "Paid in cash")
    reward = only_reward(tenant.lead)
    url = reverse("reward_issue", args=[tenant.campaign.pk, reward.pk])

    without = tenant.client.post(url, {"note": "cash"})
    assert without.status_code == 400
    assert "No invoice total is known" in without.content.decode()

    tenant.client.post(url, {"note": "cash", "amount": "48.50"})
    reward.refresh_from_db()
    assert (reward.state, reward.amount, reward.problem) == (RewardState.ISSUED, Decimal("48.50"), "")


def test_canceling_needs_a_reason_and_keeps_it(tenant: Tenant) -> None:
    (reward,) = due_rewards(tenant, 1)
    url = reverse("reward_cancel", args=[tenant.campaign.pk, reward.pk])

    assert tenant.client.post(url, {"reason": " "}).status_code == 400
    assert Reward.objects.get(pk=reward.pk).state is RewardState.DUE

    tenant.client.post(url, {"reason": "The friend was already a customer"})

    reward.refresh_from_db()
    assert reward.state is RewardState.CANCELED
    assert (reward.cancel_reason, reward.canceled_by) == ("The friend was already a customer", tenant.user)
    assert RewardEvent.objects.filter(reward=reward, kind="canceled", user=tenant.user).exists()


def test_an_issued_reward_cannot_be_canceled(tenant: Tenant) -> None:
    (reward,) = due_rewards(tenant, 1)
    actions.issue(reward, tenant.user)

    with pytest.raises(InputRejected) as rejected:
        actions.cancel(reward, tenant.user, "Oops")

    assert "it can't be canceled" in rejected.value.errors["state"][0]


# -- many at once ------------------------------------------------------------------------------------------------


def test_issuing_many_at_once_issues_each_chosen_reward_with_the_note(tenant: Tenant) -> None:
    rewards = due_rewards(tenant, 3)

    page = bulk(tenant, "issue", rewards[:2], note="Batch of March 3")

    assert "Issued 2 rewards." in page
    states = [Reward.objects.get(pk=reward.pk) for reward in rewards]
    assert [reward.state for reward in states] == [RewardState.ISSUED, RewardState.ISSUED, RewardState.DUE]
    assert {reward.issue_note for reward in states[:2]} == {"Batch of March 3"}


def test_issuing_many_reports_each_reward_that_could_not_be_issued_and_issues_the_others(tenant: Tenant) -> None:
    rewards = due_rewards(tenant, 2)
    actions.cancel(rewards[0], tenant.user, "Duplicate")

    page = bulk(tenant, "issue", rewards, note="")

    assert "Issued 1 reward." in page
    assert f"Not issued: #{rewards[0].pk} Maria Lopez" in page
    assert Reward.objects.get(pk=rewards[1].pk).state is RewardState.ISSUED


def test_more_rewards_than_one_bulk_action_takes_are_refused_whole(tenant: Tenant) -> None:
    (reward,) = due_rewards(tenant, 1)
    chosen = [reward.pk, *range(10_000_000, 10_000_000 + actions.BULK_LIMIT)]  # 201 rewards chosen

    response = tenant.client.post(
        reverse("rewards_bulk", args=[tenant.campaign.pk]),
        {"action": "issue", "reward": [str(pk) for pk in chosen]},
        follow=True,
    )

    assert "Choose at most 200 rewards at a time; nothing was changed." in page_text(response)
    assert Reward.objects.get(pk=reward.pk).state is RewardState.DUE


def test_canceling_many_at_once_needs_a_reason(tenant: Tenant) -> None:
    rewards = due_rewards(tenant, 2)

    page = bulk(tenant, "cancel", rewards, reason="")
    assert "Say why" in page
    assert all(Reward.objects.get(pk=reward.pk).state is RewardState.DUE for reward in rewards)

    page = bulk(tenant, "cancel", rewards, reason="Program ended")
    assert "Canceled 2 rewards." in page
    assert {Reward.objects.get(pk=reward.pk).cancel_reason for reward in rewards} == {"Program ended"}


def test_a_bulk_action_ignores_another_campaigns_rewards(tenant: Tenant) -> None:
    other = make_tenant("Rival Plumbing", "owner@rival.example", "rival-plumbing")
    rule(other.campaign)
    qualify(other.lead)
    theirs = only_reward(other.lead)

    page = bulk(tenant, "issue", [theirs], note="mine now")

    assert "Choose at least one reward of this campaign." in page
    assert Reward.objects.get(pk=theirs.pk).state is RewardState.DUE


# -- code pools --------------------------------------------------------------------------------------------------


def test_a_code_reward_gets_the_next_code_of_the_pool_when_it_is_issued(tenant: Tenant) -> None:
    first, second = due_rewards(tenant, 2, kind="code", amount=None, text="$25 gift card")
    codes.add(first.rule, "code\nGIFT-001\nGIFT-002\nGIFT-003\n", tenant.user)

    actions.issue(first, tenant.user)
    actions.issue(second, tenant.user)

    given = dict(RewardCode.objects.filter(reward__isnull=False).values_list("reward_id", "code"))
    assert given == {first.pk: "GIFT-001", second.pk: "GIFT-002"}
    assert RewardCode.objects.filter(reward__isnull=True).get().code == "GIFT-003"
    assert "GIFT-001" in RewardEvent.objects.get(reward=first, kind="issued").detail


def test_an_empty_code_pool_refuses_to_issue_and_the_reward_stays_due_saying_so(tenant: Tenant) -> None:
    (reward,) = due_rewards(tenant, 1, kind="code", amount=None, text="$25 gift card")

    with pytest.raises(InputRejected) as rejected:
        actions.issue(reward, tenant.user)

    assert rejected.value.errors["code"][0].startswith("Code pool is empty: upload codes")
    assert Reward.objects.get(pk=reward.pk).state is RewardState.DUE
    page = page_text(tenant.client.get(reverse("rewards_tab", args=[tenant.campaign.pk])))
    assert "Code pool is empty: upload codes" in page
    assert "Code pool is empty for the referrer's reward" in page


def test_codes_earned_under_a_rule_that_now_gives_money_keep_their_pool_to_be_issued_from(tenant: Tenant) -> None:
    first, second = due_rewards(tenant, 2, kind="code", amount=None, text="$25 gift card")
    rule(tenant.campaign, kind="fixed", amount=Decimal("50.00"), text="")  # the owner switched to money since

    settings_page = page_text(tenant.client.get(reverse("campaign_settings", args=[tenant.campaign.pk, "rewards"])))
    assert (
        "The referrer's reward is no longer a code, but 2 rewards earned as codes still wait for one" in settings_page
    )
    url = reverse("reward_code_upload", args=[tenant.campaign.pk, "referrer"])
    assert tenant.client.post(url, {"referrer-codes": "GIFT-1\nGIFT-2"}).status_code == 302

    assert actions.issue(first, tenant.user).code == "GIFT-1"
    assert actions.issue(second, tenant.user).code == "GIFT-2"
    settings_page = page_text(tenant.client.get(reverse("campaign_settings", args=[tenant.campaign.pk, "rewards"])))
    assert "Code pools" in settings_page and "Codes for the referrer" not in settings_page  # nothing waits now


def test_uploading_codes_adds_each_new_code_once(tenant: Tenant) -> None:
    pool_rule = rule(tenant.campaign, kind="code", amount=None, text="Coupon")
    url = reverse("reward_code_upload", args=[tenant.campaign.pk, "referrer"])

    response = tenant.client.post(url, {"referrer-codes": "A1\nA2\n\nA1\n"}, follow=True)
    assert "2 codes added." in response.content.decode()

    from django.core.files.uploadedfile import SimpleUploadedFile

    csv_file = SimpleUploadedFile("codes.csv", b"\xef\xbb\xbfcode,value\nA2,25\nB7,25\n", content_type="text/csv")
    response = tenant.client.post(url, {"referrer-file": csv_file}, follow=True)
    assert "1 code added. 1 were in the pool already." in response.content.decode()
    assert sorted(RewardCode.objects.filter(rule=pool_rule).values_list("code", flat=True)) == ["A1", "A2", "B7"]


def test_a_code_with_control_characters_is_refused_naming_its_line(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="code", amount=None)
    url = reverse("reward_code_upload", args=[tenant.campaign.pk, "referrer"])

    response = tenant.client.post(url, {"referrer-codes": "OK1\nBAD\x07CODE\n"})

    assert response.status_code == 400
    assert "Line 2: a code can't contain control characters." in page_text(response)
    assert not RewardCode.objects.exists()


def test_the_tab_and_the_settings_warn_when_a_code_pool_runs_low(tenant: Tenant) -> None:
    pool_rule = rule(tenant.campaign, kind="code", amount=None)
    hold(tenant.campaign, 0, low_codes_at=5)
    codes.add(pool_rule, "\n".join(f"C{number}" for number in range(4)), tenant.user)

    warning = "Only 4 codes left for the referrer's reward"
    assert warning in page_text(tenant.client.get(reverse("rewards_tab", args=[tenant.campaign.pk])))
    assert warning in page_text(tenant.client.get(reverse("campaign_settings", args=[tenant.campaign.pk, "rewards"])))

    codes.add(pool_rule, "C4\nC5", tenant.user)
    assert "codes left" not in tenant.client.get(reverse("rewards_tab", args=[tenant.campaign.pk])).content.decode()


def test_codes_can_only_be_uploaded_for_a_reward_that_is_a_code(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="fixed")
    url = reverse("reward_code_upload", args=[tenant.campaign.pk, "referrer"])

    assert tenant.client.post(url, {"referrer-codes": "A1"}).status_code == 404
    assert tenant.client.post(reverse("reward_code_upload", args=[tenant.campaign.pk, "nope"])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_people_issuing_code_rewards_at_once_never_get_the_same_code() -> None:
    """Real concurrent transactions (threads with their own connections): on PostgreSQL the second skips the
    first one's locked code; on SQLite the IMMEDIATE transactions run one after the other."""
    tenant = make_tenant("Comfort Pro", "owner@comfortpro.example", "comfort-pro")
    rewards = due_rewards(tenant, 6, kind="code", amount=None, text="Gift card")
    codes.add(RewardRule.objects.get(kind="code"), "\n".join(f"G{number}" for number in range(8)), tenant.user)
    start = threading.Barrier(len(rewards))
    failures: list[BaseException] = []

    def issue(reward: Reward) -> None:
        try:
            start.wait()
            actions.issue(reward, tenant.user, "at once")
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=issue, args=(reward,)) for reward in rewards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    given = list(RewardCode.objects.filter(reward__isnull=False).values_list("code", flat=True))
    assert len(given) == len(set(given)) == 6
    assert Reward.objects.filter(status="issued").count() == 6


@pytest.mark.django_db(transaction=True)
def test_two_people_issuing_the_same_reward_at_once_issue_it_once() -> None:
    tenant = make_tenant("Comfort Pro", "owner@comfortpro.example", "comfort-pro")
    (reward,) = due_rewards(tenant, 1, kind="code", amount=None)
    codes.add(RewardRule.objects.get(kind="code"), "G1\nG2\nG3", tenant.user)
    start = threading.Barrier(3)
    outcomes_seen: list[str] = []

    def issue() -> None:
        try:
            start.wait()
            actions.issue(reward, tenant.user)
            outcomes_seen.append("issued")
        except InputRejected as rejected:
            outcomes_seen.append(next(iter(rejected.errors)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=issue) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes_seen) == ["issued", "state", "state"]
    assert RewardCode.objects.filter(reward__isnull=False).count() == 1
    assert RewardEvent.objects.filter(kind="issued").count() == 1


# -- the issued hook ---------------------------------------------------------------------------------------------


def test_the_issued_hooks_run_in_the_issuing_transaction_with_the_code(tenant: Tenant) -> None:
    (reward,) = due_rewards(tenant, 1, kind="code", amount=None)
    codes.add(reward.rule, "HOOK-1", tenant.user)
    seen: list[tuple[str, str, bool]] = []

    def hook(issued: Reward) -> None:
        seen.append((issued.state.value, issued.code, connection.in_atomic_block))

    actions.on_reward_issued(hook)
    try:
        actions.issue(reward, tenant.user)
    finally:
        actions._issued_hooks.remove(hook)

    assert seen == [("issued", "HOOK-1", True)]


def test_a_failing_issued_hook_rolls_the_issue_back(tenant: Tenant) -> None:
    (reward,) = due_rewards(tenant, 1, kind="code", amount=None)
    codes.add(reward.rule, "HOOK-1", tenant.user)

    def hook(issued: Reward) -> None:
        raise RuntimeError("the outbox is down")

    actions.on_reward_issued(hook)
    try:
        with pytest.raises(RuntimeError):
            actions.issue(reward, tenant.user)
    finally:
        actions._issued_hooks.remove(hook)

    assert Reward.objects.get(pk=reward.pk).state is RewardState.DUE
    assert RewardCode.objects.get().reward is None


def test_a_pending_reward_turns_due_when_its_hold_ends_without_any_worker(tenant: Tenant) -> None:
    rule(tenant.campaign)
    hold(tenant.campaign, 14)
    qualify(tenant.lead, at=days_ago(13))
    reward = only_reward(tenant.lead)
    assert reward.state is RewardState.PENDING

    Reward.objects.filter(pk=reward.pk).update(due_at=days_ago(0))  # the hold ends: the clock moved on

    actions.issue(reward, tenant.user)
    assert Reward.objects.get(pk=reward.pk).state is RewardState.ISSUED


def test_an_upload_with_a_line_too_long_for_csv_is_refused_not_an_error(tenant: Tenant) -> None:
    rule(tenant.campaign, kind="code", amount=None)
    url = reverse("reward_code_upload", args=[tenant.campaign.pk, "referrer"])
    from django.core.files.uploadedfile import SimpleUploadedFile

    with pytest.raises(InputRejected) as rejected:
        codes.parse("x" * 140_000)
    assert "too long" in rejected.value.errors["codes"][0]

    response = tenant.client.post(url, {"referrer-file": SimpleUploadedFile("codes.csv", b"x" * 140_000)})
    assert response.status_code == 400
    assert "A line is too long or not valid CSV" in page_text(response)

    response = tenant.client.post(url, {"referrer-codes": "OK1\n" + "x" * 140_000})
    assert response.status_code == 400
    assert "A line is too long or not valid CSV" in page_text(response)
    assert not RewardCode.objects.exists()
