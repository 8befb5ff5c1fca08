"""How a delivery row changes state outside a try, the same for every destination: held, released, resent.

The engine and each destination's outbox (`integrations/servicetitan/outbox.py`, `integrations/webhooks/outbox.py`)
write these fields through here, so a held ServiceTitan lead and a held webhook event look alike, and a resend
means one thing everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from referloop.integrations.models import DeliveryState


def held(reason: str, now: datetime) -> dict[str, Any]:
    """The fields of a row put on hold: kept with the reason, sent once its destination can take it."""
    return {
        "state": DeliveryState.HELD,
        "reason": reason,
        "next_attempt_at": None,
        "held_at": now,
        "held_reason": reason,
        "released_at": None,
    }


def released(now: datetime) -> dict[str, Any]:
    """The fields of a held row that can go now (`held_at`/`held_reason` stay: the timeline shows the wait)."""
    return {
        "state": DeliveryState.PENDING,
        "reason": "",
        "next_attempt_at": now,
        "lease_expires_at": None,
        "released_at": now,
    }


def resent(now: datetime, *, settle_first: bool) -> dict[str, Any]:
    """The fields of a row a person sends again: due now, with a fresh 24 hours of retries (the retry window
    counts from the first try after the resend, not from the lead's first try days ago). `settle_first`: the
    destination may have it already (ServiceTitan looks the booking up before creating one)."""
    return {
        "state": DeliveryState.PENDING,
        "reason": "",
        "next_attempt_at": now,
        "lease_expires_at": None,
        "first_attempt_at": None,
        "failed_at": None,
        "ambiguous": settle_first,
    }
