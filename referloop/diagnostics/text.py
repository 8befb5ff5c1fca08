"""Small helpers for sentences: counts with the right plural, durations a person reads at a glance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"


def duration(delta: timedelta) -> str:
    """`4 seconds`, `3 minutes`, `2 hours`, `5 days`: the largest whole unit."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 90:
        return plural(seconds, "second")
    minutes = seconds // 60
    if minutes < 90:
        return plural(minutes, "minute")
    hours = minutes // 60
    if hours < 48:
        return plural(hours, "hour")
    return plural(hours // 24, "day")


def ago(moment: datetime, now: datetime) -> str:
    return f"{duration(now - moment)} ago ({moment.astimezone(UTC):%b %-d, %H:%M} UTC)"


def and_join(items: Sequence[str]) -> str:
    """`A`, `A and B`, `A, B and C`."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"
