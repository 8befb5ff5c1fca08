"""The customer sync against the sandbox over real HTTP: customers become referrers, once each."""

from __future__ import annotations

import functools
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from referloop.campaigns.models import Referrer
from referloop.integrations import destinations
from referloop.integrations.models import Delivery
from referloop.integrations.servicetitan.customer_sync.models import (
    CustomerLink,
    CustomerSync,
    Mode,
    Outcome,
    Selection,
    StagedCustomer,
    SyncState,
)
from referloop.integrations.servicetitan.customer_sync.progress import progress_of
from referloop.integrations.servicetitan.customer_sync.runner import CustomerSyncJob
from referloop.integrations.webhooks.events import REFERRER_JOINED
from referloop.integrations.webhooks.models import WebhookEvent
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant
from tests.integrations.engine.helpers import connect, start_worker, stop_worker, wait_for
from tests.integrations.servicetitan.customer_syncing import EXPORTS, configure, finished, passes, run_until
from tests.integrations.webhooks.helpers import subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def _expected(sandbox: SandboxHandle) -> tuple[set[str], int, int]:
    """(emails of active customers with one, active customers without an email, inactive customers)."""
    customers = sandbox.customers()
    emails = {c.emails()[0].lower() for c in customers if c.active and c.emails()}
    no_email = sum(1 for c in customers if c.active and not c.emails())
    inactive = sum(1 for c in customers if not c.active)
    return emails, no_email, inactive


def _leased(sync_id: int) -> bool:
    return CustomerSync.objects.filter(pk=sync_id, lease_until__gt=timezone.now()).exists()


def _synced_emails(tenant: Tenant) -> set[str]:
    return set(Referrer.objects.filter(campaign=tenant.campaign, source="servicetitan").values_list("email", flat=True))


