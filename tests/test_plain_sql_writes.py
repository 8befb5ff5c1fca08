"""Cheaper intake (issue 16 §1) holds to what the ORM did: plain_sql writes and reads what the ORM writes and reads,
the delivery plan follows every change, the API's plain reads stay scoped to the account, a duplicate is answered
without a statement the database refuses (PostgreSQL would log it whole, personal data and all)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.db.models import Model
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from referloop.accounts.models import ApiKey
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.lead_form import LeadDataForm
from referloop.campaigns.models import Campaign, Lead, LeadSource, Referrer
from referloop.integrations.models import (
    ConnectionState,
    Delivery,
    DeliveryState,
    Environment,
    Integration,
    LeadAction,
)
from referloop.providers.servicetitan import default_mapping
from referloop.runtime import plain_sql
from tests.api.helpers import lead_body, post_json, referrer_body
from tests.conftest import Tenant
from tests.integrations.engine.helpers import connect

pytestmark = pytest.mark.django_db

CHICAGO = ZoneInfo("America/Chicago")


def connected(campaign: Campaign, **changes: Any) -> Integration:
    integration = connect(campaign, mapping=default_mapping())
    if changes:
        Integration.objects.filter(pk=integration.pk).update(**changes)
        integration.refresh_from_db()
    return integration


def every_field(obj: Model, skip: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields if f.attname not in skip}


# -- insert_if_new / insert_new write what the ORM writes ------------------------------------------------------------


def test_a_lead_written_by_insert_if_new_reads_back_equal_to_one_saved_by_the_orm(tenant: Tenant) -> None:
    values: dict[str, Any] = {
        "campaign": tenant.campaign,
        "referrer": tenant.referrer,
        "first_name": "Zoë",
        "last_name": "Ñúñez",
        "phone": "512-555-0199",
        "street": "1 Main",
        "notes": "line one\nline two",
        "custom_data": {"nested": {"a": [1, 2.5, None, True]}, "text": "é"},
        "client_ip": "2001:0db8:0000:0000:0000:0000:0000:0001",
        "user_agent": "UA",
        "source": LeadSource.API,
        "created_at": datetime.datetime(2026, 3, 8, 1, 30, 15, 123456, tzinfo=CHICAGO),
        "email_verified_at": datetime.datetime(2026, 3, 8, 3, 30, tzinfo=CHICAGO),
        "servicetitan_customer_id": 2**40,
    }
    by_orm = Lead(email="orm@friends.example", **values)
    by_orm.save()
    by_plain = Lead(email="plain@friends.example", **values)
    by_plain.take_code()
    assert plain_sql.insert_if_new(by_plain)

    assert by_plain.pk is not None and not by_plain._state.adding
    orm_row = every_field(Lead.objects.get(pk=by_orm.pk), skip=("id", "email", "code"))
    plain_row = every_field(Lead.objects.get(pk=by_plain.pk), skip=("id", "email", "code"))
    assert plain_row == orm_row
    # The instance in hand holds what save() leaves on its own (neither normalizes the IPv6 address in hand).
    skip = ("id", "email", "code")
    assert every_field(by_plain, skip) == every_field(by_orm, skip)


def test_an_integration_written_by_insert_if_new_reads_back_equal_to_one_saved_by_the_orm(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    """Decimal, booleans, JSON and auto_now, which a lead lacks."""
    common: dict[str, Any] = {
        "environment": Environment.SANDBOX,
        "tenant_id": 9,
        "client_id": "c",
        "state": ConnectionState.CONNECTED,
        "needs_attention": True,
        "minimum_job_total": Decimal("125.50"),
        "field_mapping": {"summary": {"data_type": "text", "source": "Referral: {First Name}"}},
        "connected_at": datetime.datetime(2026, 1, 1, 12, tzinfo=CHICAGO),
    }
    by_orm = Integration(campaign=tenant.campaign, **common)
    by_orm.save()
    by_plain = Integration(campaign=other_tenant.campaign, **common)
    assert plain_sql.insert_if_new(by_plain)

    skip = ("id", "campaign_id", "created_at", "updated_at")
    assert every_field(Integration.objects.get(pk=by_plain.pk), skip) == every_field(
        Integration.objects.get(pk=by_orm.pk), skip
    )
    assert by_plain.updated_at is not None  # auto_now set on the instance, as save() does


# -- plain_sql.instances builds models as the ORM does ------------------------------------------------------------


def test_an_instance_read_by_plain_sql_equals_the_orm_one_and_saves_as_an_update(tenant: Tenant) -> None:
    integration = connected(tenant.campaign, minimum_job_total=Decimal("10.00"), needs_attention=True)
    (plain,) = plain_sql.instances(Integration, f"{plain_sql.column(Integration, 'id')} = %s", [integration.pk])
    assert every_field(plain, skip=()) == every_field(Integration.objects.get(pk=integration.pk), skip=())
    assert type(plain.needs_attention) is bool and type(plain.minimum_job_total) is Decimal
    assert isinstance(plain.field_mapping, dict)

    plain.client_id = "changed"
    plain.save()
    assert Integration.objects.filter(campaign=tenant.campaign).count() == 1
    assert Integration.objects.get(pk=integration.pk).client_id == "changed"


def test_instances_with_reads_a_chain_of_foreign_keys_in_one_statement_as_select_related_does(tenant: Tenant) -> None:
    orm = Referrer.objects.select_related("campaign__account").get(code=tenant.referrer.code)
    with CaptureQueriesContext(connection) as queries:
        (plain,) = plain_sql.instances_with(Referrer, ["campaign", "account"], "code", tenant.referrer.code)
        account_name = plain.campaign.account.name
    assert len(queries.captured_queries) == 1
    assert account_name == orm.campaign.account.name
    assert every_field(plain, skip=()) == every_field(orm, skip=())
    assert every_field(plain.campaign, skip=()) == every_field(orm.campaign, skip=())
    assert every_field(plain.campaign.account, skip=()) == every_field(orm.campaign.account, skip=())
    assert plain_sql.instances_with(Referrer, ["campaign", "account"], "code", "NOPE") == []


def test_instances_with_refuses_a_nullable_link_its_join_would_drop_rows_of(tenant: Tenant) -> None:
    # select_related gives None for an empty nullable link; an inner JOIN would lose the row instead.
    with pytest.raises(AssertionError, match="created_by: a nullable link"):
        plain_sql.instances_with(ApiKey, ["created_by"], "key_hash", "x")


# -- the API's plain reads ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "changes", "field"),
    [
        ("/leads", {"campaign_id": 2**70}, "campaign_id"),
        ("/leads", {"referrer_code": None, "referrer_id": 2**70}, "referrer_id"),
        ("/referrers", {"campaign_id": 2**70}, "campaign_id"),
    ],
    ids=["lead-campaign-id", "lead-referrer-id", "referrer-campaign-id"],
)
def test_a_post_naming_an_id_beyond_the_database_range_is_refused_naming_the_field(
    tenant: Tenant, path: str, changes: dict[str, Any], field: str
) -> None:
    """Before 04708aa the ORM answered "no such row" (Django 5 turns an out-of-range integer lookup into an empty
    result); the plain statements hand 2**70 to the driver, and SQLite's raises OverflowError: a 500."""
    body = lead_body(tenant, **changes) if path == "/leads" else referrer_body(tenant, **changes)
    response = post_json(tenant, path, body)
    assert response.status_code == 422, response.content[:300]
    assert field in response.content.decode()


