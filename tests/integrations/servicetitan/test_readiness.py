"""One readiness rule: what the tile says, what a new lead's delivery becomes and what the worker does agree.

The two cases that used to disagree (no Booking Provider Value; the sandbox environment no longer allowed by the
deployment) said Connected and let leads go out to fail; an incomplete setup must hold them, with the reason, and
send them once it is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import reverse

from referloop.integrations.models import (
    Attempt,
    ConnectionState,
    Delivery,
    DeliveryState,
    Environment,
    Integration,
    LeadAction,
)
from referloop.integrations.servicetitan import outbox
from referloop.integrations.servicetitan.destination import destined_of
from referloop.integrations.servicetitan.readiness import (
    CREDENTIALS_REJECTED_REASON,
    SKIPPED_REASON,
    Cause,
    State,
    Tile,
    readiness,
)
from referloop.integrations.servicetitan.status import status_of
from referloop.providers.servicetitan import FieldMapping, default_mapping
from referloop.sandbox.config import DEMO_BOOKING_PROVIDER_ID
from referloop.sandbox.testing import SandboxHandle
from tests.conftest import Tenant
from tests.integrations.engine.helpers import add_lead, booking_counts, connect, drain
from tests.integrations.servicetitan.conftest import credentials, url

pytestmark = pytest.mark.django_db

NO_BOOKING_PROVIDER = "Enter the Booking Provider Value on the Connection tab."
SANDBOX_NOT_ALLOWED = (
    "The 'sandbox' environment is not available on this deployment. Choose Production or Integration on the "
    "Connection tab."
)


def tile_page(tenant: Tenant) -> str:
    return tenant.client.get(reverse("campaign_settings", args=[tenant.campaign.pk, "integrations"])).content.decode()


def without_booking_provider(integration: Integration) -> Integration:
    integration.booking_provider_id = None
    integration.save()
    return integration


# -- no Booking Provider Value ---------------------------------------------------------------------------------


def test_without_a_booking_provider_value_the_tile_says_setup_required_and_names_it(tenant: Tenant, sandbox) -> None:
    integration = without_booking_provider(connect(tenant.campaign))

    status = status_of(integration)

    assert (status.key, status.label) == ("setup_required", "Setup Required")
    assert status.detail == NO_BOOKING_PROVIDER
    assert readiness(integration).missing == ("Booking Provider Value",)
    page = tile_page(tenant)
    assert "state-setup_required" in page and NO_BOOKING_PROVIDER in page
    assert "state-connected" not in page


@pytest.mark.django_db(transaction=True)
def test_a_lead_without_a_booking_provider_value_is_held_with_the_reason_and_sent_once_it_is_entered(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    without_booking_provider(connect(tenant.campaign))
    lead = add_lead(tenant.campaign, tenant.referrer)
    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.HELD
    assert delivery.reason == "Setup Required: enter the Booking Provider Value on the Connection tab."

    drain()

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.HELD  # not failed: nothing was tried
    assert not Attempt.objects.filter(delivery=delivery).exists()
    assert sandbox.bookings() == []

    # The fix, as a person makes it: Finalize again with the value, which releases the held lead.
    response = tenant.client.post(
        url("integration_finalize", tenant), credentials(booking_provider_id=DEMO_BOOKING_PROVIDER_ID), follow=True
    )
    assert "1 held lead is being sent now." in response.content.decode()
    drain()

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED
    assert delivery.released_at is not None and delivery.held_reason.startswith("Setup Required")
    assert booking_counts(sandbox) == {lead.code: 1}


@pytest.mark.django_db(transaction=True)
def test_a_pending_lead_whose_booking_provider_value_is_removed_before_it_is_sent_is_held_not_failed(
    tenant: Tenant, sandbox: SandboxHandle
) -> None:
    integration = connect(tenant.campaign)
    lead = add_lead(tenant.campaign, tenant.referrer)
    assert Delivery.objects.get(lead=lead).state == DeliveryState.PENDING
    Integration.objects.filter(pk=integration.pk).update(booking_provider_id=None)  # no save path: no release

    drain()

    delivery = Delivery.objects.get(lead=lead)
    assert (delivery.state, delivery.reason) == (
        DeliveryState.HELD,
        "Setup Required: enter the Booking Provider Value on the Connection tab.",
    )
    assert not Attempt.objects.filter(delivery=delivery).exists()
    assert sandbox.bookings() == []


# -- the sandbox environment no longer allowed by the deployment ----------------------------------------------


def test_with_its_environment_no_longer_allowed_the_tile_says_setup_required_and_names_it(
    tenant: Tenant, sandbox, settings
) -> None:
    integration = connect(tenant.campaign)
    settings.SERVICETITAN_ALLOW_SANDBOX = False

    status = status_of(integration)

    assert (status.key, status.label) == ("setup_required", "Setup Required")
    assert status.detail == SANDBOX_NOT_ALLOWED
    assert readiness(integration).missing == ("Environment",)
    page = tile_page(tenant)
    assert "state-setup_required" in page and "Choose Production or Integration on the Connection tab." in page
    assert "state-connected" not in page


@pytest.mark.django_db(transaction=True)
def test_a_lead_of_an_environment_no_longer_allowed_is_held_and_the_worker_sends_it_once_it_is_allowed_again(
    tenant: Tenant, sandbox: SandboxHandle, settings
) -> None:
    connect(tenant.campaign)
    settings.SERVICETITAN_ALLOW_SANDBOX = False
    lead = add_lead(tenant.campaign, tenant.referrer)
    delivery = Delivery.objects.get(lead=lead)
    assert delivery.state == DeliveryState.HELD
    assert delivery.reason == (
        "Setup Required: the 'sandbox' environment is not available on this deployment. Choose Production or "
        "Integration on the Connection tab."
    )

    drain()

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.HELD  # not failed: nothing was tried
    assert not Attempt.objects.filter(delivery=delivery).exists()
    assert sandbox.bookings() == []

    settings.SERVICETITAN_ALLOW_SANDBOX = True  # a deployment setting: no screen sees this fix
    report = drain()

    assert report.released_held == 1  # the worker found the setup ready again by itself
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED
    assert booking_counts(sandbox) == {lead.code: 1}


# -- every case, one rule ------------------------------------------------------------------------------------


def complete(tenant: Tenant, **fields: Any) -> Integration:
    """A Connected integration with everything it needs (not saved: readiness reads the instance)."""
    values: dict[str, Any] = {
        "campaign": tenant.campaign,
        "environment": Environment.PRODUCTION,
        "tenant_id": 1234567,
        "client_id": "cid.readiness",
        "booking_provider_id": 42,
        "state": ConnectionState.CONNECTED,
        "lead_action": LeadAction.CREATE_BOOKING,
        **fields,
    }
    integration = Integration(**values)
    integration.client_secret = "cs.readiness"
    integration.set_mapping(default_mapping())
    return integration


def unmapped(integration: Integration) -> None:
    mapping = default_mapping()
    del mapping["contacts.Email"], mapping["summary"]
    integration.set_mapping(mapping)


def invalid_row(integration: Integration) -> None:
    integration.set_mapping({**default_mapping(), "isFirstTimeClient": FieldMapping("manual", "Maybe")})


def no_secret(integration: Integration) -> None:
    integration.client_secret_encrypted = ""


def unreadable_secret(integration: Integration) -> None:
    integration.client_secret_encrypted = "not-a-fernet-token"


@dataclass(frozen=True)
class Case:
    fields: dict[str, Any]
    state: State
    tile: Tile
    reason: str  # what a new lead's delivery records
    missing: tuple[str, ...] = ()
    causes: tuple[Cause, ...] = ()
    change: Any = None  # a function that breaks the integration further
    allow_sandbox: bool = True
    hold_reason: str | None = None  # when it differs from `reason` (skipped leads)


CASES = {
    "ready": Case({}, State.READY, Tile.CONNECTED, ""),
    "not connected": Case(
        {"state": ConnectionState.NOT_CONNECTED},
        State.HELD,
        Tile.NOT_CONNECTED,
        "ServiceTitan is not connected yet: finish Connect and Finalize on the Connection tab.",
        causes=(Cause.NOT_CONNECTED,),
    ),
    "disconnected": Case(
        {"state": ConnectionState.DISCONNECTED},
        State.HELD,
        Tile.DISCONNECTED,
        "The ServiceTitan integration is disconnected: reconnect it to send held leads.",
        causes=(Cause.DISCONNECTED,),
    ),
    "disconnected, and no Booking Provider Value": Case(
        {"state": ConnectionState.DISCONNECTED, "booking_provider_id": None},
        State.HELD,
        Tile.DISCONNECTED,
        "The ServiceTitan integration is disconnected: reconnect it to send held leads.",
        missing=("Booking Provider Value",),
        causes=(Cause.DISCONNECTED, Cause.NO_BOOKING_PROVIDER),
    ),
    "credentials rejected": Case(
        {"state": ConnectionState.CREDENTIALS_REJECTED},
        State.HELD,
        Tile.NEEDS_ATTENTION,
        CREDENTIALS_REJECTED_REASON,
        causes=(Cause.CREDENTIALS_REJECTED,),
    ),
    "needs attention after failures (still sends)": Case(
        {"needs_attention": True, "attention_reason": "5 deliveries in a row failed."},
        State.READY,
        Tile.NEEDS_ATTENTION,
        "",
    ),
    "nothing to action": Case(
        {"lead_action": LeadAction.NOTHING}, State.SKIPPED, Tile.CONNECTED, SKIPPED_REASON, hold_reason=""
    ),
    "nothing to action, and not connected": Case(
        {"lead_action": LeadAction.NOTHING, "state": ConnectionState.NOT_CONNECTED},
        State.SKIPPED,
        Tile.NOT_CONNECTED,
        SKIPPED_REASON,
        causes=(Cause.NOT_CONNECTED,),
        hold_reason="ServiceTitan is not connected yet: finish Connect and Finalize on the Connection tab.",
    ),
    "required fields not mapped": Case(
        {},
        State.HELD,
        Tile.SETUP_REQUIRED,
        "Setup Required: map Email, Summary on the Leads tab.",
        missing=("Email", "Summary"),
        causes=(Cause.UNMAPPED_FIELDS,),
        change=unmapped,
    ),
    "an invalid mapping row": Case(
        {},
        State.HELD,
        Tile.SETUP_REQUIRED,
        "Setup Required: fix 1 field mapping on the Leads tab.",
        causes=(Cause.INVALID_MAPPING,),
        change=invalid_row,
    ),
    "no tenant id": Case(
        {"tenant_id": None},
        State.HELD,
        Tile.SETUP_REQUIRED,
        "Setup Required: enter the Tenant ID on the Connection tab.",
        missing=("Tenant ID",),
        causes=(Cause.CREDENTIALS_INCOMPLETE,),
    ),
    "no client id or secret": Case(
        {"client_id": ""},
        State.HELD,
        Tile.SETUP_REQUIRED,
        "Setup Required: enter the Client ID and Client Secret on the Connection tab.",
        missing=("Client ID", "Client Secret"),
        causes=(Cause.CREDENTIALS_INCOMPLETE,),
        change=no_secret,
    ),
    "a client secret this server can't decrypt": Case(
        {},
        State.HELD,
        Tile.SETUP_REQUIRED,
        "Setup Required: the stored Client Secret can't be decrypted with this server's key (it changed since it "
        "was saved): paste it again on the Connection tab.",
        missing=("Client Secret",),
        causes=(Cause.SECRET_UNREADABLE,),
        change=unreadable_secret,
    ),
    "an environment the deployment does not allow": Case(
        {"environment": Environment.SANDBOX},
        State.HELD,
        Tile.SETUP_REQUIRED,
        "Setup Required: the 'sandbox' environment is not available on this deployment. Choose Production or "
        "Integration on the Connection tab.",
        missing=("Environment",),
        causes=(Cause.ENVIRONMENT_NOT_ALLOWED,),
        allow_sandbox=False,
    ),
    "no Booking Provider Value": Case(
        {"booking_provider_id": None},
        State.HELD,
        Tile.SETUP_REQUIRED,
        "Setup Required: enter the Booking Provider Value on the Connection tab.",
        missing=("Booking Provider Value",),
        causes=(Cause.NO_BOOKING_PROVIDER,),
    ),
    "no Booking Provider Value and a field not mapped": Case(
        {"booking_provider_id": None},
        State.HELD,
        Tile.SETUP_REQUIRED,
        "Setup Required: enter the Booking Provider Value on the Connection tab. Map Email, Summary on the Leads tab.",
        missing=("Booking Provider Value", "Email", "Summary"),
        causes=(Cause.NO_BOOKING_PROVIDER, Cause.UNMAPPED_FIELDS),
        change=unmapped,
    ),
}

DELIVERY_STATES = {
    State.READY: DeliveryState.PENDING,
    State.HELD: DeliveryState.HELD,
    State.SKIPPED: DeliveryState.SKIPPED,
}


@pytest.mark.parametrize("name", list(CASES))
def test_readiness_gives_each_case_its_state_tile_reason_and_what_is_missing(
    name: str, tenant: Tenant, settings
) -> None:
    case = CASES[name]
    settings.SERVICETITAN_ALLOW_SANDBOX = case.allow_sandbox
    integration = complete(tenant, **case.fields)
    if case.change is not None:
        case.change(integration)

    ready = readiness(integration)

    assert ready.state == case.state
    assert ready.tile == case.tile
    assert ready.reason == case.reason
    assert ready.missing == case.missing
    assert ready.causes == case.causes
    hold_reason = case.reason if case.hold_reason is None else case.hold_reason
    assert ready.hold_reason == hold_reason
    # Every place that used to decide on its own now says the same.
    assert outbox.initial_state(integration) == (DELIVERY_STATES[case.state], case.reason)
    assert outbox.hold_reason(integration) == (hold_reason or None)
    assert status_of(integration).key == case.tile
    assert destined_of(integration).hold_reason == hold_reason


def test_the_tile_names_every_gap_of_the_setup(tenant: Tenant) -> None:
    integration = complete(tenant, booking_provider_id=None)
    unmapped(integration)

    assert status_of(integration).detail == (
        "Enter the Booking Provider Value on the Connection tab. Map Email, Summary on the Leads tab."
    )


def test_no_integration_at_all_is_not_connected_and_would_hold() -> None:
    ready = readiness(None)
    assert (ready.state, ready.tile, ready.detail) == (State.HELD, Tile.NOT_CONNECTED, "")
    assert status_of(None).label == "Not connected"


def test_a_rejected_connection_shows_what_servicetitan_said_on_the_tile_and_holds_with_the_fix(tenant: Tenant) -> None:
    integration = complete(
        tenant,
        state=ConnectionState.CREDENTIALS_REJECTED,
        attention_reason="ServiceTitan rejected the client ID and secret.",
    )
    assert status_of(integration).detail == "ServiceTitan rejected the client ID and secret."
    assert readiness(integration).hold_reason == CREDENTIALS_REJECTED_REASON
    integration.attention_reason = ""
    assert status_of(integration).detail == CREDENTIALS_REJECTED_REASON


def test_an_unsaved_mapping_is_judged_by_the_same_rule(tenant: Tenant) -> None:
    integration = complete(tenant)
    typed = {key: entry for key, entry in default_mapping().items() if key != "name"}

    assert [f.label for f in readiness(integration, mapping=typed).unmapped] == ["Name"]
    assert readiness(integration).unmapped == ()
