"""Hardening of the customer sync (issue 15): what it does when the database refuses a page, that a chunk being
written locks only the sync's row on PostgreSQL, that no secret reaches the Referrers tab or the known-customer copy
(removed before an error is cut to its column), referrers following their customers (an email freed in the same
page, a customer whose email was removed, emails held elsewhere), and the tag pick list's refresh icon.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from referloop.campaigns.models import Referrer
from referloop.integrations.servicetitan.customer_sync import store
from referloop.integrations.servicetitan.customer_sync.choose import CustomerFacts, NewReferrer, Settings, decide
from referloop.integrations.servicetitan.customer_sync.copy_health import copy_health
from referloop.integrations.servicetitan.customer_sync.follow import SOURCE, Link, follow
from referloop.integrations.servicetitan.customer_sync.models import (
    CustomerLink,
    CustomerSync,
    Mode,
    Outcome,
    Phase,
    StagedCustomer,
    SyncState,
)
from referloop.integrations.servicetitan.customer_sync.progress import progress_of
from referloop.providers.servicetitan.customer_models import ExportPage
from referloop.sandbox.config import DEMO_CLIENT_SECRET
from referloop.sandbox.customers import Customer, NewContact
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant
from tests.integrations.engine.helpers import connect, drain
from tests.integrations.servicetitan.conftest import url
from tests.integrations.servicetitan.customer_syncing import configure, finished, passes, run_until
from tests.integrations.servicetitan.test_referrers_tab import member_client, settings_post

pytestmark = pytest.mark.django_db(transaction=True)

TAB = "integration_referrers"
CUSTOMERS_EXPORT = "ExportCustomers_GetCustomers"


def _add_contact_only(sandbox: SandboxHandle, customer: Customer, kind: str, value: str) -> None:
    """A new contact as ServiceTitan records it: on the contacts export only, the customer's modifiedOn unmoved."""
    before = next(c for c in sandbox.customers() if c.id == customer.id).modified_on
    changed = sandbox.state.crm.change_customer(customer.id, add_contacts=[NewContact(kind, value)])
    changed.modified_on = before


def _referrer_of(sync: CustomerSync, customer: Customer) -> Referrer:
    return (
        CustomerLink.objects.select_related("referrer")
        .get(integration=sync.integration, customer_id=customer.id)
        .referrer
    )


# -- security: ServiceTitan's error text on the Referrers tab -----------------------------------------------------


