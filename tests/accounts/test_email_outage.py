"""A mail server that is down (or refuses the message) while a person waits: a clear message and a 503, nothing
half-written, and a log line that names the email's purpose but holds no link or body (accounts/mail.py)."""

from __future__ import annotations

import html
import logging
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from referloop.accounts.mail import wait_for_sending
from referloop.accounts.models import Account, Invitation, Role, User
from referloop.accounts.throttling import EMAILS_PER_ADDRESS
from referloop.campaigns.referrer_links import email_referral_link
from tests.accounts.windows import key_with_room
from tests.conftest import Tenant
from tests.public_forms import as_person
from tests.sent import outbox

pytestmark = pytest.mark.django_db

DOWN = "tests.mail_backends.ServerDown"
REFUSES = "tests.mail_backends.RefusesToSend"
WORKING = "django.core.mail.backends.locmem.EmailBackend"
MESSAGE = "We couldn't send the email just now; please try again in a few minutes"


def text(response: Any) -> str:
    return html.unescape(response.content.decode())


def sign_up(email: str, ip: str = "198.51.100.1") -> Any:
    return Client(REMOTE_ADDR=ip).post(reverse("signup"), {"account_name": "Cool Air LLC", "email": email})


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


# -- sign-up -------------------------------------------------------------------------------------------------------


def test_sign_up_while_the_mail_server_is_down_says_so_with_a_503_and_stores_nothing(
    settings: Any, log: pytest.LogCaptureFixture
) -> None:
    settings.EMAIL_BACKEND = DOWN
    email = key_with_room((f"pat{i}@coolair.example" for i in range(100)), "email:signup:address", EMAILS_PER_ADDRESS)

    response = sign_up(email)

    assert response.status_code == 503
    assert MESSAGE in text(response)
    assert 'value="Cool Air LLC"' in text(response)  # the form again, as typed
    assert not User.objects.exists() and not Account.objects.exists()
    assert "sign-up email was not sent (ConnectionRefusedError errno 111)" in log.text


def test_sign_up_outages_spend_none_of_the_addresss_emails_so_trying_again_works(settings: Any) -> None:
    email = key_with_room((f"sam{i}@coolair.example" for i in range(100)), "email:signup:address", EMAILS_PER_ADDRESS)
    settings.EMAIL_BACKEND = DOWN
    assert {sign_up(email).status_code for _ in range(3)} == {503}

    settings.EMAIL_BACKEND = WORKING
    assert {sign_up(email).status_code for _ in range(3)} == {302}
    assert len(outbox()) == 3  # the address's three an hour, all still there


def test_sign_up_when_the_server_fails_the_message_says_so_and_logs_no_link(
    settings: Any, log: pytest.LogCaptureFixture
) -> None:
    settings.EMAIL_BACKEND = REFUSES  # its error echoes the body, as some providers' do

    response = sign_up("lee@coolair.example")

    assert response.status_code == 503 and MESSAGE in text(response)
    assert "sign-up email was not sent" in log.text and "SMTPDataError 451" in log.text
    assert "/signup/confirm/" not in log.text and "Finish creating" not in log.text


# -- password reset ------------------------------------------------------------------------------------------------


def test_password_reset_while_the_mail_server_is_down_says_so_alike_for_every_address(
    tenant: Tenant, settings: Any
) -> None:
    settings.EMAIL_BACKEND = DOWN
    answers = [
        Client().post(reverse("password_reset"), {"email": email})
        for email in (tenant.user.email, "nobody-here@example.com")
    ]
    assert [a.status_code for a in answers] == [503, 503]
    assert all(MESSAGE in text(a) for a in answers)


def test_password_reset_failing_once_the_server_answered_looks_as_for_an_unknown_address_and_logs_no_link(
    tenant: Tenant, settings: Any, log: pytest.LogCaptureFixture
) -> None:
    settings.EMAIL_BACKEND = REFUSES
    known = Client().post(reverse("password_reset"), {"email": tenant.user.email})
    unknown = Client().post(reverse("password_reset"), {"email": "nobody-here@example.com"})

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    wait_for_sending()  # the email is sent after the response
    assert "password-reset email was not sent" in log.text
    assert "/password-reset/" not in log.text  # the link, which the server's error echoed


# -- invitations and the join page's link ------------------------------------------------------------------------


def test_an_invitation_while_the_mail_server_is_down_says_so_and_leaves_no_pending_invitation(
    tenant: Tenant, settings: Any, log: pytest.LogCaptureFixture
) -> None:
    settings.EMAIL_BACKEND = DOWN

    response = tenant.client.post(reverse("invite"), {"email": "sam@example.com", "role": Role.MEMBER})

    assert response.status_code == 503 and MESSAGE in text(response)
    assert not Invitation.objects.exists()
    assert "invitation email was not sent" in log.text

    settings.EMAIL_BACKEND = WORKING
    assert tenant.client.post(reverse("invite"), {"email": "sam@example.com", "role": Role.MEMBER}).status_code == 302
    assert Invitation.objects.count() == 1 and len(outbox()) == 1


def test_the_referral_link_email_reports_a_failed_send_and_logs_no_link(
    tenant: Tenant, settings: Any, log: pytest.LogCaptureFixture
) -> None:
    settings.EMAIL_BACKEND = REFUSES
    assert email_referral_link(tenant.referrer, created=True) is False
    assert f"referrer {tenant.referrer.pk}" in log.text
    assert tenant.referrer.code not in log.text

    settings.EMAIL_BACKEND = WORKING
    assert email_referral_link(tenant.referrer, created=False) is True
    assert len(outbox()) == 1


def test_joining_while_the_mail_server_is_down_says_so_with_a_503_and_the_same_form_sends_the_link_later(
    tenant: Tenant, settings: Any
) -> None:
    url = reverse("referrer_join", args=[tenant.campaign.slug])
    data = {"first_name": "Rosa", "email": "rosa@example.com"}
    settings.EMAIL_BACKEND = DOWN
    refused = Client().post(url, as_person(tenant.campaign, "join", data))
    assert refused.status_code == 503
    assert MESSAGE in text(refused)
    assert "Check your inbox" not in text(refused)

    settings.EMAIL_BACKEND = WORKING
    joined = Client().post(url, as_person(tenant.campaign, "join", data))
    assert joined.status_code == 200 and "Check your inbox" in text(joined)
    [message] = outbox()
    assert message.to == ["rosa@example.com"]
    assert tenant.campaign.referrers.filter(email="rosa@example.com").count() == 1
