"""Login lockout (django-axes) and the cap on account emails (password reset, sign-up).

Exact on purpose: the lockout's age is set on axes' own attempt rows rather than waited for, and the email tests
pick keys whose rate-limit window has room (tests/accounts/windows.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.test import Client
from django.urls import reverse

from referloop.accounts.models import User
from referloop.accounts.throttling import EMAILS_PER_ADDRESS, EMAILS_PER_IP
from tests.accounts.windows import key_with_room
from tests.conftest import PASSWORD, Tenant
from tests.notifications.backends import HeldUntilReleased
from tests.sent import outbox

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-at-all"


def log_in(email: str, password: str, ip: str = "203.0.113.7") -> tuple[Client, object]:
    client = Client(REMOTE_ADDR=ip)
    response = client.post(reverse("login"), {"username": email, "password": password})
    return client, response


def is_logged_in(client: Client) -> bool:
    return client.get(reverse("campaign_list")).status_code == 200


def fail_five_times(email: str, ip: str = "203.0.113.7") -> None:
    for _ in range(4):
        _client, response = log_in(email, WRONG, ip)
        assert response.status_code == 200  # wrong password: the ordinary error, not yet a lockout
    _client, response = log_in(email, WRONG, ip)
    assert response.status_code == 429  # the fifth failure locks out


def test_five_wrong_passwords_lock_the_email_out_with_a_clear_message(tenant: Tenant) -> None:
    fail_five_times(tenant.user.email)

    client, response = log_in(tenant.user.email, PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed attempts" in page and "15 minutes" in page
    assert not is_logged_in(client)


def test_four_wrong_passwords_then_the_right_one_logs_in_and_starts_the_count_again(tenant: Tenant) -> None:
    for _ in range(4):
        log_in(tenant.user.email, WRONG)
    client, _response = log_in(tenant.user.email, PASSWORD)
    assert is_logged_in(client)
    assert not AccessAttempt.objects.exists()


def age_attempts(by: timedelta) -> None:
    """Move axes' record of the failures back in time: what a clock would do, exactly."""
    [attempt] = AccessAttempt.objects.all()
    AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - by)


def test_the_lockout_expires_after_15_minutes(tenant: Tenant) -> None:
    fail_five_times(tenant.user.email)

    age_attempts(timedelta(minutes=14))
    client, response = log_in(tenant.user.email, PASSWORD)
    assert response.status_code == 429
    assert not is_logged_in(client)

    age_attempts(timedelta(minutes=1, seconds=1))  # 15 minutes and a second in all
    client, response = log_in(tenant.user.email, PASSWORD)
    assert response.status_code == 302
    assert is_logged_in(client)


def test_the_lockout_is_for_one_email_from_one_ip(tenant: Tenant, other_tenant: Tenant) -> None:
    fail_five_times(tenant.user.email.upper())  # the email's case doesn't make a new count

    assert log_in(tenant.user.email, PASSWORD)[1].status_code == 429
    elsewhere, _ = log_in(tenant.user.email, PASSWORD, ip="198.51.100.20")
    assert is_logged_in(elsewhere)
    someone_else, _ = log_in(other_tenant.user.email, PASSWORD)
    assert is_logged_in(someone_else)


def reset(client: Client, email: str) -> object:
    return client.post(reverse("password_reset"), {"email": email})


def test_password_reset_sends_at_most_three_emails_per_address_an_hour_and_answers_as_usual() -> None:
    email = key_with_room(
        (f"pat{i}@example.com" for i in range(100)), "email:password-reset:address", EMAILS_PER_ADDRESS
    )
    User.objects.create_user(email=email, password=PASSWORD)

    answers = [reset(Client(REMOTE_ADDR=f"198.51.100.{i}"), email) for i in range(5)]

    assert len(outbox()) == 3
    assert {(a.status_code, a["Location"]) for a in answers} == {(302, reverse("password_reset_done"))}


def test_password_reset_sends_at_most_twenty_emails_per_ip_an_hour() -> None:
    ip = key_with_room((f"203.0.113.{i}" for i in range(1, 255)), "email:password-reset:ip", EMAILS_PER_IP, by_ip=True)
    for i in range(21):
        User.objects.create_user(email=f"user{i}@example.com", password=PASSWORD)
    client = Client(REMOTE_ADDR=ip)

    answers = [reset(client, f"user{i}@example.com") for i in range(21)]

    assert len(outbox()) == 20
    assert outbox()[-1].to == ["user19@example.com"]
    assert {(a.status_code, a["Location"]) for a in answers} == {(302, reverse("password_reset_done"))}


def test_sign_up_emails_are_capped_per_address_too() -> None:
    email = key_with_room((f"new{i}@example.com" for i in range(100)), "email:signup:address", EMAILS_PER_ADDRESS)
    answers = [
        Client(REMOTE_ADDR=f"198.51.100.{i}").post(reverse("signup"), {"account_name": "X", "email": email})
        for i in range(5)
    ]
    assert len(outbox()) == 3
    assert {a.status_code for a in answers} == {302}


def test_the_lockout_counts_an_ipv6_client_by_its_64_so_rotating_addresses_gains_nothing(tenant: Tenant) -> None:
    for n in range(1, 5):
        assert log_in(tenant.user.email, WRONG, ip=f"2001:db8:1:2::{n}")[1].status_code == 200
    assert log_in(tenant.user.email, WRONG, ip="2001:db8:1:2::5")[1].status_code == 429  # the fifth, same /64

    rotated, response = log_in(tenant.user.email, PASSWORD, ip="2001:db8:1:2:ffff::9")
    assert response.status_code == 429 and not is_logged_in(rotated)
    elsewhere, _ = log_in(tenant.user.email, PASSWORD, ip="2001:db8:1:3::1")  # another network is not locked
    assert is_logged_in(elsewhere)


def test_a_password_reset_answers_before_the_mail_server_is_spoken_to(tenant: Tenant, settings: Any) -> None:
    # An address with an account must not answer later than one without: the email goes out after the response.
    settings.EMAIL_BACKEND = "tests.notifications.backends.HeldUntilReleased"
    HeldUntilReleased.reset()

    response = Client().post(reverse("password_reset"), {"email": tenant.user.email})

    assert response.status_code == 302
    assert not mail.outbox  # the send is still held by the mail server
    HeldUntilReleased.release()
    assert [message.to for message in outbox()] == [[tenant.user.email]]
