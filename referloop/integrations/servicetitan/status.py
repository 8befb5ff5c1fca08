"""One word for an integration's state, as the CRM tile and the integration page show it, and why."""

from __future__ import annotations

from dataclasses import dataclass

from referloop.integrations.models import ConnectionState, Integration, LeadAction
from referloop.integrations.records import custom_fields_of
from referloop.providers.servicetitan import missing_required_fields, validate_mapping


@dataclass(frozen=True)
class Status:
    key: str  # not_connected | connected | setup_required | needs_attention | disconnected (CSS class too)
    label: str
    detail: str = ""


def status_of(integration: Integration | None) -> Status:
    if integration is None or integration.state == ConnectionState.NOT_CONNECTED:
        detail = "Finish Finalize to connect." if integration and integration.tenant_id else ""
        return Status("not_connected", "Not connected", detail)
    if integration.state == ConnectionState.DISCONNECTED:
        return Status("disconnected", "Disconnected", "New leads are held until you reconnect.")
    if integration.state == ConnectionState.CREDENTIALS_REJECTED:
        return Status(
            "needs_attention",
            "Needs attention",
            integration.attention_reason or "ServiceTitan rejected the credentials: fix them on the Connection tab.",
        )
    if integration.needs_attention:
        return Status("needs_attention", "Needs attention", integration.attention_reason or "Recent deliveries failed.")
    setup = setup_problems(integration)
    if setup:
        return Status("setup_required", "Setup Required", setup)
    if integration.lead_action == LeadAction.NOTHING:
        return Status("connected", "Connected", "Lead action is “Nothing to action”: no bookings are created.")
    return Status("connected", "Connected", "New leads become bookings in ServiceTitan.")


def setup_problems(integration: Integration) -> str:
    """ "" when the mapping is complete, else one sentence naming the missing fields (or the broken rows)."""
    mapping = integration.mapping()
    missing = missing_required_fields(mapping)
    if missing:
        return "Map " + ", ".join(field.label for field in missing) + " on the Leads tab."
    problems = validate_mapping(mapping, custom_fields_of(integration.campaign))
    if problems:
        count = len(problems)
        return f"Fix {count} field mapping{'s' if count != 1 else ''} on the Leads tab."
    return ""
