"""Every email, sent by a worker through Django's locmem backend, with its placeholders filled."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from referloop.campaigns import outcomes
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, LeadSource
from referloop.integrations.models import DeliveryState
from referloop.notifications.models import Email, Notification
from referloop.notifications.outbox import ADDRESS_MISSING
from referloop.notifications.unsubscribe import url_for
from referloop.rewards import actions
from referloop.rewards.models import Recipient, Reward, RewardKind, RewardRule, Trigger
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead
from tests.notifications.helpers import (
    delivery_of,
    email_of,
    give_address,
    html_of,
    send_all,
    sent,
    sent_to,
    turn_on,
)
from tests.rewards.conftest import qualify, rule

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _outbox(mailoutbox: list[Any]) -> None:
    """Django's locmem backend, emptied for each test."""


def test_a_friend_joining_emails_the_referrer_with_the_fields_filled_and_the_footer(tenant: Tenant) -> None:
    turn_on(tenant.campaign)
    give_address(tenant.account)
    add_lead(tenant.campaign, tenant.referrer, first_name="Ann", email="ann@friends.example")

    send_all()

    [message] = sent_to(tenant.referrer.email)
    assert message.subject == "Ann just used your referral link"
    assert message.from_email == "Comfort Pro <no-reply@referloop.local>"
    assert message.body.startswith("Hi Maria,\n\nGood news: your friend Ann just asked Comfort Pro for a visit")
    assert tenant.referrer.referral_url in message.body
    # The footer: the account's name and postal address, and the unsubscribe link.
    assert "--\nComfort Pro\n1200 Congress Ave\nAustin, TX 78701\n" in message.body
    assert f"Unsubscribe: {url_for(tenant.referrer)}" in message.body
    html = html_of(message)
    assert f'<a href="{tenant.referrer.referral_url}">{tenant.referrer.referral_url}</a>' in html
    assert "<strong>Comfort Pro</strong><br>1200 Congress Ave<br>Austin, TX 78701" in html
    assert f'<a href="{url_for(tenant.referrer)}">Unsubscribe</a>' in html
    email = email_of(Notification.FRIEND_JOINED, tenant.referrer.email)
    assert message.extra_headers["Message-ID"] == email.message_id
    delivery = delivery_of(email)
    assert (delivery.state, delivery.external_id, delivery.attempt_count) == (
        DeliveryState.DELIVERED,
        email.message_id,
        1,
    )


def test_the_friend_gets_a_confirmation_with_their_own_fields_and_no_unsubscribe_link(tenant: Tenant) -> None:
    turn_on(
        tenant.campaign,
        Notification.FRIEND_CONFIRMATION,
        subject="{Lead First Name}, we got your request",
        body="Hi {Lead Full Name}, {Referrer First Name} sent you. System: {System type}. Call {Lead Phone}.\n"
        "{Campaign Name}",
    )
    add_lead(tenant.campaign, tenant.referrer, first_name="Ann", last_name="Lee", email="ann@friends.example")

    send_all()

    [message] = sent()
    assert message.to == ["ann@friends.example"]
    assert message.subject == "Ann, we got your request"
    assert message.body.startswith(
        "Hi Ann Lee, Maria sent you. System: Furnace. Call 512-555-0100.\nComfort Pro referrals\n"
    )
    assert "Unsubscribe" not in message.body and "List-Unsubscribe" not in message.extra_headers
    assert "through a referral" in message.body


def test_the_confirmation_is_not_held_for_the_postal_address_but_referrer_emails_are(tenant: Tenant) -> None:
    turn_on(tenant.campaign)
    lead = add_lead(tenant.campaign, tenant.referrer, email="ann@friends.example")

    send_all()

    assert [message.to for message in sent()] == [["ann@friends.example"]]
    held = delivery_of(email_of(Notification.FRIEND_JOINED, tenant.referrer.email))
    assert (held.state, held.held_reason) == (DeliveryState.HELD, ADDRESS_MISSING)

    response = tenant.client.post(
        f"/campaigns/{tenant.campaign.pk}/emails/postal-address/", {"postal_address": " 1 Main St \n\nAustin TX "}
    )
    assert response.status_code == 302
    tenant.account.refresh_from_db()
    assert tenant.account.postal_address == "1 Main St\nAustin TX"
    send_all()

    [message] = sent_to(tenant.referrer.email)
    assert "Comfort Pro\n1 Main St\nAustin TX" in message.body
    assert lead.first_name in message.subject


