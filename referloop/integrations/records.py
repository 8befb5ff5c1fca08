"""A lead as the connector sees it: a flat record keyed by source field key (no Django in the connector)."""

from __future__ import annotations

from referloop.campaigns.models import Campaign, Lead
from referloop.providers.mapping import CustomField, LeadRecord


def lead_record(lead: Lead) -> LeadRecord:
    referrer = lead.referrer
    record: dict[str, object] = {
        "lead.first_name": lead.first_name,
        "lead.last_name": lead.last_name,
        "lead.full_name": lead.full_name,
        "lead.email": lead.email,
        "lead.phone": lead.phone,
        "lead.street": lead.street,
        "lead.city": lead.city,
        "lead.state": lead.state,
        "lead.zip": lead.zip_code,
        "lead.notes": lead.notes,
        "lead.referral_code": lead.code,
        "lead.created_at": lead.created_at,
        "referrer.first_name": referrer.first_name,
        "referrer.full_name": referrer.full_name,
        "referrer.email": referrer.email,
        "referrer.referral_code": referrer.code,
        "referrer.referral_link": referrer.referral_url,
        "campaign.name": lead.campaign.name,
    }
    for key, value in (lead.custom_data or {}).items():
        record[f"custom.{key}"] = value
    return record


def custom_fields_of(campaign: Campaign) -> list[CustomField]:
    return [CustomField(name=field.key, label=field.label) for field in campaign.custom_fields.all()]
