from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from referloop.accounts.models import Account, Membership, Role, User
from tests.conftest import PASSWORD, Tenant

pytestmark = pytest.mark.django_db


def invitation_path(body: str) -> str:
    match = re.search(r"/invite/[^\s]+/", body)
    assert match is not None, body
    return match.group(0)


def test_owner_invites_a_new_person_who_signs_up_and_joins_with_the_role(tenant: Tenant) -> None:
    response = tenant.client.post(reverse("invite"), {"email": "sam@example.com", "role": Role.ADMIN})
    assert response.status_code == 302
    assert mail.outbox[0].to == ["sam@example.com"]
    path = invitation_path(mail.outbox[0].body)

    newcomer = Client()
    opened = newcomer.get(path)
    assert (opened.status_code, opened["Location"]) == (302, reverse("accept_invitation"))
    assert opened["Referrer-Policy"] == "no-referrer"  # the token's URL is never passed on
    assert newcomer.get(reverse("accept_invitation")).status_code == 200
    newcomer.post(reverse("accept_invitation"), {"password": PASSWORD})
    membership = Membership.objects.get(user__email="sam@example.com")
    assert membership.account == tenant.account
    assert membership.role == Role.ADMIN
    assert Client().get(path).status_code == 404  # used once only


def test_existing_user_accepts_an_invitation_and_can_switch_accounts(tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.client.post(reverse("invite"), {"email": other_tenant.user.email, "role": Role.MEMBER})
    path = invitation_path(mail.outbox[0].body)
    other_tenant.client.get(path)
    other_tenant.client.post(reverse("accept_invitation"))
    assert Membership.objects.filter(user=other_tenant.user).count() == 2

    other_tenant.client.post(reverse("switch_account"), {"account_id": tenant.account.pk})
    page = other_tenant.client.get(reverse("campaign_list")).content.decode()
    assert tenant.campaign.name in page
    assert other_tenant.campaign.name not in page


def test_invitation_for_someone_else_is_refused(tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.client.post(reverse("invite"), {"email": "someone@example.com", "role": Role.MEMBER})
    response = other_tenant.client.get(invitation_path(mail.outbox[0].body), follow=True)
    assert response.status_code == 403
    assert not Membership.objects.filter(user=other_tenant.user, account=tenant.account).exists()


def test_a_person_who_must_log_in_first_comes_back_to_the_invitation_without_its_token_in_any_url(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    tenant.client.post(reverse("invite"), {"email": other_tenant.user.email, "role": Role.MEMBER})
    path = invitation_path(mail.outbox[0].body)
    token = path.strip("/").split("/")[-1]
    browser = Client()

    asked = browser.get(path, follow=True)
    assert asked.redirect_chain[-1][0] == f"{reverse('login')}?next={reverse('accept_invitation')}"
    assert all(token not in url for url, _status in asked.redirect_chain[1:])
    logged_in = browser.post(
        asked.redirect_chain[-1][0], {"username": other_tenant.user.email, "password": PASSWORD}, follow=True
    )
    assert logged_in.redirect_chain[-1][0] == reverse("accept_invitation")
    browser.post(reverse("accept_invitation"))

    assert Membership.objects.filter(user=other_tenant.user, account=tenant.account).exists()


def test_the_accept_page_without_an_opened_invitation_is_not_found() -> None:
    assert Client().get(reverse("accept_invitation")).status_code == 404


def test_member_cannot_invite_or_manage_api_keys(tenant: Tenant) -> None:
    member = User.objects.create_user(email="member@example.com", password=PASSWORD)
    Membership.objects.create(user=member, account=tenant.account, role=Role.MEMBER)
    client = Client()
    client.force_login(member)
    assert client.post(reverse("invite"), {"email": "x@example.com", "role": "member"}).status_code == 403
    assert client.get(reverse("api_keys")).status_code == 403
    assert not mail.outbox


def test_admin_cannot_make_an_owner(tenant: Tenant) -> None:
    admin = User.objects.create_user(email="admin@example.com", password=PASSWORD)
    Membership.objects.create(user=admin, account=tenant.account, role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    response = client.post(reverse("invite"), {"email": "boss@example.com", "role": Role.OWNER})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_switching_to_an_account_you_do_not_belong_to_is_404(tenant: Tenant, other_tenant: Tenant) -> None:
    response = tenant.client.post(reverse("switch_account"), {"account_id": other_tenant.account.pk})
    assert response.status_code == 404
    assert Account.objects.count() == 2
