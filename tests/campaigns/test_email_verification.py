"""Verify the friend's email before booking: a public-form lead waits, unsent, until the friend clicks the link.

Off by default. On, a lead from the referral page is stored at once as Unverified, emailed a one-time link, and
written for no destination (no ServiceTitan delivery, no webhook event) until confirmed; after 7 days it expires
with that reason. Leads the business adds itself are not asked.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from referloop.accounts.models import Role
from referloop.campaigns import verification
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import EmailVerification, Lead, LeadSource
from referloop.integrations.models import Delivery, DeliveryState
from referloop.integrations.webhooks.events import LEAD_CREATED
from referloop.integrations.webhooks.models import WebhookEvent
from referloop.sandbox.testing import SandboxHandle
from tests.campaigns.test_no_leaks import page_of
from tests.campaigns.test_roles import client_with_role
from tests.conftest import Tenant
from tests.integrations.engine.helpers import booking_counts, connect, drain
from tests.integrations.webhooks.helpers import subscribe
from tests.public_forms import as_person

pytestmark = pytest.mark.django_db


class BrokenMailServer:
    """An email backend whose server refuses every message, as an SMTP outage does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send_messages(self, messages: Any) -> int:
        raise ConnectionRefusedError("mail server down")


@pytest.fixture(autouse=True)
def loopback_webhooks(settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True  # an endpoint that is never called: only its events are counted
    settings.WEBHOOKS_ALLOW_HTTP = True


def verifying(tenant: Tenant) -> Tenant:
    tenant.campaign.verify_friend_email = True
    tenant.campaign.save()
    return tenant


def post_lead(tenant: Tenant, client: Client | None = None, **data: str) -> str:
    return answer(tenant, client, **data).content.decode()


def answer(tenant: Tenant, client: Client | None = None, **data: str) -> Any:
    fields = {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.com", **data}
    with TestCase.captureOnCommitCallbacks(execute=True):  # the link is emailed once the lead is committed
        response = (client or Client()).post(
            reverse("referral_page", args=[tenant.referrer.code]), as_person(tenant.campaign, "lead", fields)
        )
    assert response.status_code == 200, response.content.decode()[:2000]
    return response


def emailed_link(to: str) -> str:
    [message] = [m for m in mail.outbox if m.to == [to]][-1:]
    found = re.search(r"http\S+/v/\S+/", message.body)
    assert found is not None, message.body
    return found.group(0)


def path_of(link: str) -> str:
    return urlsplit(link).path


def test_a_public_lead_is_not_asked_to_confirm_by_default_and_goes_to_the_integration_at_once(tenant: Tenant) -> None:
    connect(tenant.campaign)
    post_lead(tenant)
    lead = Lead.objects.get(email="jane@example.com")
    assert lead.email_verification == EmailVerification.NOT_ASKED
    assert Delivery.objects.filter(lead=lead).count() == 1
    assert not [m for m in mail.outbox if m.to == ["jane@example.com"]]


def test_a_verifying_campaigns_public_lead_is_stored_unverified_with_nothing_sent_anywhere(tenant: Tenant) -> None:
    verifying(tenant)
    connect(tenant.campaign)
    subscribe(tenant, "http://127.0.0.1:9/in", events=[LEAD_CREATED])
    page = post_lead(tenant)

    assert "Please confirm your email" in page
    lead = Lead.objects.get(email="jane@example.com")
    assert verification.state(lead) is verification.State.UNVERIFIED
    assert lead.verification_sent_at is not None
    assert not Delivery.objects.filter(lead=lead).exists()
    assert not WebhookEvent.objects.filter(type=LEAD_CREATED).exists()
    [message] = mail.outbox
    assert message.to == ["jane@example.com"]
    assert message.subject == f"Confirm your email for {tenant.account.name}"


def test_opening_the_link_only_asks_and_pressing_confirm_admits_the_lead_exactly_once(tenant: Tenant) -> None:
    verifying(tenant)
    connect(tenant.campaign)
    subscribe(tenant, "http://127.0.0.1:9/in", events=[LEAD_CREATED])
    post_lead(tenant)
    path = path_of(emailed_link("jane@example.com"))
    friend = Client()

    opened = friend.get(path)  # what a mail scanner does too
    assert opened.status_code == 200
    assert "Confirm my email" in opened.content.decode()
    lead = Lead.objects.get(email="jane@example.com")
    assert lead.email_verification == EmailVerification.UNVERIFIED

    confirmed = friend.post(path)
    assert "your email is confirmed" in confirmed.content.decode()
    again = friend.post(path)
    assert "already confirmed" in again.content.decode()

    lead.refresh_from_db()
    assert lead.email_verification == EmailVerification.VERIFIED
    assert lead.email_verified_at is not None and lead.email_verified_by is None
    assert Delivery.objects.filter(lead=lead, integration__isnull=False).count() == 1
    assert WebhookEvent.objects.filter(type=LEAD_CREATED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_confirmed_lead_becomes_one_booking_in_servicetitan(tenant: Tenant, sandbox: SandboxHandle) -> None:
    verifying(tenant)
    connect(tenant.campaign)
    post_lead(tenant)
    drain()
    assert sandbox.bookings() == []  # nothing to send before the friend confirms

    Client().post(path_of(emailed_link("jane@example.com")))
    drain()
    lead = Lead.objects.get(email="jane@example.com")
    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.DELIVERED
    assert booking_counts(sandbox) == {lead.code: 1}


def test_an_altered_link_is_refused_and_confirms_nothing(tenant: Tenant) -> None:
    verifying(tenant)
    post_lead(tenant)
    path = path_of(emailed_link("jane@example.com"))
    forged = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    assert Client().post(forged).status_code == 404
    other = Lead.objects.get(email="jane@example.com")
    other_token = verification.token(other)
    other.code = "ZZZZZZZ"  # a link names the lead and its code; the stored lead has another code
    assert verification.lead_for_token(verification.token(other)) is None
    assert verification.lead_for_token(other_token) is not None
    assert Lead.objects.get(email="jane@example.com").email_verification == EmailVerification.UNVERIFIED


def test_after_seven_days_the_link_has_expired_and_the_lead_is_never_sent(tenant: Tenant) -> None:
    verifying(tenant)
    connect(tenant.campaign)
    post_lead(tenant)
    path = path_of(emailed_link("jane@example.com"))
    lead = Lead.objects.get(email="jane@example.com")
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - verification.WINDOW - timedelta(seconds=1))

    opened = Client().get(path)
    assert opened.status_code == 410
    assert "This link has expired" in opened.content.decode()
    assert Client().post(path).status_code == 410
    lead.refresh_from_db()
    assert verification.state(lead) is verification.State.EXPIRED
    assert not Delivery.objects.filter(lead=lead).exists()

    page = tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, lead.pk])).content.decode()
    assert verification.EXPIRED_REASON in page
    listed = tenant.client.get(reverse("lead_list", args=[tenant.campaign.pk]), {"verification": "expired"})
    assert "jane@example.com" in listed.content.decode()
    waiting = tenant.client.get(reverse("lead_list", args=[tenant.campaign.pk]), {"verification": "unverified"})
    assert "jane@example.com" not in waiting.content.decode()


