from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from referloop.accounts.models import Account, Membership, Role, User
from tests.conftest import PASSWORD, Tenant
from tests.sent import outbox

pytestmark = pytest.mark.django_db


SET_PASSWORD = "/signup/confirm/set/"


def link_in(body: object) -> str:
    match = re.search(r"https?://[^/\s]+(/signup/confirm/\S+/)", str(body))
    assert match is not None, body
    return match.group(1)


def test_sign_up_emails_a_link_that_creates_the_account_its_owner_and_logs_in() -> None:
    client = Client()
    response = client.post(reverse("signup"), {"account_name": "Cool Air LLC", "email": "Pat@CoolAir.example"})
    assert response.status_code == 302
    assert response["Location"] == reverse("signup_sent")
    assert "Check your inbox to continue" in client.get(response["Location"]).content.decode()
    assert not User.objects.filter(email="pat@coolair.example").exists()

    [message] = outbox()
    assert message.to == ["pat@coolair.example"]
    confirm = link_in(message.body)
    page = client.get(confirm, follow=True).content.decode()
    assert "Cool Air LLC" in page
    response = client.post(SET_PASSWORD, {"password": PASSWORD})
    assert response.status_code == 302

    user = User.objects.get(email="pat@coolair.example")
    membership = Membership.objects.get(user=user)
    assert membership.account.name == "Cool Air LLC"
    assert membership.role == Role.OWNER
    assert client.get(reverse("campaign_list")).status_code == 200
    used = Client().get(confirm, follow=True)  # used: "log in instead", no second account
    assert used.redirect_chain[-1][0] == reverse("login")
    assert Account.objects.filter(name="Cool Air LLC").count() == 1


def test_sign_up_with_a_taken_email_answers_as_for_a_new_one_and_emails_the_owner(tenant: Tenant) -> None:
    taken = Client().post(reverse("signup"), {"account_name": "Dup", "email": tenant.user.email.upper()})
    new = Client().post(reverse("signup"), {"account_name": "Dup", "email": "nobody-yet@example.com"})

    assert (taken.status_code, taken["Location"]) == (new.status_code, new["Location"])
    assert "already exists" not in Client().get(taken["Location"]).content.decode()
    owner_note, _new_link = outbox()
    assert owner_note.to == [tenant.user.email]
    assert "already" in owner_note.body and tenant.account.name in owner_note.body
    assert "/signup/confirm/" not in owner_note.body
    assert reverse("password_reset") in owner_note.body
    assert not Account.objects.filter(name="Dup").exists()
    assert Client().login(email=tenant.user.email, password=PASSWORD)  # the account is untouched


def test_a_weak_password_is_explained_and_creates_nothing() -> None:
    client = Client()
    client.post(reverse("signup"), {"account_name": "Weak Co", "email": "weak@example.com"})
    client.get(link_in(outbox()[0].body))
    response = client.post(SET_PASSWORD, {"password": "short"})
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert not User.objects.filter(email="weak@example.com").exists()


def test_an_altered_sign_up_link_is_refused() -> None:
    client = Client()
    client.post(reverse("signup"), {"account_name": "Cool Air LLC", "email": "pat@coolair.example"})
    confirm = link_in(outbox()[0].body)
    altered = confirm.replace("/signup/confirm/", "/signup/confirm/x")
    assert client.get(altered).status_code == 404
    assert client.post(altered, {"password": PASSWORD}).status_code == 404
    assert not User.objects.exists()


def test_the_sign_up_link_moves_its_token_into_the_session_so_no_later_url_or_referer_carries_it() -> None:
    client = Client()
    client.post(reverse("signup"), {"account_name": "Cool Air LLC", "email": "pat@coolair.example"})
    confirm = link_in(outbox()[0].body)
    token = confirm.removeprefix("/signup/confirm/").strip("/")

    opened = client.get(confirm)

    assert (opened.status_code, opened["Location"]) == (302, SET_PASSWORD)  # a fixed address, as Django's reset
    assert opened["Referrer-Policy"] == "no-referrer"
    page = client.get(SET_PASSWORD)
    assert page.status_code == 200 and "Cool Air LLC" in page.content.decode()
    assert token not in page.content.decode()  # the form posts to the page's own, token-free address
    created = client.post(SET_PASSWORD, {"password": PASSWORD})
    assert created.status_code == 302 and token not in created["Location"]
    assert User.objects.filter(email="pat@coolair.example").exists()
    assert client.get(SET_PASSWORD).status_code == 404  # used up: the session no longer holds it


def test_the_set_password_address_without_a_link_opened_in_this_session_is_refused() -> None:
    client = Client()
    client.post(reverse("signup"), {"account_name": "Cool Air LLC", "email": "pat@coolair.example"})
    Client().get(link_in(outbox()[0].body))  # opened in another browser

    assert client.get(SET_PASSWORD).status_code == 404
    assert client.post(SET_PASSWORD, {"password": PASSWORD}).status_code == 404
    assert not User.objects.exists()


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
    assert len(outbox()) == 1
    link = re.search(r"http://[^\s]+/password-reset/[^\s]+/", outbox()[0].body)
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
