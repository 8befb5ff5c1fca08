from __future__ import annotations

from django.test import Client
from django.urls import reverse

from referloop.campaigns.models import Lead, LeadStatus
from tests.conftest import Tenant
from tests.public_forms import as_person


def form_data(**overrides: str) -> dict[str, str]:
    data = {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "phone": "555-0100"}
    data.update(overrides)
    return data


def test_referral_page_shows_the_referrers_first_name_and_the_offer(tenant: Tenant) -> None:
    response = Client().get(reverse("referral_page", args=[tenant.referrer.code]))
    assert response.status_code == 200
    assert f"Maria is offering you {tenant.campaign.offer_text}" in response.content.decode()
    assert 'name="custom_system_type"' in response.content.decode()


def test_submitted_form_makes_a_pending_lead_attributed_to_the_referrer(tenant: Tenant) -> None:
    response = Client().post(
        reverse("referral_page", args=[tenant.referrer.code]),
        as_person(tenant.campaign, "lead", form_data(custom_system_type="Heat pump")),
    )
    assert response.status_code == 200
    assert "Thank you, Jane!" in response.content.decode()
    lead = Lead.objects.get(email="jane@example.com")
    assert lead.referrer == tenant.referrer
    assert lead.status == LeadStatus.PENDING
    assert lead.custom_data == {"system_type": "Heat pump"}
    assert lead.code and lead.code != tenant.referrer.code


def test_same_email_twice_keeps_the_first_referrer_and_thanks_as_for_a_new_lead(tenant: Tenant) -> None:
    second = tenant.campaign.referrers.create(first_name="Bob", email="bob@example.com")
    first_post = as_person(tenant.campaign, "lead", form_data())
    Client().post(reverse("referral_page", args=[tenant.referrer.code]), first_post)
    second_post = as_person(tenant.campaign, "lead", form_data(email="JANE@example.com"))
    response = Client().post(reverse("referral_page", args=[second.code]), second_post)
    assert "Thank you, Jane!" in response.content.decode()  # the same page as a new lead's (test_no_leaks.py)
    assert Lead.objects.filter(email__iexact="jane@example.com").count() == 1
    assert Lead.objects.get(email="jane@example.com").referrer == tenant.referrer
