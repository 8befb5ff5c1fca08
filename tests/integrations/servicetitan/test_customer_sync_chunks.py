"""A page written in chunks, each its own short transaction (SQLite's one write lock is held per chunk, not per page):
a worker stopped between two chunks resumes with exact counts, and a Stop between chunks writes no more."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from referloop.campaigns.models import Referrer
from referloop.integrations.servicetitan.customer_sync import store
from referloop.integrations.servicetitan.customer_sync.models import (
    CustomerLink,
    CustomerSync,
    Phase,
    StagedCustomer,
    SyncState,
)
from referloop.integrations.servicetitan.customer_sync.progress import progress_of
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant
from tests.integrations.engine.helpers import connect
from tests.integrations.servicetitan.customer_syncing import EXPORTS, configure, finished, run_until

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS_EXPORT = "ExportCustomers_GetCustomers"


class Interrupted(Exception):
    """Injected between two chunks of a page, as a worker that dies (or a database that fails) there."""


def _after_first_customers_chunk(monkeypatch: pytest.MonkeyPatch, then: Any) -> tuple[list[str], list[bool]]:
    """Run `then(plan)` once, right after the first chunk of a customers page is committed. Returns the token of
    that page, and whether each later chunk write of the same plan found the sync stale."""
    write_chunk = store._write_chunk
    hit: list[str] = []
    stale: list[bool] = []
    interrupted: list[store.Plan] = []

    def wrapped(owner: str, plan: store.Plan, page: Any, chunk: Any, last: bool, *args: Any) -> store.Written:
        written = write_chunk(owner, plan, page, chunk, last, *args)
        if interrupted and plan is interrupted[0]:
            stale.append(written.stale)
        elif not hit and plan.phase == Phase.CUSTOMERS and not last:
            hit.append(plan.token)
            interrupted.append(plan)
            then(plan)
        return written

    monkeypatch.setattr(store, "PAGE_CHUNK", 3)
    monkeypatch.setattr(store, "_write_chunk", wrapped)
    return hit, stale


def test_a_worker_stopped_between_two_chunks_of_a_page_resumes_with_exact_counts_and_no_duplicate_referrer(
    tenant: Tenant, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.set(export_page_size=7)
    integration = connect(tenant.campaign)
    sync = configure(integration)
    mark = sandbox.mark()

    def fail(plan: store.Plan) -> None:
        raise Interrupted

    hit, _ = _after_first_customers_chunk(monkeypatch, fail)
    monkeypatch.setattr(store, "RETRY_AFTER", timedelta(0))  # a page not written is tried again a minute later: now
    run_until(finished, sync)

    assert len(hit) == 1
    customers = sandbox.customers()
    emails = {c.emails()[0].lower() for c in customers if c.active and c.emails()}
    synced = Referrer.objects.filter(campaign=tenant.campaign, source="servicetitan")
    assert sorted(synced.values_list("email", flat=True)) == sorted(emails)
    assert CustomerLink.objects.filter(integration=integration).count() == len(emails)
    progress = progress_of(sync)
    assert (progress.created, progress.linked, progress.done) == (len(emails), 0, len(customers))
    assert StagedCustomer.objects.filter(sync=sync).count() == len(customers)
    # The interrupted page was asked for again (its token was not stored with its first chunk); every other page once.
    sent = Counter(call.params.get("from", "") for call in sandbox.calls(since=mark, operation=CUSTOMERS_EXPORT))
    assert {token for token, times in sent.items() if times > 1} == {hit[0]}
    assert max(sent.values()) == 2
    contacts = Counter(call.params.get("from", "") for call in sandbox.calls(since=mark, operation=EXPORTS[1]))
    assert max(contacts.values()) == 1


def test_a_stop_between_two_chunks_of_a_page_writes_no_further_chunk_and_keeps_the_token(
    tenant: Tenant, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.set(export_page_size=7)
    integration = connect(tenant.campaign)
    sync = configure(integration)

    def stop(plan: store.Plan) -> None:  # as the tab's Stop does, while the worker writes the page
        CustomerSync.objects.filter(pk=plan.sync_id).update(state=SyncState.STOPPED, due_at=None)

    hit, stale = _after_first_customers_chunk(monkeypatch, stop)
    run_until(lambda s: bool(stale), sync)

    assert stale == [True]  # the next chunk checked the sync first and wrote nothing
    assert sync.state == SyncState.STOPPED
    assert StagedCustomer.objects.filter(sync=sync).count() == 3  # the first chunk of the first customers page
    assert sync.customers_token == hit[0] == ""
    assert sync.customers_read == 0


def test_a_writer_waiting_on_sqlite_wakes_inside_the_pause_after_a_chunk_however_long_the_chunk_held_the_lock() -> None:
    # SQLite's busy handler (sqliteDefaultBusyCallback) sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 ms, then 100.
    schedule = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50] + [100] * 40
    for held_ms in range(0, 1500, 7):
        pause_ms = store.pause_after(held_ms / 1000) * 1000
        for arrived_ms in range(0, held_ms + 1, 3):  # a lead's insert began while the chunk held the lock
            woke = arrived_ms
            for step in schedule:
                woke += step
                if woke >= held_ms:
                    break
            assert held_ms <= woke < held_ms + pause_ms, (held_ms, arrived_ms)
