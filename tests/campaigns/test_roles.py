"""Owner/admin actions on a campaign: archive, slug, removing a custom field; and fields a mapping reads stay."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from referloop.accounts.models import Membership, Role, User
from referloop.campaigns.models import CampaignStatus, CustomField
from referloop.integrations.models import Integration
from referloop.providers.mapping import FieldMapping
from referloop.providers.servicetitan.mapping import default_mapping
from tests.conftest import PASSWORD, Tenant

pytestmark = pytest.mark.django_db


def client_with_role(tenant: Tenant, role: str) -> Client:
    user = User.objects.create_user(email=f"{role}@comfortpro.example", password=PASSWORD)
    Membership.objects.create(user=user, account=tenant.account, role=role)
    client = Client()
    client.force_login(user)
    return client


def field_of(tenant: Tenant) -> CustomField:
    return tenant.campaign.custom_fields.get(key="system_type")


def test_a_member_cannot_archive_the_campaign_and_sees_why(tenant: Tenant) -> None:
    member = client_with_role(tenant, Role.MEMBER)
    response = member.post(reverse("campaign_archive", args=[tenant.campaign.pk]), {"action": "archive"})
    assert response.status_code == 403
    tenant.campaign.refresh_from_db()
    assert tenant.campaign.status == CampaignStatus.ACTIVE
    page = member.get(reverse("campaign_detail", args=[tenant.campaign.pk])).content.decode()
    assert "Only owners and admins can archive" in page


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_archive_the_campaign(tenant: Tenant, role: str) -> None:
    client = client_with_role(tenant, role) if role != Role.OWNER else tenant.client
    response = client.post(reverse("campaign_archive", args=[tenant.campaign.pk]), {"action": "archive"})
    assert response.status_code == 302
    tenant.campaign.refresh_from_db()
    assert tenant.campaign.status == CampaignStatus.ARCHIVED


def test_a_member_sees_the_slug_disabled_and_cannot_change_it(tenant: Tenant) -> None:
    member = client_with_role(tenant, Role.MEMBER)
    url = reverse("campaign_settings", args=[tenant.campaign.pk, "general"])
    assert "Only owners and admins can change this." in member.get(url).content.decode()

    member.post(url, {"name": "Renamed by member", "slug": "hijacked"})

    tenant.campaign.refresh_from_db()
    assert tenant.campaign.slug == "comfort-pro"
    assert tenant.campaign.name == "Renamed by member"  # the rest of the tab is still theirs


def test_an_admin_changes_the_slug(tenant: Tenant) -> None:
    admin = client_with_role(tenant, Role.ADMIN)
    admin.post(reverse("campaign_settings", args=[tenant.campaign.pk, "general"]), {"name": "X", "slug": "new-slug"})
    tenant.campaign.refresh_from_db()
    assert tenant.campaign.slug == "new-slug"


def test_a_member_cannot_remove_a_custom_field(tenant: Tenant) -> None:
    member = client_with_role(tenant, Role.MEMBER)
    response = member.post(reverse("custom_field_delete", args=[tenant.campaign.pk, field_of(tenant).pk]))
    assert response.status_code == 403
    assert tenant.campaign.custom_fields.filter(key="system_type").exists()


def integration_mapping(tenant: Tenant, **rows: FieldMapping) -> Integration:
    integration = Integration.objects.create(campaign=tenant.campaign)
    integration.set_mapping({**default_mapping(), **rows})
    integration.save()
    return integration


def remove(tenant: Tenant) -> str:
    response = tenant.client.post(
        reverse("custom_field_delete", args=[tenant.campaign.pk, field_of(tenant).pk]), follow=True
    )
    return response.content.decode()


def test_removing_a_field_a_dynamic_row_reads_is_refused_naming_the_row(tenant: Tenant) -> None:
    integration_mapping(tenant, summary=FieldMapping("dynamic", "custom.system_type"))
    page = remove(tenant)
    assert "can&#x27;t be removed" in page
    assert "ServiceTitan: Summary (Dynamic Value)" in page
    assert tenant.campaign.custom_fields.filter(key="system_type").exists()


def test_removing_a_field_a_fixed_placeholder_reads_is_refused_naming_the_row(tenant: Tenant) -> None:
    integration_mapping(tenant, summary=FieldMapping("fixed", "Referral: {  system TYPE }, from {Referrer Full Name}"))
    page = remove(tenant)
    assert "ServiceTitan: Summary (Fixed Value)" in page
    assert tenant.campaign.custom_fields.filter(key="system_type").exists()


def test_a_field_no_mapping_reads_is_removed(tenant: Tenant) -> None:
    integration_mapping(tenant, summary=FieldMapping("fixed", "Referral about {System}"))  # another label
    page = remove(tenant)
    assert "removed" in page
    assert not tenant.campaign.custom_fields.filter(key="system_type").exists()
