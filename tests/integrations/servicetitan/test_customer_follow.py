"""An ongoing sync against the sandbox: a linked referrer follows its customer's later changes in ServiceTitan."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from referloop.campaigns.models import Referrer
from referloop.integrations.servicetitan.customer_sync.choose import NewReferrer
from referloop.integrations.servicetitan.customer_sync.follow import SOURCE, Link, follow
from referloop.integrations.servicetitan.customer_sync.models import (
    CustomerLink,
    CustomerSync,
    EmailSource,
    Mode,
    Outcome,
    StagedCustomer,
    SyncState,
)
from referloop.integrations.servicetitan.customer_sync.progress import progress_of
from referloop.sandbox.customers import Customer, NewContact
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant
from tests.integrations.engine.helpers import connect
from tests.integrations.servicetitan.customer_syncing import configure, passes, run_until

pytestmark = pytest.mark.django_db(transaction=True)


def _synced(tenant: Tenant, sandbox: SandboxHandle, **settings: object) -> CustomerSync:
    """An ongoing sync past its first pass: every customer with an email is a referrer."""
    integration = connect(tenant.campaign)
    sync = configure(integration, mode=Mode.ONGOING, **settings)
    run_until(passes(1), sync)
    return sync


def _customer(sandbox: SandboxHandle, phone_type: str = "Phone") -> Customer:
    """An active seeded customer with an email and one phone of `phone_type`, whom the sync made a referrer."""
    return next(
        c
        for c in sandbox.customers()
        if c.active and c.emails() and [k.type for k in c.contacts if k.type != "Email"] == [phone_type]
    )


def _referrer_of(sync: CustomerSync, customer: Customer) -> Referrer:
    return (
        CustomerLink.objects.select_related("referrer")
        .get(integration=sync.integration, customer_id=customer.id)
        .referrer
    )


def _outcome(sync: CustomerSync, customer: Customer) -> str:
    return StagedCustomer.objects.get(sync=sync, customer_id=customer.id).outcome


def _add_contact_only(sandbox: SandboxHandle, customer: Customer, kind: str, value: str) -> None:
    """A new contact as ServiceTitan records it: on the contacts export only, the customer's modifiedOn unmoved."""
    before = sandbox.customers()[[c.id for c in sandbox.customers()].index(customer.id)].modified_on
    changed = sandbox.state.crm.change_customer(customer.id, add_contacts=[NewContact(kind, value)])
    changed.modified_on = before


def test_a_referrer_the_sync_created_takes_the_customers_new_name(tenant: Tenant, sandbox: SandboxHandle) -> None:
    sync = _synced(tenant, sandbox)
    customer = _customer(sandbox)
    referrer = _referrer_of(sync, customer)
    assert referrer.source == SOURCE

    sandbox.change_customer(customer.id, name="Rosalind  Van Buren")
    run_until(passes(2), sync)

    referrer.refresh_from_db()
    assert (referrer.first_name, referrer.last_name) == ("Rosalind", "Van Buren")
    assert _outcome(sync, customer) == Outcome.UPDATED
    progress = progress_of(sync)
    assert progress.updated == 1
    assert "updated 1" in progress.summary
    assert Referrer.objects.filter(campaign=tenant.campaign, first_name="Rosalind").count() == 1


