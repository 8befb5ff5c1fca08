"""Writing many rows in one round trip, without Django's slow bulk_update and bulk_create.

bulk_update builds a CASE WHEN expression per row and field, and bulk_create builds a model instance per row
and runs its pre_save hooks; both cost far more Python than the engine can spare at hundreds of rows a second.
One parameterised statement run with executemany is prepared once by SQLite and pipelined by psycopg. Values
are prepared by each field's own `get_db_prep_save`, so they reach the database exactly as the ORM sends them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Field, Model
from django.db.models.expressions import Col


def update_rows(model: type[Model], fields: Sequence[str], rows: Sequence[tuple[Any, Mapping[str, Any]]]) -> None:
    """For each (primary key, values) set `fields` to `values`; the values must be plain (no expressions)."""
    if not rows:
        return
    meta = model._meta
    columns = _columns(model, fields)
    assert meta.pk is not None
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(column.column))} = %s" for column in columns)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(str(meta.pk.column))} = %s"  # noqa: S608
    preps = [(column.name, _preparer(column)) for column in columns]
    params = [[prep(values[name]) for name, prep in preps] + [pk] for pk, values in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def insert_rows(model: type[Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert one row per sequence of values (in `fields` order); plain values only, no primary keys returned.

    Fields left out get their database default if they have one, so callers name every field a row needs.
    """
    columns = _columns(model, fields)
    preps = [_preparer(column) for column in columns]
    params = [[prep(value) for prep, value in zip(preps, values, strict=True)] for values in rows]
    if not params:
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(column.column)) for column in columns)
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({marks})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def select_by_ids(
    model: type[Model], fields: Sequence[str], ids: Sequence[Any], *, lock: bool = False, skip_locked: bool = False
) -> list[list[Any]]:
    """`fields` of the rows with these primary keys, converted as the ORM converts them (values_list's rows).

    `lock`: SELECT … FOR UPDATE (SKIP LOCKED), where the database has it, as select_for_update() would.
    """
    if not ids:
        return []
    meta = model._meta
    assert meta.pk is not None
    quote = connection.ops.quote_name
    columns = _columns(model, fields)
    names = ", ".join(quote(str(column.column)) for column in columns)
    marks = ", ".join(["%s"] * len(ids))
    sql = f"SELECT {names} FROM {quote(meta.db_table)} WHERE {quote(str(meta.pk.column))} IN ({marks})"  # noqa: S608
    if lock and connection.features.has_select_for_update:
        sql += " " + connection.ops.for_update_sql(skip_locked=skip_locked)
    return select_rows(sql, list(ids), columns)


def select_rows(sql: str, params: Sequence[Any], fields: Sequence[Field[Any, Any]]) -> list[list[Any]]:
    """Run a SELECT of `fields`' columns (in that order) and convert each value as the ORM would.

    The ORM spends more time compiling a small query than the database spends running it; this skips the
    compiling but keeps the backend's and the fields' converters (aware datetimes, JSON, booleans on SQLite).
    """
    converters = _converters(fields)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    converted = [list(row) for row in rows]
    for row in converted:
        for position, functions, column in converters:
            value = row[position]
            for function in functions:
                value = function(value, column, connection)
            row[position] = value
    return converted


def _converters(fields: Sequence[Field[Any, Any]]) -> list[tuple[int, list[Any], Col]]:
    """What SQLCompiler.get_converters finds for a plain column of each field."""
    found: list[tuple[int, list[Any], Col]] = []
    for position, field in enumerate(fields):
        column = field.get_col(field.model._meta.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            found.append((position, functions, column))
    return found


def _columns(model: type[Model], fields: Sequence[str]) -> list[Field[Any, Any]]:
    columns: list[Field[Any, Any]] = []
    for name in fields:
        column = model._meta.get_field(name)
        assert isinstance(column, Field)
        columns.append(column)
    return columns


def _preparer(column: Field[Any, Any]) -> Callable[[Any], Any]:
    """`get_db_prep_save` for `column`, with shortcuts for the values it would pass through unchanged."""
    kind = column.get_internal_type()
    if kind == "DateTimeField":
        return _datetime_preparer(column)
    plain = _PLAIN.get(kind)
    text = plain is str

    def prep(value: Any) -> Any:
        if value is None or type(value) is plain or (text and isinstance(value, str)):
            return value
        return column.get_db_prep_save(value, connection)

    return prep


# Values the driver takes as they are: get_db_prep_save returns them unchanged (on PostgreSQL it wraps
# integers for server-side binding, which Django's default client-side binding does not use). Any str passes
# (TextChoices members too: CharField returns them as they are); numbers and booleans only of exactly that type.
_PLAIN: dict[str, type] = {
    "CharField": str,
    "TextField": str,
    "PositiveIntegerField": int,
    "PositiveBigIntegerField": int,
    "IntegerField": int,
    "BigIntegerField": int,
    "ForeignKey": int,
    "FloatField": float,
    "BooleanField": bool,
}


def _datetime_preparer(column: Field[Any, Any]) -> Callable[[Any], Any]:
    adapt = connection.ops.adapt_datetimefield_value

    def prep(value: Any) -> Any:
        # An aware datetime goes straight to the backend's adapter; anything else takes the field's checks.
        if value is None:
            return None
        if type(value) is datetime and value.utcoffset() is not None:
            return adapt(value)
        return column.get_db_prep_save(value, connection)

    return prep
