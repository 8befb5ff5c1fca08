"""The customer sync's contacts copy as the known-customer index (`known_customers.CustomerIndex`).

Which customer has a lead's email or phone is answered from `StagedContact.kind/key` in one query per claim,
however many keys. Only active contacts count (an email or phone the customer no longer uses names nobody), while
a contact of an inactive customer still does: the contacts export does not say whether its customer is active, and
a retired or merged-away record was a client before, which is what Is First Time Client asks.

The copy *covers* an integration when it is complete (the contacts export was read to its end at least once) and
fresh (a contacts page was written within `FRESH_INTERVALS` poll intervals): then a key it does not know is nobody's,
and the lead is a first-time client without a call. Two intervals: an ongoing copy polls once per interval, so a
copy within two has missed at most one poll (a busy tenant's spare slots, a failed try retried a minute later);
beyond that the worker is down or ServiceTitan refuses, and the leads are asked about by phone as before. The
staleness accepted (a customer created in the last 10 to 20 minutes is not known yet) is of the order of the phone
cache's 10 minutes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, models
from django.utils import timezone

from referloop.integrations.servicetitan.customer_sync.keys import EMAIL, PHONE
from referloop.integrations.servicetitan.customer_sync.models import CustomerSync, StagedContact
from referloop.integrations.servicetitan.customer_sync.store import poll_interval
from referloop.integrations.servicetitan.known_customers import IndexAnswer, Key

FRESH_INTERVALS = 2


def fresh_within() -> timedelta:
    return FRESH_INTERVALS * poll_interval()


@dataclass(frozen=True)
class CopyState:
    """How far the integration's contacts copy is (Diagnose shows it)."""

    exists: bool
    complete_at: datetime | None = None
    polled_at: datetime | None = None
    kept: bool = False  # a mapping asks ServiceTitan: the worker keeps the copy going

    def complete(self) -> bool:
        return self.complete_at is not None

    def fresh(self, now: datetime) -> bool:
        return self.polled_at is not None and self.polled_at >= now - fresh_within()

    def covers(self, now: datetime) -> bool:
        return self.complete() and self.fresh(now)


def copy_state(integration_id: int) -> CopyState:
    row = (
        CustomerSync.objects.filter(integration_id=integration_id)
        .values_list("contacts_complete_at", "contacts_polled_at", "keep_contacts")
        .first()
    )
    if row is None:
        return CopyState(exists=False)
    return CopyState(True, complete_at=row[0], polled_at=row[1], kept=row[2])


def contacts_copied(integration_id: int) -> int:
    return StagedContact.objects.filter(sync__integration_id=integration_id, active=True).exclude(kind="").count()


class StagedContactIndex:
    """Registered by the app's ready(): answers a claim from the staged contacts in two queries (the copies, then
    the keys), however many integrations and keys."""

    def look_up(self, keys: Mapping[int, Collection[Key]], now: datetime) -> IndexAnswer:
        copies = CustomerSync.objects.filter(integration_id__in=list(keys)).values_list(
            "pk", "integration_id", "contacts_complete_at", "contacts_polled_at"
        )
        sync_of: dict[int, int] = {}
        covering: set[int] = set()
        for sync_id, integration_id, complete_at, polled_at in copies:
            sync_of[sync_id] = integration_id
            if CopyState(True, complete_at=complete_at, polled_at=polled_at).covers(now):
                covering.add(integration_id)
        # One term per copy and kind, each an equality on the (sync, kind, key) index's leading columns and an IN
        # on the key: the database probes exactly the claim's keys in each tenant's copy, never scans a copy.
        terms: list[str] = []
        params: list[int | str] = []
        for sync_id, integration_id in sync_of.items():
            for kind in (EMAIL, PHONE):
                values = sorted(value for wanted_kind, value in keys[integration_id] if wanted_kind == kind)
                if values:
                    terms.append(f"({SYNC} = %s AND {KIND} = %s AND {KEY} IN ({', '.join(['%s'] * len(values))}))")
                    params += [sync_id, kind, *values]
        customers: dict[int, dict[Key, int]] = {}
        if not terms:
            return IndexAnswer(customers, frozenset(covering))
        # Raw SQL: the ORM spends longer compiling a hundred such terms than the database spends answering them.
        where = " OR ".join(terms)
        sql = f"SELECT {SYNC}, {KIND}, {KEY}, {CUSTOMER} FROM {TABLE} WHERE {ACTIVE} AND ({where})"  # noqa: S608 - names ours
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        for sync_id, kind, key, customer_id in rows:
            known = customers.setdefault(sync_of[sync_id], {})
            # A shared phone or email: the oldest customer, as the phone lookup answers.
            known[(kind, key)] = min(customer_id, known.get((kind, key), customer_id))
        return IndexAnswer(customers, frozenset(covering))

    def customer_ids(self, integration_id: int, keys: Collection[Key]) -> Mapping[Key, int]:
        return self.look_up({integration_id: set(keys)}, timezone.now()).customers.get(integration_id, {})


def _column(name: str) -> str:
    field = StagedContact._meta.get_field(name)
    assert isinstance(field, models.Field)
    return connection.ops.quote_name(str(field.column))


TABLE = connection.ops.quote_name(StagedContact._meta.db_table)
SYNC, KIND, KEY, CUSTOMER, ACTIVE = (_column(name) for name in ("sync", "kind", "key", "customer_id", "active"))
