"""The delivery engine's hand-written SQL: every statement it runs without the ORM, named once, with named rows.

A busy worker claims a batch and writes a batch of results several times a second (docs/performance.md: ~580
bookings/s at ~1.5 CPU ms each). On that path the ORM was measured to be the cost (2-core VM, SQLite; each
statement's docstring gives its figure): compiling a small query took longer than running it (0.4-0.7 ms a
statement), model instances and `bulk_create` cost far more Python than the rows need, `bulk_update` wrote 50
rows in 38 ms where one executemany takes 0.3 ms, and SQLite planned some ORM filters as walks over every
pending row. Those statements are here. Everything rare or off the per-row path stays an ORM call in its caller
(holding rows, recording a lost try, counting waits, locking and pausing the rate buckets), its reason beside it.

Reads return `NamedTuple`s whose field names are the columns read: a model's attnames, or a Django lookup across
a foreign key (`referrer__first_name`). The SQL is built from the row type, so adding a column is one edit and
no caller reads a row by position. Values cross as the ORM would carry them: reads go through the fields'
converters (what `SQLCompiler.get_converters` finds: aware datetimes and booleans on SQLite, JSON), writes
through `preparer` (each field's `get_db_prep_save`, short-cut for the values it returns unchanged).
tests/integrations/engine/test_fast_paths.py holds both directions, and the due-rows read, to the ORM.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from django.db import connection
from django.db.models import Field, Model

from referloop.campaigns.models import Lead
from referloop.integrations.models import Attempt, Delivery, DeliveryState, Integration, TenantBucket
from referloop.runtime import plain_sql
from referloop.runtime.plain_sql import preparer

_Row = TypeVar("_Row")

# -- the rows ------------------------------------------------------------------------------------------------------


class DueRead(NamedTuple):
    """One part of the due-rows read: a rate key's `n` oldest due rows, or (`probe`) one row past its first `n`."""

    rate_key: str
    n: int
    probe: bool = False


class DueRow(NamedTuple):
    """A due delivery found by `select_due`; `probe`: found by a probe (the key has more than asked for)."""

    id: int
    rate_key: str
    probe: bool


class LockedRow(NamedTuple):
    """What a claim reads of each chosen Delivery (`lock_deliveries`); the names are Delivery attnames, so a
    column added here is read by every claim and reaches every destination kind (`destinations.Row`)."""

    id: int
    connector: str
    state: str
    integration_id: int | None  # a ServiceTitan row's (None on a webhook row)
    lead_id: int | None
    rate_key: str
    attempt_count: int
    ambiguous: bool
    lease_expires_at: datetime | None
    first_attempt_at: datetime | None
    next_attempt_at: datetime | None


class LeaseRow(NamedTuple):
    """A Delivery's lease as a result write checks it (`lock_leases`)."""

    id: int
    state: str
    leased_by: str
    attempt_count: int


class LeadRow(NamedTuple):
    """What a lead's record is built from (`lead_rows`): Lead attnames, and lookups across its foreign keys."""

    id: int
    first_name: str
    last_name: str
    email: str
    phone: str
    street: str
    city: str
    state: str
    zip_code: str
    notes: str
    code: str
    created_at: datetime
    custom_data: dict[str, Any] | None
    referrer__first_name: str
    referrer__last_name: str
    referrer__email: str
    referrer__code: str
    campaign__name: str


class IntegrationStamp(NamedTuple):
    """An integration's change stamp (`integration_stamps`); `updated_at` as the database returns it."""

    id: int
    updated_at: object
    state: str


class AttemptRow(NamedTuple):
    """A new Attempt (`insert_attempts`): every column but the id."""

    delivery_id: int
    number: int
    started_at: datetime
    duration_ms: int
    outcome: str
    request_summary: Mapping[str, object]
    response_status: int | None
    response_text: str
    sentence: str
    warnings: list[str]


class BucketSlot(NamedTuple):
    """A TenantBucket's budget and owner after a claim (`save_bucket_slots`)."""

    id: int
    next_slot_at: float
    owner: str
    owned_until: float


# -- claiming ------------------------------------------------------------------------------------------------------


