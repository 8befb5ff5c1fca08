"""The sync's database side in the worker: lease a running sync, write one export page, give it back.

Exactly once per page: `write_page` writes a page in chunks of PAGE_CHUNK records, each in its own short
transaction that first checks the lease (and the run) is still ours, and the export's new continuation token only
with the last chunk (on SQLite a transaction holds the database's only write lock, so a lead posted meanwhile waits
one chunk, not a page). The writes are idempotent: links are unique per customer, staged rows are upserted, and a
customer decided again with nothing new keeps its outcome. So a worker killed between chunks (its lease runs out)
or a page handed out twice (includeRecentChanges may) is written again from the stored token with the same result,
no duplicate, and finished pages are never asked for again.

Each pass reads the contacts export to its end first, then the customers export: when a customer's page is
written, its contacts are already staged, so its email is known. A contact that comes later (a new email for a
customer skipped for having none) re-decides that customer when the contact's page is written.

The contacts copy is also the known-customer index (index.py). When a mapping asks ServiceTitan whether a lead is a
customer (`keep_contacts`) and no referrer sync is running, the same lease and pages keep the contacts export going
alone (a *contacts-only* plan): the contacts are staged, no customer is decided, and after catching up it waits the
poll interval. A Start takes over (its lease makes a contacts-only page in flight stale), so one integration has one
copy, read by one worker at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from referloop.diagnostics.redact import without_secrets
from referloop.integrations.models import Integration
from referloop.integrations.servicetitan.credentials import credentials_for
from referloop.integrations.servicetitan.customer_sync import choose
from referloop.integrations.servicetitan.customer_sync.keys import contact_key
from referloop.integrations.servicetitan.customer_sync.models import (
    CustomerSync,
    Mode,
    Outcome,
    Phase,
    StagedContact,
    StagedCustomer,
    SyncState,
)
from referloop.integrations.servicetitan.customer_sync.writer import CHUNK, write_referrers
from referloop.integrations.servicetitan.readiness import readiness
from referloop.providers.servicetitan import Credentials
from referloop.providers.servicetitan.customer_models import Customer, CustomerContact, ExportPage

logger = logging.getLogger(__name__)
ERROR_LIMIT = 500
RETRY_AFTER = timedelta(minutes=1)
# Outcomes of a customer that is a referrer already: deciding it again with nothing new (KEPT) keeps them.
SETTLED = (Outcome.CREATED, Outcome.LINKED, Outcome.UPDATED, Outcome.KEPT)
# Records per write transaction: on SQLite a transaction holds the database's only write lock, so a lead posted on a
# public form waits for at most one chunk (~0.1-0.3 s), not a page of 5,000 (1.3-2.2 s).
PAGE_CHUNK = 500
# SQLite has no queue for its write lock: a writer that found it taken sleeps in growing steps (its busy handler's
# schedule, in ms) and, if chunks followed each other at once, would find the next chunk holding it each time it woke.
BUSY_STEPS_MS = (1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100)


def poll_interval() -> timedelta:
    """How long an ongoing sync waits after catching up (ServiceTitan: "wait 5-10 minutes" after hasMore=false)."""
    return timedelta(seconds=float(getattr(settings, "CUSTOMER_SYNC_POLL_SECONDS", 600)))


@dataclass(frozen=True)
class Plan:
    """What a leased sync reads next."""

    sync_id: int
    integration_id: int
    rate_key: str
    credentials: Credentials
    run: int
    phase: str
    token: str  # the phase's export token ("" for the start)
    first_pass: bool  # an owner just pressed Start: the sync may take normal slots (runner.py says why)
    needs_total: bool  # the run has not counted the tenant's customers yet
    contacts_only: bool = False  # keeping the known-customer copy: contacts, spare slots, no referrers


@dataclass(frozen=True)
class Written:
    """After a page: what to read next, or why to stop (None)."""

    next: Plan | None
    stale: bool = False  # the lease, the run or the state changed: nothing was written
    created: int = 0


def claim(owner: str, now: datetime, lease_seconds: float, limit: int = 10) -> list[Plan]:
    running = Q(state=SyncState.RUNNING, due_at__lte=now)
    copying = Q(keep_contacts=True, contacts_due_at__lte=now) & ~Q(state=SyncState.RUNNING)
    due = CustomerSync.objects.filter(running | copying).filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
    if not due.exists():  # the usual answer, without a write transaction
        return []
    plans: list[Plan] = []
    with transaction.atomic():
        for sync in (
            due.select_for_update(skip_locked=True, of=("self",))
            .select_related("integration__campaign")
            .order_by("due_at")[:limit]
        ):
            integration = sync.integration
            contacts_only = sync.state != SyncState.RUNNING
            why = _cannot_read(integration)
            if why and contacts_only:  # the referrer sync's error line stays the referrer sync's
                CustomerSync.objects.filter(pk=sync.pk).update(contacts_due_at=now + RETRY_AFTER)
                continue
            if why:
                CustomerSync.objects.filter(pk=sync.pk).update(
                    due_at=now + RETRY_AFTER, last_error=_stored_error(integration, why), last_error_at=now
                )
                continue
            lease = now + timedelta(seconds=lease_seconds)
            CustomerSync.objects.filter(pk=sync.pk).update(leased_by=owner, lease_until=lease)
            plans.append(_plan(sync, integration, Phase.CONTACTS if contacts_only else None, contacts_only))
    return plans


def _cannot_read(integration: Integration) -> str:
    if not integration.campaign.is_active:
        return "The campaign is archived: it takes no new referrers."
    ready = readiness(integration)
    if not ready.can_read:
        return ready.hold_reason or "ServiceTitan is not connected."
    return ""


def _plan(sync: CustomerSync, integration: Integration, phase: str | None = None, contacts_only: bool = False) -> Plan:
    phase = phase or sync.phase
    return Plan(
        sync_id=sync.pk,
        integration_id=integration.pk,
        rate_key=integration.rate_key,
        credentials=credentials_for(integration),
        run=sync.run,
        phase=phase,
        token=sync.contacts_token if phase == Phase.CONTACTS else sync.customers_token,
        first_pass=sync.passes == 0 and not contacts_only,
        needs_total=sync.customers_total is None and sync.passes == 0 and not contacts_only,
        contacts_only=contacts_only,
    )


def write_page(owner: str, plan: Plan, page: ExportPage[Any], now: datetime, lease_seconds: float) -> Written:
    """Write one export page in chunks of PAGE_CHUNK records, each in its own short transaction that first checks
    the sync is still ours; the token after the page goes with the last chunk. Say what to read next."""
    items = _distinct(page.items)
    chunks = [items[start : start + PAGE_CHUNK] for start in range(0, len(items), PAGE_CHUNK)] or [[]]
    created = 0
    written = Written(None)
    for number, chunk in enumerate(chunks, start=1):
        began = time.perf_counter()
        written = _write_chunk(owner, plan, page, chunk, number == len(chunks), now, lease_seconds)
        logger.debug(
            "%s chunk %d of %d records written in %.3f s", plan.phase, number, len(chunk), time.perf_counter() - began
        )
        if written.stale:  # a Stop or a new Start since: the chunks before stay (idempotent), nothing more
            return written
        created += written.created
        if number < len(chunks) and connection.vendor == "sqlite":
            time.sleep(pause_after(time.perf_counter() - began))
    return replace(written, created=created)


def pause_after(held: float) -> float:
    """How long to leave SQLite's write lock free after holding it `held` seconds: the sleep step a writer that has
    waited that long is in, so it wakes inside the gap and gets in (a lead waits at most one chunk, not a page)."""
    waited = 0.0
    for step in BUSY_STEPS_MS:
        waited += step / 1000
        if waited > held:
            return step / 1000 + 0.005
    return BUSY_STEPS_MS[-1] / 1000 + 0.005


def _distinct(items: Sequence[Any]) -> list[Any]:
    """A record twice in a page (includeRecentChanges may): the last wins, written once."""
    return list({item.id: item for item in items}.values())


def _write_chunk(
    owner: str, plan: Plan, page: ExportPage[Any], chunk: Sequence[Any], last: bool, now: datetime, lease_seconds: float
) -> Written:
    """One transaction: a chunk of the page's records; with the last chunk, the token and where to go next."""
    with transaction.atomic():
        sync = (
            # Only the sync's row: locking its integration and campaign too would hold up, on PostgreSQL, every
            # referrer joining and lead posted in the campaign while the chunk is written.
            CustomerSync.objects.select_for_update(of=("self",))
            .select_related("integration__campaign")
            .filter(pk=plan.sync_id)
            .first()
        )
        if sync is None or not _ours(sync, owner, plan, now):
            return Written(None, stale=True)
        if plan.contacts_only:
            _stage_contacts(sync, chunk, now, decide=False)
            return _end_contacts_only_page(sync, page, now, lease_seconds) if last else Written(None)
        if plan.phase == Phase.CONTACTS:
            created = _stage_contacts(sync, chunk, now)
        else:
            created = _stage_customers(sync, chunk, now)
        if not last:
            return Written(None, created=created)
        return _end_page(sync, plan, page, now, lease_seconds, created)


