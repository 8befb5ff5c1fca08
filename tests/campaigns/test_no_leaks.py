"""The public forms tell a stranger nothing about who is already a referrer or a lead.

A known email must get exactly the answer a new one gets (status, template, text); what differs goes to the
owner of the address, by email.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from referloop.campaigns.models import Lead, Referrer
from referloop.integrations.models import Delivery
from tests.conftest import Tenant
from tests.public_forms import as_person

pytestmark = pytest.mark.django_db


def page_of(response: Any) -> tuple[int, list[str], str]:
    """What a visitor can compare between two answers: status, templates used, and the text, CSRF token removed."""
    body = response.content.decode()
    token = response.context.get("csrf_token") if response.context else None
    if token:
        body = body.replace(str(token), "")
    return response.status_code, [t.name for t in response.templates], body


def join(tenant: Tenant, **data: str) -> Any:
    url = reverse("referrer_join", args=[tenant.campaign.slug])
    return Client().post(url, as_person(tenant.campaign, "join", data))


def test_joining_with_a_known_email_shows_the_page_a_new_referrer_sees(tenant: Tenant) -> None:
    known = join(tenant, first_name="Mallory", email=tenant.referrer.email.upper())
    new = join(tenant, first_name="Mallory", email="someone-new@example.com")

    assert page_of(known) == page_of(new)
    page = known.content.decode()
    assert "Check your inbox: we've sent your link" in page
    assert tenant.referrer.code not in page
    assert tenant.referrer.first_name not in page
    assert "Welcome back" not in page


def test_joining_with_a_known_email_emails_its_owner_their_link(tenant: Tenant) -> None:
    join(tenant, first_name="Mallory", email=tenant.referrer.email.upper())

    [message] = mail.outbox
    assert message.to == [tenant.referrer.email]
    assert tenant.account.name in message.subject
    assert tenant.referrer.referral_url in message.body
    assert tenant.referrer.code in message.body
    assert message.body.startswith(f"Hi {tenant.referrer.first_name},")  # the stored name, not the one typed
    assert "Mallory" not in message.body
    assert not message.alternatives  # plain text
    assert Referrer.objects.filter(email__iexact=tenant.referrer.email).count() == 1


def test_a_new_referrer_gets_the_link_by_email_not_on_the_page(tenant: Tenant) -> None:
    response = join(tenant, first_name="Ann", last_name="Lee", email="ann@example.com")

    referrer = Referrer.objects.get(email="ann@example.com")
    assert referrer.referral_url not in response.content.decode()
    [message] = mail.outbox
    assert message.to == ["ann@example.com"]
    assert message.body.startswith("Hi Ann,")
    assert referrer.referral_url in message.body
    assert tenant.account.name in message.body


def lead_form(**overrides: str) -> dict[str, str]:
    data = {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", "system_type": "Furnace"}
    return {**data, **overrides}


def as_lead(tenant: Tenant, **overrides: str) -> dict[str, str]:
    return as_person(tenant.campaign, "lead", lead_form(**overrides))


def test_a_known_leads_email_gets_exactly_the_new_leads_thank_you_page(tenant: Tenant) -> None:
    url = reverse("referral_page", args=[tenant.referrer.code])
    known = Client().post(url, as_lead(tenant, first_name="Eve", email=tenant.lead.email.upper()))
    new = Client().post(url, as_lead(tenant, first_name="Eve", email="fresh@example.com"))

    assert page_of(known) == page_of(new)
    page = known.content.decode()
    assert "Thank you, Eve!" in page
    assert "already on our list" not in page
    assert tenant.lead.first_name not in page


def test_a_duplicate_lead_writes_nothing(tenant: Tenant) -> None:
    url = reverse("referral_page", args=[tenant.referrer.code])
    leads, deliveries = Lead.objects.count(), Delivery.objects.count()
    stored = Lead.objects.values().get(pk=tenant.lead.pk)

    duplicate = as_lead(tenant, first_name="Eve", last_name="X", email=tenant.lead.email, phone="512-555-0199")
    response = Client().post(url, duplicate)

    assert response.status_code == 200
    assert (Lead.objects.count(), Delivery.objects.count()) == (leads, deliveries)
    assert Lead.objects.values().get(pk=tenant.lead.pk) == stored
    assert mail.outbox == []
