"""What a claim loads for its rows, in a fixed number of queries however many rows there are.

An integration's credentials, mapping and custom fields are read once per claim and shared by its rows; leads
come with their referrer and campaign in one query. The results are plain data for the Claim.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import connection
from django.db.models import Field

from referloop.campaigns.models import Campaign, Lead, Referrer
from referloop.integrations.engine.rows import select_rows
from referloop.integrations.models import Integration
from referloop.integrations.outbox import hold_reason
from referloop.integrations.records import RECORD_COLUMNS, custom_fields_of, record_of_row, referral_links
from referloop.integrations.servicetitan.credentials import EnvironmentNotAllowed, credentials_for
from referloop.providers.servicetitan import Credentials, CustomSource, FieldMapping


@dataclass(frozen=True)
class Target:
    credentials: Credentials | None
    booking_provider_id: int | None
    mapping: Mapping[str, FieldMapping] = field(repr=False)
    custom_fields: tuple[CustomSource, ...]
    hold_reason: str = ""  # non-empty: the integration can't send now (disconnected, rejected, setup broken)
    setup_error: str = ""  # non-empty: a setting makes every try fail before any request is made


def load_targets(integration_ids: Iterable[int]) -> dict[int, Target]:
    integrations = Integration.objects.filter(pk__in=set(integration_ids)).select_related("campaign")
    return {
        integration.pk: target_of(integration)
        for integration in integrations.prefetch_related("campaign__custom_fields")
    }


def target_of(integration: Integration) -> Target:
    credentials: Credentials | None = None
    setup_error = ""
    reason = hold_reason(integration) or ""
    if not reason:
        try:
            credentials = credentials_for(integration)
        except EnvironmentNotAllowed as exc:
            setup_error = f"{exc} Choose Production or Integration on the Connection tab."
        except ValueError as exc:
            setup_error = f"The ServiceTitan connection is incomplete ({exc}): finish it on the Connection tab."
        if credentials is not None and integration.booking_provider_id is None:
            setup_error = "The Booking Provider Value is missing: enter it on the Connection tab."
    return Target(
        credentials=credentials,
        booking_provider_id=integration.booking_provider_id,
        mapping=integration.mapping(),
        custom_fields=tuple(custom_fields_of(integration.campaign)),
        hold_reason=reason,
        setup_error=setup_error,
    )


class TargetCache:
    """Targets kept between claims: building one (decrypting the secret, checking the mapping) costs about a
    millisecond, and a busy worker claims for the same integrations several times a second.

    Each claim still reads every integration's `updated_at` and `state` (one small query), so a saved change
    or a state flipped by a conditional update (credentials rejected) is seen at the next claim; `ttl` bounds
    what neither shows, such as a campaign's custom fields being edited.
    """

    def __init__(self, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[int, tuple[tuple[object, str], float, Target]] = {}

    def get(self, integration_ids: Iterable[int]) -> dict[int, Target]:
        stamps = _stamps(set(integration_ids))
        now = self.clock()
        stale = [
            pk
            for pk, stamp in stamps.items()
            if pk not in self._entries or self._entries[pk][0] != stamp or now - self._entries[pk][1] > self.ttl
        ]
        for pk, target in (load_targets(stale) if stale else {}).items():
            self._entries[pk] = (stamps[pk], now, target)
        return {pk: self._entries[pk][2] for pk in stamps if pk in self._entries}


def _stamps(ids: set[int]) -> dict[int, tuple[object, str]]:
    """Each integration's (updated_at, state), in plain SQL: the ORM's compile cost more than the query, and
    the stamp is only compared with the one read here last time, so the raw column value will do."""
    if not ids:
        return {}
    table = Integration._meta.db_table
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, updated_at, state FROM {table} WHERE id IN ({marks})", list(ids))  # noqa: S608
        return {pk: (updated_at, state) for pk, updated_at, state in cursor.fetchall()}


def load_records(lead_ids: Iterable[int]) -> dict[int, dict[str, object]]:
    """`lead_record` for many leads in one query: the same records, built from rows instead of instances.

    Building Lead, Referrer and Campaign instances (and compiling the query, and reversing a URL per lead)
    cost more than the query itself.
    """
    ids = sorted(set(lead_ids))
    if not ids:
        return {}
    link = referral_links()
    return {row[0]: record_of_row(row, link) for row in select_rows(_records_sql(len(ids)), ids, _record_fields())}


@functools.cache  # the model fields are fixed once Django is set up
def _record_fields() -> list[Field[Any, Any]]:
    fields = [model._meta.get_field(name) for model, name in RECORD_COLUMNS]
    assert all(isinstance(field, Field) for field in fields)
    return cast("list[Field[Any, Any]]", fields)


def _records_sql(count: int) -> str:
    quote = connection.ops.quote_name
    aliases = {Lead: "l", Referrer: "r", Campaign: "c"}
    names = ", ".join(
        f"{aliases[model]}.{quote(str(field.column))}"
        for (model, _), field in zip(RECORD_COLUMNS, _record_fields(), strict=True)
    )
    lead, referrer, campaign = (quote(model._meta.db_table) for model in (Lead, Referrer, Campaign))
    marks = ", ".join(["%s"] * count)
    return (
        f"SELECT {names} FROM {lead} l "  # noqa: S608 - our own names; the ids are parameters
        f"INNER JOIN {referrer} r ON r.id = l.referrer_id INNER JOIN {campaign} c ON c.id = l.campaign_id "
        f"WHERE l.id IN ({marks})"
    )