def pending_rate_keys() -> list[str]:
    """The distinct rate keys with pending rows, by a loose index scan: one index seek per key.

    Raw: a recursive CTE, which the ORM can't write; a plain DISTINCT would read every pending row, so a
    100,000-row backlog would slow every claim.
    """
    table = _table(Delivery)
    sql = f"""
        WITH RECURSIVE keys(rate_key) AS (
            SELECT MIN(rate_key) FROM {table} WHERE state = %s
            UNION ALL
            SELECT (SELECT MIN(d.rate_key) FROM {table} d WHERE d.state = %s AND d.rate_key > keys.rate_key)
            FROM keys WHERE keys.rate_key IS NOT NULL
        )
        SELECT rate_key FROM keys WHERE rate_key IS NOT NULL
    """  # noqa: S608 - the table name is ours; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [DeliveryState.PENDING, DeliveryState.PENDING])
        return [key for (key,) in cursor.fetchall()]


# Reads per statement in `select_due`: keeps the SQL and its parameter list small with many rate keys (and
# below SQLite's limit of 500 terms in a compound SELECT).
_READS_PER_STATEMENT = 200


def select_due(reads: Sequence[DueRead], now: datetime) -> list[DueRow]:
    """The due pending rows each read asks for: a key's `n` oldest (by next_attempt_at, then id), or for a
    probe any one row past its first `n`. Rows come read by read, each read's oldest first.

    Raw: one index range scan per key on `delivery_due` (state, rate_key, next_attempt_at, id), all in one
    statement (a UNION ALL on SQLite, a LATERAL join on PostgreSQL); the ORM would need a query per key.
    """
    found: list[DueRow] = []
    for start in range(0, len(reads), _READS_PER_STATEMENT):
        chunk = reads[start : start + _READS_PER_STATEMENT]
        rows = _due_lateral(chunk, now) if connection.vendor == "postgresql" else _due_union(chunk, now)
        found += [DueRow(row_id, key, bool(probe)) for row_id, key, probe in rows]
    return found


def _due_union(reads: Sequence[DueRead], now: datetime) -> list[tuple[int, str, int]]:
    where = f"FROM {_table(Delivery)} WHERE state = %s AND rate_key = %s AND next_attempt_at <= %s"
    rows_sql = f"SELECT id, rate_key, 0 AS probe {where} ORDER BY next_attempt_at, id LIMIT %s"
    probe_sql = f"SELECT id, rate_key, 1 AS probe {where} LIMIT 1 OFFSET %s"  # any row past n will do
    sql = " UNION ALL ".join(
        f"SELECT * FROM ({probe_sql if read.probe else rows_sql}) AS due{n}"  # noqa: S608 - our names only
        for n, read in enumerate(reads)
    )
    moment = connection.ops.adapt_datetimefield_value(now)
    params: list[Any] = []
    for read in reads:
        params += [DeliveryState.PENDING, read.rate_key, moment, read.n]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _due_lateral(reads: Sequence[DueRead], now: datetime) -> list[tuple[int, str, int]]:
    """PostgreSQL: a UNION of a hundred subqueries costs it milliseconds to plan, and psycopg re-parses a
    statement with that many parameters every time; one LATERAL join over arrays does neither."""
    sql = (
        "SELECT d.id, k.rate_key, k.probe "  # noqa: S608 - our table name; values are parameters
        "FROM unnest(%s::text[], %s::int[], %s::int[]) WITH ORDINALITY AS k(rate_key, probe, n, pos) "
        f"CROSS JOIN LATERAL (SELECT id, next_attempt_at FROM {_table(Delivery)} "
        "WHERE state = %s AND rate_key = k.rate_key AND next_attempt_at <= %s ORDER BY next_attempt_at, id "
        "LIMIT CASE WHEN k.probe = 1 THEN 1 ELSE k.n END OFFSET CASE WHEN k.probe = 1 THEN k.n ELSE 0 END) AS d "
        "ORDER BY k.pos, d.next_attempt_at, d.id"
    )
    keys = [read.rate_key for read in reads]
    probes = [int(read.probe) for read in reads]
    counts = [read.n for read in reads]
    with connection.cursor() as cursor:
        cursor.execute(sql, [keys, probes, counts, DeliveryState.PENDING, now])
        return cursor.fetchall()


def lock_deliveries(ids: Sequence[int]) -> list[LockedRow]:
    """Lock these deliveries for the claim (FOR UPDATE SKIP LOCKED where the database has it: a row another
    claimer holds is skipped, not waited on) and read them. The caller re-checks that they are still due.

    By primary key alone: with state and due time in the WHERE, SQLite answers from `delivery_due` and walks
    every pending row. Raw: the ORM's `select_for_update().values_list()` cost 1.5-1.8 x this (its compile).
    """
    return _select_by_ids(Delivery, LockedRow._fields, LockedRow._make, ids, skip_locked=True)