def _end_page(
    sync: CustomerSync, plan: Plan, page: ExportPage[Any], now: datetime, lease_seconds: float, created: int
) -> Written:
    """The page's last chunk is written: its token, its counts, and the phase or pass that follows."""
    if plan.phase == Phase.CONTACTS:
        sync.contacts_token = page.continue_from
        sync.contacts_read += len(page.items)
        sync.contacts_polled_at = now
    else:
        sync.customers_token = page.continue_from
        sync.customers_read += len(page.items)
    sync.pages += 1
    sync.last_page_at = sync.updated_at = now
    sync.last_error = ""
    following: str | None = plan.phase
    if not page.has_more or not page.items:
        following = _end_of_export(sync, plan.phase, now)
    if following is None:
        sync.leased_by, sync.lease_until = "", None
    else:
        sync.phase = following
        sync.lease_until = now + timedelta(seconds=lease_seconds)
    sync.save()
    if following is None:
        return Written(None, created=created)
    return Written(_plan(sync, sync.integration, following), created=created)


def _end_contacts_only_page(sync: CustomerSync, page: ExportPage[Any], now: datetime, lease_seconds: float) -> Written:
    """The last chunk of a page of the known-customer copy is staged: the token after it, and what comes next."""
    sync.contacts_token = page.continue_from
    sync.contacts_polled_at = now
    if page.has_more and page.items:
        sync.lease_until = now + timedelta(seconds=lease_seconds)
        sync.save()
        return Written(_plan(sync, sync.integration, Phase.CONTACTS, contacts_only=True))
    _caught_up_with_contacts(sync, now)
    sync.leased_by, sync.lease_until = "", None
    sync.save()
    return Written(None)


