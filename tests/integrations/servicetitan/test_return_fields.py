"""Map Return Fields and "When referrer joins campaign" against the sandbox over real HTTP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from referloop.campaigns.models import LeadStatus, Referrer
from referloop.campaigns.outcomes import qualify_by_rule
from referloop.campaigns.referrers import add_referrer, announce_joined
from referloop.integrations.models import Attempt, Delivery, DeliveryState, IntegrationChange
from referloop.integrations.servicetitan.customer_sync.models import CustomerLink
from referloop.integrations.servicetitan.return_fields.hooks import customers_linked
from referloop.integrations.servicetitan.return_fields.models import (
    CustomerMatch,
    JoinAction,
    MatchOutcome,
    ReturnFields,
)
from referloop.providers.servicetitan.customer_writer import NAME
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant
from tests.integrations.engine.helpers import connect, drain, make_due_now, no_retry_wait

pytestmark = pytest.mark.django_db(transaction=True)


def _map(integration: object, sandbox: SandboxHandle, *, count: bool = True, join: str = JoinAction.NOTHING) -> None:
    link, code, n = (sandbox.custom_field_type(name) for name in ("Referral Link", "Referral Code", "Referral Count"))
    ReturnFields.objects.create(
        integration=integration,
        link_field_id=link.id,
        link_field_name="Referral Link",
        code_field_id=code.id,
        code_field_name="Referral Code",
        count_field_id=n.id if count else None,
        count_field_name="Referral Count" if count else "",
        join_action=join,
    )


def _writes() -> list[Delivery]:
    return list(Delivery.objects.filter(connector=NAME).order_by("pk"))


def test_a_linked_referrer_gets_its_link_and_code_written_into_the_customer(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = connect(tenant.campaign)
    _map(integration, sandbox)
    customer = sandbox.customers()[0]
    CustomerLink.objects.create(integration=integration, customer_id=customer.id, referrer=tenant.referrer)
    customers_linked(integration.pk, [customer.id])
    drain()
    fields = sandbox.customer_custom_fields(customer.id)
    assert fields["Referral Code"] == tenant.referrer.code
    assert fields["Referral Link"] == tenant.referrer.referral_url
    (delivery,) = _writes()
    assert delivery.state == DeliveryState.DELIVERED
    attempt = Attempt.objects.get(delivery=delivery)
    assert "PATCH" in str(attempt.request_summary)
    assert tenant.referrer.code in attempt.sentence


def test_a_failed_write_is_retried_and_written_once(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect(tenant.campaign)
    _map(integration, sandbox, count=False)
    customer = sandbox.customers()[1]
    CustomerLink.objects.create(integration=integration, customer_id=customer.id, referrer=tenant.referrer)
    sandbox.set(error_rate=1.0)
    customers_linked(integration.pk, [customer.id])
    drain(stop=lambda: Attempt.objects.exists(), retry=no_retry_wait())
    (delivery,) = _writes()
    assert delivery.state == DeliveryState.PENDING and not sandbox.customer_custom_fields(customer.id).get(
        "Referral Code"
    )
    sandbox.set(error_rate=0.0)
    make_due_now(delivery)
    drain()
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED
    assert sandbox.customer_custom_fields(customer.id)["Referral Code"] == tenant.referrer.code
    assert len(_writes()) == 1


def test_several_changes_before_the_try_coalesce_into_one_patch(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect(tenant.campaign)
    _map(integration, sandbox)
    customer = sandbox.customers()[2]
    CustomerLink.objects.create(integration=integration, customer_id=customer.id, referrer=tenant.referrer)
    for _ in range(3):
        customers_linked(integration.pk, [customer.id])
    assert len(_writes()) == 1
    mark = sandbox.mark()
    drain()
    assert len(sandbox.calls(since=mark, operation="Customers_Update")) == 1


def test_the_count_is_rewritten_when_a_referral_qualifies(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect(tenant.campaign, lead_action="nothing")
    _map(integration, sandbox)
    customer = sandbox.customers()[3]
    CustomerLink.objects.create(integration=integration, customer_id=customer.id, referrer=tenant.referrer)
    customers_linked(integration.pk, [customer.id])
    drain()
    assert sandbox.customer_custom_fields(customer.id)["Referral Count"] == "0"
    qualify_by_rule(tenant.lead.pk, "job", "Booking becomes a job", {}, tenant.lead.created_at)
    tenant.lead.refresh_from_db()
    assert tenant.lead.status == LeadStatus.QUALIFIED
    drain()
    assert sandbox.customer_custom_fields(customer.id)["Referral Count"] == "1"


def test_a_referrer_who_joins_is_linked_to_the_customer_with_their_phone(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = connect(tenant.campaign, lead_action="nothing")
    _map(integration, sandbox, join=JoinAction.LINK)
    customer = sandbox.add_customer("Pat Phone", phones=("(217) 555-0199",))
    referrer, _ = add_referrer(
        tenant.campaign, {"first_name": "Pat", "last_name": "Phone", "email": "pat@x.example", "phone": "2175550199"}
    )
    drain()
    match = CustomerMatch.objects.get(referrer=referrer)
    assert match.outcome == MatchOutcome.LINKED and match.customer_id == customer.id and match.matched_by == "phone"
    assert CustomerLink.objects.filter(integration=integration, referrer=referrer, customer_id=customer.id).exists()
    assert sandbox.customer_custom_fields(customer.id)["Referral Code"] == referrer.code
    page = tenant.client.get(reverse("referrer_detail", args=[tenant.campaign.pk, referrer.pk])).content.decode()
    assert f"ServiceTitan customer #{customer.id} (linked)" in page


def test_a_referrer_nobody_matches_is_recorded_as_not_found(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect(tenant.campaign, lead_action="nothing")
    _map(integration, sandbox, join=JoinAction.LINK)
    referrer, _ = add_referrer(
        tenant.campaign, {"first_name": "No", "last_name": "Body", "email": "nobody@x.example", "phone": "3125550000"}
    )
    drain()
    match = CustomerMatch.objects.get(referrer=referrer)
    assert match.outcome == MatchOutcome.NOT_FOUND
    assert not CustomerLink.objects.filter(referrer=referrer).exists()


def test_a_synced_referrer_is_not_matched_again(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect(tenant.campaign, lead_action="nothing")
    _map(integration, sandbox, join=JoinAction.LINK)
    synced = Referrer.objects.create(
        campaign=tenant.campaign, first_name="S", email="s@x.example", source="servicetitan"
    )
    announce_joined([synced])
    assert not CustomerMatch.objects.filter(referrer=synced).exists()


def test_a_text_field_for_the_count_is_refused_naming_the_field(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect(tenant.campaign, lead_action="nothing")
    code = sandbox.custom_field_type("Referral Code")
    url = reverse("integration_return_fields", args=[tenant.campaign.pk, "servicetitan"])
    response = tenant.client.post(url, {"count": str(code.id), "join_action": "nothing"}, follow=True)
    assert response.status_code == 200
    assert "Referral Code" in response.content.decode() and "Numeric" in response.content.decode()
    assert not ReturnFields.objects.filter(integration=integration).exists()


def test_saving_the_mapping_is_audited_and_writes_every_linked_customer(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect(tenant.campaign, lead_action="nothing")
    customer = sandbox.customers()[4]
    CustomerLink.objects.create(integration=integration, customer_id=customer.id, referrer=tenant.referrer)
    link, code = sandbox.custom_field_type("Referral Link"), sandbox.custom_field_type("Referral Code")
    url = reverse("integration_return_fields", args=[tenant.campaign.pk, "servicetitan"])
    response = tenant.client.post(url, {"link": str(link.id), "code": str(code.id), "join_action": "link"})
    assert response.status_code == 302
    returns = ReturnFields.objects.get(integration=integration)
    assert returns.link_field_name == "Referral Link" and returns.join_action == JoinAction.LINK
    assert IntegrationChange.objects.filter(integration=integration, summary__startswith="Map Return Fields").exists()
    drain()
    assert sandbox.customer_custom_fields(customer.id)["Referral Code"] == tenant.referrer.code
    page = tenant.client.get(reverse("integration_referrers", args=[tenant.campaign.pk, "servicetitan"]))
    assert "Map Return Fields" in page.content.decode()


def test_members_cannot_change_the_return_fields(tenant: Tenant, sandbox: SandboxHandle) -> None:
    from referloop.accounts.models import Membership, User

    connect(tenant.campaign, lead_action="nothing")
    member = User.objects.create_user(email="member@comfortpro.example", password="pw-12345678")
    Membership.objects.create(user=member, account=tenant.account, role="member")
    tenant.client.force_login(member)
    url = reverse("integration_return_fields", args=[tenant.campaign.pk, "servicetitan"])
    assert tenant.client.post(url, {"join_action": "link"}).status_code == 403
    assert not ReturnFields.objects.exists()


def test_another_account_cannot_see_or_change_the_return_fields(
    tenant: Tenant, other_tenant: Tenant, sandbox: SandboxHandle
) -> None:
    connect(tenant.campaign, lead_action="nothing")
    url = reverse("integration_return_fields", args=[tenant.campaign.pk, "servicetitan"])
    assert other_tenant.client.post(url, {"join_action": "link"}).status_code == 404
    page = reverse("integration_referrers", args=[tenant.campaign.pk, "servicetitan"])
    assert other_tenant.client.get(page).status_code == 404


@pytest.mark.django_db(transaction=False)
def test_the_patch_body_validates_against_the_crm_v2_document() -> None:
    from jsonschema import Draft7Validator

    from referloop.providers.servicetitan.customers import update_customer_custom_fields
    from tests.integrations.engine.helpers import DEMO_CLIENT_ID
    from tests.servicetitan_contract import official_schema
    from tests.st_openapi import require_documents

    require_documents()
    from referloop.providers.servicetitan.auth import Credentials
    from referloop.providers.servicetitan.environments import PRODUCTION

    credentials = Credentials(PRODUCTION, 1, DEMO_CLIENT_ID, "secret", "app-key")
    call = update_customer_custom_fields(credentials, 7, {11: "https://x.example/r/ABC", 12: "ABC", 13: "2"})
    schema = official_schema("crm-v2", "Crm.V2.Customers.UpdateCustomerRequest")
    assert call.method == "PATCH" and call.path.endswith("/customers/7")
    Draft7Validator(schema).validate(call.json)


def test_return_field_writes_show_in_activity_and_on_their_own_page(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect(tenant.campaign, lead_action="nothing")
    _map(integration, sandbox)
    customer = sandbox.customers()[4]
    CustomerLink.objects.create(integration=integration, customer_id=customer.id, referrer=tenant.referrer)
    customers_linked(integration.pk, [customer.id])
    drain()
    (delivery,) = _writes()

    activity = tenant.client.get(reverse("integration_activity", args=[tenant.campaign.pk, "servicetitan"]))
    detail = tenant.client.get(reverse("integration_delivery", args=[tenant.campaign.pk, "servicetitan", delivery.pk]))

    assert activity.status_code == 200
    assert f"Return fields of customer {customer.id}" in activity.content.decode()
    assert detail.status_code == 200
    assert f"Return fields of customer {customer.id}" in detail.content.decode()


def test_resending_a_failed_write_while_a_newer_one_waits_changes_nothing_and_never_errors(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = connect(tenant.campaign, lead_action="nothing")
    _map(integration, sandbox)
    customer = sandbox.customers()[5]
    CustomerLink.objects.create(integration=integration, customer_id=customer.id, referrer=tenant.referrer)
    customers_linked(integration.pk, [customer.id])
    (failed,) = _writes()
    Delivery.objects.filter(pk=failed.pk).update(state=DeliveryState.FAILED)
    customers_linked(integration.pk, [customer.id])  # a newer write is now pending
    assert len(_writes()) == 2

    one = tenant.client.post(
        reverse("integration_delivery_resend", args=[tenant.campaign.pk, "servicetitan", failed.pk])
    )
    bulk = tenant.client.post(reverse("integration_bulk", args=[tenant.campaign.pk, "servicetitan", "resend-failed"]))

    assert (one.status_code, bulk.status_code) == (302, 302)
    failed.refresh_from_db()
    assert failed.state == DeliveryState.FAILED  # the pending write will write the latest values anyway
