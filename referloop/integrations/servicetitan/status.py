"""One word for an integration's state, as the CRM tile and the integration page show it, and why.

Both come from the one readiness rule (`readiness.py`): the tile can't say Connected while leads are held.
"""

from __future__ import annotations

from dataclasses import dataclass

from referloop.integrations.models import Integration
from referloop.integrations.servicetitan.readiness import TILE_LABELS, readiness


@dataclass(frozen=True)
class Status:
    key: str  # not_connected | connected | setup_required | needs_attention | disconnected (CSS class too)
    label: str
    detail: str = ""


def status_of(integration: Integration | None) -> Status:
    ready = readiness(integration)
    return Status(ready.tile.value, TILE_LABELS[ready.tile], ready.detail)