def _caught_up_with_contacts(sync: CustomerSync, now: datetime) -> None:
    """The contacts export was read to its end: the copy is complete, and nobody need read it before the poll."""
    if sync.contacts_complete_at is None:
        sync.contacts_complete_at = now
    sync.contacts_due_at = now + poll_interval()


def _ours(sync: CustomerSync, owner: str, plan: Plan, now: datetime) -> bool:
    leased = sync.leased_by == owner and sync.lease_until is not None and sync.lease_until >= now
    if plan.contacts_only:  # a Start since (Running) or a mapping no longer asking: the page is not ours
        return leased and sync.keep_contacts and sync.state != SyncState.RUNNING
    return sync.state == SyncState.RUNNING and sync.run == plan.run and leased


def _end_of_export(sync: CustomerSync, phase: str, now: datetime) -> str | None:
    """Caught up with one export: the contacts lead to the customers; the customers end a pass."""
    if phase == Phase.CONTACTS:
        _caught_up_with_contacts(sync, now)
        return Phase.CUSTOMERS
    sync.passes += 1
    sync.phase = Phase.CONTACTS
    if sync.finished_at is None:
        sync.finished_at = now
    if sync.mode == Mode.ONE_TIME:
        sync.state = SyncState.FINISHED
        sync.finished_at = now
        sync.due_at = None
    else:
        sync.due_at = now + poll_interval()
    return None


def counted(owner: str, plan: Plan, total: int | None) -> Plan:
    """Keep the run's customer count (None: ServiceTitan did not say; rows to go stay unknown)."""
    CustomerSync.objects.filter(pk=plan.sync_id, leased_by=owner, run=plan.run).update(customers_total=total)
    return replace(plan, needs_total=False)


