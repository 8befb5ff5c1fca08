"""ServiceTitan's export feeds (`/export/...`): records in modification order, read in pages with a continuation
token the client stores and sends back as `from`.

The token is opaque to clients but means one thing: "after the record last handed out", as the position
(modified_on, id) of that record. So resuming from a stored token continues right after the last page that was
finished (a restart repeats nothing), and a record changed later gets a newer modified_on and comes round again
after the end. `from` also takes a date ("2020-01-01"): every record modified on or after it.

Without includeRecentChanges, records modified within the lag (15 minutes, the knob `export_lag_seconds`) are
held back, as ServiceTitan holds them back.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from referloop.sandbox.errors import validation_error
from referloop.sandbox.state import utc_now
from referloop.sandbox.wire import parse_dt

_PREFIX = "rlx1:"
_START = (datetime.min.replace(tzinfo=UTC), 0)


class Exported(Protocol):
    id: int
    modified_on: datetime


E = TypeVar("E", bound=Exported)
Position = tuple[datetime, int]


@dataclass(frozen=True)
class ExportRequest:
    after: Position  # hand out records strictly after this position
    include_recent: bool


def encode_token(position: Position) -> str:
    moment, record_id = position
    micros = int((moment - _START[0]).total_seconds() * 1_000_000) if moment > _START[0] else 0
    return base64.urlsafe_b64encode(f"{_PREFIX}{micros}:{record_id}".encode()).decode().rstrip("=")


def decode_from(raw: str | None) -> Position:
    """The position a `from` value names: a token we issued, or a date (records modified on or after it).
    A 400 naming `from` for anything else."""
    if raw is None or raw == "":
        return _START
    try:
        padded = raw + "=" * (-len(raw) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        if text.startswith(_PREFIX):
            micros, record_id = text[len(_PREFIX) :].split(":")
            return _START[0] + timedelta(microseconds=int(micros)), int(record_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    try:
        # A date: strictly after (date - 1µs, any id) is "on or after the date", however the ids fall.
        return parse_dt(raw) - timedelta(microseconds=1), 2**63 - 1
    except (ValueError, OverflowError):
        raise validation_error({"from": [f"The value '{raw}' is neither a continuation token nor a date."]}) from None


def export_page(
    records: Sequence[E],
    request: ExportRequest,
    *,
    page_size: int,
    lag_seconds: float,
    to_api: Callable[[E], dict[str, Any]],
) -> dict[str, Any]:
    """The ExportResponse envelope {hasMore, continueFrom, data} for the next page after `request.after`."""
    horizon = None if request.include_recent else utc_now() - timedelta(seconds=lag_seconds)
    ready = sorted(
        (r for r in records if (r.modified_on, r.id) > request.after and (horizon is None or r.modified_on <= horizon)),
        key=lambda r: (r.modified_on, r.id),
    )
    chunk = ready[:page_size]
    last = (chunk[-1].modified_on, chunk[-1].id) if chunk else request.after
    return {
        "hasMore": len(ready) > len(chunk),
        "continueFrom": encode_token(last),
        "data": [to_api(r) for r in chunk],
    }
