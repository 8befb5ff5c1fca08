"""The Diagnose tab, Find a lead, and the banner: scoped to the account, POSTs behind CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from referloop.accounts.models import Membership, Role, User
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, Referrer
from referloop.integrations.models import Delivery, DeliveryState, Integration, LeadAction
from referloop.sandbox.config import DEMO_TENANT_ID

pytestmark = pytest.mark.django_db


def diagnose_url(integration: Integration, name: str = "integration_diagnose") -> str:
    return reverse(name, args=[integration.campaign_id, integration.provider])


def test_the_diagnose_page_shows_the_database_checks_and_a_run_checks_button(
    integration, tenant, running_worker
) -> None:
    response = tenant.client.get(diagnose_url(integration))

    assert response.status_code == 200
    assert diagnose_url(integration) == f"/campaigns/{tenant.campaign.pk}/integrations/servicetitan/diagnose/"
    html = response.content.decode()
    assert "Run checks" in html
    assert f'hx-post="{diagnose_url(integration, "integration_diagnose_run")}"' in html
    assert 'id="check-lead_action" data-status="ok"' in html
    assert 'id="check-credentials" data-status="skipped"' in html
    assert "Not checked yet: this check asks ServiceTitan. Click Run checks." in html
    assert 'aria-current="page">Diagnose</a>' in html  # shown as the Diagnose tab of the integration


def test_run_checks_with_htmx_swaps_in_the_results_of_every_check(integration, tenant, running_worker) -> None:
    response = tenant.client.post(diagnose_url(integration, "integration_diagnose_run"), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith('<div id="diagnose-results"')
    assert "<html" not in html
    assert html.count('data-status="ok"') == 12
    assert f"ServiceTitan issued a token for tenant {DEMO_TENANT_ID} in Sandbox (local)" in html
    assert "0 problems, 0 warnings, 12 ok." in html


def test_a_problem_on_the_page_links_its_fix_to_the_screen_that_fixes_it(integration, tenant) -> None:
    integration.lead_action = LeadAction.NOTHING
    integration.save()

    response = tenant.client.post(diagnose_url(integration, "integration_diagnose_run"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html  # without htmx: the whole page
    leads_tab = reverse("integration_leads", args=[tenant.campaign.pk, "servicetitan"])
    assert f'<a href="{leads_tab}">Open the Leads tab →</a>' in html
    assert "<code>referloop worker</code>" in html  # the worker check's command, shown as code


def test_running_checks_needs_post_and_a_csrf_token(integration, tenant) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(tenant.user)

    assert tenant.client.get(diagnose_url(integration, "integration_diagnose_run")).status_code == 405
    assert strict.post(diagnose_url(integration, "integration_diagnose_run")).status_code == 403
    assert strict.post(diagnose_url(integration, "integration_test_booking")).status_code == 403
    assert strict.post(diagnose_url(integration, "integration_support_bundle")).status_code == 403


def test_another_accounts_integration_is_a_404_on_every_diagnose_url(integration, other_tenant) -> None:
    for name in (
        "integration_diagnose",
        "integration_diagnose_run",
        "integration_test_booking",
        "integration_support_bundle",
    ):
        response = (
            other_tenant.client.get(diagnose_url(integration, name))
            if name == "integration_diagnose"
            else other_tenant.client.post(diagnose_url(integration, name))
        )
        assert response.status_code == 404, name


def test_an_integration_id_under_another_campaign_of_the_same_account_is_a_404(integration, tenant) -> None:
    second = Campaign.objects.create(account=tenant.account, name="Second", slug="second")

    response = tenant.client.get(reverse("integration_diagnose", args=[second.pk, integration.provider]))

    assert response.status_code == 404


def test_members_who_cannot_manage_see_the_checks_but_cannot_send_or_download(integration, tenant) -> None:
    member = User.objects.create_user(email="tech@comfortpro.example", password="irrelevant-password-1")
    Membership.objects.create(user=member, account=tenant.account, role=Role.MEMBER)
    client = Client()
    client.force_login(member)

    page = client.get(diagnose_url(integration))

    assert page.status_code == 200
    assert "Only owners and admins can send a test booking." in page.content.decode()
    assert client.post(diagnose_url(integration, "integration_test_booking")).status_code == 403
    assert client.post(diagnose_url(integration, "integration_support_bundle")).status_code == 403


def test_find_a_lead_searches_every_campaign_of_the_account_and_links_each_lead(
    integration, tenant, other_tenant
) -> None:
    second = Campaign.objects.create(account=tenant.account, name="Spring promo", slug="spring")
    referrer = Referrer.objects.create(campaign=second, first_name="Kim", email="kim@example.com")
    spring_lead = submit_lead(second, referrer, {"first_name": "Tom", "email": "tom@comfort-pro.example"}).lead
    Delivery.objects.filter(lead=tenant.lead).delete()
    failed = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Rae", "email": "rae@example.com"}).lead
    Delivery.objects.filter(lead=failed).update(
        state=DeliveryState.FAILED, last_error="ServiceTitan could not create a booking: Email: invalid."
    )

    found = tenant.client.get(reverse("lead_search"), {"email": "TOM@comfort-pro"})
    failed_page = tenant.client.get(reverse("lead_search"), {"email": "rae@example.com"})

    html = found.content.decode()
    assert found.status_code == 200
    assert reverse("lead_detail", args=[tenant.campaign.pk, tenant.lead.pk]) in html
    assert reverse("lead_detail", args=[second.pk, spring_lead.pk]) in html
    assert "Spring promo" in html and "Comfort Pro referrals" in html
    assert "tom@rival-plumbing.example" not in html  # another account's lead never shows
    assert "ServiceTitan: Failed" in failed_page.content.decode()
    assert "ServiceTitan could not create a booking: Email: invalid." in failed_page.content.decode()


def test_find_a_lead_never_shows_another_accounts_leads(tenant, other_tenant) -> None:
    response = tenant.client.get(reverse("lead_search"), {"email": "rival-plumbing"})

    assert "No lead's email contains “rival-plumbing” in Comfort Pro." in response.content.decode()


def test_the_sidebar_links_to_find_a_lead(tenant) -> None:
    response = tenant.client.get(reverse("campaign_list"))

    assert f'<a href="{reverse("lead_search")}">Find a lead</a>' in response.content.decode()


def test_the_campaign_page_shows_a_banner_when_a_check_is_a_problem(integration, tenant) -> None:
    from referloop.integrations.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(worker_id="w", hostname="h", pid=1, seen_at=timezone.now() - timedelta(hours=1))

    html = tenant.client.get(reverse("campaign_detail", args=[tenant.campaign.pk])).content.decode()

    assert 'data-banner="diagnostics"' in html
    assert "<strong>ServiceTitan:</strong> The worker is not running" in html
    assert f'<a href="{diagnose_url(integration)}">Diagnose →</a>' in html


def test_the_campaign_page_has_no_banner_when_every_cheap_check_passes(integration, tenant, running_worker) -> None:
    html = tenant.client.get(reverse("campaign_detail", args=[tenant.campaign.pk])).content.decode()

    assert 'data-banner="diagnostics"' not in html
