"""Plain SQL for the hottest paths, where compiling an ORM query costs more than running it.

Measured on the intake path (bench/intake.py, SQLite): a small ORM SELECT cost about 0.15-0.3 CPU ms, most of it
compiling; the same statement through the cursor about 0.03. Statements here are built from the models' own table
and column names, so a renamed column is one edit; values always go as parameters, prepared as the ORM prepares
them (`preparer`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Field, Model
from django.db.models.expressions import Col
from django.db.models.fields import NOT_PROVIDED

_Row = TypeVar("_Row")


@functools.cache  # the models are fixed once Django is set up
def field(model: type[Model], name: str) -> Field[Any, Any]:
    found = model._meta.get_field(name)  # a name or an attname (`lead_id`)
    assert isinstance(found, Field)
    return found


@functools.cache
def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@functools.cache
def column(model: type[Model], name: str) -> str:
    return connection.ops.quote_name(str(field(model, name).column))


def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows as the driver returns them (no ORM converters: SQLite gives booleans as 0/1)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass(frozen=True)
class Exists:
    """A yes-or-no question asked of the database: `EXISTS (<sql>)` with its parameters. Several are answered by
    one statement (`answers`), so a path that asks many pays one round trip, not one each."""

    sql: str  # a SELECT: the answer is yes when it has a row
    params: Sequence[Any]


def answers(questions: Sequence[Exists]) -> list[bool]:
    """Each question's answer, in order, from one statement (none for no questions)."""
    if not questions:
        return []
    listed = ", ".join(f"EXISTS ({question.sql})" for question in questions)
    (row,) = fetch(f"SELECT {listed}", [param for question in questions for param in question.params])
    return [bool(answer) for answer in row]  # SQLite answers 0/1


def select(
    make: Callable[[Iterable[Any]], _Row], sql: str, params: Sequence[Any], fields: Sequence[Field[Any, Any]]
) -> list[_Row]:
    """Run a SELECT of `fields`' columns (in that order); each value converted as the ORM would convert it."""
    converters = _converters(fields)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not converters:
        return [make(row) for row in rows]
    made: list[_Row] = []
    for row in rows:
        values = list(row)
        for position, functions, column in converters:
            value = values[position]
            for function in functions:
                value = function(value, column, connection)
            values[position] = value
        made.append(make(values))
    return made


def _converters(fields: Sequence[Field[Any, Any]]) -> list[tuple[int, list[Any], Col]]:
    """What SQLCompiler.get_converters finds for a plain column of each field: the backend's, then the field's.
    Found once per list of fields and database (~0.05 CPU ms a read otherwise)."""
    return _converters_of(connection.vendor, tuple(fields))


