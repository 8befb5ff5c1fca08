"""The tenant's pick lists: job types (jpm-v2), business units (settings-v2), marketing campaigns (marketing-v2)
and tag types (settings-v2, the ids in a customer's `tagTypeIds`). Held by `SandboxState` (as `state.catalog`),
under the state's lock and clock.

A test deactivates an item (it leaves the default, active-only lists) or removes it (it is gone: the
"a stored id no longer exists in ServiceTitan" case the Diagnose tab must flag).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

KINDS = ("job_type", "business_unit", "campaign", "tag_type")
_LABELS = {"job_type": "Job type", "business_unit": "Business unit", "campaign": "Campaign", "tag_type": "Tag type"}


@dataclass
class CatalogItem:
    kind: str  # one of KINDS
    id: int
    tenant_id: int
    name: str
    active: bool
    created_on: datetime
    modified_on: datetime


class Catalog:
    def __init__(self, lock: threading.RLock, stamp: Callable[[], datetime]) -> None:
        self.lock = lock
        self._stamp = stamp
        # (kind, tenant, id) → item: ids are the tenant's own, so two tenants may both have job type 1.
        self._items: dict[tuple[str, int, int], CatalogItem] = {}

    def reset(self) -> None:
        with self.lock:
            self._items.clear()

    def put(
        self, kind: str, tenant_id: int, item_id: int, name: str, *, active: bool = True, at: datetime | None = None
    ) -> CatalogItem:
        """Add the item, or replace the one with the same id."""
        _check_kind(kind)
        with self.lock:
            when = at or self._stamp()
            item = CatalogItem(kind, item_id, tenant_id, name, active, when, when)
            self._items[(kind, tenant_id, item_id)] = item
            return item

    def items(self, kind: str, tenant_id: int) -> list[CatalogItem]:
        """All of the tenant's items of this kind, active or not, in id order."""
        _check_kind(kind)
        with self.lock:
            return sorted(
                (i for (k, t, _), i in self._items.items() if k == kind and t == tenant_id), key=lambda i: i.id
            )

    def set_active(self, kind: str, tenant_id: int, item_id: int, active: bool) -> CatalogItem:
        with self.lock:
            item = self._item(kind, tenant_id, item_id)
            if item.active != active:
                item.active = active
                item.modified_on = self._stamp()
            return item

    def remove(self, kind: str, tenant_id: int, item_id: int) -> CatalogItem:
        with self.lock:
            item = self._item(kind, tenant_id, item_id)
            del self._items[(kind, tenant_id, item_id)]
            return item

    def _item(self, kind: str, tenant_id: int, item_id: int) -> CatalogItem:
        from referloop.sandbox.state import NotFound  # state imports this module

        _check_kind(kind)
        item = self._items.get((kind, tenant_id, item_id))
        if item is None:
            raise NotFound(f"{_LABELS[kind]} {item_id} was not found for tenant {tenant_id}.")
        return item


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"{kind!r} is not a pick list (one of {', '.join(KINDS)})")
