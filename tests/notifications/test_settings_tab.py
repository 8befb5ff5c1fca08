"""Campaign Settings → Emails: per-campaign wordings, their checks, the preview and the footer's address."""

from __future__ import annotations

import pytest
from django.test import Client

from referloop.accounts.models import Membership, Role, User
from referloop.campaigns.models import Campaign
from referloop.notifications.models import EmailTemplate, Notification
from tests.conftest import PASSWORD, Tenant
from tests.notifications.helpers import turn_on

pytestmark = pytest.mark.django_db

JOINED = Notification.FRIEND_JOINED


def tab(campaign: Campaign) -> str:
    return f"/campaigns/{campaign.pk}/settings/emails/"


def posted(notification: str, subject: str, body: str, *, enabled: bool = True, **extra: str) -> dict[str, str]:
    data = {"notification": notification, f"{notification}-subject": subject, f"{notification}-body": body, **extra}
    if enabled:
        data[f"{notification}-enabled"] = "on"
    return data


def test_the_tab_shows_each_email_off_with_its_default_wording_and_a_preview_for_the_latest_lead(
    tenant: Tenant,
) -> None:
    response = tenant.client.get(tab(tenant.campaign))

    assert response.status_code == 200
    sections = response.context["email_sections"]
    assert [section["spec"].notification for section in sections] == [
        "friend_joined",
        "friend_qualified",
        "reward_issued",
        "friend_confirmation",
    ]
    assert not any(section["wording"].enabled for section in sections)
    joined = sections[0]["preview"]
    assert joined.subject == "Tom just used your referral link"  # the campaign's latest lead, by Maria
    assert "Hi Maria," in joined.text and tenant.referrer.referral_url in joined.text
    content = response.content.decode()
    assert "Add your postal address" in content
    assert (
        "{Lead First Name}" in content
        and "{Lead Email}" not in content.split('id="email-friend_joined"')[1].split('id="email-friend_qualified"')[0]
    )


def test_preview_fills_the_unsaved_wording_and_saves_nothing(tenant: Tenant) -> None:
    data = posted(JOINED, "Hey {Referrer First Name}", "{Lead First Name} from {Campaign Name}", action="preview")

    response = tenant.client.post(tab(tenant.campaign), data)

    assert response.status_code == 200
    [section] = [s for s in response.context["email_sections"] if s["spec"].notification == JOINED]
    assert section["preview_open"] is True
    assert section["preview"].subject == "Hey Maria"
    assert section["preview"].text.startswith("Tom from Comfort Pro referrals\n")
    assert "<p>Tom from Comfort Pro referrals</p>" in section["preview"].content_html
    assert not EmailTemplate.objects.exists()


def test_saving_turns_the_email_on_for_this_campaign_only(tenant: Tenant) -> None:
    other = Campaign.objects.create(account=tenant.account, name="Summer", slug="summer")

    response = tenant.client.post(tab(tenant.campaign), posted(JOINED, "Hey {Referrer First Name}", "Hi\r\nthere"))

    assert response.status_code == 302 and response["Location"] == tab(tenant.campaign)
    saved = EmailTemplate.objects.get()
    assert (saved.campaign, saved.notification, saved.enabled, saved.subject, saved.body) == (
        tenant.campaign,
        JOINED,
        True,
        "Hey {Referrer First Name}",
        "Hi\nthere",
    )
    other_tab = tenant.client.get(tab(other))
    assert not other_tab.context["email_sections"][0]["wording"].enabled


@pytest.mark.parametrize(
    ("notification", "body", "problem"),
    [
        (JOINED, "Hi {Referrer Nickname}", "These name no referloop field: {Referrer Nickname}."),
        (JOINED, "Call {Lead Phone} at {Lead Email}", "can't be used in an email to the referrer"),
        (Notification.FRIEND_CONFIRMATION, "Your link: {Referrer Referral Link}", "can't be used in this email"),
        (Notification.FRIEND_QUALIFIED, "You got {Reward}", "can't be used in an email to the referrer"),
    ],
)
def test_a_wording_naming_a_field_it_may_not_use_is_refused_with_the_field_named(
    tenant: Tenant, notification: str, body: str, problem: str
) -> None:
    response = tenant.client.post(tab(tenant.campaign), posted(notification, "Hello", body))

    assert response.status_code == 400
    [section] = [s for s in response.context["email_sections"] if s["spec"].notification == notification]
    assert problem in " ".join(section["form"].errors["body"])
    assert not EmailTemplate.objects.exists()


def test_the_friends_confirmation_may_use_the_friends_own_details_and_custom_fields(tenant: Tenant) -> None:
    body = "We'll call {lead phone} about your {System type}."
    response = tenant.client.post(tab(tenant.campaign), posted(Notification.FRIEND_CONFIRMATION, "Hi", body))

    assert response.status_code == 302
    assert EmailTemplate.objects.get().body == body


def test_a_member_sees_the_emails_but_can_not_change_them(tenant: Tenant) -> None:
    member = User.objects.create_user(email="member@comfortpro.example", password=PASSWORD)
    Membership.objects.create(user=member, account=tenant.account, role=Role.MEMBER)
    client = Client()
    client.force_login(member)

    assert client.get(tab(tenant.campaign)).status_code == 200
    assert client.post(tab(tenant.campaign), posted(JOINED, "Hi", "Hello")).status_code == 403
    address = f"/campaigns/{tenant.campaign.pk}/emails/postal-address/"
    assert client.post(address, {"postal_address": "1 Main St"}).status_code == 403
    assert not EmailTemplate.objects.exists()
    tenant.account.refresh_from_db()
    assert tenant.account.postal_address == ""


def test_another_accounts_emails_tab_and_address_form_are_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    turn_on(other_tenant.campaign)

    assert tenant.client.get(tab(other_tenant.campaign)).status_code == 404
    assert tenant.client.post(tab(other_tenant.campaign), posted(JOINED, "Hi", "Hello")).status_code == 404
    address = f"/campaigns/{other_tenant.campaign.pk}/emails/postal-address/"
    assert tenant.client.post(address, {"postal_address": "1 Main St"}).status_code == 404
    assert EmailTemplate.objects.get(campaign=other_tenant.campaign, notification=JOINED).subject != "Hi"
