"""Can this ServiceTitan integration send? The one rule, and the words every screen and the worker use for it.

A new lead's delivery is *ready* (sent now), *held* (the connection is down or the setup is incomplete: kept, and
sent once it is fixed) or *skipped* (the lead action is "Nothing to action"). The CRM tile's word, the reason a
held delivery carries, the Leads tab's Setup Required, the Diagnose checks and the worker's check when it claims a
row all read this one answer. Before it, five places decided on their own and disagreed: with no Booking Provider
Value the tile said Connected and leads were sent only to fail, where an incomplete setup must hold them.

Nothing here talks to ServiceTitan (the Finalize step and Diagnose do): this is what the stored settings and the
deployment allow, cheap enough for every page view and every claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from referloop.integrations import crypto
from referloop.integrations.models import ConnectionState, Delivery, Integration, LeadAction
from referloop.integrations.records import custom_fields_of
from referloop.integrations.servicetitan.credentials import EnvironmentNotAllowed, environment_for
from referloop.providers.mapping import FieldMapping
from referloop.providers.servicetitan import TargetField, missing_required_fields, validate_mapping

SKIPPED_REASON = "The lead action is “Nothing to action”, so no booking is created in ServiceTitan."
NOT_CONNECTED_REASON = "ServiceTitan is not connected yet: finish Connect and Finalize on the Connection tab."
DISCONNECTED_REASON = "The ServiceTitan integration is disconnected: reconnect it to send held leads."
CREDENTIALS_REJECTED_REASON = (
    "ServiceTitan rejected the credentials: fix the Client ID and Client Secret on the Connection tab."
)
SETUP_REQUIRED = "Setup Required"
BOOKING_PROVIDER_VALUE = "Booking Provider Value"
ENVIRONMENT = "Environment"

CONNECTION_TAB = "connection"
LEADS_TAB = "leads"

_REASON_LIMIT = Delivery._meta.get_field("reason").max_length or 500


class State(StrEnum):
    """What a new lead's delivery becomes."""

    READY = "ready"  # pending: the worker sends it
    HELD = "held"  # kept with the reason, sent once the setup is fixed
    SKIPPED = "skipped"  # the lead action is "Nothing to action"


class Tile(StrEnum):
    """The CRM tile's word (also its CSS class)."""

    NOT_CONNECTED = "not_connected"
    CONNECTED = "connected"
    SETUP_REQUIRED = "setup_required"
    NEEDS_ATTENTION = "needs_attention"
    DISCONNECTED = "disconnected"


TILE_LABELS = {
    Tile.NOT_CONNECTED: "Not connected",
    Tile.CONNECTED: "Connected",
    Tile.SETUP_REQUIRED: SETUP_REQUIRED,
    Tile.NEEDS_ATTENTION: "Needs attention",
    Tile.DISCONNECTED: "Disconnected",
}


class Cause(StrEnum):
    """Why leads can't be sent. The first three are the connection's state; the rest are the setup's gaps."""

    NOT_CONNECTED = "not_connected"
    DISCONNECTED = "disconnected"
    CREDENTIALS_REJECTED = "credentials_rejected"
    ENVIRONMENT_NOT_ALLOWED = "environment_not_allowed"
    CREDENTIALS_INCOMPLETE = "credentials_incomplete"
    SECRET_UNREADABLE = "secret_unreadable"
    NO_BOOKING_PROVIDER = "no_booking_provider"
    UNMAPPED_FIELDS = "unmapped_fields"
    INVALID_MAPPING = "invalid_mapping"


CONNECTION_CAUSES = frozenset({Cause.NOT_CONNECTED, Cause.DISCONNECTED, Cause.CREDENTIALS_REJECTED})
MAPPING_CAUSES = frozenset({Cause.UNMAPPED_FIELDS, Cause.INVALID_MAPPING})


@dataclass(frozen=True)
class Problem:
    cause: Cause
    sentence: str  # for a person, with the fix; a setup gap's sentence is an instruction ("Map Email on …")
    tab: str  # where it is fixed: CONNECTION_TAB or LEADS_TAB
    missing: tuple[str, ...] = ()  # labels of what the person must supply


