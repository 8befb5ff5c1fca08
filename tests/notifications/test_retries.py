"""Failures: retried when the mail server did not take the message, never sent again when it may have."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from referloop.integrations.models import AttemptOutcome, Delivery, DeliveryState
from referloop.notifications.models import Email, Notification
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead
from tests.notifications import backends
from tests.notifications.helpers import email_of, send_all, sent, turn_on

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _outbox(mailoutbox: list[Any]) -> Iterator[None]:
    for backend in (
        backends.TemporaryFailureOnce,
        backends.RefusesConnectionOnce,
        backends.DropsAfterData,
        backends.RefusesRecipient,
    ):
        backend.reset()
    yield


def confirmation_to_a_friend(tenant: Tenant) -> Email:
    """One email: the friend's confirmation (transactional, so no postal address is needed)."""
    turn_on(tenant.campaign, Notification.FRIEND_CONFIRMATION)
    add_lead(tenant.campaign, tenant.referrer, email="ann@friends.example")
    return email_of(Notification.FRIEND_CONFIRMATION, "ann@friends.example")


def test_a_message_the_server_turned_down_for_now_is_retried_by_the_worker_and_sent_once(
    tenant: Tenant, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "tests.notifications.backends.TemporaryFailureOnce"
    email = confirmation_to_a_friend(tenant)

    send_all()

    [message] = sent()
    assert message.extra_headers["Message-ID"] == email.message_id
    delivery = Delivery.objects.get(email=email)
    assert delivery.state == DeliveryState.DELIVERED
    first, second = delivery.attempts.order_by("number")
    assert (first.outcome, first.response_status) == (AttemptOutcome.TRANSIENT, 451)
    assert "turned down the email for now (451)" in first.sentence
    assert first.response_text.startswith("451 4.3.0 Mail server temporarily rejected")
    assert first.request_summary["requests"][0]["message_id"] == email.message_id
    assert second.outcome == AttemptOutcome.DELIVERED
    assert backends.TemporaryFailureOnce.tries == 2


def test_a_mail_server_that_refused_the_connection_is_tried_again_and_the_email_sent_once(
    tenant: Tenant, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "tests.notifications.backends.RefusesConnectionOnce"
    email = confirmation_to_a_friend(tenant)

    send_all()

    assert len(sent()) == 1
    first, second = Delivery.objects.get(email=email).attempts.order_by("number")
    assert first.outcome == AttemptOutcome.TRANSIENT
    assert "Could not connect to the mail server (ConnectionRefusedError errno 111)" in first.sentence
    assert second.outcome == AttemptOutcome.DELIVERED


def test_a_message_that_may_have_been_accepted_is_never_sent_again_automatically(tenant: Tenant, settings: Any) -> None:
    settings.EMAIL_BACKEND = "tests.notifications.backends.DropsAfterData"
    email = confirmation_to_a_friend(tenant)

    send_all()

    assert len(sent()) == 1  # the server had it; the answer was lost
    delivery = Delivery.objects.get(email=email)
    assert (delivery.state, delivery.ambiguous) == (DeliveryState.FAILED, True)
    assert email.message_id in delivery.reason and "not sent again automatically" in delivery.reason
    lost, settled = delivery.attempts.order_by("number")
    assert lost.outcome == AttemptOutcome.AMBIGUOUS and "SMTPServerDisconnected" in lost.sentence
    assert settled.outcome == AttemptOutcome.PERMANENT and settled.request_summary["requests"] == []
    assert backends.DropsAfterData.tries == 1


def test_a_person_can_send_a_failed_email_again_with_the_same_message_id(tenant: Tenant, settings: Any) -> None:
    settings.EMAIL_BACKEND = "tests.notifications.backends.DropsAfterData"
    email = confirmation_to_a_friend(tenant)
    send_all()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    response = tenant.client.post(f"/campaigns/{tenant.campaign.pk}/emails/{email.pk}/resend/")
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{tenant.campaign.pk}/referrers/{tenant.referrer.pk}/"
    send_all()

    first, again = sent()
    assert first.extra_headers["Message-ID"] == again.extra_headers["Message-ID"] == email.message_id
    delivery = Delivery.objects.get(email=email)
    assert (delivery.state, delivery.ambiguous, delivery.reason) == (DeliveryState.DELIVERED, False, "")
    # A second press does nothing: only a failed email can be sent again.
    tenant.client.post(f"/campaigns/{tenant.campaign.pk}/emails/{email.pk}/resend/")
    send_all()
    assert len(sent()) == 2


def test_a_refused_address_fails_at_once_and_the_servers_echo_keeps_no_unsubscribe_link(
    tenant: Tenant, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "tests.notifications.backends.RefusesRecipient"
    turn_on(tenant.campaign, Notification.FRIEND_JOINED)
    tenant.account.postal_address = "1 Main St"
    tenant.account.save()
    add_lead(tenant.campaign, tenant.referrer)
    email = email_of(Notification.FRIEND_JOINED, tenant.referrer.email)

    send_all()

    delivery = Delivery.objects.get(email=email)
    assert delivery.state == DeliveryState.FAILED
    [attempt] = delivery.attempts.all()
    assert (attempt.outcome, attempt.response_status) == (AttemptOutcome.PERMANENT, 550)
    assert f"refused the address {tenant.referrer.email} (550)" in attempt.sentence
    assert attempt.response_text.startswith("550 5.1.1 No such user")
    assert "/u/" not in attempt.response_text and "[…]" in attempt.response_text
    assert "List-Unsubscribe" in attempt.request_summary["requests"][0]["headers"]
    assert "/u/" not in str(attempt.request_summary)


def test_an_email_whose_worker_died_mid_try_fails_for_review_instead_of_going_out_twice(tenant: Tenant) -> None:
    email = confirmation_to_a_friend(tenant)
    Delivery.objects.filter(email=email).update(
        attempt_count=1,
        leased_by="dead-worker",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
        next_attempt_at=timezone.now() - timedelta(seconds=1),
        first_attempt_at=timezone.now() - timedelta(seconds=60),
    )

    send_all()

    assert sent() == []
    delivery = Delivery.objects.get(email=email)
    assert delivery.state == DeliveryState.FAILED
    lost, settled = delivery.attempts.order_by("number")
    assert lost.outcome == AttemptOutcome.AMBIGUOUS and "lease ran out" in lost.sentence
    assert settled.outcome == AttemptOutcome.PERMANENT and "not sent again automatically" in settled.sentence
