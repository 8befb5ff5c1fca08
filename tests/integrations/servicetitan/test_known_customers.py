"""Known customers: with Is First Time Client *From ServiceTitan*, a lead is looked up among the tenant's customers
before its booking is sent (the local index, the cache, else one phone lookup in the sandbox over real HTTP). A
customer's booking says No, the lead is marked Existing customer and, per the campaign's setting, Not qualified;
nobody matching says Yes; a failing lookup sends the mapping's fallback with a warning on the attempt."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import datetime

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from referloop.campaigns import outcomes
from referloop.campaigns.models import Lead, LeadEvent, LeadStatus
from referloop.integrations.models import AttemptOutcome, Delivery, DeliveryState, Integration, LeadAction
from referloop.integrations.servicetitan import known_customers
from referloop.integrations.servicetitan.known_customers import IndexAnswer, Key
from referloop.providers.mapping import FieldMapping
from referloop.providers.servicetitan.first_time import KNOWN_CUSTOMER, lookup_warning
from referloop.sandbox.customers import phone_digits
from tests.api.helpers import lead_body, post_json
from tests.conftest import Tenant
from tests.integrations.engine.helpers import drain
from tests.integrations.servicetitan.conftest import connect, mapping_post, url

pytestmark = pytest.mark.django_db(transaction=True)

FROM_ST_YES = "From ServiceTitan, else Yes"
FROM_ST_NO = "From ServiceTitan, else No"
SHARED_PHONE = "(217) 555-0142"  # two seeded customers share it
NOBODYS_PHONE = "(512) 555-0199"


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    """These tests are about the lookup without a covering contacts copy (test_known_customer_index.py has it):
    the index knows nobody unless a test registers one."""
    cache.clear()  # the database cache's table outlives a test's flush
    registered = known_customers.current_index()
    known_customers.register_index(known_customers.NoIndex())
    yield
    known_customers.register_index(registered)


def asking_servicetitan(tenant: Tenant, choice: str = FROM_ST_YES) -> Integration:
    """Connected through the screens, creating bookings, Is First Time Client set on the Leads tab."""
    integration = connect(tenant)
    response = tenant.client.post(
        url("integration_leads", tenant),
        mapping_post(integration, lead_action=LeadAction.CREATE_BOOKING, isFirstTimeClient=("manual", choice)),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    integration.refresh_from_db()
    assert integration.mapping()["isFirstTimeClient"] == FieldMapping("manual", choice)
    return integration


def new_lead(tenant: Tenant, email: str, phone: str = "") -> Lead:
    response = post_json(tenant, "/leads", lead_body(tenant, email=email, phone=phone))
    assert response.status_code == 201, response.content.decode()
    return Lead.objects.get(email__iexact=email)


def booking_of(sandbox, lead: Lead):
    [booking] = [b for b in sandbox.bookings() if b.external_id == lead.code]
    return booking


def oldest_customer_with(sandbox, phone: str) -> int:
    wanted = phone_digits(phone)
    ids = [c.id for c in sandbox.customers() if c.active and any(phone_digits(p) == wanted for p in c.phones())]
    assert len(ids) >= 2, "the sandbox seeds two customers sharing this phone"
    return min(ids)


def lookups(sandbox, since: int) -> int:
    return len(sandbox.calls(since=since, operation="Customers_GetList"))


def test_a_lead_whose_phone_is_a_customers_is_booked_as_not_first_time_and_marked_not_qualified(
    tenant: Tenant, sandbox
) -> None:
    asking_servicetitan(tenant)
    customer_id = oldest_customer_with(sandbox, SHARED_PHONE)
    mark = sandbox.mark()
    lead = new_lead(tenant, "kim@friends.example", phone="+1 217-555-0142")
    assert lookups(sandbox, mark) == 0  # creating the lead never calls ServiceTitan

    drain()

    assert lookups(sandbox, mark) == 1
    assert booking_of(sandbox, lead).is_first_time_client is False
    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.DELIVERED
    attempt = delivery.attempts.get()
    assert attempt.warnings == []
    assert attempt.request_summary[KNOWN_CUSTOMER]["customer_id"] == customer_id
    lead.refresh_from_db()
    assert lead.servicetitan_customer_id == customer_id
    assert lead.status == LeadStatus.NOT_QUALIFIED
    assert lead.status_reason == f"Already a ServiceTitan customer (#{customer_id})"
    event = LeadEvent.objects.get(lead=lead, kind="existing_customer")
    assert event.detail == f"ServiceTitan already has this friend as customer #{customer_id} (matched by phone)."

    page = tenant.client.get(reverse("lead_detail", args=[tenant.campaign.pk, lead.pk])).content.decode()
    assert "Existing customer" in page
    assert f"ServiceTitan customer #{customer_id}" in page
    assert f"Already a ServiceTitan customer (#{customer_id})" in page
    leads_page = reverse("lead_list", args=[tenant.campaign.pk])
    listed = tenant.client.get(leads_page, {"existing": "1"}).content.decode()
    assert "kim@friends.example" in listed and "Existing customer" in listed


def test_a_rule_never_qualifies_an_existing_customer_but_a_person_still_may(tenant: Tenant, sandbox) -> None:
    asking_servicetitan(tenant)
    lead = new_lead(tenant, "kim@friends.example", phone=SHARED_PHONE)
    drain()
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NOT_QUALIFIED

    # Even set back to Pending, the rule does not qualify it.
    Lead.objects.filter(pk=lead.pk).update(status=LeadStatus.PENDING)
    assert outcomes.qualify_by_rule(lead.pk, "job_completed", "A job is completed", {}, timezone.now()) is False

    outcomes.qualify_by_hand(lead, tenant.user, "A new property of an old customer: the referral counts")
    assert lead.status == LeadStatus.QUALIFIED
    event = LeadEvent.objects.get(lead=lead, kind="qualified")
    assert event.user == tenant.user


def test_with_the_setting_off_an_existing_customer_stays_pending_and_can_qualify(tenant: Tenant, sandbox) -> None:
    asking_servicetitan(tenant)
    tenant.campaign.existing_customers_never_qualify = False
    tenant.campaign.save()
    lead = new_lead(tenant, "kim@friends.example", phone=SHARED_PHONE)

    drain()

    lead.refresh_from_db()
    assert lead.servicetitan_customer_id == oldest_customer_with(sandbox, SHARED_PHONE)
    assert lead.status == LeadStatus.PENDING
    assert booking_of(sandbox, lead).is_first_time_client is False
    assert outcomes.qualify_by_rule(lead.pk, "job_completed", "A job is completed", {}, timezone.now()) is True


def test_a_lead_matching_nobody_is_booked_as_a_first_time_client(tenant: Tenant, sandbox) -> None:
    asking_servicetitan(tenant)
    mark = sandbox.mark()
    lead = new_lead(tenant, "new@friends.example", phone=NOBODYS_PHONE)

    drain()

    assert lookups(sandbox, mark) == 1
    assert booking_of(sandbox, lead).is_first_time_client is True
    lead.refresh_from_db()
    assert lead.servicetitan_customer_id is None
    assert lead.status == LeadStatus.PENDING
    assert Delivery.objects.get(lead=lead).attempts.get().warnings == []


def test_a_second_lead_with_the_same_phone_within_the_cache_window_costs_no_call(tenant: Tenant, sandbox) -> None:
    asking_servicetitan(tenant)
    mark = sandbox.mark()
    first = new_lead(tenant, "kim@friends.example", phone="217-555-0142")
    drain()
    nobody = new_lead(tenant, "new@friends.example", phone=NOBODYS_PHONE)
    drain()
    assert lookups(sandbox, mark) == 2

    # The same phones written differently: answered from the cache, "nobody" included.
    second = new_lead(tenant, "lee@friends.example", phone="+1 (217) 555 0142")
    again = new_lead(tenant, "newer@friends.example", phone="1-512-555-0199")
    drain()

    assert lookups(sandbox, mark) == 2
    assert booking_of(sandbox, second).is_first_time_client is False
    assert booking_of(sandbox, again).is_first_time_client is True
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.servicetitan_customer_id == first.servicetitan_customer_id is not None
    assert second.status == LeadStatus.NOT_QUALIFIED
    assert nobody.pk != again.pk


def test_a_lead_without_a_phone_costs_no_call_and_is_a_first_time_client(tenant: Tenant, sandbox) -> None:
    asking_servicetitan(tenant)
    mark = sandbox.mark()
    lead = new_lead(tenant, "nophone@friends.example")

    drain()

    assert lookups(sandbox, mark) == 0
    assert booking_of(sandbox, lead).is_first_time_client is True


class ContactsIndex:
    """A local copy of the tenant's contacts, as the customer sync keeps one (here: from the sandbox's records)."""

    def __init__(self, contacts: Mapping[Key, int]) -> None:
        self.contacts = contacts
        self.asked: list[tuple[int, set[Key]]] = []

    def look_up(self, keys: Mapping[int, Collection[Key]], now: datetime) -> IndexAnswer:
        self.asked += [(integration_id, set(wanted)) for integration_id, wanted in keys.items()]
        known = {
            integration_id: {key: self.contacts[key] for key in wanted if key in self.contacts}
            for integration_id, wanted in keys.items()
        }
        return IndexAnswer(known)  # covering nothing, as a copy still being read: unknown keys are asked about

    def customer_ids(self, integration_id: int, keys: Collection[Key]) -> Mapping[Key, int]:
        return self.look_up({integration_id: keys}, timezone.now()).customers[integration_id]


def test_a_lead_matched_by_email_in_the_local_index_costs_no_call(tenant: Tenant, sandbox) -> None:
    integration = asking_servicetitan(tenant)
    customer = next(c for c in sandbox.customers() if c.active and c.emails())
    index = ContactsIndex({("email", customer.emails()[0].casefold()): customer.id})
    known_customers.register_index(index)
    mark = sandbox.mark()
    lead = new_lead(tenant, customer.emails()[0].upper(), phone=NOBODYS_PHONE)

    drain()

    assert lookups(sandbox, mark) == 0
    assert index.asked == [(integration.pk, {("email", customer.emails()[0].casefold()), ("phone", "5125550199")})]
    assert booking_of(sandbox, lead).is_first_time_client is False
    lead.refresh_from_db()
    assert lead.servicetitan_customer_id == customer.id
    assert lead.status_reason == f"Already a ServiceTitan customer (#{customer.id})"
    assert LeadEvent.objects.get(lead=lead, kind="existing_customer").detail.endswith("(matched by email).")


class BrokenIndex:
    def look_up(self, keys: Mapping[int, Collection[Key]], now: datetime) -> IndexAnswer:
        raise RuntimeError("the local copy is being rebuilt")

    def customer_ids(self, integration_id: int, keys: Collection[Key]) -> Mapping[Key, int]:
        raise RuntimeError("the local copy is being rebuilt")


def test_a_failing_local_index_falls_back_to_the_phone_lookup(tenant: Tenant, sandbox) -> None:
    asking_servicetitan(tenant)
    known_customers.register_index(BrokenIndex())
    mark = sandbox.mark()
    lead = new_lead(tenant, "kim@friends.example", phone=SHARED_PHONE)

    drain()

    assert lookups(sandbox, mark) == 1
    assert booking_of(sandbox, lead).is_first_time_client is False


def test_when_servicetitan_cannot_answer_the_booking_goes_out_with_the_fallback_and_a_warning(
    tenant: Tenant, sandbox, settings
) -> None:
    # "else No" so the fallback is told apart from a "nobody matched" Yes.
    asking_servicetitan(tenant, FROM_ST_NO)
    settings.SERVICETITAN_CUSTOMER_LOOKUP_SECONDS = 0.2
    sandbox.set(hang_rate=1.0, hang_seconds=1.0)  # every call answers a second late: the lookup is given up
    lead = new_lead(tenant, "kim@friends.example", phone=SHARED_PHONE)

    drain()

    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.DELIVERED
    assert booking_of(sandbox, lead).is_first_time_client is False
    attempt = delivery.attempts.get()
    assert attempt.outcome == AttemptOutcome.DELIVERED
    assert attempt.warnings == [lookup_warning("it did not answer within 0.2 seconds", "No")]
    lead.refresh_from_db()
    assert lead.servicetitan_customer_id is None  # nothing is known: not marked, nothing cached
    assert lead.status == LeadStatus.PENDING
    assert cache.get(known_customers.cache_key(delivery.integration_id, "2175550142")) is None
    page = tenant.client.get(url("integration_delivery", tenant, delivery.pk)).content.decode()
    assert "the lookup among the ServiceTitan customers failed" in page


def test_the_from_servicetitan_choice_is_saved_and_shown_on_the_leads_tab(tenant: Tenant, sandbox) -> None:
    asking_servicetitan(tenant, FROM_ST_NO)
    page = tenant.client.get(url("integration_leads", tenant)).content.decode()
    assert f'<option value="{FROM_ST_NO}" selected>{FROM_ST_NO}</option>' in page
    assert f'<option value="{FROM_ST_YES}">{FROM_ST_YES}</option>' in page


def test_from_servicetitan_is_refused_for_another_field(tenant: Tenant, sandbox) -> None:
    integration = connect(tenant)
    response = tenant.client.post(
        url("integration_leads", tenant), mapping_post(integration, priority=("manual", FROM_ST_YES))
    )
    assert response.status_code == 400
    assert "is not a choice for Priority" in response.content.decode()


def test_the_campaign_setting_is_on_by_default_and_an_owner_turns_it_off_on_the_general_tab(tenant: Tenant) -> None:
    assert tenant.campaign.existing_customers_never_qualify is True
    settings_url = reverse("campaign_settings", args=[tenant.campaign.pk, "general"])
    page = tenant.client.get(settings_url).content.decode()
    assert "Existing customers never qualify for a reward" in page
    data = {"name": tenant.campaign.name, "slug": tenant.campaign.slug, "public_submissions_per_hour": "200"}
    response = tenant.client.post(settings_url, data)  # the box left unticked
    assert response.status_code == 302
    tenant.campaign.refresh_from_db()
    assert tenant.campaign.existing_customers_never_qualify is False
    tenant.client.post(settings_url, {**data, "existing_customers_never_qualify": "on"})
    tenant.campaign.refresh_from_db()
    assert tenant.campaign.existing_customers_never_qualify is True