@dataclass(frozen=True)
class Readiness:
    state: State
    tile: Tile
    detail: str  # the sentence under the tile's word
    problems: tuple[Problem, ...] = ()  # everything that stops sending, the connection's state first
    unmapped: tuple[TargetField, ...] = ()  # required fields without a mapping
    invalid_rows: tuple[tuple[str, str], ...] = ()  # (target key, sentence) of mapping rows that are wrong

    @property
    def can_send(self) -> bool:
        """Whether a lead sent now (a new one, a resend, a release) would go, whatever the lead action."""
        return not self.problems

    @property
    def can_read(self) -> bool:
        """Whether referloop can read from ServiceTitan (the follower): connected with usable credentials; the
        lead mapping's gaps don't matter for reading."""
        return all(problem.cause in MAPPING_CAUSES for problem in self.problems)

    @property
    def causes(self) -> tuple[Cause, ...]:
        return tuple(problem.cause for problem in self.problems)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(problem.sentence for problem in self.problems)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(label for problem in self.problems for label in problem.missing)

    @property
    def setup_problems(self) -> tuple[Problem, ...]:
        return tuple(problem for problem in self.problems if problem.cause not in CONNECTION_CAUSES)

    @property
    def setup_reason(self) -> str:
        """Every gap of the setup after "Setup Required: ", or "" when it is complete (the connection aside)."""
        gaps = self.setup_problems
        if not gaps:
            return ""
        text = " ".join(problem.sentence for problem in gaps)
        return f"{SETUP_REQUIRED}: {text[:1].lower()}{text[1:]}"[:_REASON_LIMIT]

    @property
    def hold_reason(self) -> str:
        """Why a lead sent now would be held, or "" when it would go: the connection's state alone when that
        blocks (its fix comes first), else the setup's gaps."""
        if self.problems and self.problems[0].cause in CONNECTION_CAUSES:
            return self.problems[0].sentence
        return self.setup_reason

    @property
    def reason(self) -> str:
        """The reason a new lead's delivery records with its state."""
        if self.state == State.SKIPPED:
            return SKIPPED_REASON
        return self.hold_reason

    @property
    def fix_tab(self) -> str:
        """The tab where the first problem is fixed ("" when there is none)."""
        return self.problems[0].tab if self.problems else ""


def readiness(integration: Integration | None, *, mapping: Mapping[str, FieldMapping] | None = None) -> Readiness:
    """The integration's readiness; `mapping` judges an unsaved field mapping instead of the stored one."""
    if integration is None:
        return Readiness(State.HELD, Tile.NOT_CONNECTED, "", (_connection_problem(Cause.NOT_CONNECTED),))
    fields = integration.mapping() if mapping is None else dict(mapping)
    unmapped = tuple(missing_required_fields(fields))
    invalid = tuple(validate_mapping(fields, custom_fields_of(integration.campaign)).items())
    problems = _connection_problems(integration) + _setup_problems(integration, unmapped, invalid)
    skipped = integration.lead_action == LeadAction.NOTHING
    state = State.SKIPPED if skipped else State.HELD if problems else State.READY
    tile, detail = _tile(integration, problems)
    return Readiness(state, tile, detail, problems, unmapped, invalid)


def _connection_problem(cause: Cause) -> Problem:
    sentence = {
        Cause.NOT_CONNECTED: NOT_CONNECTED_REASON,
        Cause.DISCONNECTED: DISCONNECTED_REASON,
        Cause.CREDENTIALS_REJECTED: CREDENTIALS_REJECTED_REASON,
    }[cause]
    return Problem(cause, sentence, CONNECTION_TAB)


def _connection_problems(integration: Integration) -> tuple[Problem, ...]:
    cause = {
        ConnectionState.NOT_CONNECTED: Cause.NOT_CONNECTED,
        ConnectionState.DISCONNECTED: Cause.DISCONNECTED,
        ConnectionState.CREDENTIALS_REJECTED: Cause.CREDENTIALS_REJECTED,
    }.get(ConnectionState(integration.state))
    return (_connection_problem(cause),) if cause is not None else ()


