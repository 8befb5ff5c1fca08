"""Running the customer sync in tests: a bounded worker run until the sync has done what the test waits for."""

from __future__ import annotations

from collections.abc import Callable

from django.utils import timezone

from referloop.integrations.models import Integration
from referloop.integrations.servicetitan.customer_sync.models import CustomerSync, Mode, Selection, SyncState
from tests.integrations.engine.helpers import drain

EXPORTS = ("ExportCustomers_GetCustomers", "ExportContacts_CustomersContacts")


def configure(integration: Integration, **fields: object) -> CustomerSync:
    """A sync started as the tab's Start does (run 1, from the start of the customers export)."""
    values: dict[str, object] = {"selection": Selection.ALL, "mode": Mode.ONE_TIME, **fields}
    sync, _ = CustomerSync.objects.get_or_create(integration=integration)
    for name, value in values.items():
        setattr(sync, name, value)
    sync.state = SyncState.RUNNING
    sync.run += 1
    sync.customers_token = ""
    sync.customers_total = None
    sync.passes = sync.pages = 0
    sync.due_at = timezone.now()
    sync.save()
    return sync


def run_until(done: Callable[[CustomerSync], bool], sync: CustomerSync, limit: float = 60.0, **options: object) -> None:
    CustomerSync.objects.filter(pk=sync.pk, state=SyncState.RUNNING).update(due_at=timezone.now())
    drain(limit_seconds=limit, stop=lambda: done(CustomerSync.objects.get(pk=sync.pk)), follow_tick=0.05, **options)
    sync.refresh_from_db()
    assert done(sync), f"the sync did not get there: {sync.state}, {sync.last_error}"


def finished(sync: CustomerSync) -> bool:
    return sync.state == SyncState.FINISHED


def passes(count: int) -> Callable[[CustomerSync], bool]:
    return lambda sync: sync.passes >= count
