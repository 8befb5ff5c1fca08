"""The follower inside the worker: every few seconds, run the cycles that are due, beside the deliveries.

It shares the worker's database thread and its paced HTTP pool. Each of its calls first takes a spare slot of
the tenant's budget (`ratelimit.take_spare_slot`): while a tenant has deliveries waiting, the follower waits for
it, so bookings keep their full rate and the follower only uses what they leave.
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
from referloop.integrations.servicetitan.follower import reader, store
from referloop.integrations.servicetitan.reading import DatabaseThread, SlotSender
from referloop.providers.servicetitan import TokenCache
from referloop.providers.servicetitan.client import AsyncServiceTitanClient
from referloop.providers.servicetitan.errors import ServiceTitanError
from referloop.providers.transport import TransportFailure

logger = logging.getLogger(__name__)
T = TypeVar("T")
InDb = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class FollowerOptions:
    tick: float = 1.0  # how often due cycles are looked for
    lease_seconds: float = 120.0  # a cycle not finished by then is another worker's to run
    wait_for_slot: float = 30.0  # the most a cycle waits for a tenant busy with deliveries
    slot_poll: float = 0.05
    timeout: httpx.Timeout | None = None
    token_cache: TokenCache | None = None

    @classmethod
    def of(cls, context: BackgroundContext) -> FollowerOptions:
        cache = context.token_cache if isinstance(context.token_cache, TokenCache) else None
        return cls(tick=context.tick, lease_seconds=context.lease_seconds, timeout=context.timeout, token_cache=cache)


@dataclass
class FollowerReport:
    cycles: int = 0
    calls: int = 0
    failed: int = 0
    stale: int = 0
    changed: int = 0
    qualified: int = 0


class Follower:
    """The follower as the worker runs it (registered as a background job in integrations/apps.py)."""

    @classmethod
    def in_worker(cls, context: BackgroundContext) -> Follower:
        """With its own database thread (and connection): planning and writing a cycle never holds up the
        deliveries' claims and results, which have the worker's one database thread to themselves."""
        database = DatabaseThread("referloop-follower-db")
        follower = cls(context.owner, database, context.sender, context.rate, FollowerOptions.of(context))
        follower._database = database
        return follower

    def __init__(
        self, owner: str, in_db: InDb, sender: Any, rate: RateLimit, options: FollowerOptions | None = None
    ) -> None:
        self.owner = owner
        self.in_db = in_db
        self.sender = sender  # the worker's PacedSender
        self.rate = rate
        self.options = options or FollowerOptions()
        self.report = FollowerReport()
        self._database: DatabaseThread | None = None  # its own database thread, closed when it stops

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
            except Exception:  # the database was unreachable: try again next tick, nothing was leased
                logger.exception("planning follow cycles failed; trying again shortly")
                plans = []
            if plans:
                await asyncio.gather(*(self.cycle(plan) for plan in plans))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.options.tick)

    async def cycle(self, plan: store.Plan) -> None:
        sender = SlotSender(
            self.sender.for_key(plan.rate_key),
            self._spare_slot(plan.rate_key),
            wait_for_slot=self.options.wait_for_slot,
            slot_poll=self.options.slot_poll,
            later="following it",
        )
        client = AsyncServiceTitanClient(
            plan.credentials, timeout=self.options.timeout, sender=sender, token_cache=self.options.token_cache
        )
        try:
            seen = await reader.read(plan, client)
        except (ServiceTitanError, TransportFailure) as exc:
            self.report.failed += 1
            logger.warning("following integration %s: %s", plan.integration_id, exc)
            await self.in_db(store.failed, self.owner, plan, str(exc), timezone.now())
            return
        applied = await self.in_db(store.apply, self.owner, plan, seen, timezone.now())
        self.report.cycles += 1
        self.report.calls += seen.calls
        self.report.stale += int(applied.stale)
        self.report.changed += applied.changed
        self.report.qualified += applied.qualified

    def _spare_slot(self, rate_key: str) -> Callable[[], Awaitable[float | None]]:
        def take() -> float | None:
            with transaction.atomic():
                return ratelimit.take_spare_slot(rate_key, self.owner, time.time(), timezone.now(), self.rate)

        return lambda: self.in_db(take)
