"""When return fields need writing: a referrer linked to a customer, the mapping saved, a count changed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from referloop.campaigns.models import Lead
from referloop.integrations.servicetitan.customer_sync.models import CustomerLink
from referloop.integrations.servicetitan.return_fields import outbox
from referloop.integrations.servicetitan.return_fields.models import ReturnFields


def customers_linked(integration_id: int, customer_ids: Iterable[int]) -> int:
    """The customer sync linked these customers (in its page's transaction): one write row per customer."""
    return outbox.request_writes(integration_id, customer_ids)


def mapping_saved(integration_id: int) -> int:
    """Every linked customer of the integration, once (their values are read at the try)."""
    customer_ids = CustomerLink.objects.filter(integration_id=integration_id).values_list("customer_id", flat=True)
    return outbox.request_writes(integration_id, list(customer_ids))


def count_changed(lead_id: int, at: datetime) -> None:
    """`on_qualified` / `on_unqualified`: the referrer's qualified count moved; rewrite where the count is mapped."""
    referrer_id = Lead.objects.filter(pk=lead_id).values_list("referrer_id", flat=True).first()
    if referrer_id is None:
        return
    counting = ReturnFields.objects.filter(count_field_id__isnull=False).values("integration_id")
    links = CustomerLink.objects.filter(referrer_id=referrer_id, integration_id__in=counting)
    by_integration: dict[int, list[int]] = {}
    for integration_id, customer_id in links.values_list("integration_id", "customer_id"):
        by_integration.setdefault(integration_id, []).append(customer_id)
    for integration_id, customer_ids in by_integration.items():
        outbox.request_writes(integration_id, customer_ids, at)