def test_the_referrer_syncs_error_on_the_referrers_tab_never_shows_the_client_secret(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = connect(tenant.campaign)
    CustomerSync.objects.create(
        integration=integration,
        run=1,
        state=SyncState.FAILED,
        last_error=f"ServiceTitan could not export customers: invalid_client {DEMO_CLIENT_SECRET}.",
        last_error_at=timezone.now(),
    )

    html = tenant.client.get(url(TAB, tenant)).content.decode()
    progress = tenant.client.get(url("integration_referrers_progress", tenant)).content.decode()

    assert 'id="sync-error"' in html  # the error is on the tab
    assert DEMO_CLIENT_SECRET not in html
    assert DEMO_CLIENT_SECRET not in progress


def test_a_secret_cut_by_the_500_character_limit_never_reaches_the_tab_in_part(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = connect(tenant.campaign)
    sync = CustomerSync.objects.create(integration=integration, keep_contacts=True, leased_by="w1")
    plan = store._plan(sync, integration, Phase.CONTACTS, contacts_only=True)
    # ServiceTitan's own words (the error's title) carried the secret near the end of a long sentence: the secret
    # starts 10 characters before the 500-character limit of the stored error.
    head = "ServiceTitan could not export customer contacts: client_secret="
    error = head + "x" * (store.ERROR_LIMIT - 10 - len(head)) + DEMO_CLIENT_SECRET + " was refused."

    store.failed("w1", plan, error, True, timezone.now())

    health = copy_health(integration, timezone.now())
    assert health is not None and health.failure is not None
    assert DEMO_CLIENT_SECRET[:10] not in health.failure.error


# -- exactly once: a page the database refuses --------------------------------------------------------------------


def test_a_page_the_database_refuses_every_time_is_not_read_again_every_second_and_says_why(
    tenant: Tenant, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    integration = connect(tenant.campaign)
    sync = configure(integration)
    mark = sandbox.mark()

    def refused(*args: Any) -> int:
        raise DatabaseError("value too long for type character varying(300)")  # the same answer every time

    monkeypatch.setattr(store, "_stage_customers", refused)
    drain(limit_seconds=4, stop=lambda: False, follow_tick=0.05)

    sync.refresh_from_db()
    asked = Counter(call.params.get("from", "") for call in sandbox.calls(since=mark, operation=CUSTOMERS_EXPORT))
    assert max(asked.values()) <= 2, asked  # one try and one retry a minute later, not one a second
    assert sync.last_error, "the tab says Running with no error while the page fails"


def test_a_customer_name_with_a_nul_character_does_not_stop_the_sync(tenant: Tenant, sandbox: SandboxHandle) -> None:
    """PostgreSQL refuses NUL in text; SQLite stores it. ServiceTitan's names are free text."""
    sandbox.add_customer("Nul\x00 Person", emails=["nul.person@example.com"])
    integration = connect(tenant.campaign)
    sync = configure(integration)

    drain(limit_seconds=15, stop=lambda: finished(CustomerSync.objects.get(pk=sync.pk)), follow_tick=0.05)

    sync.refresh_from_db()
    assert sync.state == SyncState.FINISHED, (sync.state, sync.last_error, sync.pages)
    assert Referrer.objects.filter(campaign=tenant.campaign, email="nul.person@example.com").exists()


def test_a_contacts_page_the_database_refuses_for_the_known_customer_copy_is_said_in_the_copys_own_error(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = connect(tenant.campaign)
    sync = CustomerSync.objects.create(integration=integration, keep_contacts=True, leased_by="w1")
    plan = store._plan(sync, integration, Phase.CONTACTS, contacts_only=True)
    now = timezone.now()

    refused = DatabaseError("value too long for type character varying(300)\nDETAIL:  Key (value)=(x) failed.")
    store.not_written("w1", plan, refused, now)

    sync.refresh_from_db()
    assert sync.contacts_error == (
        "referloop could not save a page of ServiceTitan contacts: value too long for type character varying(300)"
    )
    assert (sync.contacts_error_at, sync.contacts_due_at, sync.leased_by) == (now, now + store.RETRY_AFTER, "")
    assert (sync.last_error, sync.state) == ("", SyncState.IDLE)  # the referrer sync's line is not the copy's


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite locks the whole database by design")
def test_on_postgresql_a_chunk_being_written_does_not_hold_up_a_new_referrer_of_its_campaign(
    tenant: Tenant, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/customer-sync.md: "PostgreSQL locks rows, not the database, and does not pause"."""
    integration = connect(tenant.campaign)
    sync = configure(integration)
    now = timezone.now()
    CustomerSync.objects.filter(pk=sync.pk).update(leased_by="w1", lease_until=now + timedelta(minutes=5))
    sync.refresh_from_db()
    plan = store._plan(sync, integration, Phase.CONTACTS)
    inside, done = threading.Event(), threading.Event()

    def staging(*args: Any, **kwargs: Any) -> int:  # the chunk's transaction is open: wait here
        inside.set()
        done.wait(10)
        return 0

    monkeypatch.setattr(store, "_stage_contacts", staging)

    def write() -> None:
        try:
            store.write_page("w1", plan, ExportPage(items=[], continue_from="t1", has_more=True), now, 60)
        finally:
            connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    assert inside.wait(10)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
            # Someone joins the campaign on its public page while the chunk is written.
            Referrer.objects.create(campaign=tenant.campaign, first_name="Walk", email="walk.in@example.com")
    finally:
        done.set()
        writer.join(10)


# -- referrers following their customers ---------------------------------------------------------------------------


def test_an_email_freed_in_the_same_page_goes_to_the_referrer_whose_customer_took_it(tenant: Tenant) -> None:
    """The office moves Ada to a new address and gives Bo Ada's old one; both contacts come on one page (ServiceTitan's
    customer modifiedOn does not move for a contact, so nothing hands Bo out again)."""
    ada = Referrer.objects.create(campaign=tenant.campaign, first_name="Ada", email="ada@example.com", source=SOURCE)
    bo = Referrer.objects.create(campaign=tenant.campaign, first_name="Bo", email="bo@example.com", source=SOURCE)

    with transaction.atomic():  # as store._write_chunk calls it
        outcomes = follow(
            tenant.campaign,
            [
                (Link(1, ada.pk, True), NewReferrer("Ada", "", "ada.new@example.com", "")),
                (Link(2, bo.pk, True), NewReferrer("Bo", "", "ada@example.com", "")),
            ],
        )

    ada.refresh_from_db()
    bo.refresh_from_db()
    assert ada.email == "ada.new@example.com"
    assert (outcomes[2], bo.email) == (Outcome.UPDATED, "ada@example.com")


def test_an_email_freed_later_in_the_same_page_goes_to_its_taker_whatever_the_order(tenant: Tenant) -> None:
    ada = Referrer.objects.create(campaign=tenant.campaign, first_name="Ada", email="ada@example.com", source=SOURCE)
    bo = Referrer.objects.create(campaign=tenant.campaign, first_name="Bo", email="bo@example.com", source=SOURCE)
    cy = Referrer.objects.create(campaign=tenant.campaign, first_name="Cy", email="cy@example.com", source=SOURCE)

    with transaction.atomic():  # a chain, takers first: Cy takes Bo's, Bo takes Ada's, Ada a new one
        outcomes = follow(
            tenant.campaign,
            [
                (Link(3, cy.pk, True), NewReferrer("Cy", "", "bo@example.com", "")),
                (Link(2, bo.pk, True), NewReferrer("Bo", "", "ada@example.com", "")),
                (Link(1, ada.pk, True), NewReferrer("Ada", "", "ada.new@example.com", "")),
            ],
        )

    emails = dict(Referrer.objects.filter(pk__in=[ada.pk, bo.pk, cy.pk]).values_list("first_name", "email"))
    assert emails == {"Ada": "ada.new@example.com", "Bo": "ada@example.com", "Cy": "bo@example.com"}
    assert outcomes == {1: Outcome.UPDATED, 2: Outcome.UPDATED, 3: Outcome.UPDATED}


def test_two_followed_referrers_swapping_emails_in_one_page_are_both_refused(tenant: Tenant) -> None:
    """Each holds the other's email until its own change is written: the swap is applied at a later change."""
    ada = Referrer.objects.create(campaign=tenant.campaign, first_name="Ada", email="ada@example.com", source=SOURCE)
    bo = Referrer.objects.create(campaign=tenant.campaign, first_name="Bo", email="bo@example.com", source=SOURCE)

    with transaction.atomic():
        outcomes = follow(
            tenant.campaign,
            [
                (Link(1, ada.pk, True), NewReferrer("Ada", "", "bo@example.com", "")),
                (Link(2, bo.pk, True), NewReferrer("Bo", "", "ada@example.com", "")),
            ],
        )

    emails = dict(Referrer.objects.filter(pk__in=[ada.pk, bo.pk]).values_list("first_name", "email"))
    assert emails == {"Ada": "ada@example.com", "Bo": "bo@example.com"}
    assert outcomes == {1: Outcome.EMAIL_TAKEN, 2: Outcome.EMAIL_TAKEN}


def test_a_customer_without_an_email_is_skipped_but_a_linked_referrer_still_follows_its_name_and_phone(
    tenant: Tenant,
) -> None:
    every = Settings("all", None, None, False, "split", "first", "mobile")
    decision = decide(every, CustomerFacts(1, "Cy  Renamed", True, (), None), [])
    assert (decision.referrer, decision.skipped) == (None, Outcome.NO_EMAIL)
    assert decision.follow == NewReferrer("Cy", "Renamed", "", "")
    followed = Referrer.objects.create(
        campaign=tenant.campaign, first_name="Cy", last_name="Gone", email="cy@example.com", phone="555", source=SOURCE
    )

    outcomes = follow(tenant.campaign, [(Link(1, followed.pk, True), decision.follow)])

    followed.refresh_from_db()
    assert outcomes == {1: Outcome.UPDATED}
    assert (followed.last_name, followed.email, followed.phone) == ("Renamed", "cy@example.com", "")


def test_a_referrer_whose_customers_email_was_removed_is_not_counted_as_skipped_without_an_email(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    gone = sandbox.add_customer("Cy Gone", emails=["cy@example.com"], phones=["(217) 555-0199"])
    integration = connect(tenant.campaign)
    sync = configure(integration, mode=Mode.ONGOING)
    run_until(passes(1), sync)
    referrer = _referrer_of(sync, gone)
    created = progress_of(sync).created

    with sandbox.state.crm.lock:  # the office deletes the customer's email in ServiceTitan
        for contact in next(c for c in sandbox.customers() if c.id == gone.id).contacts:
            if contact.type == "Email":
                contact.active = False
                contact.modified_on = sandbox.state.crm._stamp()
    run_until(passes(2), sync)

    assert Referrer.objects.filter(pk=referrer.pk).exists()  # the referrer and its link stay
    assert CustomerLink.objects.filter(integration=integration, customer_id=gone.id).exists()
    outcome = StagedCustomer.objects.get(sync=sync, customer_id=gone.id).outcome
    assert outcome != Outcome.NO_EMAIL, "a linked referrer is counted as 'skipped: without an email'"
    assert progress_of(sync).created == created


def test_a_changed_email_another_campaign_has_is_applied(tenant: Tenant, other_tenant: Tenant) -> None:
    followed = Referrer.objects.create(
        campaign=tenant.campaign, first_name="Old", email="old@example.com", source=SOURCE
    )
    Referrer.objects.create(campaign=other_tenant.campaign, first_name="Else", email="Shared@Example.com")

    outcomes = follow(tenant.campaign, [(Link(7, followed.pk, True), NewReferrer("Old", "", "shared@example.com", ""))])

    followed.refresh_from_db()
    assert outcomes == {7: Outcome.UPDATED} and followed.email == "shared@example.com"


def test_a_changed_email_held_in_another_case_is_refused_not_an_integrity_error(tenant: Tenant) -> None:
    followed = Referrer.objects.create(
        campaign=tenant.campaign, first_name="Old", email="old@example.com", source=SOURCE
    )
    Referrer.objects.filter(pk=tenant.referrer.pk).update(email="Mixed.Case@Example.COM")

    with transaction.atomic():  # as store._write_chunk calls it
        outcomes = follow(
            tenant.campaign, [(Link(7, followed.pk, True), NewReferrer("New", "", "mixed.case@example.com", ""))]
        )
        assert Referrer.objects.filter(campaign=tenant.campaign).count() >= 2  # the transaction still works

    followed.refresh_from_db()
    assert outcomes == {7: Outcome.EMAIL_TAKEN}
    assert (followed.first_name, followed.email) == ("New", "old@example.com")


def test_an_email_taken_between_the_check_and_the_write_inside_the_chunks_transaction_leaves_it_usable(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a failed statement aborts the whole transaction unless it ran in a savepoint."""
    followed = Referrer.objects.create(
        campaign=tenant.campaign, first_name="Old", email="old@example.com", source=SOURCE
    )
    Referrer.objects.create(campaign=tenant.campaign, first_name="Joined", email="race@example.com")
    monkeypatch.setattr("referloop.integrations.servicetitan.customer_sync.follow._holders", lambda *_: {})

    with transaction.atomic():
        outcomes = follow(
            tenant.campaign, [(Link(1, followed.pk, True), NewReferrer("New", "Name", "race@example.com", "555"))]
        )
        with connection.cursor() as cursor:  # the chunk goes on writing after it
            cursor.execute("SELECT 1")

    followed.refresh_from_db()
    assert outcomes == {1: Outcome.EMAIL_TAKEN}
    assert (followed.first_name, followed.email, followed.phone) == ("New", "old@example.com", "555")


# -- the tag pick list ----------------------------------------------------------------------------------------------


def test_a_member_cannot_refresh_the_tags_start_or_stop(tenant: Tenant, sandbox: SandboxHandle) -> None:
    connect(tenant.campaign)
    member = member_client(tenant)
    mark = sandbox.mark()

    refresh = member.post(url(TAB, tenant), {**settings_post(selection="tag"), "refresh_tags": "1"})
    start = member.post(url(TAB, tenant), settings_post())
    stop = member.post(url("integration_referrers_stop", tenant))

    assert (refresh.status_code, start.status_code, stop.status_code) == (403, 403, 403)
    assert not CustomerSync.objects.exists()
    assert len(sandbox.calls(since=mark, operation="TagTypes_GetList")) == 0


def test_a_tag_id_typed_while_the_list_could_not_be_read_survives_the_refresh_icon(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    cache.clear()
    integration = connect(tenant.campaign)
    assert tenant.client.post(url(TAB, tenant), settings_post(selection="tag", tag_pick="501")).status_code == 302
    tenant.client.post(url("integration_referrers_stop", tenant))
    cache.clear()
    sandbox.set(error_rate=1.0)
    assert 'name="tag_pick"' not in tenant.client.get(url(TAB, tenant)).content.decode()  # the id is typed
    sandbox.set(error_rate=0.0)

    # The owner types tag 502 in the only field there is, then presses the refresh icon.
    response = tenant.client.post(
        url(TAB, tenant), {**settings_post(selection="tag", tag_id="502"), "refresh_tags": "1"}
    )

    html = response.content.decode()
    assert response.status_code == 200 and CustomerSync.objects.get(integration=integration).tag_id == 501
    typed = re.search(r'<input[^>]*name="tag_id"[^>]*>', html)
    assert typed is not None and 'value="502"' in typed.group(0), "the typed 502 was lost"