def test_a_revoked_key_is_refused(tenant: Tenant) -> None:
    from referloop.accounts.models import ApiKey

    ApiKey.objects.filter(account=tenant.account).update(revoked_at=timezone.now())
    assert post_json(tenant, "/leads", lead_body(tenant)).status_code == 401


def test_another_accounts_campaign_and_referrer_are_refused(tenant: Tenant, other_tenant: Tenant) -> None:
    response = post_json(tenant, "/leads", lead_body(tenant, campaign_id=other_tenant.campaign.pk))
    assert response.status_code == 422 and "campaign_id" in response.content.decode()
    response = post_json(tenant, "/leads", lead_body(tenant, referrer_code=other_tenant.referrer.code))
    assert response.status_code == 422 and "referrer_code" in response.content.decode()
    response = post_json(tenant, "/leads", lead_body(tenant, referrer_code=None, referrer_id=other_tenant.referrer.pk))
    assert response.status_code == 422 and "referrer_id" in response.content.decode()
    assert not Lead.objects.filter(email="ana@friends.example").exists()


# -- the delivery-plan cache --------------------------------------------------------------------------------------


def test_a_sandbox_integration_on_a_deployment_that_no_longer_allows_it_holds_the_next_lead(
    tenant: Tenant,
) -> None:
    """Readiness also reads the deployment's settings (the sandbox allowed, the secrets' key): not in the key."""
    connected(tenant.campaign)
    with override_settings(SERVICETITAN_ALLOW_SANDBOX=True):
        first = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "A", "email": "a@friends.example"})
    assert Delivery.objects.get(lead=first.lead).state == DeliveryState.PENDING
    with override_settings(SERVICETITAN_ALLOW_SANDBOX=False):
        second = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "B", "email": "b@friends.example"})
    assert Delivery.objects.get(lead=second.lead).state == DeliveryState.HELD


# -- duplicates inside an outer transaction -------------------------------------------------------------------------