def test_one_second_before_the_deadline_the_lead_is_still_waiting(tenant: Tenant) -> None:
    verifying(tenant)
    post_lead(tenant)
    lead = Lead.objects.get(email="jane@example.com")
    now = lead.created_at + verification.WINDOW - timedelta(seconds=1)
    assert verification.state(lead, now) is verification.State.UNVERIFIED
    assert verification.state(lead, now + timedelta(seconds=1)) is verification.State.EXPIRED
    assert Lead.objects.filter(verification.state_filter(verification.State.UNVERIFIED, now)).count() == 1
    assert Lead.objects.filter(verification.state_filter(verification.State.EXPIRED, now)).count() == 0


def test_an_owner_can_confirm_an_expired_lead_by_hand_and_the_timeline_says_who(tenant: Tenant) -> None:
    verifying(tenant)
    connect(tenant.campaign)
    post_lead(tenant)
    lead = Lead.objects.get(email="jane@example.com")
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - timedelta(days=30))

    response = tenant.client.post(
        reverse("lead_verification", args=[tenant.campaign.pk, lead.pk]), {"action": "confirm"}, follow=True
    )
    page = response.content.decode()
    assert "confirmed by hand" in page
    assert f"Confirmed by hand by {tenant.user.email}." in page
    lead.refresh_from_db()
    assert lead.email_verification == EmailVerification.VERIFIED
    assert lead.email_verified_by == tenant.user
    assert Delivery.objects.filter(lead=lead).count() == 1