def failed(owner: str, plan: Plan, error: str, permanent: bool, now: datetime) -> None:
    """The page could not be read (or written, `not_written`): the tokens stay. A permanent refusal (credentials, a
    scope, a bad request) stops the sync as Failed; anything else is tried again in a minute, still Running."""
    integration = Integration.objects.filter(pk=plan.integration_id).first()
    if integration is None:  # deleted meanwhile, and its sync with it
        return
    error = _stored_error(integration, error)
    if plan.contacts_only:  # the copy tries again in a minute; the Referrers tab's state is not its to change
        # Its own error fields, so Diagnose can say what ServiceTitan answered (over once a page is written after).
        CustomerSync.objects.filter(pk=plan.sync_id, leased_by=owner).update(
            leased_by="",
            lease_until=None,
            contacts_due_at=now + RETRY_AFTER,
            contacts_error=error,
            contacts_error_at=now,
            contacts_error_permanent=permanent,
        )
        return
    changes: dict[str, Any] = {"leased_by": "", "lease_until": None, "last_error": error}
    changes["last_error_at"] = now
    if permanent:
        changes["state"] = SyncState.FAILED
        changes["due_at"] = None
    else:
        changes["due_at"] = now + RETRY_AFTER
    CustomerSync.objects.filter(pk=plan.sync_id, leased_by=owner, run=plan.run).update(**changes)


def not_written(owner: str, plan: Plan, error: Exception, now: datetime) -> None:
    """The database refused a page (the chunks before stay): said on the tab and tried again in a minute like a
    failed read, so a page refused every time is not read again every tick. The first line of the database's
    message only: the lines after it (PostgreSQL's DETAIL) quote the values."""
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    records = "contacts" if plan.phase == Phase.CONTACTS else "customers"
    failed(owner, plan, f"referloop could not save a page of ServiceTitan {records}: {reason}", False, now)


def _stored_error(integration: Integration, error: str) -> str:
    """Secrets removed before the text is cut to its column: a secret cut in two would no longer be found."""
    return without_secrets(integration, error)[:ERROR_LIMIT]


def release(owner: str, plan: Plan) -> None:
    """The worker is stopping mid-sync: hand the sync back at once (its tokens say where it stood)."""
    CustomerSync.objects.filter(pk=plan.sync_id, leased_by=owner).update(leased_by="", lease_until=None)


# -- staging and deciding ------------------------------------------------------------------------------------------


def _stage_contacts(sync: CustomerSync, contacts: Sequence[CustomerContact], now: datetime, decide: bool = True) -> int:
    rows = {c.id: _staged_contact(sync, c) for c in contacts if c.customer_id is not None}
    StagedContact.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["sync", "contact_id"],
        update_fields=["customer_id", "type", "value", "active", "modified_on", "kind", "key"],
    )
    if not decide:
        return 0
    # The customers of this run these contacts belong to are decided again: one waiting for an email gets it, a
    # linked referrer follows a changed email or phone (ServiceTitan's customer modifiedOn does not move for these).
    owners = sorted({row.customer_id for row in rows.values()})
    again: list[StagedCustomer] = []
    for chunk in _chunks(owners):
        again += StagedCustomer.objects.filter(sync=sync, run=sync.run, customer_id__in=chunk)
    return _decide(sync, again, now, {c.customer_id: c.outcome for c in again if c.outcome in SETTLED})


def _staged_contact(sync: CustomerSync, contact: CustomerContact) -> StagedContact:
    value = _text(contact.value)
    kind, key = contact_key(_text(contact.type), value)
    assert contact.customer_id is not None
    return StagedContact(
        sync=sync,
        contact_id=contact.id,
        customer_id=contact.customer_id,
        type=_text(contact.type)[:20],
        value=value[:300],
        active=contact.active is not False,
        modified_on=contact.modified_on,
        kind=kind,
        key=key,
    )


