"""What the Referrers tab shows of Map Return Fields: the form, the tenant's field types, the writes' state."""

from __future__ import annotations

from django.db.models import Count

from referloop.integrations.models import Delivery
from referloop.integrations.servicetitan.return_fields.field_types import field_types
from referloop.integrations.servicetitan.return_fields.forms import ReturnFieldsForm
from referloop.integrations.servicetitan.return_fields.models import ReturnFields
from referloop.providers.servicetitan.customer_writer import NAME


def return_fields_context(integration: object) -> dict[str, object]:
    from referloop.integrations.models import Integration

    assert isinstance(integration, Integration)
    returns = ReturnFields.objects.filter(integration=integration).first()
    types = field_types(integration)
    counts = dict(
        Delivery.objects.filter(integration=integration, connector=NAME)
        .values_list("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    return {
        "return_form": ReturnFieldsForm(types=types, instance=returns),
        "return_types_problem": types.problem,
        "return_counts": counts,
    }
