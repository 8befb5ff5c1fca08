"""The account's change history: reward rules, code pools, email wordings, the postal address, campaign settings,
members and API keys each leave one row saying who changed what; the page shows only its own account's rows."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from referloop.accounts.models import AccountChange, ApiKey, Membership, Role, User
from referloop.notifications.models import Notification
from tests.conftest import PASSWORD, Tenant

pytestmark = pytest.mark.django_db


def rules(tenant: Tenant, **changes: str) -> None:
    data = {
        "reward_description": "$50 for every friend who books",
        "hold_days": "0",
        "low_codes_at": "10",
        "referrer_kind": "fixed",
        "referrer_amount": "50",
        "referrer_currency": "USD",
        "friend_kind": "",
        "milestone_every": "",
        "joined_text": "",
        **changes,
    }
    response = tenant.client.post(reverse("campaign_settings", args=[tenant.campaign.pk, "rewards"]), data)
    assert response.status_code == 302


def latest(tenant: Tenant) -> AccountChange:
    return AccountChange.objects.filter(account=tenant.account).latest("at", "pk")


def test_saving_the_reward_rules_records_each_changed_value_before_and_after(tenant: Tenant) -> None:
    rules(tenant)
    rules(tenant, hold_days="14", referrer_amount="75")

    change = latest(tenant)
    assert (change.user, change.campaign, change.area) == (tenant.user, tenant.campaign, "Reward rules")
    assert change.summary == "Hold period (days): 0 → 14; The referrer's reward · Amount: 50 → 75"


def test_uploading_codes_records_how_many_went_into_which_pool(tenant: Tenant) -> None:
    rules(tenant, referrer_kind="code", referrer_text="$25 gift card")

    url = reverse("reward_code_upload", args=[tenant.campaign.pk, "referrer"])
    assert tenant.client.post(url, {"referrer-codes": "A1\nA2\nA3"}).status_code == 302

    assert latest(tenant).summary == "Added 3 codes to the pool of referrer's reward"


def test_saving_an_email_records_what_changed_without_quoting_its_body(tenant: Tenant) -> None:
    joined = Notification.FRIEND_JOINED
    url = reverse("campaign_settings", args=[tenant.campaign.pk, "emails"])
    data = {
        "notification": joined,
        f"{joined}-subject": "Hey",
        f"{joined}-body": "Secret plans",
        f"{joined}-enabled": "on",
    }

    assert tenant.client.post(url, data).status_code == 302

    change = latest(tenant)
    assert change.area == "Emails" and change.campaign == tenant.campaign
    assert change.summary.startswith("“A friend joined” email: ")
    assert "Send this email: off → on" in change.summary and "Body: changed" in change.summary
    assert "Secret plans" not in change.summary


def test_saving_the_postal_address_is_recorded_for_the_account(tenant: Tenant) -> None:
    url = reverse("email_postal_address", args=[tenant.campaign.pk])
    assert tenant.client.post(url, {"postal_address": "1 Main St\nAustin TX"}).status_code == 302

    change = latest(tenant)
    assert (change.area, change.campaign, change.summary) == ("Emails", None, "Business postal address: changed")


def test_campaign_settings_archiving_and_lead_form_fields_are_recorded(tenant: Tenant) -> None:
    general = reverse("campaign_settings", args=[tenant.campaign.pk, "general"])
    form = tenant.client.get(general).context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data = {name: ("on" if value is True else value) for name, value in data.items() if value is not False}
    data["name"] = "Spring referrals"
    assert tenant.client.post(general, data).status_code == 302
    assert latest(tenant).summary == "Name: “Comfort Pro referrals” → “Spring referrals”"

    tenant.client.post(reverse("campaign_archive", args=[tenant.campaign.pk]), {"action": "archive"})
    assert (latest(tenant).area, latest(tenant).summary) == ("Campaign", "Archived")


def test_api_keys_and_invitations_are_recorded_naming_the_key_but_never_its_secret(tenant: Tenant) -> None:
    tenant.client.post(reverse("api_keys"), {"name": "Zapier"})
    key = ApiKey.objects.get(name="Zapier")
    created = latest(tenant)
    tenant.client.post(reverse("revoke_api_key", args=[key.pk]))
    revoked = latest(tenant)
    tenant.client.post(reverse("invite"), {"email": "sam@example.com", "role": Role.MEMBER})

    assert created.summary == f"Created the key “Zapier” ({key.prefix}…)"
    assert revoked.summary == f"Revoked the key “Zapier” ({key.prefix}…)"
    assert latest(tenant).summary == "Invited sam@example.com as member"


def test_the_page_lists_only_this_accounts_changes_and_filters_by_campaign(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    rules(tenant, hold_days="3")
    rules(other_tenant, hold_days="9")
    tenant.client.post(reverse("api_keys"), {"name": "Zapier"})

    page = tenant.client.get(reverse("change_history")).content.decode()
    assert "Hold period (days): 0 → 3" in page and "Zapier" in page
    assert "0 → 9" not in page

    narrowed = tenant.client.get(reverse("change_history"), {"campaign": tenant.campaign.pk}).content.decode()
    assert "0 → 3" in narrowed and "Zapier" not in narrowed
    foreign = tenant.client.get(reverse("change_history"), {"campaign": other_tenant.campaign.pk})
    assert foreign.status_code == 404
    assert tenant.client.get(reverse("change_history"), {"campaign": "nope"}).status_code == 404


def test_members_can_not_read_the_change_history(tenant: Tenant) -> None:
    member = User.objects.create_user(email="member@example.com", password=PASSWORD)
    Membership.objects.create(user=member, account=tenant.account, role=Role.MEMBER)
    client = Client()
    client.force_login(member)

    assert client.get(reverse("change_history")).status_code == 403


def test_saving_again_what_the_browser_sent_back_unchanged_records_no_change(tenant: Tenant) -> None:
    # Browsers send a textarea's lines with \r\n: that is not a change the person made.
    joined = Notification.FRIEND_JOINED
    url = reverse("campaign_settings", args=[tenant.campaign.pk, "emails"])
    data = {
        "notification": joined,
        f"{joined}-subject": "Hey",
        f"{joined}-body": "Hi\r\nthere",
        f"{joined}-enabled": "on",
    }
    tenant.client.post(url, data)
    address = reverse("email_postal_address", args=[tenant.campaign.pk])
    tenant.client.post(address, {"postal_address": "1 Main St\r\nAustin TX"})

    tenant.client.post(url, {**data, f"{joined}-subject": "Hello"})
    tenant.client.post(address, {"postal_address": "1 Main St\r\nAustin TX"})

    email_change, address_change = AccountChange.objects.order_by("-pk")[:2][::-1]
    assert email_change.summary == "“A friend joined” email: Subject: “Hey” → “Hello”"
    assert address_change.summary == "saved without changes"
