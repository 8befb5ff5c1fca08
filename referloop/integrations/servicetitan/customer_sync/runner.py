"""The customer sync inside the worker: lease running syncs, read their export pages one at a time, write each.

It shares the worker's paced HTTP pool and the tenant's rate budget (slots.py says which slots it takes), and has
its own database thread, as the follower does, so writing 5,000 referrers never holds up the deliveries' claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from django.db import transaction
from django.utils import timezone

from referloop.integrations.destinations import BackgroundContext
from referloop.integrations.engine import ratelimit
from referloop.integrations.engine.ratelimit import RateLimit
from referloop.integrations.servicetitan.customer_sync import slots, store
from referloop.integrations.servicetitan.customer_sync.models import Phase
from referloop.integrations.servicetitan.reading import DatabaseThread, SlotSender
from referloop.providers.servicetitan import TokenCache
from referloop.providers.servicetitan.client import AsyncServiceTitanClient
from referloop.providers.servicetitan.errors import ServiceTitanError
from referloop.providers.transport import TransportFailure

logger = logging.getLogger(__name__)
T = TypeVar("T")
InDb = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class SyncOptions:
    tick: float = 1.0
    lease_seconds: float = 120.0
    wait_for_slot: float = 30.0
    slot_poll: float = 0.05
    timeout: httpx.Timeout | None = None
    token_cache: TokenCache | None = None
    stop_after_pages: int | None = None  # tests: a worker that dies after this many pages (lease kept, as a kill)


@dataclass
class SyncReport:
    pages: int = 0
    created: int = 0
    failed: int = 0
    stale: int = 0


class CustomerSyncJob:
    """Registered as a background job in apps.py: every worker runs one."""

    @classmethod
    def in_worker(cls, context: BackgroundContext, stop_after_pages: int | None = None) -> CustomerSyncJob:
        database = DatabaseThread("referloop-customer-sync-db")
        cache = context.token_cache if isinstance(context.token_cache, TokenCache) else None
        options = SyncOptions(
            tick=context.tick,
            lease_seconds=context.lease_seconds,
            timeout=context.timeout,
            token_cache=cache,
            stop_after_pages=stop_after_pages,
        )
        job = cls(context.owner, database, context.sender, context.rate, options)
        job._database = database
        return job

    def __init__(self, owner: str, in_db: InDb, sender: Any, rate: RateLimit, options: SyncOptions | None = None):
        self.owner = owner
        self.in_db = in_db
        self.sender = sender  # the worker's PacedSender
        self.rate = rate
        self.options = options or SyncOptions()
        self.report = SyncReport()
        self._database: DatabaseThread | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            await self._run(stopping)
        finally:
            if self._database is not None:
                await self._database.close()

    async def _run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                plans = await self.in_db(store.claim, self.owner, timezone.now(), self.options.lease_seconds)
            except Exception:  # the database was unreachable: nothing was leased, try again next tick
                logger.exception("claiming customer syncs failed; trying again shortly")
                plans = []
            if plans:
                await asyncio.gather(*(self.sync(plan, stopping) for plan in plans))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.options.tick)

    async def sync(self, plan: store.Plan, stopping: asyncio.Event) -> None:
        """Page after page until caught up, stopped, or the lease is lost. One call in flight per sync."""
        current: store.Plan | None = plan
        while current is not None:
            if stopping.is_set():
                await self.in_db(store.release, self.owner, current)
                return
            if self.options.stop_after_pages is not None and self.report.pages >= self.options.stop_after_pages:
                return  # as if killed: the lease stays until it runs out
            current = await self._page(current)

    async def _page(self, plan: store.Plan) -> store.Plan | None:
        take = self._slot(plan)
        sender = SlotSender(
            self.sender.for_key(plan.rate_key),
            take,
            wait_for_slot=self.options.wait_for_slot,
            slot_poll=self.options.slot_poll,
            later="reading customers",
        )
        client = AsyncServiceTitanClient(
            plan.credentials, timeout=self.options.timeout, sender=sender, token_cache=self.options.token_cache
        )
        token = plan.token or None
        if plan.needs_total:
            plan = await self._count(plan, client)
        try:
            if plan.phase == Phase.CONTACTS:
                page: Any = await client.export_customer_contacts(token, include_recent_changes=True)
            else:
                page = await client.export_customers(token, include_recent_changes=True)
        except (ServiceTitanError, TransportFailure) as exc:
            self.report.failed += 1
            permanent = isinstance(exc, ServiceTitanError) and exc.permanent
            logger.warning("customer sync of integration %s: %s", plan.integration_id, exc)
            await self.in_db(store.failed, self.owner, plan, str(exc), permanent, timezone.now())
            return None
        try:
            written = await self.in_db(
                store.write_page, self.owner, plan, page, timezone.now(), self.options.lease_seconds
            )
        except Exception as exc:
            # The database failed mid-page: the chunks written stay, the page is read again a minute later.
            logger.exception("writing a page of the customer sync of integration %s failed", plan.integration_id)
            with contextlib.suppress(Exception):  # the database may be down too: then the lease runs out
                await self.in_db(store.not_written, self.owner, plan, exc, timezone.now())
            return None
        if written.stale:
            self.report.stale += 1
            return None
        self.report.pages += 1
        self.report.created += written.created
        return written.next

    async def _count(self, plan: store.Plan, client: AsyncServiceTitanClient) -> store.Plan:
        """One call at the start of a run, so the tab can show rows to go. Not needed to sync: a failure leaves
        the count unknown and the run goes on."""
        try:
            total = await client.count_customers()
        except (ServiceTitanError, TransportFailure) as exc:
            logger.info("counting the customers of integration %s: %s", plan.integration_id, exc)
            total = None
        counted: store.Plan = await self.in_db(store.counted, self.owner, plan, total)
        return counted

    def _slot(self, plan: store.Plan) -> Callable[[], Awaitable[float | None]]:
        def take() -> float | None:
            with transaction.atomic():
                if plan.first_pass:
                    return slots.take_slot(plan.rate_key, self.owner, time.time(), timezone.now(), self.rate)
                return ratelimit.take_spare_slot(plan.rate_key, self.owner, time.time(), timezone.now(), self.rate)

        return lambda: self.in_db(take)