def test_a_one_time_sync_creates_referrers_for_customers_with_emails_and_counts_the_rest(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = connect(tenant.campaign)
    sync = configure(integration)
    run_until(finished, sync)

    emails, no_email, inactive = _expected(sandbox)
    assert no_email > 0 and inactive > 0  # the seeded data has both
    assert _synced_emails(tenant) == emails
    progress = progress_of(sync)
    assert progress.created == len(emails)
    assert {s.outcome: s.count for s in progress.skipped} == {Outcome.NO_EMAIL: no_email, Outcome.INACTIVE: inactive}
    assert progress.done == len(sandbox.customers())
    assert f"Created {len(emails)} referrers" in progress.summary
    assert f"skipped {no_email} without an email" in progress.summary
    assert CustomerLink.objects.filter(integration=integration).count() == len(emails)
    # One counting call of one record, so the tab can show rows to go; documented parameters only.
    (count,) = sandbox.calls(operation="Customers_GetList")
    assert count.params == {"page": "1", "pageSize": "1", "includeTotal": "true", "active": "Any"}
    assert sync.customers_total == len(sandbox.customers())


def test_running_the_sync_again_creates_no_duplicates(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect(tenant.campaign)
    sync = configure(integration)
    run_until(finished, sync)
    before = Referrer.objects.filter(campaign=tenant.campaign).count()

    sync = configure(integration)  # Start again: every customer is read again
    run_until(finished, sync)

    assert Referrer.objects.filter(campaign=tenant.campaign).count() == before
    progress = progress_of(sync)
    assert progress.created == 0
    assert progress.kept == len(_expected(sandbox)[0])


def test_a_referrer_who_already_joined_with_the_same_email_is_linked_not_duplicated(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    customer = next(c for c in sandbox.customers() if c.active and c.emails())
    joined = Referrer.objects.create(campaign=tenant.campaign, first_name="Already", email=customer.emails()[0].upper())
    integration = connect(tenant.campaign)
    sync = configure(integration)
    run_until(finished, sync)

    link = CustomerLink.objects.get(integration=integration, customer_id=customer.id)
    assert link.referrer_id == joined.pk and not link.created_referrer
    assert Referrer.objects.filter(campaign=tenant.campaign, email__lower=customer.emails()[0].lower()).count() == 1
    assert progress_of(sync).linked == 1


def test_only_customers_with_the_chosen_tag_become_referrers(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect(tenant.campaign)
    sync = configure(integration, selection=Selection.TAG, tag_id=501)
    run_until(finished, sync)

    tagged = {c.emails()[0].lower() for c in sandbox.customers() if 501 in c.tag_type_ids and c.active and c.emails()}
    assert tagged and _synced_emails(tenant) == tagged
    counts = {s.outcome: s.count for s in progress_of(sync).skipped}
    assert counts[Outcome.NOT_SELECTED] > 0


def test_an_ongoing_sync_picks_up_a_new_customer_and_a_customer_who_got_an_email(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = connect(tenant.campaign)
    sync = configure(integration, mode=Mode.ONGOING)
    run_until(passes(1), sync)
    assert sync.state == SyncState.RUNNING and sync.due_at is not None and sync.due_at > timezone.now()
    without = next(c for c in sandbox.customers() if c.active and not c.emails())

    sandbox.add_customer("Nina Newcomer", emails=["nina.newcomer@example.com"], phones=["217 555 0999"])
    sandbox.change_customer(without.id, add_emails=["late.email@example.com"])
    mark = sandbox.mark()
    run_until(passes(2), sync)

    nina = Referrer.objects.get(campaign=tenant.campaign, email="nina.newcomer@example.com")
    assert (nina.first_name, nina.last_name, nina.phone) == ("Nina", "Newcomer", "217 555 0999")
    late = Referrer.objects.get(campaign=tenant.campaign, email="late.email@example.com")
    assert CustomerLink.objects.get(integration=integration, customer_id=without.id).referrer_id == late.pk
    # The second pass read only what changed: one page of each export.
    assert {op: len(sandbox.calls(since=mark, operation=op)) for op in EXPORTS} == {op: 1 for op in EXPORTS}


def test_a_sync_that_dies_between_pages_resumes_from_the_stored_tokens_without_reading_finished_pages_again(
    tenant: Tenant, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.set(export_page_size=7)
    integration = connect(tenant.campaign)
    sync = configure(integration)
    mark = sandbox.mark()
    # A worker whose sync dies after three pages: it keeps its lease (as a killed worker does) until it runs out.
    dying = functools.partial(CustomerSyncJob.in_worker, stop_after_pages=3)
    monkeypatch.setitem(destinations._BACKGROUND, "servicetitan-customer-sync", dying)
    run_until(lambda s: s.pages >= 3, sync)
    monkeypatch.undo()
    assert sync.state == SyncState.RUNNING and sync.leased_by
    died_at = {op: len(sandbox.calls(since=mark, operation=op)) for op in EXPORTS}
    at_death = progress_of(CustomerSync.objects.get(pk=sync.pk))
    assert at_death.to_go == len(sandbox.customers()) - at_death.done  # the tab counts down from the run's count
    CustomerSync.objects.filter(pk=sync.pk).update(lease_until=timezone.now())  # the lease runs out

    run_until(finished, sync)

    calls = {op: sandbox.calls(since=mark, operation=op) for op in EXPORTS}
    customers, contacts = len(sandbox.customers()), sum(len(c.contacts) for c in sandbox.customers())
    # Every page was asked for once: ceil(n / 7), plus the last empty answer when n is a multiple of 7.
    assert len(calls["ExportCustomers_GetCustomers"]) == customers // 7 + 1
    assert len(calls["ExportContacts_CustomersContacts"]) == contacts // 7 + 1
    assert sum(died_at.values()) == 3
    for op in EXPORTS:  # no token was sent twice: no page was read again
        tokens = [call.params.get("from", "") for call in calls[op]]
        assert len(tokens) == len(set(tokens)), op
    assert Referrer.objects.filter(campaign=tenant.campaign, source="servicetitan").count() == len(
        _expected(sandbox)[0]
    )


def test_a_page_handed_out_twice_creates_no_second_referrer(tenant: Tenant, sandbox: SandboxHandle) -> None:
    integration = connect(tenant.campaign)
    sync = configure(integration, mode=Mode.ONGOING)
    run_until(passes(1), sync)
    created = Referrer.objects.filter(campaign=tenant.campaign).count()
    # Back to the start of both exports, as a replayed token would do: every record comes again.
    CustomerSync.objects.filter(pk=sync.pk).update(customers_token="", contacts_token="")
    run_until(passes(2), sync)

    assert Referrer.objects.filter(campaign=tenant.campaign).count() == created
    assert StagedCustomer.objects.filter(sync=sync, outcome=Outcome.CREATED).count() == created - 1  # Maria: fixture


def test_synced_referrers_raise_referrer_joined_webhooks_and_get_no_email(
    tenant: Tenant, sandbox: SandboxHandle, settings: Any
) -> None:
    settings.WEBHOOKS_ALLOW_LOOPBACK = True  # nothing listens on port 9: the test looks at the rows
    settings.WEBHOOKS_ALLOW_HTTP = True
    subscribe(tenant, "http://127.0.0.1:9/hooks", [REFERRER_JOINED])
    integration = connect(tenant.campaign)
    sync = configure(integration)
    run_until(finished, sync)

    synced = _synced_emails(tenant)
    events = WebhookEvent.objects.filter(type=REFERRER_JOINED)
    assert sorted(e.payload["referrer"]["email"] for e in events) == sorted(synced)
    assert mail.outbox == []
    assert not Delivery.objects.filter(email__isnull=False).exists()


def test_a_worker_killed_mid_sync_leaves_the_next_worker_to_resume_at_the_page_it_was_on(
    tenant: Tenant, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    sandbox.set(export_page_size=7, latency_ms=150)  # pages come slowly enough to kill the worker among them
    integration = connect(tenant.campaign)
    sync = configure(integration)
    mark = sandbox.mark()
    worker = start_worker(sandbox, "--lease-seconds", "3", "--send-deadline", "2.5", log=tmp_path / "worker.log")
    try:
        wait_for(lambda: CustomerSync.objects.get(pk=sync.pk).pages >= 3, 60, "the worker to write three pages")
    finally:
        stop_worker(worker, signal.SIGKILL)
    at_kill = CustomerSync.objects.get(pk=sync.pk)
    assert at_kill.state == SyncState.RUNNING
    sandbox.set(latency_ms=0)
    wait_for(lambda: not _leased(sync.pk), 10, "the lease to end")

    run_until(finished, sync)

    in_flight = {at_kill.contacts_token, at_kill.customers_token}
    for op in EXPORTS:
        sent = Counter(call.params.get("from", "") for call in sandbox.calls(since=mark, operation=op))
        again = {token for token, times in sent.items() if times > 1}
        # Only the page being read when the worker died is asked for again; every finished page once.
        assert again <= in_flight and max(sent.values()) <= 2, (op, sent)
    expected = _expected(sandbox)[0]
    assert _synced_emails(tenant) == expected
    assert CustomerLink.objects.filter(integration=integration).count() == len(expected)
    assert progress_of(sync).created == len(expected)
