from __future__ import annotations

import pytest
from django.test import Client

from referloop.accounts.models import ApiKey, User
from referloop.campaigns.models import Lead
from tests.conftest import PASSWORD, Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    User.objects.create_superuser(email="staff@referloop.example", password=PASSWORD)
    client = Client()
    client.login(email="staff@referloop.example", password=PASSWORD)
    return client


def test_admin_never_shows_api_key_hashes(staff: Client, tenant: Tenant) -> None:
    key = ApiKey.objects.get(account=tenant.account)
    page = staff.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert key.masked in page
    assert key.key_hash not in page
    assert staff.get("/admin/accounts/apikey/add/").status_code == 403


def test_a_lead_added_in_admin_goes_through_intake_checks(staff: Client, tenant: Tenant) -> None:
    form = {
        "campaign": tenant.campaign.pk,
        "referrer": tenant.referrer.pk,
        "first_name": "Ada",
        "email": "ada@example.com",
        "status": "pending",
        "custom_data": "{}",
    }
    bad = staff.post("/admin/campaigns/lead/add/", {**form, "email": "not-an-email"})
    assert bad.status_code == 200
    assert "Enter a valid email address." in bad.content.decode()
    assert not Lead.objects.filter(first_name="Ada").exists()

    staff.post("/admin/campaigns/lead/add/", form)
    lead = Lead.objects.get(email="ada@example.com")
    assert lead.source == "admin"
    assert lead.code