def _stage_customers(sync: CustomerSync, customers: Sequence[Customer], now: datetime) -> int:
    rows = {
        c.id: StagedCustomer(
            sync=sync,
            customer_id=c.id,
            name=_text(c.name)[:300],
            active=c.active is not False,
            tag_type_ids=list(c.tag_type_ids),
            created_on=c.created_on,
            run=sync.run,
            outcome="",
        )
        for c in customers  # a customer twice in a page (includeRecentChanges): the last wins
    }
    # What this run already did for a customer handed out again (made, linked or updated its referrer) still counts.
    prior: dict[int, str] = {}
    for chunk in _chunks(sorted(rows)):
        prior.update(
            StagedCustomer.objects.filter(
                sync=sync, run=sync.run, customer_id__in=chunk, outcome__in=SETTLED
            ).values_list("customer_id", "outcome")
        )
    StagedCustomer.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["sync", "customer_id"],
        update_fields=["name", "active", "tag_type_ids", "created_on", "run", "outcome"],
    )
    return _decide(sync, list(rows.values()), now, prior)


def _text(value: str | None) -> str:
    """ServiceTitan's free text as it can be stored: PostgreSQL refuses a NUL character in text (SQLite keeps it)."""
    return (value or "").replace("\x00", "")


def _decide(
    sync: CustomerSync, customers: Sequence[StagedCustomer], now: datetime, prior: dict[int, str] | None = None
) -> int:
    """Each customer's outcome under the sync's settings; referrers created or linked. The count created."""
    if not customers:
        return 0
    settings_ = choose.Settings(
        selection=sync.selection,
        tag_id=sync.tag_id,
        created_after=sync.created_after,
        include_inactive=sync.include_inactive,
        name_source=sync.name_source,
        email_source=sync.email_source,
        phone_source=sync.phone_source,
    )
    contacts = _contacts_of(sync, [c.customer_id for c in customers])
    outcomes: dict[int, str] = {}
    wanted: list[tuple[int, choose.NewReferrer]] = []
    following: list[tuple[int, choose.NewReferrer]] = []  # no email now; a linked referrer still follows them
    for customer in customers:
        facts = choose.CustomerFacts(
            customer.customer_id, customer.name, customer.active, tuple(customer.tag_type_ids), customer.created_on
        )
        decision = choose.decide(settings_, facts, contacts.get(customer.customer_id, []))
        if decision.referrer is None:
            outcomes[customer.customer_id] = decision.skipped
            if decision.follow is not None:
                following.append((customer.customer_id, decision.follow))
        else:
            wanted.append((customer.customer_id, decision.referrer))
    # A linked customer whose email was removed is followed (KEPT or UPDATED, not "without an email").
    outcomes.update(write_referrers(sync.integration_id, sync.integration.campaign, wanted, now, following))
    for customer_id, outcome in (prior or {}).items():
        outcomes[customer_id] = _kept(outcome, outcomes[customer_id])
    _save_outcomes(sync, outcomes)
    return sum(1 for outcome in outcomes.values() if outcome == Outcome.CREATED)


def _kept(before: str, now: str) -> str:
    """A customer decided again in one run with nothing new to do (handed out twice, a page written again after a
    crash) still counts as what the run did for it (created, linked, updated); an update or a skip is news."""
    return before if now == Outcome.KEPT and before in SETTLED else now


def _contacts_of(sync: CustomerSync, customer_ids: Sequence[int]) -> dict[int, list[choose.ContactFacts]]:
    found: dict[int, list[choose.ContactFacts]] = {}
    for chunk in _chunks(sorted(set(customer_ids))):
        rows = StagedContact.objects.filter(sync=sync, customer_id__in=chunk).values_list(
            "customer_id", "contact_id", "type", "value", "active", "modified_on"
        )
        for customer_id, contact_id, kind, value, active, modified_on in rows:
            found.setdefault(customer_id, []).append(choose.ContactFacts(contact_id, kind, value, active, modified_on))
    return found


def _save_outcomes(sync: CustomerSync, outcomes: dict[int, str]) -> None:
    """One UPDATE per outcome (and chunk), however many customers."""
    by_outcome: dict[str, list[int]] = {}
    for customer_id, outcome in outcomes.items():
        by_outcome.setdefault(outcome, []).append(customer_id)
    for outcome, ids in by_outcome.items():
        for chunk in _chunks(sorted(ids)):
            StagedCustomer.objects.filter(sync=sync, customer_id__in=chunk).update(outcome=outcome)


def _chunks(items: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(items), CHUNK):
        yield list(items[start : start + CHUNK])
