"""The destinations the engine delivers to, by connector name: each one's connector and its database side.

The engine claims, paces, retries and writes results for every destination alike. What differs lives in two
places per destination: its connector (`providers/<name>/`, no Django: how one try is made) and its kind
(`integrations/<name>/destination.py`: whether it can send now, what each claimed row carries, what its
results do to its health). Kinds register here when the integrations app starts, so the engine reaches them
by name and imports no destination's code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from referloop.integrations.engine.queries import LockedRow
from referloop.integrations.engine.ratelimit import RateLimit
from referloop.providers.base import Connector

if TYPE_CHECKING:
    from referloop.integrations.engine.tries import Result

# A locked Delivery row as the claim reads it, by name: row.id, row.connector, row.integration_id, row.lead_id, …
Row = LockedRow


@dataclass(frozen=True)
class Destined:
    """Where one claimed row goes: its destination's id and frozen settings, or why it must wait."""

    destination_id: int
    destination: object | None  # None when held
    hold_reason: str = ""  # non-empty: the destination can't take it now; the row is held with this reason


@dataclass(frozen=True)
class ConnectorOptions:
    """What the worker tunes for every connector it builds."""

    timeout: httpx.Timeout | None = None
    token_cache: object | None = None  # a connector's access-token cache (ServiceTitan's); None: the process's


class DestinationKind(Protocol):
    """One destination as the engine's database side sees it. An instance may cache between claims."""

    name: str  # the connector's name and the Delivery.connector value
    # Why a row whose worker died is tried again, and what the next try does about it.
    lost_try_sentence: str
    # The held reason of rows whose try was refused for credentials.
    credentials_hold_reason: str

    def connector(self, options: ConnectorOptions) -> Connector: ...

    def destinations(self, rows: Sequence[Row]) -> dict[int, Destined]:
        """By delivery id, in a fixed number of queries however many rows."""
        ...

    def payloads(self, rows: Sequence[Row]) -> dict[int, Mapping[str, object]]:
        """By delivery id, for the rows about to be leased (before their send times: it can change a try's cost)."""
        ...

    def after_results(self, applied: Sequence[tuple[Result, str]]) -> list[object]:
        """In the results' transaction: health (failure streaks, credentials rejected, disabling), given each
        written result and the delivery's new state. Returns notices to send after the commit."""
        ...

    def send_notices(self, notices: Sequence[object]) -> None:
        """After the commit, off the event loop: the emails the notices stand for."""
        ...

    def release_ready(self) -> int:
        """Held rows whose destination can take them again go back to pending; the count. A fix made on a screen
        releases at once; this catches the ones no screen saw (a deployment setting changed, a key restored)."""
        ...


@dataclass(frozen=True)
class BackgroundContext:
    """What the worker lends a background job: its lease owner, its database thread, its paced HTTP pool."""

    owner: str
    in_db: Callable[..., Awaitable[Any]]
    sender: Any  # the worker's PacedSender: `for_key(rate_key)` gives a rate key's sender
    rate: RateLimit
    tick: float
    lease_seconds: float
    timeout: httpx.Timeout | None
    token_cache: object | None


class BackgroundJob(Protocol):
    """Work a destination does beside its deliveries (ServiceTitan's follower), run by every worker."""

    async def run(self, stopping: asyncio.Event) -> None: ...


_FACTORIES: dict[str, Callable[[], DestinationKind]] = {}
_BACKGROUND: dict[str, Callable[[BackgroundContext], BackgroundJob]] = {}


def register_background(name: str, factory: Callable[[BackgroundContext], BackgroundJob]) -> None:
    _BACKGROUND[name] = factory


def background_jobs() -> dict[str, Callable[[BackgroundContext], BackgroundJob]]:
    return dict(_BACKGROUND)


def register(name: str, factory: Callable[[], DestinationKind]) -> None:
    _FACTORIES[name] = factory


def fresh_kinds() -> dict[str, DestinationKind]:
    """One new instance of every kind (its caches empty): a worker keeps one set for its whole run."""
    return {name: factory() for name, factory in _FACTORIES.items()}