def _setup_problems(
    integration: Integration, unmapped: tuple[TargetField, ...], invalid: tuple[tuple[str, str], ...]
) -> tuple[Problem, ...]:
    """The gaps of the setup, Connection tab first, each a sentence that starts with an ordinary word (a held
    reason puts "Setup Required: " before it and lowers its first letter)."""
    problems = []
    try:
        environment_for(str(integration.environment))  # a name check only: no credentials are built
    except EnvironmentNotAllowed as exc:
        problems.append(
            Problem(
                Cause.ENVIRONMENT_NOT_ALLOWED,
                f"{exc} Choose Production or Integration on the Connection tab.",
                CONNECTION_TAB,
                (ENVIRONMENT,),
            )
        )
    absent = [
        label
        for label, present in (
            ("Tenant ID", integration.tenant_id is not None),
            ("Client ID", bool(integration.client_id)),
            ("Client Secret", bool(integration.client_secret_encrypted)),
        )
        if not present
    ]
    if absent:
        problems.append(
            Problem(
                Cause.CREDENTIALS_INCOMPLETE,
                f"Enter the {_and_join(absent)} on the Connection tab.",
                CONNECTION_TAB,
                tuple(absent),
            )
        )
    unreadable = _unreadable_secrets(integration)
    if unreadable:
        problems.append(
            Problem(
                Cause.SECRET_UNREADABLE,
                f"The stored {_and_join(unreadable)} can't be decrypted with this server's key (it changed since "
                f"{'it was' if len(unreadable) == 1 else 'they were'} saved): paste "
                f"{'it' if len(unreadable) == 1 else 'them'} again on the Connection tab.",
                CONNECTION_TAB,
                tuple(unreadable),
            )
        )
    if integration.booking_provider_id is None:
        problems.append(
            Problem(
                Cause.NO_BOOKING_PROVIDER,
                f"Enter the {BOOKING_PROVIDER_VALUE} on the Connection tab.",
                CONNECTION_TAB,
                (BOOKING_PROVIDER_VALUE,),
            )
        )
    if unmapped:
        labels = tuple(field.label for field in unmapped)
        problems.append(
            Problem(Cause.UNMAPPED_FIELDS, "Map " + ", ".join(labels) + " on the Leads tab.", LEADS_TAB, labels)
        )
    if invalid:
        count = len(invalid)
        problems.append(
            Problem(
                Cause.INVALID_MAPPING,
                f"Fix {count} field mapping{'s' if count != 1 else ''} on the Leads tab.",
                LEADS_TAB,
            )
        )
    return tuple(problems)


def _unreadable_secrets(integration: Integration) -> list[str]:
    """Stored secrets this deployment's key can't decrypt (the key changed since): the worker could not use them."""
    unreadable = []
    for label, token in (
        ("Client Secret", integration.client_secret_encrypted),
        ("App Key", integration.app_key_encrypted),
    ):
        try:
            crypto.decrypt(token)
        except ValueError:
            unreadable.append(label)
    return unreadable


def _tile(integration: Integration, problems: tuple[Problem, ...]) -> tuple[Tile, str]:
    """The tile's word and the sentence under it. The connection's state outranks the setup; a setup gap
    outranks a failure streak, because every new lead waits on it."""
    state = integration.state
    if state == ConnectionState.NOT_CONNECTED:
        return Tile.NOT_CONNECTED, "Finish Finalize to connect." if integration.tenant_id else ""
    if state == ConnectionState.DISCONNECTED:
        return Tile.DISCONNECTED, DISCONNECTED_REASON
    if state == ConnectionState.CREDENTIALS_REJECTED:
        return Tile.NEEDS_ATTENTION, integration.attention_reason or CREDENTIALS_REJECTED_REASON
    setup = [problem.sentence for problem in problems if problem.cause not in CONNECTION_CAUSES]
    if setup:
        return Tile.SETUP_REQUIRED, " ".join(setup)
    if integration.needs_attention:
        return Tile.NEEDS_ATTENTION, integration.attention_reason or "Recent deliveries failed."
    if integration.lead_action == LeadAction.NOTHING:
        return Tile.CONNECTED, "Lead action is “Nothing to action”: no bookings are created."
    return Tile.CONNECTED, "New leads become bookings in ServiceTitan."


def _and_join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