def test_sending_the_form_again_while_waiting_resends_the_link_a_few_times_an_hour_with_the_same_page(
    tenant: Tenant,
) -> None:
    verifying(tenant)
    first = page_of(answer(tenant))
    pages = [page_of(answer(tenant)) for _ in range(4)]
    assert all(page == first for page in pages)
    assert "Please confirm your email" in first[2]
    # The first email, then three resends: one address gets at most three of one kind an hour.
    assert len([m for m in mail.outbox if m.to == ["jane@example.com"]]) == 4
    assert Lead.objects.filter(email="jane@example.com").count() == 1


def test_a_mail_server_outage_keeps_the_lead_and_the_owner_can_send_the_link_again(
    tenant: Tenant, settings: Any
) -> None:
    verifying(tenant)
    settings.EMAIL_BACKEND = f"{__name__}.BrokenMailServer"
    page = post_lead(tenant)
    assert "Please confirm your email" in page
    lead = Lead.objects.get(email="jane@example.com")
    assert lead.email_verification == EmailVerification.UNVERIFIED and lead.verification_sent_at is None
    lead_page = reverse("lead_detail", args=[tenant.campaign.pk, lead.pk])
    assert "The link has not been emailed yet" in tenant.client.get(lead_page).content.decode()

    resend = reverse("lead_verification", args=[tenant.campaign.pk, lead.pk])
    failed = tenant.client.post(resend, {"action": "resend"}, follow=True)
    assert "could not be sent just now" in failed.content.decode()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sent = tenant.client.post(resend, {"action": "resend"}, follow=True)
    assert "emailed to jane@example.com again" in sent.content.decode()
    lead.refresh_from_db()
    assert lead.verification_sent_at is not None
    assert emailed_link("jane@example.com")


@pytest.mark.parametrize("source", [LeadSource.API, LeadSource.CSV, LeadSource.MANUAL, LeadSource.ADMIN])
def test_leads_the_business_adds_itself_are_not_asked_even_when_the_campaign_verifies(
    tenant: Tenant, source: str
) -> None:
    verifying(tenant)
    connect(tenant.campaign)
    result = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Al", "email": "al@example.com"}, source)
    assert result.lead.email_verification == EmailVerification.NOT_ASKED
    assert Delivery.objects.filter(lead=result.lead).count() == 1
    assert mail.outbox == []


def test_the_api_reports_where_each_leads_confirmation_stands(tenant: Tenant) -> None:
    verifying(tenant)
    post_lead(tenant)
    lead = Lead.objects.get(email="jane@example.com")
    body = tenant.client.get(f"/api/v1/leads/{lead.pk}", **tenant.api()).json()
    assert body["email_verification"] == "unverified"
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - timedelta(days=8))
    assert tenant.client.get(f"/api/v1/leads/{lead.pk}", **tenant.api()).json()["email_verification"] == "expired"


def test_only_owners_and_admins_turn_verification_on_or_off(tenant: Tenant) -> None:
    url = reverse("campaign_settings", args=[tenant.campaign.pk, "general"])
    data = {"name": tenant.campaign.name, "slug": tenant.campaign.slug, "public_submissions_per_hour": "200"}
    member = client_with_role(tenant, Role.MEMBER)
    member.post(url, {**data, "verify_friend_email": "on"})
    tenant.campaign.refresh_from_db()
    assert tenant.campaign.verify_friend_email is False
    tenant.client.post(url, {**data, "verify_friend_email": "on"})
    tenant.campaign.refresh_from_db()
    assert tenant.campaign.verify_friend_email is True
    member.post(url, data)  # a member's form doesn't turn it off either
    tenant.campaign.refresh_from_db()
    assert tenant.campaign.verify_friend_email is True
    tenant.client.post(url, data)
    tenant.campaign.refresh_from_db()
    assert tenant.campaign.verify_friend_email is False
