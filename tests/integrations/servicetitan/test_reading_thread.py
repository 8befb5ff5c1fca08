"""The readers' database thread (the follower's, the customer sync's) gets over a database that went away: found by
bench/chaos.py, where both failed on their dead connection forever after PostgreSQL restarted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections

from referloop.integrations.servicetitan.reading import DatabaseThread

pytestmark = pytest.mark.django_db(transaction=True)


def probe_usable(self: Any) -> bool:
    """is_usable as PostgreSQL's answers it (SQLite's always says yes): does the raw connection still answer?"""
    try:
        self.connection.cursor().execute("SELECT 1")
    except Exception:
        return False
    return True


def cut_from_under_django() -> None:
    """The server drops the connection: Django still holds it, and the next query on it fails."""
    connection.ensure_connection()
    connection.connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def one() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return int(cursor.fetchone()[0])


async def fail_then_query() -> int:
    database = DatabaseThread("test-reader")
    try:
        with pytest.raises(DatabaseError):
            await database(cut_from_under_django)
        return await database(one)
    finally:
        await database.close()


def test_a_query_after_the_database_dropped_the_connection_gets_a_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(connections["default"]), "is_usable", probe_usable)

    assert asyncio.run(fail_then_query()) == 1
