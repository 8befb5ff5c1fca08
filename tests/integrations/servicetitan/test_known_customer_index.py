"""The customer sync's contacts copy as the known-customer index, against the sandbox over real HTTP.

Saving a mapping whose Is First Time Client is From ServiceTitan starts a contacts-only copy in the worker; once it
is complete and fresh it answers every lead with no ServiceTitan call (by email too, which ServiceTitan cannot look
up). While it is incomplete or stale, a lead with a phone is asked about by phone as before.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from referloop.campaigns.models import Lead, LeadEvent, LeadStatus, Referrer
from referloop.diagnostics.checks import cheap_checks
from referloop.diagnostics.result import Status
from referloop.integrations import destinations
from referloop.integrations.models import Delivery, Integration, LeadAction
from referloop.integrations.servicetitan import known_customers
from referloop.integrations.servicetitan.customer_sync.index import StagedContactIndex, fresh_within
from referloop.integrations.servicetitan.customer_sync.models import (
    CustomerLink,
    CustomerSync,
    StagedContact,
    StagedCustomer,
    SyncState,
)
from referloop.integrations.servicetitan.customer_sync.runner import CustomerSyncJob
from referloop.integrations.servicetitan.customer_sync.store import poll_interval
from referloop.integrations.servicetitan.known_customers import Key
from referloop.sandbox.customers import phone_digits
from referloop.sandbox.testing import SandboxHandle
from tests.api.helpers import lead_body, post_json
from tests.conftest import Tenant
from tests.integrations.engine.helpers import drain
from tests.integrations.servicetitan.conftest import connect, mapping_post, url
from tests.integrations.servicetitan.customer_syncing import configure, finished, run_until

pytestmark = pytest.mark.django_db(transaction=True)

FROM_ST = "From ServiceTitan, else No"  # "else No": a Yes below is the copy's answer, never the fallback
SHARED_PHONE = "(217) 555-0142"  # two seeded customers share it
NOBODYS_PHONE = "(512) 555-0199"
CONTACTS_EXPORT = "ExportContacts_CustomersContacts"
CUSTOMERS_EXPORT = "ExportCustomers_GetCustomers"


@pytest.fixture(autouse=True)
def real_index() -> Iterator[None]:
    cache.clear()  # no phone answer left by another test
    registered = known_customers.current_index()
    known_customers.register_index(StagedContactIndex())  # what the app registers
    yield
    known_customers.register_index(registered)


def asking_servicetitan(tenant: Tenant) -> Integration:
    """Connected through the screens; Is First Time Client set to From ServiceTitan on the Leads tab."""
    integration = connect(tenant)
    response = tenant.client.post(
        url("integration_leads", tenant),
        mapping_post(integration, lead_action=LeadAction.CREATE_BOOKING, isFirstTimeClient=("manual", FROM_ST)),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Integration.objects.get(pk=integration.pk)


def copy_of(integration: Integration) -> CustomerSync:
    return CustomerSync.objects.get(integration=integration)


def copy_until(integration: Integration, done: Callable[[CustomerSync], bool], **options: object) -> CustomerSync:
    """A worker runs (deliveries, follower, the copy) until the copy has done what the test waits for."""
    drain(limit_seconds=60, stop=lambda: done(copy_of(integration)), follow_tick=0.05, **options)
    sync = copy_of(integration)
    assert done(sync), f"the copy did not get there: complete at {sync.contacts_complete_at}"
    return sync


def complete(sync: CustomerSync) -> bool:
    return sync.contacts_complete_at is not None


def covering(tenant: Tenant) -> Integration:
    integration = asking_servicetitan(tenant)
    copy_until(integration, complete)
    return integration


def new_lead(tenant: Tenant, email: str, phone: str = "") -> Lead:
    response = post_json(tenant, "/leads", lead_body(tenant, email=email, phone=phone))
    assert response.status_code == 201, response.content.decode()
    return Lead.objects.get(email__iexact=email)


def deliver() -> None:
    """Deliveries only (no background jobs): the copy stays exactly as the test left it."""
    drain(follow=False)


def booking_of(sandbox: SandboxHandle, lead: Lead):
    [booking] = [b for b in sandbox.bookings() if b.external_id == lead.code]
    return booking


def lookups(sandbox: SandboxHandle, since: int) -> int:
    return len(sandbox.calls(since=since, operation="Customers_GetList"))


def oldest_customer_with(sandbox: SandboxHandle, phone: str) -> int:
    wanted = phone_digits(phone)
    return min(c.id for c in sandbox.customers() if any(phone_digits(p) == wanted for p in c.phones()))


def test_saving_the_mapping_starts_a_contacts_only_copy_that_makes_no_referrers(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    mark = sandbox.mark()
    integration = asking_servicetitan(tenant)
    sync = copy_of(integration)
    assert sync.keep_contacts and sync.state == SyncState.IDLE and sync.contacts_complete_at is None

    sync = copy_until(integration, complete)

    contacts = [contact for customer in sandbox.customers() for contact in customer.contacts]
    assert StagedContact.objects.filter(sync=sync).count() == len(contacts)
    assert StagedContact.objects.filter(sync=sync, kind="email").exclude(key="").exists()
    assert not StagedCustomer.objects.filter(sync=sync).exists()
    assert not Referrer.objects.filter(campaign=tenant.campaign, source="servicetitan").exists()
    assert len(sandbox.calls(since=mark, operation=CUSTOMERS_EXPORT)) == 0
    assert sync.state == SyncState.IDLE  # the Referrers tab still says Not started
    assert sync.contacts_due_at is not None and sync.contacts_due_at >= sync.contacts_complete_at + poll_interval()


def test_a_lead_matched_by_email_through_the_copy_costs_no_call(tenant: Tenant, sandbox: SandboxHandle) -> None:
    covering(tenant)
    customer = next(c for c in sandbox.customers() if c.active and c.emails())
    mark = sandbox.mark()
    lead = new_lead(tenant, customer.emails()[0].upper(), phone=NOBODYS_PHONE)

    deliver()

    assert lookups(sandbox, mark) == 0
    assert booking_of(sandbox, lead).is_first_time_client is False
    lead.refresh_from_db()
    assert lead.servicetitan_customer_id == customer.id
    assert lead.status == LeadStatus.NOT_QUALIFIED
    assert LeadEvent.objects.get(lead=lead, kind="existing_customer").detail.endswith("(matched by email).")


def test_a_lead_matched_by_phone_through_the_copy_costs_no_call(tenant: Tenant, sandbox: SandboxHandle) -> None:
    covering(tenant)
    mark = sandbox.mark()
    lead = new_lead(tenant, "kim@friends.example", phone="+1 217-555-0142")

    deliver()

    assert lookups(sandbox, mark) == 0
    assert booking_of(sandbox, lead).is_first_time_client is False
    lead.refresh_from_db()
    assert lead.servicetitan_customer_id == oldest_customer_with(sandbox, SHARED_PHONE)  # as the lookup answers
    assert LeadEvent.objects.get(lead=lead, kind="existing_customer").detail.endswith("(matched by phone).")


def test_a_lead_nobody_matches_in_a_covering_copy_is_a_first_time_client_without_any_call(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    covering(tenant)
    mark = sandbox.mark()
    lead = new_lead(tenant, "new@friends.example", phone=NOBODYS_PHONE)

    deliver()

    assert lookups(sandbox, mark) == 0
    assert booking_of(sandbox, lead).is_first_time_client is True  # not the fallback (No)
    delivery = Delivery.objects.get(lead=lead)
    assert delivery.attempts.get().warnings == []
    lead.refresh_from_db()
    assert lead.servicetitan_customer_id is None and lead.status == LeadStatus.PENDING


def test_an_incomplete_copy_leaves_the_lead_to_the_phone_lookup(
    tenant: Tenant, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.set(export_page_size=7)
    integration = asking_servicetitan(tenant)
    reading_one_page = functools.partial(CustomerSyncJob.in_worker, stop_after_pages=1)
    monkeypatch.setitem(destinations._BACKGROUND, "servicetitan-customer-sync", reading_one_page)
    sync = copy_until(integration, lambda s: bool(s.contacts_token))
    monkeypatch.undo()
    assert sync.contacts_complete_at is None and StagedContact.objects.filter(sync=sync).count() == 7
    mark = sandbox.mark()
    lead = new_lead(tenant, "new@friends.example", phone=NOBODYS_PHONE)

    deliver()

    assert lookups(sandbox, mark) == 1
    assert booking_of(sandbox, lead).is_first_time_client is True


def test_a_stale_copy_leaves_the_lead_to_the_phone_lookup(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = covering(tenant)
    long_ago = timezone.now() - 2 * fresh_within()
    CustomerSync.objects.filter(integration=integration).update(contacts_polled_at=long_ago)
    mark = sandbox.mark()
    nobody = new_lead(tenant, "new@friends.example", phone=NOBODYS_PHONE)
    known = new_lead(tenant, "kim@friends.example", phone=SHARED_PHONE)

    deliver()

    # Not knowing a phone proves nothing in a stale copy: asked about by phone. A contact it has still names a
    # customer (ServiceTitan does not delete customers): no call for that one.
    assert lookups(sandbox, mark) == 1
    assert booking_of(sandbox, nobody).is_first_time_client is True
    assert booking_of(sandbox, known).is_first_time_client is False
    [result] = [r for r in cheap_checks(integration) if r.key == "known_customers"]
    assert result.status == Status.WARNING
    assert "lookups ask ServiceTitan by phone meanwhile" in result.sentence


def test_a_contact_added_in_servicetitan_is_known_after_the_next_poll(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = covering(tenant)
    nina = sandbox.add_customer("Nina Newcomer", emails=["nina.newcomer@example.com"])
    before = copy_of(integration).contacts_polled_at
    assert before is not None
    CustomerSync.objects.filter(integration=integration).update(contacts_due_at=timezone.now())  # the poll is due
    copy_until(integration, lambda s: s.contacts_polled_at is not None and s.contacts_polled_at > before)
    mark = sandbox.mark()
    lead = new_lead(tenant, "Nina.Newcomer@example.com")

    deliver()

    assert lookups(sandbox, mark) == 0
    assert booking_of(sandbox, lead).is_first_time_client is False
    lead.refresh_from_db()
    assert lead.servicetitan_customer_id == nina.id


def test_the_copy_resumes_after_a_crash_without_reading_finished_pages_again(
    tenant: Tenant, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.set(export_page_size=7)
    mark = sandbox.mark()
    integration = asking_servicetitan(tenant)
    # A worker that dies after two pages: it keeps its lease (as a killed worker does) until it runs out.
    dying = functools.partial(CustomerSyncJob.in_worker, stop_after_pages=2)
    monkeypatch.setitem(destinations._BACKGROUND, "servicetitan-customer-sync", dying)
    copy_until(integration, lambda s: StagedContact.objects.filter(sync=s).count() >= 14)
    monkeypatch.undo()
    at_death = copy_of(integration)
    assert at_death.leased_by and at_death.contacts_complete_at is None
    CustomerSync.objects.filter(pk=at_death.pk).update(lease_until=timezone.now())  # the lease runs out

    sync = copy_until(integration, complete)

    calls = sandbox.calls(since=mark, operation=CONTACTS_EXPORT)
    contacts = sum(len(c.contacts) for c in sandbox.customers())
    assert len(calls) == contacts // 7 + 1  # every page once, plus the last empty answer on a multiple of 7
    tokens = Counter(call.params.get("from", "") for call in calls)
    assert max(tokens.values()) == 1
    assert StagedContact.objects.filter(sync=sync).count() == contacts


def test_a_mapping_that_no_longer_asks_stops_the_copy(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = asking_servicetitan(tenant)
    assert copy_of(integration).keep_contacts
    response = tenant.client.post(
        url("integration_leads", tenant), mapping_post(integration, isFirstTimeClient=("manual", "Yes"))
    )
    assert response.status_code == 302
    assert not copy_of(integration).keep_contacts
    integration.refresh_from_db()
    assert not [r for r in cheap_checks(integration) if r.key == "known_customers"]  # the check is for askers


def test_a_referrer_sync_and_the_known_customer_copy_share_one_copy(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = covering(tenant)
    staged = StagedContact.objects.filter(sync__integration=integration).count()
    mark = sandbox.mark()
    sync = configure(integration)  # the Referrers tab's Start: a one-time sync

    run_until(finished, sync)

    assert CustomerSync.objects.filter(integration=integration).count() == 1
    assert StagedContact.objects.filter(sync__integration=integration).count() == staged  # no second copy
    # The referrer sync went on from the copy's token: one page of contacts (nothing new), the customers in full.
    assert len(sandbox.calls(since=mark, operation=CONTACTS_EXPORT)) == 1
    emails = {c.emails()[0].lower() for c in sandbox.customers() if c.active and c.emails()}
    assert CustomerLink.objects.filter(integration=integration).count() == len(emails)
    # After it finished, the copy keeps going on its own.
    sync.refresh_from_db()
    assert sync.keep_contacts and sync.contacts_due_at is not None


def test_the_index_answers_a_whole_claim_in_two_queries_however_many_integrations_and_keys(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = covering(tenant)
    customer = next(c for c in sandbox.customers() if c.active and c.emails())
    email = ("email", customer.emails()[0].casefold())
    keys: dict[int, set[Key]] = {
        integration.pk: {*(("email", f"friend{n}@example.com") for n in range(300)), email},
        # Other integrations (no copy): the same email there names nobody of this tenant's.
        **{integration.pk + n: {("phone", f"51255{n:05d}"), email} for n in range(1, 40)},
    }

    with CaptureQueriesContext(connection) as queries:
        answer = StagedContactIndex().look_up(keys, timezone.now())

    assert len(queries) == 2
    assert answer.customers == {integration.pk: {email: customer.id}}
    assert answer.covering == {integration.pk}
    # One integration's keys (matching a referrer who joins): the same answer.
    assert StagedContactIndex().customer_ids(integration.pk, [email, ("phone", "5125550199")]) == {email: customer.id}


def test_diagnose_says_how_complete_and_fresh_the_copy_is(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = asking_servicetitan(tenant)
    [copying] = [r for r in cheap_checks(integration) if r.key == "known_customers"]
    assert copying.status == Status.OK
    assert copying.sentence.startswith("Still copying the customers' contacts")
    assert "lookups ask ServiceTitan by phone meanwhile" in copying.sentence

    copy_until(integration, complete)

    [copied] = [r for r in cheap_checks(integration) if r.key == "known_customers"]
    contacts = sum(len(c.emails()) + len(c.phones()) for c in sandbox.customers())
    assert copied.status == Status.OK
    assert copied.sentence.startswith(f"{contacts} contacts copied, last read ")
    assert copied.data["covers"] is True
    page = tenant.client.get(url("integration_diagnose", tenant)).content.decode()
    assert "Known customers" in page


def test_the_referrers_tab_still_says_no_sync_yet_while_only_the_contacts_copy_runs(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = covering(tenant)
    assert copy_of(integration).contacts_read == 0  # the referrer sync's counters are not the copy's
    page = tenant.client.get(url("integration_referrers", tenant)).content.decode()
    assert "No sync yet" in page
