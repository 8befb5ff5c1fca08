"""Building blocks for the webhook tests: endpoints pointed at a local receiver, events, and one try by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from referloop.integrations.models import Delivery, DeliveryState
from referloop.integrations.webhooks import service
from referloop.integrations.webhooks.events import EVENT_TYPES
from referloop.integrations.webhooks.models import WebhookEndpoint
from referloop.providers.base import Progress, Tried
from referloop.providers.transport import Answer, Outgoing
from referloop.providers.webhooks import AddressPolicy, Destination, WebhookConnector
from tests.conftest import Tenant
from tests.integrations.engine.helpers import drain

LOOPBACK_OK = AddressPolicy(allow_http=True, allow_loopback=True)


def subscribe(
    tenant: Tenant, url: str, events: Iterable[str] = tuple(EVENT_TYPES), **options: Any
) -> service.CreatedEndpoint:
    return service.create_endpoint(tenant.account, url=url, events=list(events), **options)


def deliveries_of(endpoint: WebhookEndpoint) -> list[Delivery]:
    return list(Delivery.objects.filter(endpoint=endpoint).select_related("event").order_by("pk"))


def run_until(condition: Callable[[], bool], limit_seconds: float = 30.0, **overrides: Any) -> None:
    """A worker in this process until `condition()` holds (checked in its database thread), bounded in time."""
    drain(limit_seconds=limit_seconds, stop=condition, **overrides)
    assert condition(), "the worker stopped before the condition held"


def all_finished(*endpoints: WebhookEndpoint) -> Callable[[], bool]:
    def finished() -> bool:
        rows = Delivery.objects.filter(endpoint__in=endpoints)
        return rows.exists() and not rows.filter(state=DeliveryState.PENDING).exists()

    return finished


class NoSender:
    """The engine's shared sender, which the webhook connector must never use (it connects on its own, pinned)."""

    async def send(self, request: Outgoing) -> Answer:
        raise AssertionError(f"the webhook connector used the shared sender for {request.url}")

    async def aclose(self) -> None:
        pass


def try_once(
    url: str,
    secrets: tuple[str, ...],
    body: Mapping[str, object] | None = None,
    *,
    msg_id: str = "msg_test123",
    policy: AddressPolicy = LOOPBACK_OK,
    connector: WebhookConnector | None = None,
    progress: Progress | None = None,
) -> Tried:
    """One try of the connector, outside the engine."""
    destination = Destination(endpoint_id=1, url=url, secrets=secrets, policy=policy)
    payload = {
        "id": msg_id,
        "body": body or {"type": "lead.created", "timestamp": "2026-01-01T00:00:00.000Z", "data": {}},
    }
    return asyncio.run(
        (connector or WebhookConnector()).deliver(
            destination, payload, settle_first=False, sender=NoSender(), progress=progress or Progress()
        )
    )