def test_a_qualified_friend_emails_the_referrer_once_even_if_qualified_again(tenant: Tenant) -> None:
    turn_on(tenant.campaign, Notification.FRIEND_QUALIFIED)
    give_address(tenant.account)
    lead = add_lead(tenant.campaign, tenant.referrer, first_name="Ann")

    outcomes.qualify_by_hand(lead, tenant.user, "Job done")
    outcomes.unqualify_by_hand(lead, tenant.user, "Refunded")
    outcomes.qualify_by_hand(lead, tenant.user, "Redone")
    send_all()

    [message] = sent()
    assert message.to == [tenant.referrer.email]
    assert message.subject == "Your referral Ann qualified"
    assert "Ann's job with Comfort Pro qualified" in message.body
    assert Email.objects.filter(notification=Notification.FRIEND_QUALIFIED).count() == 1


def test_an_issued_reward_emails_the_referrer_what_they_got(tenant: Tenant) -> None:
    turn_on(tenant.campaign, Notification.REWARD_ISSUED)
    give_address(tenant.account)
    RewardRule.objects.create(
        campaign=tenant.campaign,
        recipient=Recipient.REFERRER,
        trigger=Trigger.QUALIFIED,
        kind=RewardKind.FIXED,
        amount=Decimal("50.00"),
        currency="USD",
    )
    lead = add_lead(tenant.campaign, tenant.referrer, first_name="Ann")
    outcomes.qualify_by_hand(lead, tenant.user, "Job done")
    reward = Reward.objects.get(lead=lead)

    actions.issue(reward, tenant.user, note="Gift card 4321-8765")
    send_all()

    [message] = sent()
    assert message.to == [tenant.referrer.email]
    assert message.subject == "Your reward from Comfort Pro"
    assert (
        "Thank you for referring Ann. Your reward has been issued: USD 50.00\nGift card 4321-8765\n\n" in message.body
    )
    email = email_of(Notification.REWARD_ISSUED, tenant.referrer.email)
    assert email.lead == lead and email.context["reward.note"] == "Gift card 4321-8765"


def test_each_campaign_sends_its_own_wording_and_a_campaign_without_emails_sends_none(tenant: Tenant) -> None:
    give_address(tenant.account)
    turn_on(tenant.campaign, Notification.FRIEND_JOINED, subject="Comfort: {Lead First Name} joined")
    second = Campaign.objects.create(account=tenant.account, name="Summer", slug="summer")
    turn_on(second, Notification.FRIEND_JOINED, subject="Summer: {Lead First Name} joined ({Campaign Name})")
    silent = Campaign.objects.create(account=tenant.account, name="Quiet", slug="quiet")
    second_referrer = second.referrers.create(first_name="Jo", email="jo@example.com")
    silent_referrer = silent.referrers.create(first_name="Al", email="al@example.com")

    add_lead(tenant.campaign, tenant.referrer, first_name="Ann")
    add_lead(second, second_referrer, first_name="Bea")
    add_lead(silent, silent_referrer, first_name="Cy")
    send_all()

    assert sorted((message.to[0], message.subject) for message in sent()) == [
        ("jo@example.com", "Summer: Bea joined (Summer)"),
        (tenant.referrer.email, "Comfort: Ann joined"),
    ]
    assert not Email.objects.filter(campaign=silent).exists()


def test_leads_imported_from_a_csv_file_send_no_joined_or_confirmation_email(tenant: Tenant) -> None:
    turn_on(tenant.campaign)
    give_address(tenant.account)
    submit_lead(
        tenant.campaign,
        tenant.referrer,
        {"first_name": "Old", "email": "old@friends.example"},
        source=LeadSource.CSV,
    )

    send_all()

    assert sent() == []
    assert not Email.objects.exists()


def test_an_issued_percentage_reward_emails_the_referrer_the_amount_not_the_friends_invoice_total(
    tenant: Tenant,
) -> None:
    turn_on(tenant.campaign, Notification.REWARD_ISSUED)
    give_address(tenant.account)
    rule(tenant.campaign, kind="percent", amount=None, percent=Decimal("10"), currency="USD")
    lead = add_lead(tenant.campaign, tenant.referrer, first_name="Ann")
    qualify(lead, invoice_total="480.00")
    reward = Reward.objects.get(lead=lead)
    assert reward.summary == "10% of USD 480.00 = USD 48.00"  # the owner's screens still say how it was worked out

    actions.issue(reward, tenant.user)
    send_all()

    [message] = sent()
    assert "Your reward has been issued: USD 48.00" in message.body
    assert "480" not in message.body and "10%" not in message.body
