"""The embedded cache backend for the rate limits: Django's database cache, with an atomic `incr`.

django-ratelimit counts with `cache.add()` then `cache.incr()`. The stock database cache's incr is a read then
a write, so concurrent posts from one bot would overwrite each other's counts and slip under the limit; here the
read and write share one transaction with the row locked (SQLite's IMMEDIATE transactions lock up front,
PostgreSQL takes the row with FOR UPDATE). Redis (REFERLOOP_CACHE_URL) is atomic on its own.

The cache table is created after every `migrate` (`create_cache_tables`, connected in CampaignsConfig.ready),
so `referloop serve`, a fresh clone and the test databases all have it without a separate step.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends import db
from django.core.management import call_command
from django.db import connections, router, transaction


class DatabaseCache(db.DatabaseCache):
    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        alias = router.db_for_write(self.cache_model_class)
        connection = connections[alias]
        with transaction.atomic(using=alias):
            if connection.features.has_select_for_update:
                table = connection.ops.quote_name(self.cache_model_class._meta.db_table)
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT cache_key FROM {table} WHERE cache_key = %s FOR UPDATE",  # noqa: S608 - quoted name
                        [self.make_and_validate_key(key, version=version)],
                    )
            return super().incr(key, delta, version)


def create_cache_tables(using: str = "default", **_kwargs: Any) -> None:
    """post_migrate: create the database cache's table if it is missing (a no-op for Redis, or when it exists)."""
    call_command("createcachetable", database=using, verbosity=0)