def lease(ids: Sequence[int], owner: str, lease_end: datetime, now: datetime) -> None:
    """Lease the claimed rows to `owner` until `lease_end` (also their next due time: a lease that runs out
    makes the row due again), count the try, stamp the first try, and mark a row whose last lease ran out
    ambiguous (its worker died mid-try).

    The same statement as `.update(leased_by=…, lease_expires_at=…, next_attempt_at=…,
    attempt_count=F("attempt_count") + 1, first_attempt_at=Coalesce("first_attempt_at", now),
    ambiguous=Case(When(lease_expires_at__isnull=False, then=True), default=F("ambiguous")))`, a right-hand side
    reading the row as it was. Raw: the ORM's compile of this statement cost more than running it.
    """
    if not ids:
        return
    marks = ", ".join(["%s"] * len(ids))
    sql = (
        f"UPDATE {_table(Delivery)} SET leased_by = %s, lease_expires_at = %s, next_attempt_at = %s, "  # noqa: S608
        "attempt_count = attempt_count + 1, first_attempt_at = COALESCE(first_attempt_at, %s), "
        "ambiguous = CASE WHEN lease_expires_at IS NOT NULL THEN %s ELSE ambiguous END "
        f"WHERE id IN ({marks})"
    )
    moment = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, [owner, moment(lease_end), moment(lease_end), moment(now), True, *ids])


def save_bucket_slots(slots: Sequence[BucketSlot]) -> None:
    """Write each bucket's new `next_slot_at` and its owner, in one executemany.

    Raw: `bulk_update` builds a CASE WHEN per row and field (38 ms for 50 buckets against 0.3 ms), and an
    `.update()` per bucket is a compiled statement each.
    """
    _update_by_id(TenantBucket, BucketSlot._fields[1:], [(slot.id, slot._asdict()) for slot in slots])


def integration_stamps(ids: Iterable[int]) -> list[IntegrationStamp]:
    """Each integration's (updated_at, state), read at every claim to see whether a cached destination is stale.

    Raw, and unconverted: the ORM's compile cost 3.5 x the query, and a stamp is only compared with the one read
    here last time, so the column as the database returns it will do.
    """
    wanted = list(ids)
    if not wanted:
        return []
    marks = ", ".join(["%s"] * len(wanted))
    columns = ", ".join(_column(Integration, name) for name in IntegrationStamp._fields)
    sql = f"SELECT {columns} FROM {_table(Integration)} WHERE {_column(Integration, 'id')} IN ({marks})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, wanted)
        return [IntegrationStamp._make(row) for row in cursor.fetchall()]


def campaign_integration_rows(campaign_id: int) -> list[tuple[Any, ...]]:
    """Every column of a campaign's integrations as the database returns it (JSON as text), by id: what a new
    lead's delivery plan is read from (servicetitan/outbox.py), so any change to an integration is seen, a
    conditional UPDATE that leaves `updated_at` alone included."""
    return plain_sql.fetch(_integration_rows_select(), [campaign_id])


@functools.cache  # the models are fixed once Django is set up
def _integration_rows_select() -> str:
    columns = ", ".join(
        f"CAST({_column(Integration, f.name)} AS TEXT)"
        if f.get_internal_type() == "JSONField"
        else _column(Integration, f.name)
        for f in Integration._meta.concrete_fields
    )
    return (
        f"SELECT {columns} FROM {_table(Integration)} WHERE {_column(Integration, 'campaign_id')} = %s "  # noqa: S608
        f"ORDER BY {_column(Integration, 'id')}"
    )


def lead_rows(ids: Sequence[int]) -> list[LeadRow]:
    """The leads with their referrer's and campaign's columns (`LeadRow`), in one query.

    Raw: building Lead, Referrer and Campaign instances cost more than the query, and the ORM's
    `values_list()` of the same columns cost about as much as this query and the records built from it.
    """
    if not ids:
        return []
    fields, sql = _lead_select()
    marks = ", ".join(["%s"] * len(ids))
    return plain_sql.select(LeadRow._make, f"{sql} WHERE l.{_column(Lead, 'id')} IN ({marks})", list(ids), fields)


