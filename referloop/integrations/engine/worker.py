"""The worker: one asyncio loop keeps many sends in flight, and never waits on the database itself.

Three things run side by side:

- the claimer asks the database thread for due rows whenever there is room (`concurrency` rows out at most),
  or every `poll_interval` when idle, so a new lead goes out within a fraction of a second;
- one task per claimed row sleeps until the row's send time (its slot in the tenant's budget) and sends it
  through one shared, paced aiohttp pool;
- the flusher writes finished results in batches (every `flush_interval` or `flush_size` results), records
  the heartbeat and asks `stop_when`.

Every ORM call runs in ONE dedicated thread: the loop only awaits it. One thread means one database connection
per worker and, on SQLite, no worker competing with itself for the write lock.

On SIGTERM or Ctrl-C the claimer stops, rows still waiting for their send time are given back at once, sends in
flight get `shutdown_grace` seconds to finish (a second signal cuts that short), and every result is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import secrets
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from django.db import close_old_connections, connections, reset_queries
from django.utils import timezone

from referloop.integrations import destinations
from referloop.integrations.destinations import BackgroundContext, ConnectorOptions
from referloop.integrations.engine import ratelimit
from referloop.integrations.engine.claim import ClaimResult, claim_due
from referloop.integrations.engine.pacing import paced_sender
from referloop.integrations.engine.ratelimit import RateLimit
from referloop.integrations.engine.results import Notices, Written, send_notices, write_results
from referloop.integrations.engine.retry import DEFAULT_POLICY, RetryPolicy
from referloop.integrations.engine.send import interrupted, released, send
from referloop.integrations.engine.tries import Claim, Result
from referloop.integrations.models import WorkerHeartbeat
from referloop.providers.base import Connector, Progress

logger = logging.getLogger(__name__)
T = TypeVar("T")

# After a database error the loop waits this long before trying again (the results stay in memory).
DB_RETRY_SECONDS = 1.0
# A claim that came short because another worker's claim held tenants' buckets tries again this soon: that claim
# takes milliseconds, and waiting a poll interval instead left two workers idle a third of the time.
CONTENDED_RETRY_SECONDS = 0.02


@dataclass
class WorkerOptions:
    concurrency: int = 64  # sends in flight at once; as many more claimed rows may wait for their send time
    batch: int = 500  # most rows one claim takes
    poll_interval: float = 0.2
    worker_id: str = ""  # default host:pid
    lease_seconds: float = 120.0  # must outlast `send_deadline`, or a slow send could be taken over
    send_deadline: float = 90.0  # a whole try (ServiceTitan: token, lookup, create) gives up after this
    flush_interval: float = 0.1
    flush_size: int = 200
    heartbeat_interval: float = 5.0
    release_interval: float = 30.0  # how often held rows whose destination is ready again are released
    shutdown_grace: float = 8.0  # below `referloop serve`'s 10 s before it kills
    timeout: httpx.Timeout | None = None  # per request; default: each connector's own
    retry: RetryPolicy = DEFAULT_POLICY
    rate: RateLimit | None = None  # default: RateLimit.from_settings()
    token_cache: object | None = None  # a connector's token cache (ServiceTitan's); default: the process-wide one
    follow: bool = True  # also run the background jobs (the ServiceTitan follower: what became of each booking)
    follow_tick: float = 1.0  # how often they look for due work (the follower's interval is a setting)


@dataclass
class WorkerReport:
    """What a worker did; `stop_when` sees a copy after every flush, `run_worker` returns the last one."""

    worker_id: str
    claimed: int = 0
    finished: int = 0  # tries whose results are written
    outcomes: Counter[str] = field(default_factory=Counter)  # attempt outcomes
    held: int = 0  # rows held at claim time (integration disconnected or setup broken)
    released: int = 0  # rows given back unsent
    released_held: int = 0  # held rows sent on because their destination became ready (no screen saw the fix)
    stale: int = 0  # results that came too late: the lease had passed to another worker
    outstanding: int = 0  # claimed rows not finished yet
    idle: bool = False  # the last claim found nothing due, and nothing is outstanding or unwritten
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time while the worker ran (all threads)
    paced_waits: int = 0  # calls the transport held back to stay under a tenant's per-second limit


StopWhen = Callable[[WorkerReport], bool]


def until_idle(report: WorkerReport) -> bool:
    """Stop once nothing is due (rows retrying later don't count): for tests and one-off drains."""
    return report.idle


def for_seconds(seconds: float) -> StopWhen:
    deadline = time.monotonic() + seconds
    return lambda _report: time.monotonic() >= deadline


def run_worker(
    options: WorkerOptions | None = None, stop_when: StopWhen | None = None, *, handle_signals: bool = False
) -> WorkerReport:
    """Run a worker in this thread until `stop_when` says so (or SIGTERM/Ctrl-C with `handle_signals`).

    `stop_when` runs in the worker's database thread, so it may use the ORM (e.g. "all leads delivered").
    """
    return asyncio.run(Worker(options or WorkerOptions(), stop_when).run(handle_signals=handle_signals))


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class _Running:
    claim: Claim
    progress: Progress = field(default_factory=Progress)


class Worker:
    def __init__(self, options: WorkerOptions, stop_when: StopWhen | None = None) -> None:
        self.options = options
        self.rate = options.rate or RateLimit.from_settings()
        self.worker_id = (options.worker_id or default_worker_id())[:60]
        # Unique per run: a restarted worker with the same id must not match the dead one's leases.
        self.owner = f"{self.worker_id}#{secrets.token_hex(4)}"
        self.report = WorkerReport(self.worker_id)
        self._stop_when = stop_when
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="referloop-db")
        # Alert emails go out from their own thread: an SMTP server that is slow to answer must not stall claims.
        self._mail = ThreadPoolExecutor(max_workers=1, thread_name_prefix="referloop-mail")
        self._claims: dict[asyncio.Task[None], _Running] = {}
        # Rows waiting for their send time hold no connection, so they don't count against `concurrency`;
        # up to as many again may be claimed ahead, which keeps a rate-limited tenant's next rows ready.
        self._room = 2 * options.concurrency
        self._results: list[Result] = []
        self._kinds = destinations.fresh_kinds()
        options_for_connectors = ConnectorOptions(timeout=options.timeout, token_cache=options.token_cache)
        self._connectors: dict[str, Connector] = {
            name: kind.connector(options_for_connectors) for name, kind in self._kinds.items()
        }
        self._paused: dict[str, float] = {}  # rate key → epoch: a 429 seen here, before the bucket says so
        self._claim_found_nothing = False
        # Idle only counts if the claim that found nothing came after the last results were written:
        # a written result can make its row due again (a retry at once).
        self._flushes = 0
        self._flushes_seen_by_claim = -1
        self._hurry = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- public ------------------------------------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = False) -> WorkerReport:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._capacity = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._drained = asyncio.Event()
        self._sending = asyncio.Semaphore(self.options.concurrency)
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(signum, self._on_signal)
        started, cpu_started = time.monotonic(), time.process_time()
        self._sender = paced_sender(self.options.concurrency, 1.0 / self.rate.interval)
        try:
            if await self._first_beat():
                flusher = asyncio.create_task(self._flush_loop())
                follower = asyncio.create_task(self._follow()) if self.options.follow else None
                try:
                    await self._claim_loop()
                    await self._drain()
                finally:
                    self._drained.set()
                    self._flush_now.set()
                    await flusher
                    if follower is not None:
                        await follower
                await self._in_db(ratelimit.release_ownership, self.owner)
                await self._in_db(self._beat, 0, self.report.finished, stopped=True)
        finally:
            await self._sender.aclose()
            await self._in_db(connections.close_all)
            self._db.shutdown(wait=True)
            await asyncio.get_running_loop().run_in_executor(None, self._mail.shutdown, True)  # emails sent first
        self.report.seconds = time.monotonic() - started
        self.report.cpu_seconds = time.process_time() - cpu_started
        self.report.paced_waits = self._sender.waits
        return self.report

    def stop(self) -> None:
        """Ask the worker to stop claiming and finish; safe to call from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    # -- claiming ----------------------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        threshold = self._threshold()
        while not self._stopping.is_set():
            free = self._room - len(self._claims)
            full = contended = False
            if free >= threshold or (free > 0 and not self._claims):
                wanted = min(free, self.options.batch)
                found = await self._claim(wanted)
                full = found is not None and len(found.claims) >= wanted
                contended = found is not None and found.contended
            if full or free < threshold:
                # Busy: claim again as soon as enough sends have finished to make a batch worthwhile.
                self._capacity.clear()
                if self._room - len(self._claims) < threshold:
                    await self._wait(self._capacity, self.options.poll_interval)
                else:
                    await asyncio.sleep(0)
            else:
                # Idle, or the due rows are waiting for their tenant's budget: poll. Or another worker was claiming.
                pause = self.options.poll_interval
                await self._wait(self._stopping, min(pause, CONTENDED_RETRY_SECONDS) if contended else pause)

    async def _claim(self, wanted: int) -> ClaimResult | None:
        flushes = self._flushes
        try:
            found = await self._in_db(
                claim_due,
                self.owner,
                wanted,
                rate=self.rate,
                lease_seconds=self.options.lease_seconds,
                kinds=self._kinds,
            )
        except Exception:  # the database was unreachable or locked too long; a bug must not stop sends in flight
            logger.exception("claiming failed; trying again shortly")
            await self._in_db(_discard_broken_connection)
            await self._wait(self._stopping, DB_RETRY_SECONDS)
            return None
        for claim in found.claims:
            running = _Running(claim)
            task = asyncio.create_task(self._run(running))
            self._claims[task] = running
            task.add_done_callback(self._claim_done)
        self.report.claimed += len(found.claims)
        self.report.held += found.held
        self._claim_found_nothing = not found.claims and not found.more_due
        self._flushes_seen_by_claim = flushes
        return found

    def _threshold(self) -> int:
        return max(1, self.options.concurrency // 8)  # claim in useful batches, not one row at a time

    def _claim_done(self, task: asyncio.Task[None]) -> None:
        self._claims.pop(task, None)
        if self._room - len(self._claims) >= self._threshold():
            self._capacity.set()

    # -- sending -----------------------------------------------------------------------------------------------

    async def _run(self, running: _Running) -> None:
        claim = running.claim
        try:
            delay = claim.send_at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            paused = self._paused.get(claim.rate_key, 0.0)
            if paused > time.time():
                result = released(claim, until=datetime.fromtimestamp(paused, UTC))
            else:
                async with self._sending:
                    running.progress.started = True
                    result = await send(
                        claim,
                        self._connectors[claim.connector],
                        self._sender.for_key(claim.rate_key),
                        deadline=self.options.send_deadline,
                        progress=running.progress,
                    )
        except asyncio.CancelledError:
            # Only _drain cancels: the result says whether the row goes back untouched or was maybe sent.
            connector = self._connectors[claim.connector]
            result = interrupted(claim, connector, running.progress) if running.progress.started else released(claim)
        if result.rate_limited:
            until = time.time() + (result.retry_after or 1.0)
            self._paused[claim.rate_key] = max(self._paused.get(claim.rate_key, 0.0), until)
        self._results.append(result)
        if len(self._results) >= self.options.flush_size:
            self._flush_now.set()

    async def _drain(self) -> None:
        """Give back rows not started yet; let sends in flight finish within the grace period; cancel the rest."""
        for task, running in list(self._claims.items()):
            if not running.progress.started:
                task.cancel()
        deadline = time.monotonic() + self.options.shutdown_grace
        while True:
            in_flight = [task for task, running in self._claims.items() if running.progress.started]
            if not in_flight or self._hurry or time.monotonic() >= deadline:
                break
            await asyncio.wait(in_flight, timeout=min(0.1, max(0.0, deadline - time.monotonic())))
        for task in list(self._claims):
            task.cancel()
        await asyncio.gather(*self._claims, return_exceptions=True)

    # -- following ---------------------------------------------------------------------------------------------

    async def _follow(self) -> None:
        """The registered background jobs (the ServiceTitan follower), until the worker stops."""
        context = BackgroundContext(
            owner=self.owner,
            in_db=self._in_db,
            sender=self._sender,
            rate=self.rate,
            tick=self.options.follow_tick,
            lease_seconds=self.options.lease_seconds,
            timeout=self.options.timeout,
            token_cache=self.options.token_cache,
        )
        self.background = {name: factory(context) for name, factory in destinations.background_jobs().items()}
        await asyncio.gather(*(job.run(self._stopping) for job in self.background.values()))

    # -- writing -----------------------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        next_beat = time.monotonic() + self.options.heartbeat_interval
        next_release = time.monotonic()
        while True:
            drained = self._drained.is_set()
            await self._wait(self._flush_now, self.options.flush_interval)
            self._flush_now.clear()
            await self._flush()
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + self.options.heartbeat_interval
                await self._heartbeat()
            if time.monotonic() >= next_release and not self._stopping.is_set():
                next_release = time.monotonic() + self.options.release_interval
                await self._release_ready()
            if drained and not self._results:
                return
            await self._ask_stop_when()

    async def _first_beat(self) -> bool:
        """The database may be down as the worker starts (both restarted at once): wait for it rather than exit,
        which would take `referloop serve`'s other processes down with it. False: asked to stop meanwhile."""
        while not self._stopping.is_set():
            try:
                await self._in_db(self._beat, 0, 0, started=True)
                return True
            except Exception:
                logger.warning("the database is not answering; waiting for it before starting", exc_info=True)
                await self._in_db(_discard_broken_connection)
            await self._wait(self._stopping, DB_RETRY_SECONDS)
        return False

    async def _heartbeat(self) -> None:
        try:
            await self._in_db(self._beat, self._in_flight(), self.report.finished)
        except Exception:  # the database was unreachable: the next beat tries again; this loop must go on writing
            logger.exception("writing the heartbeat failed; trying again at the next beat")
            await self._in_db(_discard_broken_connection)

    async def _flush(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        try:
            written = await self._in_db(
                write_results, batch, policy=self.options.retry, send_alerts=self._send_alerts_later, kinds=self._kinds
            )
        except Exception:  # keep them: a result is the only record that a booking was created
            logger.exception("writing %d results failed; keeping them to try again", len(batch))
            self._results[:0] = batch
            await self._in_db(_discard_broken_connection)
            await asyncio.sleep(DB_RETRY_SECONDS)
            return
        self._flushes += 1
        self._count(batch, written)

    def _count(self, batch: list[Result], written: Written) -> None:
        for result in batch:
            if not result.released:
                self.report.outcomes[result.outcome] += 1
        self.report.finished += sum(1 for result in batch if not result.released)
        self.report.released += written.states["released"]
        self.report.stale += written.states["stale"]

    async def _ask_stop_when(self) -> None:
        if self._stop_when is None or self._stopping.is_set():
            return
        self.report.outstanding = len(self._claims)
        self.report.idle = (
            self._claim_found_nothing
            and self._flushes_seen_by_claim == self._flushes
            and not self._claims
            and not self._results
        )
        snapshot = dataclasses.replace(self.report, outcomes=Counter(self.report.outcomes))
        if await self._in_db(self._stop_when, snapshot):
            self._stopping.set()

    async def _release_ready(self) -> None:
        try:
            released = await self._in_db(lambda: sum(kind.release_ready() for kind in self._kinds.values()))
        except Exception:  # the database was unreachable: held rows wait for the next round, nothing is lost
            logger.exception("releasing held deliveries failed; trying again later")
            await self._in_db(_discard_broken_connection)
            return
        if released:
            self.report.released_held += released
            self._flushes += 1  # like a written result, a release makes rows due: idle needs a claim after it

    def _beat(self, in_flight: int, processed: int, *, started: bool = False, stopped: bool = False) -> None:
        now = timezone.now()
        values: dict[str, Any] = {
            "hostname": socket.gethostname()[:200],
            "pid": os.getpid(),
            "seen_at": now,
            "in_flight": in_flight,
            "processed": processed,
            "stopped_at": now if stopped else None,
        }
        if started:
            values["started_at"] = now
        WorkerHeartbeat.objects.update_or_create(worker_id=self.worker_id, defaults=values)
        if not started and not stopped:
            close_old_connections()  # honours CONN_MAX_AGE and drops a broken connection, between batches
        # With DEBUG on, Django keeps the text of the last 9,000 queries and clears it per web request; a worker
        # has none, so without this it holds ~40 MiB of SQL (a bulk INSERT is ~30 KB).
        reset_queries()

    def _send_alerts_later(self, pending: Notices) -> None:
        self._mail.submit(_send_alerts_in_mail_thread, pending)

    # -- plumbing ----------------------------------------------------------------------------------------------

    async def _in_db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, functools.partial(fn, *args, **kwargs))

    async def _wait(self, event: asyncio.Event, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def _on_signal(self) -> None:
        if self._stopping.is_set():
            logger.warning("second signal: cancelling the sends still in flight")
            self._hurry = True
        logger.info("stopping: finishing the sends in flight")
        self._stopping.set()

    def _in_flight(self) -> int:
        return sum(1 for running in self._claims.values() if running.progress.started)


def _send_alerts_in_mail_thread(pending: Notices) -> None:
    try:
        send_notices(pending)
    except Exception:  # reading the recipients failed: the state change (Needs attention) is saved anyway
        logger.exception("could not send %d alert emails", len(pending))
    finally:
        connections.close_all()  # this thread's own connection: don't hold one between rare alerts


def _discard_broken_connection() -> None:
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()