@functools.cache  # the fields and each vendor's converters are fixed once Django is set up
def _converters_of(vendor: str, fields: tuple[Field[Any, Any], ...]) -> list[tuple[int, list[Any], Col]]:
    found: list[tuple[int, list[Any], Col]] = []
    for position, field in enumerate(fields):
        column = field.get_col(field.model._meta.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            found.append((position, functions, column))
    return found


_M = TypeVar("_M", bound=Model)


def instances(model: type[_M], where: str, params: Sequence[Any], limit: int | None = None) -> list[_M]:
    """`model.objects.filter(...)` without compiling it: every concrete field of the rows matching `where` (SQL
    over `column()` names, values as parameters), converted and built as the ORM builds them."""
    fields, head = _instances_select(model)
    sql = f"{head} WHERE {where}" + (f" LIMIT {int(limit)}" if limit is not None else "")
    names = [f.attname for f in fields]
    return [model.from_db(connection.alias, names, row) for row in select(list, sql, params, fields)]


def instances_with(model: type[_M], path: Sequence[str], by: str, value: Any) -> list[_M]:
    """The `model` rows whose field `by` equals `value`, with `select_related` along one chain of foreign keys
    (`["campaign", "account"]`): one statement, every instance built as the ORM builds it."""
    hops, sql = _chain_select(model, tuple(path), by)
    made = []
    for row in select(list, sql, [value], [f for _, fields in hops for f in fields]):
        built: list[Model] = []
        for hop, fields in hops:
            built.append(hop.from_db(connection.alias, [f.attname for f in fields], row[: len(fields)]))
            row = row[len(fields) :]
        for name, (parent, child) in zip(path, itertools.pairwise(built), strict=True):
            setattr(parent, name, child)  # what select_related fills in: reading it makes no query
        made.append(built[0])
    return made  # type: ignore[return-value]  # built[0] is a `model`


Hops = list[tuple[type[Model], tuple["Field[Any, Any]", ...]]]  # a model and its columns, per hop


@functools.cache  # the models are fixed once Django is set up
def _chain_select(model: type[Model], path: tuple[str, ...], by: str) -> tuple[Hops, str]:
    quote = connection.ops.quote_name
    hops: Hops = [(model, tuple(model._meta.concrete_fields))]
    joins = []
    for n, name in enumerate(path):
        link = field(hops[-1][0], name)
        related = link.related_model
        assert isinstance(related, type) and issubclass(related, Model), name
        # An inner JOIN: a row whose link is empty would be dropped, where select_related gives None.
        assert not link.null, f"{name}: a nullable link (instances_with joins with JOIN, not LEFT JOIN)"
        target = link.target_field  # type: ignore[attr-defined]  # a ForeignKey's, `to_field` included
        on = f"t{n + 1}.{quote(str(target.column))} = t{n}.{quote(str(link.column))}"
        joins.append(f"JOIN {table(related)} t{n + 1} ON {on}")
        hops.append((related, tuple(related._meta.concrete_fields)))
    columns = ", ".join(f"t{n}.{quote(str(f.column))}" for n, (_, fields) in enumerate(hops) for f in fields)
    where = f"t0.{quote(str(field(model, by).column))} = %s"
    return hops, f"SELECT {columns} FROM {table(model)} t0 {' '.join(joins)} WHERE {where}"  # noqa: S608


@functools.cache  # the models are fixed once Django is set up
def _instances_select(model: type[Model]) -> tuple[tuple[Field[Any, Any], ...], str]:
    fields = tuple(model._meta.concrete_fields)
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    return fields, f"SELECT {columns} FROM {table(model)}"  # noqa: S608


def insert_new(objs: Sequence[Model]) -> None:
    """Insert unsaved instances of one model (every column but the id, as `save` would write them) in one
    executemany; no ids come back.

    `bulk_create` of the one delivery a new lead makes cost ~0.35 CPU ms (bench/intake.py), this ~0.05.
    """
    if not objs:
        return
    values, sql = _insert_statement(type(objs[0]))
    rows = [[value(obj) for value in values] for obj in objs]
    with connection.cursor() as cursor:
        if len(rows) == 1:  # psycopg's executemany costs more than one execute for the usual single row
            cursor.execute(sql, rows[0])
        else:
            cursor.executemany(sql, rows)


def insert_if_new(obj: Model) -> bool:
    """Insert one unsaved instance as `save` would (no signals are sent) and set its primary key; False, and
    nothing written, when a unique constraint already holds its values (`ON CONFLICT DO NOTHING`).

    The ORM's `save` of a new lead cost ~0.2 CPU ms on SQLite and ~0.4 on PostgreSQL, most of it building the
    statement. A clash is answered without a refused statement: PostgreSQL logs a refused INSERT whole, with
    the person's data in it. Needs RETURNING (SQLite 3.35+, PostgreSQL).
    """
    values, sql = _insert_statement(type(obj))
    pk = type(obj)._meta.pk
    assert pk is not None
    with connection.cursor() as cursor:
        cursor.execute(
            f"{sql} ON CONFLICT DO NOTHING RETURNING {connection.ops.quote_name(str(pk.column))}",
            [value(obj) for value in values],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return True


@functools.cache  # the models are fixed once Django is set up
def _insert_statement(model: type[Model]) -> tuple[list[Callable[[Model], Any]], str]:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    # Every column is written with the instance's value: a database default or a generated column would be
    # overwritten (or refused), so such a model needs its own statement.
    special = [f.name for f in fields if f.db_default is not NOT_PROVIDED or getattr(f, "generated", False)]
    assert not special, f"{model.__name__}.{special}: a database default or generated column (_insert_statement)"
    quote = connection.ops.quote_name
    names = ", ".join(quote(str(f.column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    return [_value_of(f) for f in fields], f"INSERT INTO {table(model)} ({names}) VALUES ({marks})"  # noqa: S608


def _value_of(of: Field[Any, Any]) -> Callable[[Model], Any]:
    prepare = preparer(of)
    if getattr(of, "auto_now", False) or getattr(of, "auto_now_add", False):
        return lambda obj: prepare(of.pre_save(obj, add=True))  # sets the instance's value too, as save does
    attname = of.attname
    return lambda obj: prepare(getattr(obj, attname))


def preparer(field: Field[Any, Any]) -> Callable[[Any], Any]:
    """`field.get_db_prep_save`, short-cut for the values it would pass through unchanged (tested against it).

    Calling get_db_prep_save for every value of a 500-row result write cost 4 x the shortcut (16 ms against 4).
    """
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        return _datetime_preparer(field)
    plain = _PLAIN.get(kind)
    text = plain is str

    def prep(value: Any) -> Any:
        if value is None or type(value) is plain or (text and isinstance(value, str)):
            return value
        return field.get_db_prep_save(value, connection)

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


def _datetime_preparer(field: Field[Any, Any]) -> Callable[[Any], Any]:
    adapt = connection.ops.adapt_datetimefield_value

    def prep(value: Any) -> Any:
        # An aware datetime goes straight to the backend's adapter; anything else takes the field's checks.
        if value is None:
            return None
        if type(value) is datetime and value.utcoffset() is not None:
            return adapt(value)
        return field.get_db_prep_save(value, connection)

    return prep
