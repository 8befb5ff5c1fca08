"""Saving the Leads tab: the lead action and the field mapping, with the audit row and the outbox kept in step.

Saving is where held leads are released (the mapping became complete) and where due leads are held instead of
being burned on a mapping that was just made incomplete.
"""

from __future__ import annotations

from django.db import transaction

from referloop.accounts.models import User
from referloop.integrations import audit
from referloop.integrations.models import Integration
from referloop.integrations.servicetitan import outbox
from referloop.integrations.servicetitan.mapping_form import Submission, describe_changes
from referloop.integrations.servicetitan.readiness import State, readiness


@transaction.atomic
def save_lead_setup(integration: Integration, user: User | None, submission: Submission) -> int:
    """Store a checked submission; returns how many held leads it released."""
    before_action, before_mapping = integration.lead_action, integration.mapping()
    integration.lead_action = submission.lead_action
    integration.set_mapping(submission.mapping)
    integration.save(update_fields=["lead_action", "field_mapping", "updated_at"])
    changes = []
    if before_action != integration.lead_action:
        changes.append(f"“When lead joins campaign” set to “{integration.get_lead_action_display()}”")
    changes += describe_changes(before_mapping, integration.mapping())
    if changes:
        text = "; ".join(changes)
        audit.record(integration, user, f"Leads tab: {text[0].lower()}{text[1:]}.")
    ready = readiness(integration)
    if ready.state == State.HELD:
        outbox.hold_pending(integration, ready.hold_reason)
    return outbox.release_held(integration)
