"""Qualify or unqualify a lead by hand (lead page and API): a reason is required, who did it is kept on the
timeline, the first qualification time never moves, and a lead qualified by hand is never qualified again by a
rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from referloop.accounts.models import Role
from referloop.campaigns import outcomes
from referloop.campaigns.models import LeadEvent, LeadStatus
from tests.api.helpers import get_json, post_json
from tests.campaigns.test_roles import client_with_role
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def outcome_url(tenant: Tenant) -> str:
    return reverse("lead_outcome", args=[tenant.campaign.pk, tenant.lead.pk])


def test_an_owner_qualifies_a_lead_by_hand_with_a_reason_kept_on_its_timeline(tenant: Tenant) -> None:
    response = tenant.client.post(
        outcome_url(tenant), {"action": "qualify", "reason": "Booked by phone, job 9912"}, follow=True
    )
    page = response.content.decode()
    assert "is now Qualified" in page
    assert f"Booked by phone, job 9912 · by {tenant.user.email}" in page
    tenant.lead.refresh_from_db()
    assert (tenant.lead.status, tenant.lead.qualified_by_rule) == (LeadStatus.QUALIFIED, outcomes.BY_HAND)
    assert tenant.lead.qualified_at is not None
    [event] = LeadEvent.objects.filter(lead=tenant.lead)
    assert (event.title, event.user) == ("Qualified by hand", tenant.user)


def test_a_change_by_hand_without_a_reason_is_refused_and_changes_nothing(tenant: Tenant) -> None:
    response = tenant.client.post(outcome_url(tenant), {"action": "qualify", "reason": "  "}, follow=True)
    assert "Say why: the reason is kept on the lead&#x27;s timeline." in response.content.decode()
    tenant.lead.refresh_from_db()
    assert tenant.lead.status == LeadStatus.PENDING
    assert not LeadEvent.objects.exists()


def test_a_member_cannot_qualify_a_lead(tenant: Tenant) -> None:
    member = client_with_role(tenant, Role.MEMBER)
    assert member.post(outcome_url(tenant), {"action": "qualify", "reason": "x"}).status_code == 403
    tenant.lead.refresh_from_db()
    assert tenant.lead.status == LeadStatus.PENDING


def test_unqualifying_keeps_the_first_qualification_time_and_a_rule_never_qualifies_the_lead_again(
    tenant: Tenant,
) -> None:
    first = timezone.now() - timedelta(days=3)
    assert outcomes.qualify_by_rule(tenant.lead.pk, "job", "Booking becomes a job", {"job_number": "7"}, first)
    outcomes.unqualify_by_hand(tenant.lead, tenant.user, "Duplicate of an existing customer")
    assert tenant.lead.status == LeadStatus.NOT_QUALIFIED
    assert tenant.lead.status_reason == "Duplicate of an existing customer"
    assert not outcomes.qualify_by_rule(tenant.lead.pk, "job", "Booking becomes a job", {}, timezone.now())

    outcomes.qualify_by_hand(tenant.lead, tenant.user, "Checked again: a new customer")
    assert (tenant.lead.status, tenant.lead.qualified_at, tenant.lead.qualified_by_rule) == (
        LeadStatus.QUALIFIED,
        first,
        "job",
    )
    titles = list(LeadEvent.objects.filter(lead=tenant.lead).order_by("at", "pk").values_list("title", flat=True))
    assert titles == ["Qualified", "Not qualified (by hand)", "Qualified by hand"]


def test_the_api_qualifies_and_unqualifies_with_a_reason_and_lists_qualified_leads(tenant: Tenant) -> None:
    qualified = post_json(tenant, f"/leads/{tenant.lead.pk}/qualify", {"reason": "Paid in cash"})
    assert qualified.status_code == 200
    body = qualified.json()
    assert (body["status"], body["qualified_by_rule"], body["status_reason"]) == (
        "qualified",
        "by_hand",
        "Paid in cash",
    )
    assert body["qualified_at"] is not None
    listed = get_json(tenant, "/leads", {"status": "qualified"}).json()
    assert [lead["id"] for lead in listed["items"]] == [tenant.lead.pk]

    again = post_json(tenant, f"/leads/{tenant.lead.pk}/qualify", {"reason": "twice"})
    assert again.status_code == 422
    assert again.json()["errors"] == {"status": ["This lead is qualified already."]}

    unqualified = post_json(tenant, f"/leads/{tenant.lead.pk}/unqualify", {"reason": "Refunded"})
    assert (unqualified.json()["status"], unqualified.json()["status_reason"]) == ("not_qualified", "Refunded")
    assert get_json(tenant, "/leads", {"status": "qualified"}).json()["items"] == []
    event = LeadEvent.objects.filter(lead=tenant.lead).latest("pk")
    assert (event.title, event.user) == ("Not qualified (through the API)", None)


def test_the_api_names_a_missing_reason_and_another_accounts_lead_is_not_found(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    missing = post_json(tenant, f"/leads/{tenant.lead.pk}/qualify", {})
    assert missing.status_code == 422
    assert "reason" in missing.json()["errors"]
    foreign = post_json(tenant, f"/leads/{other_tenant.lead.pk}/qualify", {"reason": "x"})
    assert foreign.status_code == 404
    other_tenant.lead.refresh_from_db()
    assert other_tenant.lead.status == LeadStatus.PENDING


@pytest.fixture
def outcome_calls() -> Iterator[list[tuple[str, int]]]:
    calls: list[tuple[str, int]] = []
    saved = list(outcomes._qualified_hooks), list(outcomes._unqualified_hooks)
    outcomes.on_qualified(lambda lead_id, at: calls.append(("qualified", lead_id)))
    outcomes.on_unqualified(lambda lead_id, at: calls.append(("unqualified", lead_id)))
    yield calls
    outcomes._qualified_hooks[:], outcomes._unqualified_hooks[:] = saved


def test_the_outcome_hooks_run_once_per_change_and_only_for_a_real_change(
    tenant: Tenant, outcome_calls: list[tuple[str, int]]
) -> None:
    lead_id = tenant.lead.pk
    outcomes.qualify_by_rule(lead_id, "job", "Booking becomes a job", {}, timezone.now())
    outcomes.qualify_by_rule(lead_id, "job", "Booking becomes a job", {}, timezone.now())  # already qualified
    outcomes.unqualify_by_hand(tenant.lead, tenant.user, "Refunded")
    outcomes.not_qualified_by_fact(lead_id, "The booking was dismissed in ServiceTitan.", timezone.now())  # not pending
    outcomes.qualify_by_hand(tenant.lead, tenant.user, "Checked again")
    assert outcome_calls == [("qualified", lead_id), ("unqualified", lead_id), ("qualified", lead_id)]
