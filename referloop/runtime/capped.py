"""Counts and groups that stop at a cap, so a page view's cost does not grow with the size of the account.

A count of every matching row reads 200,000 leads or deliveries to print a number nobody needs exactly: past a
cap, "10,000+" says as much. `capped_count` stops the scan at cap + 1 rows (a LIMITed subquery), `count_text`
writes it, `newest` reads the newest `cap` matching rows to be grouped (and says whether there were more). Used
by the lead list and Activity (campaigns/paging.py) and by Diagnose's checks (diagnostics/checks.py).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

CAP = 10_000  # rows: 200 pages of 50


def capped_count(rows: QuerySet[Any], cap: int = CAP) -> int:
    """How many rows, counting at most cap + 1 (more than `cap` is shown as "10,000+": see `count_text`)."""
    # No ORDER BY: the LIMIT then stops the scan at cap + 1 rows instead of sorting every match first.
    return int(rows.order_by()[: cap + 1].count())


def count_text(count: int, cap: int = CAP) -> str:
    """`1,234`, or `10,000+` for a capped count past its cap."""
    return f"{cap:,}+" if count > cap else f"{count:,}"


def newest(rows: QuerySet[Any], cap: int, order: str, *fields: str) -> tuple[list[tuple[Any, ...]], bool]:
    """`fields` of the newest `cap` of `rows` by `order` (descending; name an indexed column, so the LIMIT stops
    the scan), and whether there are more: groups are then made of these rows only, and say so."""
    found = list(rows.order_by(f"-{order}", "-pk").values_list(*fields)[: cap + 1])
    return found[:cap], len(found) > cap
