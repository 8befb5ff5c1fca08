"""Pagination for the screens of a large account: a count that stops at a cap, or a count the view already has.

Django's Paginator counts every matching row (`SELECT COUNT(*)`) on each page view: 200,000 leads or deliveries
read per request to print "Page 1 of 4,000". Past CAP rows the exact total helps nobody (no one pages through
200 pages; they filter or search), so the count stops there and the screen says "200+" pages, and the pages
beyond the cap are not offered (deep OFFSETs are slow too).
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

# One definition of the cap and its count, shared with Diagnose's checks; imported from here by Activity too.
from referloop.runtime.capped import CAP, capped_count, count_text

__all__ = ["CAP", "CappedPaginator", "capped_count", "count_text"]


class CappedPaginator(Paginator):
    """Counts at most CAP + 1 rows; `capped` says there are more than CAP. With `known_count` (a total the view
    computed anyway, such as Activity's per-state counts) it runs no count query at all."""

    def __init__(
        self, rows: QuerySet[Any], per_page: int, *, known_count: int | None = None, cap: int | None = None
    ) -> None:
        super().__init__(rows, per_page)
        self.rows = rows
        self.known_count = known_count
        self.cap = CAP if cap is None else cap

    @cached_property
    def total(self) -> int:
        """The rows matched, up to cap + 1."""
        if self.known_count is not None:
            return self.known_count
        return capped_count(self.rows, self.cap)

    @cached_property
    def count(self) -> int:
        return min(self.total, self.cap)

    @property
    def capped(self) -> bool:
        return self.total > self.cap