def test_a_duplicate_email_inside_an_outer_transaction_leaves_it_usable(tenant: Tenant) -> None:
    """As a CSV import batch does (csv_import.import_chunk: one atomic per batch, a savepoint per lead)."""
    connected(tenant.campaign)
    with transaction.atomic():
        first = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "A", "email": "dup@friends.example"})
        again = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "B", "email": "DUP@Friends.example"})
        after = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "C", "email": "next@friends.example"})
        assert Lead.objects.filter(campaign=tenant.campaign).count() == 3  # Tom, dup, next
    assert first.created and not again.created and after.created
    assert again.lead.pk == first.lead.pk and again.lead.first_name == "A"
    assert Delivery.objects.filter(lead__campaign=tenant.campaign).count() == 2


# -- submit_lead's `validated` form ---------------------------------------------------------------------------------


def test_a_validated_form_of_other_data_is_not_what_gets_written(tenant: Tenant) -> None:
    """submit_lead documents `data` as what it writes; a form bound to other data is trusted as it is."""
    other = LeadDataForm({"first_name": "Mallory", "email": "mallory@friends.example"}, campaign=tenant.campaign)
    assert other.is_valid()
    result = submit_lead(
        tenant.campaign, tenant.referrer, {"first_name": "Ana", "email": "ana@friends.example"}, validated=other
    )
    assert result.lead.email == "ana@friends.example"


def test_a_duplicate_email_is_answered_without_a_statement_the_database_refuses(tenant: Tenant) -> None:
    """PostgreSQL logs every refused statement in full (log_min_error_statement = error by default, and Django
    binds values client-side), so each duplicate post writes the friend's name, email, phone, address and IP into
    the server log: seen in /var/log/postgresql while this file ran. Before 4b9b23c a lookup answered it."""
    submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Liz", "email": "liz@friends.example"})
    refused: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        try:
            return execute(sql, params, many, context)
        except Exception:
            refused.append(sql)
            raise

    with connection.execute_wrapper(record):
        again = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Liz", "email": "LIZ@friends.example"})
    assert not again.created
    assert refused == []


def test_deliveries_written_by_insert_new_read_back_equal_to_bulk_create(tenant: Tenant) -> None:
    integration = connected(tenant.campaign)
    now = datetime.datetime(2026, 5, 1, 9, 0, 0, 5, tzinfo=CHICAGO)
    common: dict[str, Any] = {
        "integration": integration,
        "state": DeliveryState.HELD,
        "reason": "why",
        "rate_key": "k",
        "ambiguous": True,
        "remote_id": 2**40,
        "created_at": now,
        "held_at": now,
        "held_reason": "why",
    }
    Delivery.objects.bulk_create([Delivery(lead=tenant.lead, **common)])
    other = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "O", "email": "o@friends.example"}).lead
    Delivery.objects.filter(lead=other).delete()
    plain_sql.insert_new([Delivery(lead=other, **common)])
    skip = ("id", "lead_id")
    assert every_field(Delivery.objects.get(lead=other), skip) == every_field(
        Delivery.objects.get(lead=tenant.lead), skip
    )


def test_the_plan_follows_a_lead_action_update_a_rename_and_a_disconnect(tenant: Tenant) -> None:
    integration = connected(tenant.campaign)
    field = tenant.campaign.custom_fields.get()
    mapping = integration.mapping()
    mapping["summary"] = type(mapping["summary"])(mapping["summary"].data_type, "Referral: {System type}")
    integration.set_mapping(mapping)
    integration.save()

    def next_delivery(email: str) -> Delivery | None:
        lead = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "N", "email": email}).lead
        return Delivery.objects.filter(lead=lead).first()

    assert (d := next_delivery("1@friends.example")) is not None and d.state == DeliveryState.PENDING
    Integration.objects.filter(pk=integration.pk).update(lead_action=LeadAction.NOTHING)
    assert (d := next_delivery("2@friends.example")) is not None and d.state == DeliveryState.SKIPPED
    Integration.objects.filter(pk=integration.pk).update(lead_action=LeadAction.CREATE_BOOKING)
    assert (d := next_delivery("3@friends.example")) is not None and d.state == DeliveryState.PENDING
    type(field).objects.filter(pk=field.pk).update(label="Renamed")  # the summary names a label no field has now
    assert (d := next_delivery("4@friends.example")) is not None and d.state == DeliveryState.HELD
    Integration.objects.filter(pk=integration.pk).update(state=ConnectionState.DISCONNECTED)
    assert (d := next_delivery("5@friends.example")) is not None and d.state == DeliveryState.HELD
    assert "disconnected" in d.reason
    Integration.objects.filter(pk=integration.pk).delete()
    assert next_delivery("6@friends.example") is None
