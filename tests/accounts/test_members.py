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
    assert newcomer.get(path).status_code == 200
    newcomer.post(path, {"password": PASSWORD})
    membership = Membership.objects.get(user__email="sam@example.com")
    assert membership.account == tenant.account
    assert membership.role == Role.ADMIN
    assert Client().get(path).status_code == 404  # used once only


def test_existing_user_accepts_an_invitation_and_can_switch_accounts(tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.client.post(reverse("invite"), {"email": other_tenant.user.email, "role": Role.MEMBER})
    path = invitation_path(mail.outbox[0].body)
    other_tenant.client.post(path)
    assert Membership.objects.filter(user=other_tenant.user).count() == 2

    other_tenant.client.post(reverse("switch_account"), {"account_id": tenant.account.pk})
    page = other_tenant.client.get(reverse("campaign_list")).content.decode()
    assert tenant.campaign.name in page
    assert other_tenant.campaign.name not in page


def test_invitation_for_someone_else_is_refused(tenant: Tenant, other_tenant: Tenant) -> None:
    tenant.client.post(reverse("invite"), {"email": "someone@example.com", "role": Role.MEMBER})
    response = other_tenant.client.get(invitation_path(mail.outbox[0].body))
    assert response.status_code == 403
    assert not Membership.objects.filter(user=other_tenant.user, account=tenant.account).exists()


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
