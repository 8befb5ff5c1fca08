"""The integration's audit trail: one IntegrationChange row per change a person makes, saying who and what."""

from __future__ import annotations

from referloop.accounts.models import User
from referloop.integrations.models import Integration, IntegrationChange


def record(integration: Integration, user: User | None, summary: str) -> IntegrationChange:
    return IntegrationChange.objects.create(integration=integration, user=user, summary=summary[:500])
