"""The tenant's customer custom field types, as Map Return Fields offers them: read in the web request with the
sync client (bounded, like the pick lists), cached 15 minutes, a failure remembered for a minute."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.cache import cache

from referloop.integrations.models import ConnectionState, Integration
from referloop.integrations.servicetitan.credentials import credentials_for
from referloop.integrations.servicetitan.pick_lists import CACHE_SECONDS, FAILURE_SECONDS, FETCH_TIMEOUT
from referloop.providers.servicetitan import ServiceTitanClient, ServiceTitanError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldTypes:
    """(id, name, data type) of each customer custom field type, or none with `problem` saying why."""

    items: tuple[tuple[int, str, str], ...] = ()
    problem: str = ""

    def get(self, type_id: int) -> tuple[int, str, str] | None:
        return next((item for item in self.items if item[0] == type_id), None)


def _key(integration: Integration) -> str:
    return f"servicetitan:custom-field-types:{integration.pk}:{integration.environment}:{integration.tenant_id}"


def field_types(integration: Integration, *, refresh: bool = False) -> FieldTypes:
    if not refresh:
        stored = cache.get(_key(integration))
        if stored is not None:
            return FieldTypes(items=tuple(tuple(item) for item in stored["items"]), problem=stored["problem"])
    if integration.state != ConnectionState.CONNECTED or integration.tenant_id is None:
        return FieldTypes(problem="ServiceTitan is not connected, so its custom fields can't be listed.")
    fresh = _fetch(integration)
    seconds = FAILURE_SECONDS if fresh.problem else CACHE_SECONDS
    cache.set(_key(integration), {"items": [list(item) for item in fresh.items], "problem": fresh.problem}, seconds)
    return fresh


def _fetch(integration: Integration) -> FieldTypes:
    try:
        with ServiceTitanClient(credentials_for(integration), timeout=FETCH_TIMEOUT) as client:
            found = client.list_custom_field_types()
    except ServiceTitanError as exc:
        return FieldTypes(problem=f"ServiceTitan could not list its customer custom fields: {exc.message}")
    except Exception as exc:  # the Referrers tab must render whatever went wrong
        logger.exception("reading the custom field types failed for integration %s", integration.pk)
        return FieldTypes(problem=f"ServiceTitan's custom fields could not be read ({type(exc).__name__}).")
    return FieldTypes(items=tuple((item.id, item.name or f"#{item.id}", item.data_type or "") for item in found))
