"""The follower's ServiceTitan side: read what changed for one integration's followed bookings, in few calls.

Bookings, then jobs, then invoices, each asked for in one of two ways, whichever costs fewer calls: the ids we
follow (`ids=`, one call for up to 50), or, when more than 50 are open, everything of the tenant modified since
the cursor (`modifiedOnOrAfter`, one call per page of changes), kept only where it is ours. A job found through
its booking in this cycle, and its invoice, are read in the same cycle. So a cycle costs at most three calls
plus one per extra page of changes, and never one call per lead.

No database here: the plan says what to read (store.claim), the answer goes to store.apply.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Protocol, TypeVar

from referloop.integrations.servicetitan.follower.store import Plan, Seen
from referloop.providers.servicetitan.calls import MAX_IDS, Changes, Page
from referloop.providers.servicetitan.client import AsyncServiceTitanClient
from referloop.providers.servicetitan.models import Booking


class Record(Protocol):
    @property
    def id(self) -> int: ...


T = TypeVar("T", bound=Record)
Lister = Callable[[Changes], Awaitable[Page[T]]]


async def read(plan: Plan, client: AsyncServiceTitanClient) -> Seen:
    seen = Seen()
    bookings = functools.partial(client.list_changed_bookings, plan.booking_provider_id)
    for booking in await _read(bookings, set(plan.bookings), plan.bookings_since, seen):
        if booking.id in plan.bookings and _has_news(booking):
            seen.bookings[booking.id] = booking

    new_jobs = {b.job_id for b in seen.bookings.values() if b.job_id is not None} - set(plan.jobs)
    job_ids = set(plan.jobs) | new_jobs
    followed_bookings = set(plan.bookings)
    for job in await _read(client.list_changed_jobs, set(plan.jobs), plan.jobs_since, seen, new=new_jobs):
        if job.id in job_ids or job.booking_id in followed_bookings:
            seen.jobs[job.id] = job

    new_invoices = {j.invoice_id for j in seen.jobs.values() if j.invoice_id is not None} - set(plan.invoices)
    invoice_ids = set(plan.invoices) | new_invoices
    invoices = client.list_changed_invoices
    for invoice in await _read(invoices, set(plan.invoices), plan.invoices_since, seen, new=new_invoices):
        if invoice.id in invoice_ids:
            seen.invoices[invoice.id] = invoice
    return seen


def _has_news(booking: Booking) -> bool:
    """A booking still New with no job tells nothing (a cursor lists every booking made since it): leaving it out
    keeps a cycle's writes to what changed."""
    return booking.job_id is not None or (booking.status or "New") != "New"


async def _read(
    lister: Lister[T], known: set[int], since: datetime, seen: Seen, new: set[int] | None = None
) -> list[T]:
    """The `known` records changed since `since`, and the `new` ones (just discovered) whole, in the fewest calls:
    one call by id when all fit in it (only the changed known ones when nothing is new), else every change of the
    tenant since `since`, plus by id the new ones the changes did not list (they may have changed before it)."""
    new = (new or set()) - known
    every = known | new
    if not every:
        return []
    if len(every) <= MAX_IDS:
        return await _all_pages(lister, Changes(ids=tuple(sorted(every)), since=None if new else since), seen)
    found = await _all_pages(lister, Changes(since=since), seen)
    for batch in _batches(sorted(new - {item.id for item in found})):
        found += await _all_pages(lister, Changes(ids=batch), seen)
    return found


async def _all_pages(lister: Lister[T], changes: Changes, seen: Seen) -> list[T]:
    items: list[T] = []
    page = changes
    while True:
        answer = await lister(page)
        seen.calls += 1
        items += answer.items
        if not answer.has_more or not answer.items:
            return items
        page = Changes(ids=page.ids, since=page.since, page=page.page + 1)


def _batches(ids: Iterable[int]) -> list[tuple[int, ...]]:
    ordered = list(ids)
    return [tuple(ordered[i : i + MAX_IDS]) for i in range(0, len(ordered), MAX_IDS)]
