from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from referloop.campaigns.models import Campaign, CampaignStatus, CustomField
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def test_creating_a_campaign_derives_a_slug_from_the_name(tenant: Tenant) -> None:
    response = tenant.client.post(reverse("campaign_create"), {"name": "Spring Tune-Up Referrals", "slug": ""})
    campaign = Campaign.objects.get(name="Spring Tune-Up Referrals")
    assert response["Location"] == reverse("campaign_detail", args=[campaign.pk])
    assert campaign.slug == "spring-tune-up-referrals"
    assert campaign.account == tenant.account


def test_a_taken_slug_is_refused_with_its_name(tenant: Tenant, other_tenant: Tenant) -> None:
    response = tenant.client.post(reverse("campaign_create"), {"name": "Copy", "slug": other_tenant.campaign.slug})
    assert response.status_code == 200
    assert f"The slug “{other_tenant.campaign.slug}” is taken" in response.content.decode()
    assert not Campaign.objects.filter(name="Copy").exists()


def test_an_over_long_campaign_name_is_refused(tenant: Tenant) -> None:
    response = tenant.client.post(reverse("campaign_create"), {"name": "x" * 121, "slug": "long"})
    assert "at most 120 characters" in response.content.decode()
    assert not Campaign.objects.filter(slug="long").exists()


@pytest.mark.parametrize(
    ("tab", "data", "field", "expected"),
    [
        ("general", {"name": "Renamed", "slug": "renamed"}, "slug", "renamed"),
        (
            "referral-page",
            {"offer_text": "a free filter", "page_intro": "Hi", "thank_you_text": "Thanks"},
            "offer_text",
            "a free filter",
        ),
        ("rewards", {"reward_description": "$100 per job"}, "reward_description", "$100 per job"),
    ],
)
def test_each_settings_tab_saves_its_fields(
    tenant: Tenant, tab: str, data: dict[str, str], field: str, expected: str
) -> None:
    url = reverse("campaign_settings", args=[tenant.campaign.pk, tab])
    assert tenant.client.get(url).status_code == 200
    response = tenant.client.post(url, data)
    assert response.status_code == 302
    tenant.campaign.refresh_from_db()
    assert getattr(tenant.campaign, field) == expected


def test_integrations_tab_leaves_the_place_for_the_crm_tab(tenant: Tenant) -> None:
    page = tenant.client.get(reverse("campaign_settings", args=[tenant.campaign.pk, "integrations"])).content.decode()
    assert "CRM" in page
    assert "ServiceTitan" in page


def test_custom_fields_are_added_and_appear_on_the_lead_form(tenant: Tenant) -> None:
    tenant.client.post(
        reverse("custom_field_add", args=[tenant.campaign.pk]),
        {"label": "Home age (years)", "key": "", "field_type": "number", "choices": ""},
    )
    field = CustomField.objects.get(campaign=tenant.campaign, label="Home age (years)")
    assert field.key == "home_age_years"
    page = Client().get(reverse("referral_page", args=[tenant.referrer.code])).content.decode()
    assert "Home age (years)" in page


def test_a_select_field_without_choices_is_refused(tenant: Tenant) -> None:
    response = tenant.client.post(
        reverse("custom_field_add", args=[tenant.campaign.pk]),
        {"label": "Pick", "key": "pick", "field_type": "select", "choices": ""},
    )
    assert response.status_code == 400
    assert "needs at least one choice" in response.content.decode()
    assert not CustomField.objects.filter(key="pick").exists()


def test_archiving_stops_the_public_links_and_restoring_reopens_them(tenant: Tenant) -> None:
    tenant.client.post(reverse("campaign_archive", args=[tenant.campaign.pk]), {"action": "archive"}, follow=True)
    tenant.campaign.refresh_from_db()
    assert tenant.campaign.status == CampaignStatus.ARCHIVED
    assert Client().get(reverse("referral_page", args=[tenant.referrer.code])).status_code == 410
    assert Client().get(reverse("referrer_join", args=[tenant.campaign.slug])).status_code == 410
    listing = tenant.client.get(reverse("campaign_list")).content.decode()
    assert tenant.campaign.name not in listing
    assert tenant.campaign.name in tenant.client.get(reverse("campaign_list") + "?show=archived").content.decode()

    tenant.client.post(reverse("campaign_archive", args=[tenant.campaign.pk]), {"action": "restore"})
    assert Client().get(reverse("referral_page", args=[tenant.referrer.code])).status_code == 200


def test_campaign_page_counts_referrers_and_leads(tenant: Tenant) -> None:
    page = tenant.client.get(reverse("campaign_detail", args=[tenant.campaign.pk])).content.decode()
    assert "<b>1</b><span>Referrers</span>" in page
    assert tenant.lead.email in page