@functools.cache  # the models are fixed once Django is set up
def _lead_select() -> tuple[tuple[Field[Any, Any], ...], str]:
    """`LeadRow`'s fields and its SELECT … FROM … JOIN …: a lookup `rel__name` reads `name` of the Lead's `rel`."""
    quote = connection.ops.quote_name
    fields: list[Field[Any, Any]] = []
    columns: list[str] = []
    joins: dict[str, str] = {}
    for lookup in LeadRow._fields:
        *path, name = lookup.split("__")
        model: type[Model] = Lead
        alias = "l"
        if path:
            [relation] = path  # one step across a foreign key is all a record needs
            foreign = _field(Lead, relation)
            model = foreign.related_model  # type: ignore[assignment]
            alias = quote(relation)
            joins[alias] = (
                f"INNER JOIN {_table(model)} {alias} ON {alias}.{_column(model, 'id')} = l.{quote(str(foreign.column))}"
            )
        fields.append(_field(model, name))
        columns.append(f"{alias}.{_column(model, name)}")
    sql = f"SELECT {', '.join(columns)} FROM {_table(Lead)} l {' '.join(joins.values())}"  # noqa: S608
    return tuple(fields), sql


# -- writing results -----------------------------------------------------------------------------------------------


def insert_attempts(rows: Sequence[AttemptRow]) -> None:
    """Insert the Attempts, in one executemany; no ids come back.

    Raw: `bulk_create` builds a model instance per row and runs its pre_save hooks, which cost far more than the
    insert; one statement run with executemany is prepared once by SQLite and pipelined by psycopg.
    """
    if not rows:
        return
    fields = _fields(Attempt, AttemptRow._fields)
    preps = [preparer(field) for field in fields]
    params = [[prep(value) for prep, value in zip(preps, row, strict=True)] for row in rows]
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(field.column)) for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {_table(Attempt)} ({names}) VALUES ({marks})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def lock_leases(ids: Sequence[int]) -> list[LeaseRow]:
    """Lock these deliveries until the commit (FOR UPDATE, waiting for a claimer) and read their leases.

    By primary key alone, as `lock_deliveries`: with `state` in the WHERE, SQLite walks every pending row. Raw:
    the ORM's `select_for_update().values_list()` cost 2.3-2.6 x this.
    """
    return _select_by_ids(Delivery, LeaseRow._fields, LeaseRow._make, ids, skip_locked=False)


def update_deliveries(changes: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
    """For each (delivery id, {field name: value}) set those fields, as `.filter(pk=id).update(**values)` would;
    plain values only (no expressions). One executemany per distinct set of field names.

    Raw: `bulk_update` builds a CASE WHEN per row and field, and an `.update()` per row is a compiled statement
    each; this is one prepared statement per kind of transition (delivered, retry, failed, …).
    """
    groups: dict[tuple[str, ...], list[tuple[int, Mapping[str, Any]]]] = {}
    for pk, values in changes:
        groups.setdefault(tuple(sorted(values)), []).append((pk, values))
    for names, rows in groups.items():
        _update_by_id(Delivery, names, rows)


# -- values in and out, as the ORM carries them --------------------------------------------------------------------


def _select_by_ids(
    model: type[Model],
    names: tuple[str, ...],
    make: Callable[[Iterable[Any]], _Row],
    ids: Sequence[int],
    *,
    skip_locked: bool,
) -> list[_Row]:
    """SELECT `names` of the rows with these primary keys FOR UPDATE (where the database has it)."""
    if not ids:
        return []
    fields = _fields(model, names)
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    marks = ", ".join(["%s"] * len(ids))
    sql = f"SELECT {columns} FROM {_table(model)} WHERE {_column(model, 'id')} IN ({marks})"  # noqa: S608
    if connection.features.has_select_for_update:
        sql += " " + connection.ops.for_update_sql(skip_locked=skip_locked)
    return plain_sql.select(make, sql, list(ids), fields)


def _update_by_id(model: type[Model], names: tuple[str, ...], rows: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
    """For each (primary key, {name: value}) set the `names` fields: one UPDATE … WHERE id = %s, executemany."""
    if not rows:
        return
    fields = _fields(model, names)
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
    sql = f"UPDATE {_table(model)} SET {assignments} WHERE {_column(model, 'id')} = %s"  # noqa: S608
    preps = [(name, preparer(field)) for name, field in zip(names, fields, strict=True)]
    params = [[prep(values[name]) for name, prep in preps] + [pk] for pk, values in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


@functools.cache  # the models are fixed once Django is set up
def _fields(model: type[Model], names: tuple[str, ...]) -> tuple[Field[Any, Any], ...]:
    return tuple(_field(model, name) for name in names)


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    return plain_sql.field(model, name)


def _table(model: type[Model]) -> str:
    return plain_sql.table(model)


def _column(model: type[Model], name: str) -> str:
    return plain_sql.column(model, name)
