from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from referloop.accounts.models import Account, Membership, Role, User
from tests.conftest import PASSWORD, Tenant

pytestmark = pytest.mark.django_db


def test_sign_up_creates_the_account_its_owner_and_logs_in() -> None:
    client = Client()
    response = client.post(
        reverse("signup"),
        {"account_name": "Cool Air LLC", "email": "Pat@CoolAir.example", "password": PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get(email="pat@coolair.example")
    membership = Membership.objects.get(user=user)
    assert membership.account.name == "Cool Air LLC"
    assert membership.role == Role.OWNER
    assert client.get(reverse("campaign_list")).status_code == 200


def test_sign_up_with_a_taken_email_or_weak_password_explains_and_creates_nothing(tenant: Tenant) -> None:
    response = Client().post(
        reverse("signup"), {"account_name": "Dup", "email": tenant.user.email, "password": "short"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "already exists" in body
    assert "too short" in body
    assert not Account.objects.filter(name="Dup").exists()


def test_log_in_with_email_and_log_out(tenant: Tenant) -> None:
    client = Client()
    response = client.post(reverse("login"), {"username": tenant.user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("campaign_list")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("campaign_list")).status_code == 302


def test_wrong_password_is_refused(tenant: Tenant) -> None:
    response = Client().post(reverse("login"), {"username": tenant.user.email, "password": "nope-nope-nope"})
    assert response.status_code == 200
    assert "don&#x27;t match an account" in response.content.decode()


def test_password_reset_emails_a_link_that_sets_a_new_password(tenant: Tenant) -> None:
    client = Client()
    client.post(reverse("password_reset"), {"email": tenant.user.email})
    assert len(mail.outbox) == 1
    link = re.search(r"http://[^\s]+/password-reset/[^\s]+/", mail.outbox[0].body)
    assert link is not None
    path = link.group(0).split("testserver", 1)[1]
    form_page = client.get(path, follow=True)
    new_password = "a-brand-new-password-42"
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
    )
    assert Client().login(email=tenant.user.email, password=new_password)


def test_signed_in_pages_redirect_anonymous_visitors_to_login() -> None:
    response = Client().get(reverse("campaign_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
