"""The intake path's statements (issue 16 §1): a new lead costs a fixed, short list of plain statements, and what
intake remembers per campaign (the readiness answer, the custom fields) never outlives a change in the database."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from referloop.accounts.models import Account, ApiKey
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, CustomField, Lead, Referrer
from referloop.integrations.models import (
    ConnectionState,
    Delivery,
    DeliveryState,
    Integration,
)
from referloop.integrations.servicetitan.readiness import CREDENTIALS_REJECTED_REASON
from referloop.providers.servicetitan import default_mapping
from referloop.runtime import plain_sql
from tests.api.helpers import API, lead_body, post_json
from tests.conftest import Tenant
from tests.integrations.engine.helpers import connect
from tests.public_forms import as_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(tenant: Tenant) -> Integration:
    return connect(tenant.campaign, mapping=default_mapping())


def friend(tenant: Tenant, email: str, **more: str) -> Lead:
    return submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Liz", "email": email, **more}).lead


def delivery_of(lead: Lead) -> Delivery:
    return Delivery.objects.get(lead=lead)


def test_a_new_lead_on_a_connected_campaign_costs_a_fixed_list_of_statements(
    tenant: Tenant, integration: Integration
) -> None:
    friend(tenant, "first@friends.example")  # the campaign's readiness answer is now remembered
    with CaptureQueriesContext(connection) as second:
        friend(tenant, "second@friends.example")
    with CaptureQueriesContext(connection) as third:
        friend(tenant, "third@friends.example", phone="512-555-0102")
    statements = [query["sql"] for query in second.captured_queries]
    # Reads: the code's namespace, the custom fields (once: the form and the delivery plan share them), the
    # integrations, and one statement for the other hooks' questions (a webhook endpoint? a thank-you for joining?
    # a welcome email?). Writes: the lead, its delivery. No lookup of the email first: the unique constraint
    # answers a duplicate.
    assert sum(sql.startswith("SELECT") for sql in statements) == 4
    assert sum("INSERT INTO" in sql for sql in statements) == 2
    assert len(third.captured_queries) == len(second.captured_queries)
    assert delivery_of(Lead.objects.get(email="third@friends.example")).state == DeliveryState.PENDING


def test_a_referral_form_post_reads_its_referrer_campaign_and_account_at_once_and_the_custom_fields_once(
    tenant: Tenant, integration: Integration
) -> None:
    CustomField.objects.create(campaign=tenant.campaign, key="system_age", label="System age")
    url = reverse("referral_page", args=[tenant.referrer.code])
    first = as_person(tenant.campaign, "lead", {"first_name": "Al", "email": "al@friends.example"})
    assert Client().post(url, first, REMOTE_ADDR="203.0.113.8").status_code == 200  # the plan is remembered now
    data = as_person(tenant.campaign, "lead", {"first_name": "Liz", "email": "liz@friends.example"})
    with CaptureQueriesContext(connection) as queries:
        response = Client().post(url, data, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200 and Lead.objects.filter(email="liz@friends.example").exists()
    assert tenant.campaign.account.name in response.content.decode()  # the thank-you page names the business
    reads = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("SELECT")]
    custom_field_reads = [sql for sql in reads if plain_sql.table(CustomField) in sql.split(" WHERE ")[0]]
    # The form, the address check and the delivery plan share one read; the referrer comes with its campaign and
    # the account the pages name, and neither is read again.
    assert len(custom_field_reads) == 1
    (with_account,) = [sql for sql in reads if plain_sql.table(Account) in sql]
    assert plain_sql.table(Referrer) in with_account and plain_sql.table(Campaign) in with_account
    assert len([sql for sql in reads if plain_sql.table(Campaign) in sql.split(" WHERE ")[0]]) == 1


def test_a_lead_posted_to_the_api_reads_its_key_with_the_account_and_the_custom_fields_once(
    tenant: Tenant, integration: Integration
) -> None:
    CustomField.objects.create(campaign=tenant.campaign, key="system_age", label="System age")
    assert post_json(tenant, "/leads", lead_body(tenant, email="al@friends.example")).status_code == 201
    body = lead_body(tenant, email="liz@friends.example", custom_fields={"system_age": "12"})
    with CaptureQueriesContext(connection) as queries:  # as an API client posts it: no session cookie
        answer = Client().post(API + "/leads", json.dumps(body), content_type="application/json", **tenant.api())
    assert answer.status_code == 201
    reads = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("SELECT")]
    assert len([sql for sql in reads if plain_sql.table(CustomField) in sql.split(" WHERE ")[0]]) == 1
    (with_account,) = [sql for sql in reads if plain_sql.table(Account) in sql]
    assert plain_sql.table(ApiKey) in with_account
    # The key, the campaign, the referrer, the custom fields; the code, the hooks' questions, the integrations.
    assert len(reads) == 7


def test_a_lead_after_the_setup_is_fixed_is_sent_not_held_by_a_remembered_answer(
    tenant: Tenant, integration: Integration
) -> None:
    integration.booking_provider_id = None
    integration.save()
    held = friend(tenant, "held@friends.example")
    assert delivery_of(held).state == DeliveryState.HELD
    assert "Booking Provider" in delivery_of(held).reason

    integration.booking_provider_id = 42
    integration.save()
    assert delivery_of(friend(tenant, "sent@friends.example")).state == DeliveryState.PENDING


def test_a_state_flipped_by_a_conditional_update_holds_the_next_lead(tenant: Tenant, integration: Integration) -> None:
    assert delivery_of(friend(tenant, "before@friends.example")).state == DeliveryState.PENDING
    # The worker flips the state with a conditional UPDATE, which does not touch updated_at.
    Integration.objects.filter(pk=integration.pk).update(state=ConnectionState.CREDENTIALS_REJECTED)
    after = delivery_of(friend(tenant, "after@friends.example"))
    assert (after.state, after.reason) == (DeliveryState.HELD, CREDENTIALS_REJECTED_REASON)


def test_a_custom_field_mapped_before_it_exists_holds_leads_until_it_is_added(
    tenant: Tenant, integration: Integration
) -> None:
    mapping = integration.mapping()
    summary = mapping["summary"]
    mapping["summary"] = type(summary)(summary.data_type, "Referral: {Urgency}")
    integration.set_mapping(mapping)
    integration.save()
    held = delivery_of(friend(tenant, "early@friends.example"))
    assert held.state == DeliveryState.HELD and "field mapping" in held.reason

    # Adding the field changes no integration stamp: the custom-field rows are part of what the answer is read from.
    CustomField.objects.create(campaign=tenant.campaign, key="urgency", label="Urgency")
    assert delivery_of(friend(tenant, "later@friends.example")).state == DeliveryState.PENDING


def test_a_required_custom_field_added_is_asked_for_by_the_next_lead(tenant: Tenant) -> None:
    friend(tenant, "one@friends.example")
    CustomField.objects.create(campaign=tenant.campaign, key="urgency", label="Urgency", required=True)
    with pytest.raises(InputRejected) as refused:
        friend(tenant, "two@friends.example")
    assert "custom_urgency" in refused.value.errors


def test_the_same_email_twice_keeps_the_first_lead_and_writes_nothing_more(
    tenant: Tenant, integration: Integration
) -> None:
    first = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Liz", "email": "liz@friends.example"})
    again = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Elizabeth", "email": "LIZ@friends.example"})
    assert first.created and not again.created
    assert again.lead.pk == first.lead.pk and again.lead.first_name == "Liz"
    assert Lead.objects.filter(campaign=tenant.campaign, email="liz@friends.example").count() == 1
    assert Delivery.objects.filter(lead=first.lead).count() == 1
