"""Which ServiceTitan mapping rows read a campaign's custom field, so removing the field can be refused.

Removing a field that a mapping reads used to succeed silently: the integration fell into Setup Required and new
leads were held. A row reads a field when it is a Dynamic Value whose source is `custom.<key>`, or a Fixed Value
with a `{Field Label}` placeholder (matched as the payload builder matches it: providers/mapping.py).
"""

from __future__ import annotations

from referloop.campaigns.models import CustomField
from referloop.integrations.models import Integration
from referloop.providers.mapping import DATA_TYPE_LABELS, CustomSource, placeholders, unknown_placeholders
from referloop.providers.servicetitan.fields import FIELDS_BY_KEY


def mapping_rows_using(field: CustomField) -> list[str]:
    """The rows that read `field`, as "<Integration>: <Target Field> (<Data Type>)", in a stable order."""
    source = CustomSource(field.key, field.label).as_source()
    rows: list[str] = []
    for integration in Integration.objects.filter(campaign_id=field.campaign_id).order_by("pk"):
        for target_key, entry in sorted(integration.mapping().items()):
            if entry.data_type == "dynamic":
                uses = entry.source == source.key
            elif entry.data_type == "fixed":
                named = placeholders(entry.source)
                uses = len(unknown_placeholders(entry.source, [source])) < len(named)
            else:
                uses = False
            if uses:
                target = FIELDS_BY_KEY.get(target_key)
                label = target.label if target is not None else target_key
                rows.append(
                    f"{integration.get_provider_display()}: {label} ({DATA_TYPE_LABELS[entry.data_type]})"
                )
    return rows
