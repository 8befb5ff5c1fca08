"""The Leads tab's preview: the booking body the current mapping would send for the newest lead (or a sample)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils import timezone

from referloop.campaigns.models import Campaign, CustomFieldType, Lead, Referrer
from referloop.integrations.models import Integration
from referloop.integrations.records import custom_fields_of, lead_record
from referloop.providers.servicetitan import FieldMapping, FieldProblem, PayloadError, build_booking_body


@dataclass
class Preview:
    lead: Lead
    is_sample: bool
    request_line: str
    body_json: str = ""
    problems: list[FieldProblem] = field(default_factory=list)


def sample_lead(campaign: Campaign) -> Lead:
    """An unsaved lead with every standard field filled, for a campaign that has none yet."""
    referrer = Referrer(campaign=campaign, first_name="Maria", last_name="Lopez", email="maria@example.com")
    referrer.code = "SAMPLE-REF"
    custom: dict[str, object] = {}
    for custom_field in campaign.custom_fields.all():
        if custom_field.field_type == CustomFieldType.SELECT and custom_field.choice_list:
            custom[custom_field.key] = custom_field.choice_list[0]
        elif custom_field.field_type == CustomFieldType.NUMBER:
            custom[custom_field.key] = 12
        elif custom_field.field_type == CustomFieldType.CHECKBOX:
            custom[custom_field.key] = True
        elif custom_field.field_type == CustomFieldType.DATE:
            custom[custom_field.key] = timezone.now().date().isoformat()
        else:
            custom[custom_field.key] = f"Sample {custom_field.label.lower()}"
    lead = Lead(
        campaign=campaign,
        referrer=referrer,
        first_name="Jane",
        last_name="Doe",
        email="jane.doe@example.com",
        phone="555-0100",
        street="12 Elm Street",
        city="Springfield",
        state="IL",
        zip_code="62701",
        notes="Furnace makes a rattling noise.",
        custom_data=custom,
        created_at=timezone.now(),
    )
    lead.code = "SAMPLE-LEAD"
    return lead


def preview_for(integration: Integration, mapping: Mapping[str, FieldMapping]) -> Preview:
    campaign = integration.campaign
    newest = campaign.leads.select_related("referrer", "campaign").order_by("-created_at", "-pk").first()
    lead = newest or sample_lead(campaign)
    tenant = integration.tenant_id or "{tenant}"
    provider = integration.booking_provider_id or "{booking_provider}"
    preview = Preview(
        lead=lead,
        is_sample=newest is None,
        request_line=f"POST /crm/v2/tenant/{tenant}/booking-provider/{provider}/bookings",
    )
    try:
        body = build_booking_body(mapping, lead_record(lead), custom_fields_of(campaign))
    except PayloadError as exc:
        preview.problems = exc.problems
    else:
        preview.body_json = json.dumps(body, indent=2, ensure_ascii=False)
    return preview
