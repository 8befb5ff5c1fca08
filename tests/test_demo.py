from __future__ import annotations

import pytest

from referloop.integrations.models import ConnectionState, DeliveryState, LeadAction
from referloop.integrations.servicetitan.outbox import hold_reason
from referloop.runtime.demo import DEMO_EMAIL, DEMO_PASSWORD, create_demo

pytestmark = pytest.mark.django_db


def test_demo_account_can_log_in_and_its_campaign_is_connected_to_the_sandbox(client) -> None:  # type: ignore[no-untyped-def]
    demo = create_demo()
    assert client.login(email=DEMO_EMAIL, password=DEMO_PASSWORD)
    integration = demo.campaign.integrations.get()
    assert (integration.state, integration.lead_action, integration.environment) == (
        ConnectionState.CONNECTED,
        LeadAction.CREATE_BOOKING,
        "sandbox",
    )
    assert hold_reason(integration) is None
    lead = demo.campaign.leads.get()
    assert lead.deliveries.get().state == DeliveryState.PENDING
