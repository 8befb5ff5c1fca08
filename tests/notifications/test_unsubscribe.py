"""Unsubscribing: a signed link that works without logging in; referrer emails stop, the confirmation doesn't."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import signing
from django.test import Client

from referloop.integrations.models import DeliveryState
from referloop.notifications.models import Email, Notification, Unsubscribe, UnsubscribeMethod
from referloop.notifications.unsubscribe import token_for, url_for
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead
from tests.notifications.helpers import delivery_of, email_of, give_address, send_all, sent, sent_to, turn_on

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _outbox(mailoutbox: list[Any]) -> None:
    pass


def path_for(tenant: Tenant) -> str:
    return f"/u/{token_for(tenant.referrer)}/"


def test_every_referrer_email_carries_the_link_and_the_one_click_headers(tenant: Tenant) -> None:
    turn_on(tenant.campaign, Notification.FRIEND_JOINED)
    give_address(tenant.account)
    add_lead(tenant.campaign, tenant.referrer)

    send_all()

    [message] = sent()
    assert message.extra_headers["List-Unsubscribe"] == f"<{url_for(tenant.referrer)}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url_for(tenant.referrer).endswith(path_for(tenant))


def test_opening_the_link_without_logging_in_asks_first_and_unsubscribes_nobody(tenant: Tenant) -> None:
    response = Client().get(path_for(tenant))

    assert response.status_code == 200
    assert b"Unsubscribe from referral emails?" in response.content
    assert tenant.referrer.email.encode() in response.content
    assert not Unsubscribe.objects.exists()


def test_pressing_the_button_without_logging_in_unsubscribes_and_skips_the_waiting_emails(tenant: Tenant) -> None:
    turn_on(tenant.campaign)  # no postal address: the referrer email waits, held
    add_lead(tenant.campaign, tenant.referrer, email="ann@friends.example")
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(path_for(tenant))

    response = browser.post(path_for(tenant), {"csrfmiddlewaretoken": page.context["csrf_token"]})

    assert response.status_code == 200 and b"You're unsubscribed" in response.content
    record = Unsubscribe.objects.get()
    assert (record.account, record.email, record.referrer, record.method) == (
        tenant.account,
        tenant.referrer.email,
        tenant.referrer,
        UnsubscribeMethod.LINK,
    )
    skipped = delivery_of(email_of(Notification.FRIEND_JOINED, tenant.referrer.email))
    assert skipped.state == DeliveryState.SKIPPED
    assert skipped.reason.startswith("Not sent: the address unsubscribed from referral emails on ")
    give_address(tenant.account)
    send_all()
    assert [message.to for message in sent()] == [["ann@friends.example"]]  # the confirmation still goes


def test_a_mail_apps_one_click_post_needs_no_csrf_token(tenant: Tenant) -> None:
    response = Client(enforce_csrf_checks=True).post(
        path_for(tenant), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    assert Unsubscribe.objects.get().method == UnsubscribeMethod.ONE_CLICK


def test_a_tampered_or_foreign_token_is_refused_and_changes_nothing(tenant: Tenant) -> None:
    token = token_for(tenant.referrer)
    forged = signing.Signer(salt="something else").sign_object({"r": tenant.referrer.pk})
    client = Client()

    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), forged, "nonsense"):
        assert client.get(f"/u/{bad}/").status_code == 404
        response = client.post(
            f"/u/{bad}/", "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 404 and b"doesn't work" in response.content
    assert not Unsubscribe.objects.exists()


def test_after_unsubscribing_referrer_emails_are_skipped_with_the_reason_and_confirmations_still_go(
    tenant: Tenant,
) -> None:
    turn_on(tenant.campaign)
    give_address(tenant.account)
    Client().post(path_for(tenant))

    add_lead(tenant.campaign, tenant.referrer, email="ann@friends.example")
    send_all()

    assert [message.to for message in sent()] == [["ann@friends.example"]]
    joined = delivery_of(email_of(Notification.FRIEND_JOINED, tenant.referrer.email))
    assert joined.state == DeliveryState.SKIPPED and "unsubscribed" in joined.reason
    assert joined.attempts.count() == 0
    # A second press is harmless.
    assert Client().post(path_for(tenant)).status_code == 200
    assert Unsubscribe.objects.count() == 1


def test_the_opt_out_covers_the_accounts_other_campaigns_but_not_another_account(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    for each in (tenant, other_tenant):
        turn_on(each.campaign, Notification.FRIEND_JOINED)
        give_address(each.account)
    same_person = "pat@example.com"
    mine = tenant.campaign.referrers.create(first_name="Pat", email=same_person)
    summer = tenant.account.campaigns.create(name="Summer", slug="summer-mine")
    turn_on(summer, Notification.FRIEND_JOINED)
    mine_in_summer = summer.referrers.create(first_name="Pat", email="PAT@example.com")
    theirs = other_tenant.campaign.referrers.create(first_name="Pat", email=same_person)
    Client().post(f"/u/{token_for(mine)}/")

    add_lead(tenant.campaign, mine)
    add_lead(summer, mine_in_summer)
    add_lead(other_tenant.campaign, theirs)
    send_all()

    [message] = sent_to(same_person)
    assert message.from_email.startswith("Rival Plumbing")
    assert Email.objects.filter(account=tenant.account).count() == 2
    assert all(email.delivery.state == DeliveryState.SKIPPED for email in Email.objects.filter(account=tenant.account))
