from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from referloop.campaigns import admission
from referloop.campaigns.errors import InputRejected
from referloop.campaigns.intake import submit_lead
from referloop.campaigns.models import Campaign, CampaignStatus, CustomField, CustomFieldType, Lead
from referloop.runtime import plain_sql
from referloop.runtime.plain_sql import Exists
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooks() -> Iterator[None]:
    saved = list(admission._lead_admitted_hooks)
    yield
    admission._lead_admitted_hooks[:] = saved


def test_hooks_run_inside_the_leads_transaction_and_a_failing_hook_leaves_no_lead(tenant: Tenant, hooks: None) -> None:
    seen: list[int] = []

    def record(lead: Lead) -> None:
        seen.append(lead.pk)
        raise RuntimeError("delivery row could not be written")

    admission.on_lead_admitted(record)
    with pytest.raises(RuntimeError):
        submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Al", "email": "al@example.com"})
    assert len(seen) == 1
    assert not Lead.objects.filter(email="al@example.com").exists()


def test_duplicate_email_returns_the_first_lead_without_running_hooks(tenant: Tenant, hooks: None) -> None:
    calls: list[Lead] = []
    admission.on_lead_admitted(calls.append)
    result = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "T", "email": tenant.lead.email.upper()})
    assert result.duplicate
    assert result.lead.pk == tenant.lead.pk
    assert calls == []


def test_hooks_questions_are_answered_in_one_statement_and_only_a_yes_runs_its_hook(
    tenant: Tenant, hooks: None
) -> None:
    ran: list[str] = []
    campaigns = f"SELECT 1 FROM {plain_sql.table(Campaign)} WHERE {plain_sql.column(Campaign, 'id')} = %s"
    admission.on_lead_admitted(lambda lead: ran.append("yes"), ask=lambda lead: Exists(campaigns, [lead.campaign_id]))
    admission.on_lead_admitted(lambda lead: ran.append("no"), ask=lambda lead: Exists(campaigns, [0]))
    admission.on_lead_admitted(lambda lead: ran.append("not asked"), ask=lambda lead: None)
    admission.on_lead_admitted(lambda lead: ran.append("always"))
    with CaptureQueriesContext(connection) as queries:
        submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Q", "email": "q@example.com"})
    assert ran == ["yes", "always"]
    asked = [query["sql"] for query in queries.captured_queries if "EXISTS" in query["sql"]]
    assert len(asked) == 1  # this test's two questions and the apps' own (webhooks, rewards, emails)
    assert asked[0].count("EXISTS") == 5


class Recorder:
    def __init__(self) -> None:
        self.seen: list[int] = []

    def hook(self, lead: Lead) -> None:
        self.seen.append(lead.pk)


def test_a_method_registered_twice_runs_once_per_lead(tenant: Tenant, hooks: None) -> None:
    recorder = Recorder()  # each `recorder.hook` is a new object, equal to the last
    admission.on_lead_admitted(recorder.hook)
    admission.on_lead_admitted(recorder.hook)
    lead = submit_lead(tenant.campaign, tenant.referrer, {"first_name": "B", "email": "b@example.com"}).lead
    assert recorder.seen == [lead.pk]


def test_a_question_is_answered_before_any_hook_writes(tenant: Tenant, hooks: None) -> None:
    ran: list[str] = []
    admission.on_lead_admitted(lambda lead: CustomField.objects.create(campaign=lead.campaign, key="late", label="L"))
    fields = f"SELECT 1 FROM {plain_sql.table(CustomField)} WHERE {plain_sql.column(CustomField, 'key')} = %s"
    admission.on_lead_admitted(lambda lead: ran.append("saw it"), ask=lambda lead: Exists(fields, ["late"]))
    submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Q", "email": "q@example.com"})
    assert CustomField.objects.filter(key="late").exists()
    assert ran == []


def test_the_same_email_in_another_campaign_is_a_new_lead(tenant: Tenant) -> None:
    second = tenant.account.campaigns.create(name="Second", slug="second")
    referrer = second.referrers.create(first_name="R", email="r@example.com")
    result = submit_lead(second, referrer, {"first_name": "Tom", "email": tenant.lead.email})
    assert result.created


def test_a_referrer_cannot_refer_their_own_email(tenant: Tenant) -> None:
    with pytest.raises(InputRejected) as rejected:
        submit_lead(tenant.campaign, tenant.referrer, {"first_name": "Me", "email": tenant.referrer.email.upper()})
    assert rejected.value.errors == {"email": ["A referrer can't refer their own email address."]}


def test_an_archived_campaign_takes_no_leads(tenant: Tenant) -> None:
    tenant.campaign.status = CampaignStatus.ARCHIVED
    tenant.campaign.save()
    with pytest.raises(InputRejected) as rejected:
        submit_lead(tenant.campaign, tenant.referrer, {"first_name": "A", "email": "a@example.com"})
    assert "campaign" in rejected.value.errors


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "a@example.com"}, "first_name", "This field is required."),
        ({"first_name": "A"}, "email", "This field is required."),
        ({"first_name": "A", "email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"first_name": "A" * 81, "email": "a@example.com"}, "first_name", "at most 80 characters"),
        ({"first_name": "A", "email": "a@example.com", "notes": "n" * 2001}, "notes", "at most 2000 characters"),
        ({"first_name": "A", "email": "a@example.com", "phone": "555"}, "phone", "at least 7 digits"),
        (
            {"first_name": "A", "email": "a@example.com", "custom_system_type": "Wood stove"},
            "custom_system_type",
            "Select a valid choice",
        ),
    ],
)
def test_invalid_input_names_the_field_and_writes_nothing(
    tenant: Tenant, data: dict[str, str], field: str, message: str
) -> None:
    before = Lead.objects.count()
    with pytest.raises(InputRejected) as rejected:
        submit_lead(tenant.campaign, tenant.referrer, data)
    assert message in " ".join(rejected.value.errors[field])
    assert Lead.objects.count() == before


def test_custom_field_values_are_stored_as_json_by_type(tenant: Tenant) -> None:
    for key, kind in [
        ("rooms", CustomFieldType.NUMBER),
        ("since", CustomFieldType.DATE),
        ("owner", CustomFieldType.CHECKBOX),
    ]:
        CustomField.objects.create(campaign=tenant.campaign, key=key, label=key.title(), field_type=kind)
    lead = submit_lead(
        tenant.campaign,
        tenant.referrer,
        {
            "first_name": "A",
            "email": "typed@example.com",
            "custom_rooms": "4",
            "custom_since": "2019-05-01",
            "custom_owner": "on",
            "custom_system_type": "Furnace",
        },
    ).lead
    lead.refresh_from_db()
    assert lead.custom_data == {"rooms": 4, "since": "2019-05-01", "owner": True, "system_type": "Furnace"}


def test_a_required_custom_field_must_be_answered(tenant: Tenant) -> None:
    CustomField.objects.filter(key="system_type").update(required=True)
    with pytest.raises(InputRejected) as rejected:
        submit_lead(tenant.campaign, tenant.referrer, {"first_name": "A", "email": "b@example.com"})
    assert rejected.value.errors["custom_system_type"] == ["This field is required."]
