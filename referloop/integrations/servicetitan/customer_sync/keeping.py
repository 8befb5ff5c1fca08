"""Keeping the contacts copy going for integrations whose mapping asks ServiceTitan about known customers.

Saving an integration whose Is First Time Client is *From ServiceTitan* (the Leads tab, the demo, a first connect)
marks its CustomerSync `keep_contacts`, due now: the worker then reads the contacts export for it even when nobody
set up a referrer sync (store.py, contacts-only plans). A mapping that no longer asks stops it; the staged contacts
stay (a referrer sync uses them), they only stop being fresh.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from referloop.integrations.models import Integration, Provider
from referloop.integrations.servicetitan.customer_sync.models import CustomerSync
from referloop.providers.servicetitan.first_time import lookup_fallback


def wants_copy(integration: Integration) -> bool:
    return integration.provider == Provider.SERVICETITAN and lookup_fallback(integration.mapping()) is not None


def keep_copy_for(integration: Integration, now: datetime) -> None:
    """Start or stop the contacts-only copy per the integration's mapping (one query when nothing changes)."""
    if not wants_copy(integration):
        CustomerSync.objects.filter(integration=integration, keep_contacts=True).update(keep_contacts=False)
        return
    if CustomerSync.objects.filter(integration=integration, keep_contacts=True).exists():
        return
    sync, created = CustomerSync.objects.get_or_create(
        integration=integration, defaults={"keep_contacts": True, "contacts_due_at": now}
    )
    if not created:
        CustomerSync.objects.filter(pk=sync.pk).update(keep_contacts=True, contacts_due_at=now)


def integration_saved(
    sender: type[Integration], instance: Integration, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    """post_save receiver (apps.py): only a save that may have changed the mapping is looked at."""
    if raw or (update_fields is not None and "field_mapping" not in update_fields):
        return
    keep_copy_for(instance, timezone.now())
