"""What the worker's ServiceTitan readers share (the follower, the customer sync): a database thread of their own,
and a sender whose paced calls first take a slot of the tenant's rate budget.

A reader's planning and page writes run on its own thread (and so its own connection): they never wait in line
with the deliveries' claims and results, which have the worker's one database thread to themselves. Which slot a
call takes (a spare one, or any) is the reader's choice; waiting for it, and giving up, are the same for both.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import connections

from referloop.providers.transport import Answer, AsyncSender, Outgoing, TransportFailure

T = TypeVar("T")
TakeSlot = Callable[[], Awaitable[float | None]]  # the slot's time (epoch seconds), or None: none free now


class DatabaseThread:
    """Runs blocking ORM calls on one thread of its own: `await database(fn, *args)`."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(_run, fn, args, kwargs))

    async def close(self) -> None:
        await self(connections.close_all)  # the thread's connection, closed on the thread that opened it
        self._pool.shutdown(wait=True)


def _run(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    try:
        return fn(*args, **kwargs)
    except Exception:
        # A connection the database dropped (a restart, a failover) stays broken until closed: without this the
        # reader would fail on it forever after the database came back.
        for conn in connections.all(initialized_only=True):
            conn.close_if_unusable_or_obsolete()
        raise


class TenantBusy(TransportFailure):
    """No slot came free for longer than a reader may wait: it tries later, nothing was sent."""

    def __init__(self, url: str, later: str) -> None:
        super().__init__(f"The tenant was busy the whole time; {later} later.", url=url, reached=False)


class SlotSender:
    """A rate key's paced sender whose paced requests first take a slot (`take`), waiting at most `wait_for_slot`
    seconds for one and asking again every `slot_poll` seconds."""

    def __init__(self, inner: AsyncSender, take: TakeSlot, *, wait_for_slot: float, slot_poll: float, later: str):
        self._inner = inner
        self._take = take
        self._wait_for_slot = wait_for_slot
        self._slot_poll = slot_poll
        self._later = later  # what TenantBusy says is done later: "following it", "reading customers"

    async def send(self, request: Outgoing) -> Answer:
        if request.paced:
            give_up = time.monotonic() + self._wait_for_slot
            while (slot := await self._take()) is None:
                if time.monotonic() >= give_up:
                    raise TenantBusy(request.url, self._later)
                await asyncio.sleep(self._slot_poll)
            if slot > time.time():
                await asyncio.sleep(slot - time.time())
        return await self._inner.send(request)

    async def aclose(self) -> None:
        pass  # the inner sender is the worker's, closed by the worker
