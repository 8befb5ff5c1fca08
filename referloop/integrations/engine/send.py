"""Trying one claim through its connector, within a deadline; what came of it becomes a Result.

Runs on the event loop and touches no database: everything comes in the Claim and goes out in the Result. The
connector decides what a try is (ServiceTitan: a settle lookup, then a create; a webhook: one signed POST); this
module only bounds it in time and turns a hang, a bug or a shutdown into an outcome that loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

from django.utils import timezone

from referloop.integrations.engine.tries import RELEASED, Claim, Result
from referloop.providers.base import Connector, Outcome, Progress
from referloop.providers.transport import AsyncSender

logger = logging.getLogger(__name__)


async def send(
    claim: Claim,
    connector: Connector,
    sender: AsyncSender,
    *,
    deadline: float = 90.0,
    progress: Progress | None = None,
) -> Result:
    """Try the claim once; never raises for anything the destination or the network does (only on cancellation)."""
    progress = progress or Progress()
    progress.started = True
    started_at, clock_start = timezone.now(), time.perf_counter()
    try:
        async with asyncio.timeout(deadline):
            tried = await connector.deliver(
                claim.destination, claim.payload, settle_first=claim.settle_first, sender=sender, progress=progress
            )
    except TimeoutError:
        what = f"{connector.label} did not answer within {deadline:g} seconds"
        tried = connector.unanswered(what, sent=progress.sent, settle_first=claim.settle_first)
    except Exception as exc:  # a bug must cost one retry, not the worker
        logger.exception("delivery %s: unexpected error while sending", claim.delivery_id)
        what = f"referloop hit an unexpected error ({type(exc).__name__})"
        tried = connector.unanswered(what, sent=progress.sent, settle_first=claim.settle_first)
    duration_ms = round((time.perf_counter() - clock_start) * 1000)
    return Result(claim=claim, outcome=tried.outcome, started_at=started_at, duration_ms=duration_ms, tried=tried)


def released(claim: Claim, until: datetime | None = None) -> Result:
    """A claimed row given back unsent (shutdown before its send time, or its tenant was paused): no Attempt."""
    return Result(claim=claim, outcome=RELEASED, started_at=timezone.now(), release_until=until)


def interrupted(claim: Claim, connector: Connector, progress: Progress) -> Result:
    """A send cancelled at shutdown. Nothing sent: given back. Sent: unclear, and due again at once."""
    if not progress.sent:
        return released(claim)
    tried = connector.unanswered(
        f"The worker was stopped while waiting for {connector.label}'s answer",
        sent=True,
        settle_first=claim.settle_first,
    )
    assert tried.outcome == Outcome.AMBIGUOUS
    return Result(claim=claim, outcome=tried.outcome, started_at=timezone.now(), tried=tried, retry_now=True)

