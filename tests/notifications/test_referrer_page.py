"""The referrer's page lists their emails with each one's state; nothing of another account's is reachable."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from referloop.integrations.models import Delivery, DeliveryState
from referloop.notifications.models import Email, Notification
from referloop.notifications.unsubscribe import token_for
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead
from tests.notifications.helpers import email_of, give_address, send_all, turn_on

pytestmark = pytest.mark.django_db(transaction=True)


def page(tenant: Tenant) -> str:
    return f"/campaigns/{tenant.campaign.pk}/referrers/{tenant.referrer.pk}/"


def states_on(client: Client, url: str) -> dict[tuple[str, str], tuple[str, str]]:
    response = client.get(url)
    assert response.status_code == 200
    return {
        (row.email.notification, row.email.to_email): (row.label, row.detail) for row in response.context["email_rows"]
    }


def test_the_page_shows_each_email_queued_held_sent_failed_and_skipped_with_why(
    tenant: Tenant, mailoutbox: list[Any]
) -> None:
    turn_on(tenant.campaign)
    add_lead(tenant.campaign, tenant.referrer, first_name="Ann", email="ann@friends.example")
    add_lead(tenant.campaign, tenant.referrer, first_name="Bea", email="bea@friends.example")

    queued = states_on(tenant.client, page(tenant))
    assert queued[(Notification.FRIEND_CONFIRMATION, "ann@friends.example")] == ("Queued", "")
    label, why = queued[(Notification.FRIEND_JOINED, tenant.referrer.email)]
    assert label == "Held" and "postal address" in why

    send_all()
    failed = email_of(Notification.FRIEND_CONFIRMATION, "bea@friends.example")
    Delivery.objects.filter(email=failed).update(state=DeliveryState.FAILED, reason="The mail server refused it.")
    Client().post(f"/u/{token_for(tenant.referrer)}/")

    response = tenant.client.get(page(tenant))
    shown = states_on(tenant.client, page(tenant))
    assert shown[(Notification.FRIEND_CONFIRMATION, "ann@friends.example")] == ("Sent", "")
    assert shown[(Notification.FRIEND_CONFIRMATION, "bea@friends.example")] == ("Failed", "The mail server refused it.")
    label, why = shown[(Notification.FRIEND_JOINED, tenant.referrer.email)]
    assert label == "Skipped" and why.startswith("Not sent: the address unsubscribed")
    content = response.content.decode()
    assert "unsubscribed from referral emails on" in content
    assert content.count("Send again") == 1  # only the failed one
    assert f"/emails/{failed.pk}/resend/" in content


def test_the_page_lists_only_this_referrers_emails(tenant: Tenant, mailoutbox: list[Any]) -> None:
    turn_on(tenant.campaign, Notification.FRIEND_CONFIRMATION)
    other = tenant.campaign.referrers.create(first_name="Jo", email="jo@example.com")
    add_lead(tenant.campaign, tenant.referrer, email="ann@friends.example")
    add_lead(tenant.campaign, other, email="zed@friends.example")

    shown = states_on(tenant.client, page(tenant))

    assert list(shown) == [(Notification.FRIEND_CONFIRMATION, "ann@friends.example")]


def test_another_account_can_not_see_or_resend_the_emails(
    tenant: Tenant, other_tenant: Tenant, mailoutbox: list[Any]
) -> None:
    turn_on(tenant.campaign, Notification.FRIEND_CONFIRMATION)
    give_address(tenant.account)
    add_lead(tenant.campaign, tenant.referrer, email="ann@friends.example")
    email = Email.objects.get()
    Delivery.objects.filter(email=email).update(state=DeliveryState.FAILED)

    assert other_tenant.client.get(page(tenant)).status_code == 404
    resend = f"/campaigns/{tenant.campaign.pk}/emails/{email.pk}/resend/"
    assert other_tenant.client.post(resend).status_code == 404
    # Its own campaign's id with this account's email id: not found either.
    assert (
        other_tenant.client.post(f"/campaigns/{other_tenant.campaign.pk}/emails/{email.pk}/resend/").status_code == 404
    )
    assert Delivery.objects.get(email=email).state == DeliveryState.FAILED