def test_a_new_mobile_phone_that_arrives_on_the_contacts_export_only_reaches_the_referrer(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    sync = _synced(tenant, sandbox)  # Map Fields: mobile phone first
    customer = _customer(sandbox, phone_type="Phone")
    referrer = _referrer_of(sync, customer)
    assert referrer.phone == customer.phones()[0]

    _add_contact_only(sandbox, customer, "MobilePhone", "(217) 555-7788")
    run_until(passes(2), sync)

    referrer.refresh_from_db()
    assert referrer.phone == "(217) 555-7788"
    assert _outcome(sync, customer) == Outcome.UPDATED


def test_a_changed_email_moves_the_referrer_to_it_without_a_second_referrer(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    sync = _synced(tenant, sandbox, email_source=EmailSource.LATEST)
    customer = _customer(sandbox)
    referrer = _referrer_of(sync, customer)
    before = Referrer.objects.filter(campaign=tenant.campaign).count()

    _add_contact_only(sandbox, customer, "Email", "New.Address@Example.com")
    run_until(passes(2), sync)

    referrer.refresh_from_db()
    assert referrer.email == "new.address@example.com"
    assert Referrer.objects.filter(campaign=tenant.campaign).count() == before
    assert _outcome(sync, customer) == Outcome.UPDATED


def test_a_changed_email_that_another_referrer_has_is_not_applied_and_the_outcome_says_why(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    sync = _synced(tenant, sandbox, email_source=EmailSource.LATEST)
    customer = _customer(sandbox)
    referrer = _referrer_of(sync, customer)
    old_email = referrer.email
    Referrer.objects.create(campaign=tenant.campaign, first_name="Taken", email="taken@example.com")

    sandbox.change_customer(customer.id, name="Renamed Customer", add_emails=["TAKEN@example.com"])
    run_until(passes(2), sync)

    referrer.refresh_from_db()
    assert referrer.email == old_email
    assert (referrer.first_name, referrer.last_name) == ("Renamed", "Customer")  # the rest still follows
    assert _outcome(sync, customer) == Outcome.EMAIL_TAKEN
    skipped = {s.outcome: (s.count, s.words) for s in progress_of(sync).skipped}
    assert skipped[Outcome.EMAIL_TAKEN] == (1, "whose new email belongs to another referrer")
    sync.refresh_from_db()
    assert sync.state == SyncState.RUNNING and sync.last_error == ""
    assert Referrer.objects.get(campaign=tenant.campaign, email="taken@example.com").first_name == "Taken"


def test_a_referrer_who_joined_themselves_keeps_what_they_typed_and_only_gets_a_blank_phone_filled(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    customer = _customer(sandbox)
    joined = Referrer.objects.create(
        campaign=tenant.campaign, first_name="Rosie", last_name="Typed", email=customer.emails()[0].upper()
    )
    sync = _synced(tenant, sandbox, email_source=EmailSource.LATEST)
    joined.refresh_from_db()
    assert joined.phone == customer.phones()[0]  # blank: filled when linked
    assert _outcome(sync, customer) == Outcome.LINKED

    sandbox.change_customer(customer.id, name="Someone Else", add_emails=["someone.else@example.com"])
    _add_contact_only(sandbox, customer, "MobilePhone", "(217) 555-6655")
    run_until(passes(2), sync)

    joined.refresh_from_db()
    assert (joined.first_name, joined.last_name, joined.email) == ("Rosie", "Typed", customer.emails()[0].upper())
    assert joined.phone == customer.phones()[0]
    assert _outcome(sync, customer) == Outcome.LINKED  # what the run did with the customer: linked, nothing since


def test_following_a_page_of_changes_takes_the_same_number_of_queries_for_3_or_60_referrers(tenant: Tenant) -> None:
    def queries(count: int, offset: int) -> int:
        linked = []
        for n in range(offset, offset + count):
            referrer = Referrer.objects.create(
                campaign=tenant.campaign, first_name="Old", email=f"old{n}@example.com", source=SOURCE
            )
            new = NewReferrer("New", f"Name{n}", f"new{n}@example.com", f"555-{n:04d}")
            linked.append((Link(n, referrer.pk, created_referrer=True), new))
        with CaptureQueriesContext(connection) as captured:
            outcomes = follow(tenant.campaign, linked)
        assert set(outcomes.values()) == {Outcome.UPDATED}
        return len(captured.captured_queries)

    assert queries(3, 0) == queries(60, 100)
    assert Referrer.objects.get(campaign=tenant.campaign, email="new101@example.com").last_name == "Name101"


def test_an_email_someone_joins_with_between_the_check_and_the_write_ends_as_email_taken_not_an_error(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    followed = Referrer.objects.create(
        campaign=tenant.campaign, first_name="Old", email="old@example.com", source=SOURCE
    )
    other = Referrer.objects.create(campaign=tenant.campaign, first_name="Kim", email="kim@example.com", source=SOURCE)
    Referrer.objects.create(campaign=tenant.campaign, first_name="Joined", email="Race@Example.com")
    # The check read the emails before "Joined" signed up: it saw nobody holding race@example.com.
    monkeypatch.setattr("referloop.integrations.servicetitan.customer_sync.follow._holders", lambda *_: {})
    linked = [
        (Link(1, followed.pk, created_referrer=True), NewReferrer("New", "Name", "race@example.com", "555-0101")),
        (Link(2, other.pk, created_referrer=True), NewReferrer("Kim", "Lee", "kim.lee@example.com", "")),
    ]

    outcomes = follow(tenant.campaign, linked)

    assert outcomes == {1: Outcome.EMAIL_TAKEN, 2: Outcome.UPDATED}
    followed.refresh_from_db()
    other.refresh_from_db()
    assert (followed.first_name, followed.email, followed.phone) == ("New", "old@example.com", "555-0101")
    assert (other.last_name, other.email) == ("Lee", "kim.lee@example.com")
