"""The cap on one email's failed logins across every client (django-axes, accounts/throttling.py): an attacker
rotating addresses gets LOGIN_ACCOUNT_FAILURE_LIMIT tries, not five per address; the owner ends the pause by
resetting the password by email."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from tests.accounts.test_throttling import WRONG, is_logged_in
from tests.conftest import PASSWORD, Tenant
from tests.sent import outbox

pytestmark = pytest.mark.django_db


def log_in(email: str, password: str, ip: str) -> tuple[Client, Any]:
    client = Client(REMOTE_ADDR=ip)
    return client, client.post(reverse("login"), {"username": email, "password": password})


def fail_from_rotating_networks(email: str, times: int, first: int = 1) -> list[int]:
    """One wrong password from each of `times` networks; the status of each answer."""
    return [log_in(email, WRONG, ip=f"198.51.100.{n}")[1].status_code for n in range(first, first + times)]


def lockout_message(response: Any) -> str:
    match = re.search(r'<p class="flash error" role="alert">(.*?)</p>', response.content.decode(), re.S)
    assert match is not None
    return match.group(1)


def test_failures_from_rotating_networks_lock_the_email_out_everywhere_at_the_accounts_limit(
    tenant: Tenant, settings: Any
) -> None:
    limit = settings.LOGIN_ACCOUNT_FAILURE_LIMIT
    assert fail_from_rotating_networks(tenant.user.email, limit - 1) == [200] * (limit - 1)  # one each: no pair lock
    assert fail_from_rotating_networks(tenant.user.email, 1, first=limit) == [429]

    client, response = log_in(tenant.user.email, PASSWORD, ip="192.0.2.77")  # the owner, from a new network
    assert response.status_code == 429 and not is_logged_in(client)
    assert "reset your password by email" in lockout_message(response)


def test_the_account_lockout_message_is_the_same_for_an_email_without_an_account(tenant: Tenant, settings: Any) -> None:
    limit = settings.LOGIN_ACCOUNT_FAILURE_LIMIT
    fail_from_rotating_networks(tenant.user.email, limit)
    fail_from_rotating_networks("nobody-here@example.com", limit)

    known = log_in(tenant.user.email, PASSWORD, ip="192.0.2.77")[1]
    unknown = log_in("nobody-here@example.com", PASSWORD, ip="192.0.2.77")[1]

    assert known.status_code == unknown.status_code == 429
    assert lockout_message(known) == lockout_message(unknown)


def test_fewer_failures_than_the_accounts_limit_across_networks_lock_nobody_out(tenant: Tenant, settings: Any) -> None:
    fail_from_rotating_networks(tenant.user.email, settings.LOGIN_ACCOUNT_FAILURE_LIMIT - 1)
    client, _response = log_in(tenant.user.email, PASSWORD, ip="192.0.2.77")
    assert is_logged_in(client)


def test_the_account_lockout_expires_after_15_minutes(tenant: Tenant, settings: Any) -> None:
    fail_from_rotating_networks(tenant.user.email, settings.LOGIN_ACCOUNT_FAILURE_LIMIT)
    assert log_in(tenant.user.email, PASSWORD, ip="192.0.2.77")[1].status_code == 429
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - timedelta(minutes=15, seconds=1)
        )
    client, _response = log_in(tenant.user.email, PASSWORD, ip="192.0.2.77")
    assert is_logged_in(client)


def test_resetting_the_password_by_email_ends_the_account_lockout(tenant: Tenant, settings: Any) -> None:
    fail_from_rotating_networks(tenant.user.email, settings.LOGIN_ACCOUNT_FAILURE_LIMIT)
    assert log_in(tenant.user.email, PASSWORD, ip="192.0.2.77")[1].status_code == 429
    owner = Client(REMOTE_ADDR="192.0.2.77")
    assert owner.post(reverse("password_reset"), {"email": tenant.user.email}).status_code == 302  # not locked
    link = re.search(r"http://testserver(/password-reset/\S+/)", str(outbox()[-1].body))
    assert link is not None
    form_page = owner.get(link.group(1), follow=True)
    new_password = "a-brand-new-password-42"
    owner.post(form_page.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password})

    client, response = log_in(tenant.user.email, new_password, ip="192.0.2.77")
    assert response.status_code == 302 and is_logged_in(client)
